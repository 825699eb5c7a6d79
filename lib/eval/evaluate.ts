/**
 * Scores of predicted rates against a {@linkcode SpikeDataset}, as `nlb_tools/evaluation.py`:
 * {@linkcode psthR2} (condition-averaged PSTH R²), {@linkcode nlbPsthR2} (nlb_tools' own
 * `eval_psth`, against the PSTHs of an NLB target file), {@linkcode rateR2} (R² against the true rates)
 * and {@linkcode evaluate}, which computes every metric the data allow on one split (co-bps,
 * fp-bps, held-in bits/spike, rate and PSTH R², behaviour decoding R²).
 *
 * Rates are **expected counts per bin**; all arithmetic is float64 JavaScript.
 *
 * @module
 */
import { type Array3D, type SpikeDataset, take3d } from "../data/dataset.ts";
import type { RatePredictions } from "../data/dataset.ts";
import { bitsPerSpike } from "./bits_per_spike.ts";
import {
  checkFiniteRates,
  defaultWarn,
  describe,
  type RatesInput,
  sameShape,
  toArray3D,
  where,
} from "./metric_inputs.ts";
import { type R2Options, r2Score, velocityR2 } from "./regression.ts";
import type { NlbMeta, NlbPsth } from "../data/nlb.ts";

/** Options of {@linkcode psthR2}. */
export interface PsthR2Options {
  /** SD in bins of the Gaussian that smooths the true PSTH (default 2.5; 0 = no smoothing). */
  kernelSdBins?: number;
}

/** Name of a trial split of a {@linkcode SpikeDataset}. */
export type EvalSplit = "train" | "val" | "test";

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** Split to score (default `"test"`). */
  split?: EvalSplit;
  /** Behaviour lag in bins for `velR2` (default 0). */
  lagBins?: number;
  /** Gaussian SD in bins for the true PSTH (default 2.5). */
  psthKernelSdBins?: number;
  /** Receives zero-rate warnings; default `console.warn`. */
  onWarning?: (msg: string) => void;
}

/** Every metric {@linkcode evaluate} computes; optional fields need data the dataset may lack. */
export interface EvalResult {
  /** The split scored. */
  split: EvalSplit;
  /** Number of trials in it. */
  nTrials: number;
  /** Total spike count of the held-out neurons in those trials. */
  totalHeldOutSpikes: number;
  /** co-bps: bits/spike on the held-out neurons (NaN when the dataset has none). */
  coBps: number;
  /** co-bps of the true rates (when known). */
  oracleCoBps?: number;
  /** fp-bps: bits/spike on the forward window, all neurons (when predicted). */
  fpBps?: number;
  /** fp-bps of the true forward rates (when known). */
  oracleFpBps?: number;
  /** Bits/spike on the held-in neurons (diagnostic; they were the model's input). */
  heldInBps: number;
  /** R² of predicted vs true rates over all neurons, uniform average (when known). */
  rateR2?: number;
  /** As `rateR2`, variance-weighted. */
  rateR2Weighted?: number;
  /**
   * PSTH R²: on NLB's test split with nlb_tools' PSTHs in the file, {@linkcode nlbPsthR2};
   * otherwise against smoothed condition-averaged counts (when conditions are known).
   */
  psthR2?: number;
  /** Ridge-decoded behaviour R² (when behaviour is present). */
  velR2?: number;
}

/** Smooth each neuron of `[bins, neurons]` rows with a truncated, edge-renormalised Gaussian. */
function gaussianSmooth(x: Float64Array, nB: number, nN: number, sd: number): Float64Array {
  if (sd === 0) return x;
  const half = Math.floor(3 * sd);
  const w = new Float64Array(2 * half + 1);
  for (let k = -half; k <= half; k++) w[k + half] = Math.exp(-(k * k) / (2 * sd * sd));
  const out = new Float64Array(nB * nN);
  for (let b = 0; b < nB; b++) {
    const lo = Math.max(-half, -b), hi = Math.min(half, nB - 1 - b);
    let norm = 0;
    for (let k = lo; k <= hi; k++) norm += w[k + half];
    for (let k = lo; k <= hi; k++) {
      const wk = w[k + half] / norm, src = (b + k) * nN;
      for (let n = 0; n < nN; n++) out[b * nN + n] += wk * x[src + n];
    }
  }
  return out;
}

