/**
 * Per-neuron rate calibration after training (the `calibrateRates` train option).
 *
 * A masked model's predicted rates can come out a few per cent too high or too low per neuron,
 * with the same pattern across seeds and modes: it is trained on the bins it cannot see and scored
 * at bins whose counts it reads (docs/ndt_comparison.md, "Calibrated rates").
 * {@linkcode fitRateGains} fits one multiplicative gain per neuron, for the bins of the
 * trial and, separately, for the forward window, by Poisson maximum likelihood on the training
 * trials' observed counts: no true rates and no validation or test trial is used.
 * {@linkcode applyRateGains} applies them.
 *
 * @module
 */
import type { Array3D, RatePredictions, SpikeDataset } from "../data/dataset.ts";

/** Per-neuron gains that multiply a model's predicted rates. */
export interface RateGains {
  /** Gain of each neuron's rates in the trial's bins, `[neurons]`. */
  rates: Float32Array;
  /** Gain of each neuron's rates in the forward window, `[neurons]` (all 1 without one). */
  forward: Float32Array;
}

/** Options of {@linkcode fitRateGains}. */
export interface FitRateGainsOptions {
  /** Trials whose observed counts fit the gains (default: the dataset's training trials). */
  trials?: ArrayLike<number>;
  /**
   * Pseudo-count c of the estimate (default 1): gain = (Σ counts + c) / (Σ rates + c) over the
   * fitting trials' bins. c = 0 is the plain maximum-likelihood gain; c > 0 keeps a neuron that
   * never fired in those trials at a finite, positive gain and pulls gains fitted on few spikes
   * towards 1.
   */
  priorCount?: number;
}

function checkShape(a: Array3D | undefined, want: readonly number[], what: string): Array3D {
  if (!a || a.shape.length !== 3 || a.shape.some((s, i) => s !== want[i])) {
    throw new Error(
      `fitRateGains: ${what} must have shape [${
        want.join(", ")
      }] (the dataset's trials, bins and ` +
        `neurons), found ${a ? `[${a.shape.join(", ")}]` : "none"}`,
    );
  }
  return a;
}

function gainsOf(
  pred: Array3D,
  counts: Array3D,
  trials: Int32Array,
  c: number,
  what: string,
): Float32Array {
  const [, bins, n] = counts.shape;
  const k = new Float64Array(n), r = new Float64Array(n);
  for (const t of trials) {
    const base = t * bins * n;
    for (let i = base; i < base + bins * n; i++) {
      const lam = pred.data[i];
      if (!(lam >= 0) || !Number.isFinite(lam)) {
        throw new Error(
          `fitRateGains: ${what} must be finite and non-negative, found ${lam} at trial ${t}, ` +
            `bin ${Math.floor((i - base) / n)}, neuron ${(i - base) % n}`,
        );
      }
      k[(i - base) % n] += counts.data[i];
      r[(i - base) % n] += lam;
    }
  }
  const g = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const den = r[j] + c;
    if (!(den > 0)) {
      throw new Error(
        `fitRateGains: neuron ${j} has no predicted ${what} in the fitting trials (sum 0) and ` +
          `priorCount is 0, so its gain is undefined; use priorCount > 0`,
      );
    }
    g[j] = (k[j] + c) / den;
  }
  return g;
}

/**
 * Fits per-neuron gains to a model's predicted rates on the training trials: for neuron j,
 * gain_j = (Σ counts_j + c) / (Σ rates_j + c) over the trials' bins, which for c = 0 maximises the
 * Poisson likelihood of the counts under gain_j · rates_j. The trial's bins and the forward
 * window get gains of their own. `preds` holds every trial of `ds` (as `predict` over all trials
 * returns it).
 *
 * @example
 * ```ts
 * import { array3d, fitRateGains, spikeDataset } from "@hest/hest";
 * const ds = spikeDataset({
 *   name: "toy",
 *   binSizeMs: 10,
 *   counts: array3d([1, 3, 2, 2], [2, 1, 2]),
 *   split: { train: [0, 1], val: [], test: [] },
 * });
 * const preds = { rates: array3d([1, 1, 1, 1], [2, 1, 2]) };
 * const g = fitRateGains(preds, ds, { priorCount: 0 });
 * g.rates; // Float32Array [1.5, 2.5]
 * ```
 */
export function fitRateGains(
  preds: RatePredictions,
  ds: SpikeDataset,
  opts: FitRateGainsOptions = {},
): RateGains {
  const c = opts.priorCount ?? 1;
  if (typeof c !== "number" || !(c >= 0) || !Number.isFinite(c)) {
    throw new RangeError(`fitRateGains: priorCount must be a finite number >= 0, found ${c}`);
  }
  const nTrials = ds.counts.shape[0];
  const trials = Int32Array.from(opts.trials ?? ds.split.train);
  if (trials.length === 0) {
    throw new Error("fitRateGains: no trials to fit the gains on (the training split is empty)");
  }
  for (const t of trials) {
    if (!(t >= 0 && t < nTrials)) {
      throw new RangeError(
        `fitRateGains: trial indices must be in [0, ${nTrials}), found ${t}`,
      );
    }
  }
  const rates = gainsOf(
    checkShape(preds.rates, ds.counts.shape, "preds.rates"),
    ds.counts,
    trials,
    c,
    "rates",
  );
  const n = ds.counts.shape[2];
  const fb = ds.forwardCounts.shape[1];
  const forward = fb > 0
    ? gainsOf(
      checkShape(preds.forwardRates, ds.forwardCounts.shape, "preds.forwardRates"),
      ds.forwardCounts,
      trials,
      c,
      "forward rates",
    )
    : new Float32Array(n).fill(1);
  return { rates, forward };
}

function scaled(a: Array3D, g: Float32Array, what: string): Array3D {
  const n = a.shape[2];
  if (g.length !== n) {
    throw new Error(
      `applyRateGains: ${what} has ${n} neurons but the gains have ${g.length}`,
    );
  }
  const out = new Float32Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] * g[i % n];
  return { data: out, shape: a.shape };
}

/**
 * The predictions times per-neuron gains (the trial's bins by `gains.rates`, the forward window
 * by `gains.forward`), as new arrays.
 *
 * @example
 * ```ts
 * import { applyRateGains, array3d } from "@hest/hest";
 * const preds = { rates: array3d([1, 2, 3, 4], [1, 2, 2]) };
 * const out = applyRateGains(preds, {
 *   rates: Float32Array.of(2, 0.5),
 *   forward: Float32Array.of(1, 1),
 * });
 * out.rates.data; // Float32Array [2, 1, 6, 2]
 * ```
 */
export function applyRateGains(preds: RatePredictions, gains: RateGains): RatePredictions {
  return {
    rates: scaled(preds.rates, gains.rates, "rates"),
    ...(preds.forwardRates
      ? { forwardRates: scaled(preds.forwardRates, gains.forward, "forwardRates") }
      : {}),
  };
}