/**
 * PSTH R²: per condition, the predicted PSTH is the trial-mean of `rates` and the true PSTH the
 * trial-mean of `counts` smoothed along bins by a normalised Gaussian (SD `kernelSdBins`,
 * truncated at ±3 SD, renormalised over the bins inside the trial so edges are unbiased).
 * Conditions × bins are stacked as rows (conditions in ascending id order; rows whose true PSTH
 * is NaN are dropped), neurons are columns, and the score is R² averaged uniformly over neurons.
 *
 * @example
 * ```ts
 * import { array3d, psthR2 } from "@hest/hest";
 * const c = array3d([1, 0, 2, 0, 1, 1], [2, 3, 1]);
 * const r2 = await psthR2(c, c, Int32Array.of(0, 1), { kernelSdBins: 0 }); // 1
 * ```
 */
export async function psthR2(
  rates: RatesInput,
  counts: RatesInput,
  conditions: Int32Array,
  opts: PsthR2Options = {},
): Promise<number> {
  const r = await toArray3D(rates, "psthR2: rates");
  const y = await toArray3D(counts, "psthR2: counts");
  sameShape(r, y, "psthR2", "rates", "counts");
  checkFiniteRates(r, "psthR2: rates");
  const sd = opts.kernelSdBins ?? 2.5;
  if (typeof sd !== "number" || !Number.isFinite(sd) || sd < 0) {
    throw new Error(`psthR2: kernelSdBins must be a finite number ≥ 0, found ${sd}`);
  }
  const [nT, nB, nN] = r.shape;
  if (!conditions || conditions.length !== nT) {
    throw new Error(
      `psthR2: expected one condition per trial (${nT}), found ${conditions?.length ?? "none"}`,
    );
  }
  const ids = [...new Set(conditions)].sort((a, b) => a - b);
  const size = nB * nN;
  const pred: number[] = [], truth: number[] = [];
  let rows = 0;
  for (const id of ids) {
    const p = new Float64Array(size), t = new Float64Array(size);
    let m = 0;
    for (let tr = 0; tr < nT; tr++) {
      if (conditions[tr] !== id) continue;
      m++;
      const o = tr * size;
      for (let i = 0; i < size; i++) {
        p[i] += r.data[o + i];
        t[i] += y.data[o + i];
      }
    }
    if (m < 1) continue;
    for (let i = 0; i < size; i++) {
      p[i] /= m;
      t[i] /= m;
    }
    const ts = gaussianSmooth(t, nB, nN, sd);
    for (let b = 0; b < nB; b++) {
      let ok = true;
      for (let n = 0; n < nN; n++) if (Number.isNaN(ts[b * nN + n])) ok = false;
      if (!ok) continue;
      for (let n = 0; n < nN; n++) {
        truth.push(ts[b * nN + n]);
        pred.push(p[b * nN + n]);
      }
      rows++;
    }
  }
  return r2Score(
    { data: Float64Array.from(truth), rows, cols: nN },
    { data: Float64Array.from(pred), rows, cols: nN },
  );
}

/**
 * PSTH R² as nlb_tools' `eval_psth` scores NLB's test split: per condition of `targets`, each of
 * its eval trials' rates `[bins, neurons]` is shifted by the trial's jitter (`j > 0`: `j` NaN
 * rows, then the rates without their last `j`; `j < 0`: the rates from row `-j`, then NaN), the
 * shifted trials are averaged (summed in the listed order, then divided), the rows where the
 * true PSTH of neuron 0 is NaN are dropped, and conditions without trials are skipped. The kept
 * rows of all conditions are stacked and scored by scikit-learn's `r2_score` (uniform average
 * over neurons). `evalRates` are the eval trials' rates `[evalTrials, bins, neurons]`, held-in
 * then held-out neurons, as in the PSTHs.
 *
 * @example
 * ```ts
 * import { array3d, nlbPsthR2 } from "@hest/hest";
 * const psth = { data: Float64Array.of(NaN, 1, 2, 4), shape: [1, 4, 1] };
 * const rates = array3d([1, 2, 4, 0, 9, 1, 2, 4], [2, 4, 1]);
 * const targets = { psth, evalCondIdx: [Int32Array.of(0, 1)], evalJitter: Int32Array.of(1, 0) };
 * await nlbPsthR2(rates, targets); // 1: bins 1–3 average [1, 2, 4] after trial 0 moves by 1
 * ```
 */
export async function nlbPsthR2(evalRates: RatesInput, targets: NlbPsth): Promise<number> {
  const r = await toArray3D(evalRates, "nlbPsthR2: evalRates");
  checkFiniteRates(r, "nlbPsthR2: evalRates");
  const [nT, nB, nN] = r.shape;
  const { psth, evalCondIdx, evalJitter } = targets;
  const [nC, pB, pN] = psth.shape;
  if (psth.shape.length !== 3 || pB !== nB || pN !== nN) {
    throw new Error(
      `nlbPsthR2: expected psth [conditions, ${nB}, ${nN}] like the rates' bins and neurons, ` +
        `found [${psth.shape.join(", ")}]`,
    );
  }
  if (evalCondIdx.length !== nC || evalJitter.length !== nT) {
    throw new Error(
      `nlbPsthR2: expected ${nC} lists of trial indices (one per condition) and ${nT} jitters ` +
        `(one per eval trial), found ${evalCondIdx.length} and ${evalJitter.length}`,
    );
  }
  const size = nB * nN;
  const truth: number[] = [], pred: number[] = [];
  let rows = 0;
  evalCondIdx.forEach((idx, c) => {
    if (idx.length === 0) return;
    const sum = new Float64Array(size);
    for (const t of idx) {
      if (!(t >= 0 && t < nT)) {
        throw new Error(`nlbPsthR2: condition ${c} lists trial ${t}, expected one in [0, ${nT})`);
      }
      for (let b = 0; b < nB; b++) {
        const src = b - evalJitter[t];
        const inside = src >= 0 && src < nB;
        for (let n = 0; n < nN; n++) {
          sum[b * nN + n] += inside ? r.data[t * size + src * nN + n] : NaN;
        }
      }
    }
    for (let b = 0; b < nB; b++) {
      const o = (c * nB + b) * nN;
      if (Number.isNaN(psth.data[o])) continue;
      for (let n = 0; n < nN; n++) {
        const p = sum[b * nN + n] / idx.length, y = psth.data[o + n];
        if (Number.isNaN(p) || Number.isNaN(y)) {
          throw new Error(
            `nlbPsthR2: condition ${c}, bin ${b}, neuron ${n}: the ${
              Number.isNaN(y) ? "true" : "predicted (jitter-shifted)"
            } PSTH is NaN in a row that is scored (neuron 0's true PSTH is defined there)`,
          );
        }
        truth.push(y);
        pred.push(p);
      }
      rows++;
    }
  });
  return r2Score(
    { data: Float64Array.from(truth), rows, cols: nN },
    { data: Float64Array.from(pred), rows, cols: nN },
  );
}

/**
 * R² of predicted vs true rates: rows are trials × bins, columns are neurons, scikit-learn
 * `r2_score(truth, pred)` with `multioutput` `"uniform"` (default) or `"variance"`.
 *
 * @example
 * ```ts
 * import { array3d, rateR2 } from "@hest/hest";
 * const t = array3d([1, 2, 3, 4], [2, 2, 1]);
 * const r2 = await rateR2(t, t); // 1
 * ```
 */
export async function rateR2(
  pred: RatesInput,
  truth: RatesInput,
  opts: R2Options = {},
): Promise<number> {
  const p = await toArray3D(pred, "rateR2: pred");
  const t = await toArray3D(truth, "rateR2: truth");
  sameShape(p, t, "rateR2", "pred", "truth");
  const rows = p.shape[0] * p.shape[1], cols = p.shape[2];
  return r2Score({ data: t.data, rows, cols }, { data: p.data, rows, cols }, opts);
}

// ---------------------------------------------------------------------------------------------
// evaluate

function checkPredShape(a: Array3D, expected: readonly number[], name: string): void {
  if (
    !a || !(a.data instanceof Float32Array) || !Array.isArray(a.shape) || a.shape.length !== 3
  ) {
    throw new Error(
      `evaluate: ${name} must be an Array3D of shape [${expected.join(", ")}], found ` +
        describe(a),
    );
  }
  if (a.shape.some((s, i) => s !== expected[i])) {
    throw new Error(
      `evaluate: ${name} must have shape [${expected.join(", ")}] (trials, bins, neurons of ` +
        `the dataset), found [${a.shape.join(", ")}]`,
    );
  }
  if (a.data.length !== expected[0] * expected[1] * expected[2]) {
    throw new Error(
      `evaluate: ${name} has ${a.data.length} values for shape [${a.shape.join(", ")}]`,
    );
  }
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    if (!(d[i] >= 0) || !Number.isFinite(d[i])) {
      throw new Error(
        `evaluate: ${name} must be finite and non-negative, found ${d[i]} at ` +
          where(a.shape, i),
      );
    }
  }
}

async function withContext<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw new Error(`evaluate: ${what}: ${(err as Error).message}`);
  }
}

/**
 * Score predictions on one split of a dataset with every metric the data allow.
 *
 * - `coBps` on the held-out neurons (`oracleCoBps` for the true rates); `heldInBps` on the
 *   held-in ones;
 * - `fpBps` on the forward window, held-in ⊕ held-out neurons (when forward bins and
 *   `forwardRates` exist; `oracleFpBps` when forward true rates exist);
 * - `rateR2` / `rateR2Weighted` against the true rates, held-in ⊕ held-out neurons;
 * - `psthR2`: on the test split of NLB data whose target file holds nlb_tools' PSTHs
 *   (`meta.nlb.psth`), {@linkcode nlbPsthR2} of the eval trials; otherwise when conditions are
 *   known, {@linkcode psthR2}; `velR2` when behaviour is present (ridge fitted on the
 *   predicted rates of the train trials — train and val when the test split is scored, as
 *   nlb_tools fits on all of NLB's train trials — scored on the evaluated split, lag `lagBins`).
 *
 * @example
 * ```ts
 * import { evaluate, lorenzDataset } from "@hest/hest";
 * const ds = lorenzDataset({ seed: 0 });
 * const result = await evaluate({ rates: ds.trueRates!, forwardRates: ds.forwardTrueRates }, ds);
 * console.log(result.coBps === result.oracleCoBps); // true
 * ```
 */
export async function evaluate(
  predictions: RatePredictions,
  dataset: SpikeDataset,
  opts: EvaluateOptions = {},
): Promise<EvalResult> {
  const split = opts.split ?? "test";
  if (!["train", "val", "test"].includes(split)) {
    throw new Error(`evaluate: split must be "train", "val" or "test", found ${String(split)}`);
  }
  if (!predictions || typeof predictions !== "object") {
    throw new Error(`evaluate: predictions must be {rates, forwardRates?}, found ${predictions}`);
  }
  const [nAll, nBins, nNeurons] = dataset.counts.shape;
  const nFwd = dataset.forwardCounts.shape[1];
  checkPredShape(predictions.rates, [nAll, nBins, nNeurons], "predictions.rates");
  if (predictions.forwardRates) {
    checkPredShape(predictions.forwardRates, [nAll, nFwd, nNeurons], "predictions.forwardRates");
  }
  const trials = dataset.split[split];
  if (trials.length === 0) throw new Error(`evaluate: split "${split}" has no trials`);
  const warn = { onWarning: opts.onWarning ?? defaultWarn };
  const all = Int32Array.from([...dataset.heldIn, ...dataset.heldOut]);
  const sel = (a: Array3D, neurons: Int32Array): Array3D => take3d(a, trials, { last: neurons });

  const heldOutCounts = sel(dataset.counts, dataset.heldOut);
  let totalHeldOutSpikes = 0;
  for (const v of heldOutCounts.data) totalHeldOutSpikes += v;
  const hasHeldOut = dataset.heldOut.length > 0;
  const result: EvalResult = {
    split,
    nTrials: trials.length,
    totalHeldOutSpikes,
    coBps: hasHeldOut
      ? await withContext(
        "coBps",
        () => bitsPerSpike(sel(predictions.rates, dataset.heldOut), heldOutCounts, warn),
      )
      : NaN,
    heldInBps: await withContext(
      "heldInBps",
      () =>
        bitsPerSpike(
          sel(predictions.rates, dataset.heldIn),
          sel(dataset.counts, dataset.heldIn),
          warn,
        ),
    ),
  };
  if (dataset.trueRates && hasHeldOut) {
    const tr = dataset.trueRates;
    result.oracleCoBps = await withContext(
      "oracleCoBps",
      () => bitsPerSpike(sel(tr, dataset.heldOut), heldOutCounts, warn),
    );
  }
  if (nFwd > 0) {
    const fwdCounts = sel(dataset.forwardCounts, all);
    const fr = predictions.forwardRates;
    if (fr) {
      result.fpBps = await withContext("fpBps", () => bitsPerSpike(sel(fr, all), fwdCounts, warn));
    }
    const ftr = dataset.forwardTrueRates;
    if (ftr) {
      result.oracleFpBps = await withContext(
        "oracleFpBps",
        () => bitsPerSpike(sel(ftr, all), fwdCounts, warn),
      );
    }
  }
  const predAll = sel(predictions.rates, all);
  if (dataset.trueRates) {
    const truth = sel(dataset.trueRates, all);
    result.rateR2 = await withContext("rateR2", () => rateR2(predAll, truth));
    result.rateR2Weighted = await withContext(
      "rateR2Weighted",
      () => rateR2(predAll, truth, { multioutput: "variance" }),
    );
  }
  const nlb = dataset.meta.nlb as Partial<NlbMeta> | undefined;
  if (split === "test" && nlb?.psth && typeof nlb.trainTrials === "number") {
    // nlb_tools' targets index NLB's eval trials, dataset trials trainTrials, trainTrials + 1, …
    const first = nlb.trainTrials, targets = nlb.psth;
    const evalTrials = Int32Array.from(targets.evalJitter, (_, k) => first + k);
    result.psthR2 = await withContext(
      "psthR2",
      () => nlbPsthR2(take3d(predictions.rates, evalTrials, { last: all }), targets),
    );
  } else if (dataset.conditions) {
    const cond = Int32Array.from(trials, (t) => dataset.conditions![t]);
    result.psthR2 = await withContext(
      "psthR2",
      () =>
        psthR2(predAll, sel(dataset.counts, all), cond, { kernelSdBins: opts.psthKernelSdBins }),
    );
  }
  if (dataset.behavior) {
    const beh = dataset.behavior;
    // as nlb_tools: the decoder is fitted on every trial before the scored split (train and
    // val when the test split is scored, NLB's "train" trials), then scored on the split. In
    // dataset order, as a submission lists NLB's train trials: the penalty is chosen by
    // unshuffled 5-fold CV, whose folds (and so the chosen penalty) depend on the row order.
    const trainTrials = split === "test"
      ? Int32Array.from([...dataset.split.train, ...dataset.split.val].sort((a, b) => a - b))
      : dataset.split.train;
    result.velR2 = await withContext("velR2", () =>
      velocityR2(
        {
          rates: take3d(predictions.rates, trainTrials, { last: all }),
          behavior: take3d(beh, trainTrials),
        },
        { rates: predAll, behavior: take3d(beh, trials) },
        { lagBins: opts.lagBins ?? 0 },
      ));
  }
  return result;
}
