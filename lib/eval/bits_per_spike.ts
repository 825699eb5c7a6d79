/**
 * Bits per spike ({@linkcode bitsPerSpike}): the Poisson log-likelihood gain of predicted rates
 * over a per-neuron mean-rate null, in bits per spike, computed exactly as
 * `nlb_tools/evaluation.py` (co-bps on held-out neurons, fp-bps on the forward window).
 *
 * Rates are **expected counts per bin**. All arithmetic is float64 JavaScript over typed arrays,
 * in O(n) passes; tensors are read with `await t.data()` (never `dataSync`, which WebGPU lacks).
 *
 * @module
 */
import type { Array3D } from "../data/dataset.ts";
import {
  defaultWarn,
  type RatesInput,
  sameShape,
  shapeStr,
  toArray3D,
  where,
} from "./metric_inputs.ts";

export type { RatesInput } from "./metric_inputs.ts";

/** Options of {@linkcode bitsPerSpike}. */
export interface BitsPerSpikeOptions {
  /** Receives the zero-rate warning (at most once per call); default `console.warn`. */
  onWarning?: (msg: string) => void;
}

const LOG_FACT_TABLE_SIZE = 1024;
const LOG_FACT: Float64Array = buildLogFactorials(LOG_FACT_TABLE_SIZE);

function buildLogFactorials(n: number): Float64Array {
  // Compensated cumulative sum of ln k, so every entry is correct to ~1 ulp.
  const t = new Float64Array(n);
  let s = 0, c = 0;
  for (let k = 2; k < n; k++) {
    const v = Math.log(k);
    const u = s + v;
    c += Math.abs(s) >= Math.abs(v) ? (s - u) + v : (v - u) + s;
    s = u;
    t[k] = s + c;
  }
  return t;
}

/** ln(k!) = lgamma(k + 1) for an integer k ≥ 0: a table below 1024, Stirling's series above. */
function logFactorial(k: number): number {
  if (k < LOG_FACT_TABLE_SIZE) return LOG_FACT[k];
  const x = k + 1;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x) -
    1 / (360 * x ** 3) + 1 / (1260 * x ** 5);
}

interface PoissonParts {
  /** Σ_valid (λ − y ln λ) of the model, with λ = 0 replaced by 1e-9. */
  model: number;
  /** The same for the per-neuron nanmean null. */
  nullModel: number;
  /** Σ_valid lgamma(y + 1). */
  logFact: number;
  /** nansum(y). */
  total: number;
}

/**
 * One pass over rates and spikes: validates them as nlb_tools does and returns the parts of the
 * model and null Poisson NLLs. Elements whose spike is NaN are dropped.
 */
function poissonParts(
  rates: Array3D,
  spikes: Array3D,
  what: string,
  onWarning: (msg: string) => void,
): PoissonParts {
  sameShape(rates, spikes, what, "rates", "spikes");
  const r = rates.data, y = spikes.data;
  const nNeurons = spikes.shape[2];
  const sums = new Float64Array(nNeurons);
  const counts = new Float64Array(nNeurons);
  let model = 0, modelC = 0, logFact = 0, logFactC = 0, zeros = 0;
  for (let i = 0, n = 0; i < y.length; i++, n = n + 1 === nNeurons ? 0 : n + 1) {
    const yi = y[i];
    if (Number.isNaN(yi)) continue;
    if (!(yi >= 0) || yi !== Math.floor(yi) || !Number.isFinite(yi)) {
      throw new Error(
        `${what}: spikes must be non-negative integer counts (or NaN), found ${yi} at ` +
          where(spikes.shape, i),
      );
    }
    let ri = r[i];
    if (!(ri >= 0) || !Number.isFinite(ri)) {
      throw new Error(
        `${what}: rates must be finite and non-negative, found ${ri} at ${where(rates.shape, i)}`,
      );
    }
    if (ri === 0) {
      ri = 1e-9;
      zeros++;
    }
    const v = yi === 0 ? ri : ri - yi * Math.log(ri);
    let u = model + v;
    modelC += Math.abs(model) >= Math.abs(v) ? (model - u) + v : (v - u) + model;
    model = u;
    if (yi > 1) {
      const lf = logFactorial(yi);
      u = logFact + lf;
      logFactC += Math.abs(logFact) >= Math.abs(lf) ? (logFact - u) + lf : (lf - u) + logFact;
      logFact = u;
    }
    sums[n] += yi;
    counts[n]++;
  }
  if (zeros > 0) {
    onWarning(
      `${what}: ${zeros} zero rate prediction(s) replaced by 1e-9 for the Poisson likelihood`,
    );
  }
  // Null: λ̄_n = nanmean over (trials, bins) of neuron n; its NLL summed in closed form:
  // Σ_valid(λ̄ − y ln λ̄) = count_n λ̄_n − sum_n ln λ̄_n.
  let nullModel = 0, total = 0;
  for (let n = 0; n < nNeurons; n++) {
    if (counts[n] === 0) continue;
    total += sums[n];
    const mean = sums[n] / counts[n];
    nullModel += mean === 0 ? counts[n] * 1e-9 : counts[n] * mean - sums[n] * Math.log(mean);
  }
  return { model: model + modelC, nullModel, logFact: logFact + logFactC, total };
}

/**
 * Bits per spike of predicted rates, exactly as `nlb_tools.evaluation.bits_per_spike`.
 *
 * NLL(λ, y) = Σ [λ − y ln λ + ln y!] over the elements whose spike count is not NaN; the null
 * model is each neuron's nanmean count over trials × bins of `spikes` itself, and
 * `bps = (NLL_null − NLL_model) / (nansum(y) · ln 2)`. Rates of exactly 0 are replaced by 1e-9
 * (with one warning per call); negative, NaN or infinite rates throw, naming the
 * `[trial, bin, neuron]` index. Spikes must be non-negative integers or NaN, and their total
 * must be positive.
 *
 * @example
 * ```ts
 * import { array3d, bitsPerSpike } from "@hest/hest";
 * const y = array3d([1, 3], [1, 2, 1]);
 * const bps = await bitsPerSpike(array3d([1, 3], [1, 2, 1]), y); // 0.188722
 * ```
 */
export async function bitsPerSpike(
  rates: RatesInput,
  spikes: RatesInput,
  opts: BitsPerSpikeOptions = {},
): Promise<number> {
  const r = await toArray3D(rates, "bitsPerSpike: rates");
  const y = await toArray3D(spikes, "bitsPerSpike: spikes");
  const p = poissonParts(r, y, "bitsPerSpike", opts.onWarning ?? defaultWarn);
  if (!(p.total > 0)) {
    throw new Error(
      `bitsPerSpike: expected a positive total spike count, found ${p.total} ` +
        `(spikes shape ${shapeStr(y)}); bits per spike is undefined without spikes`,
    );
  }
  // The ln y! terms are identical in both NLLs and cancel exactly.
  return (p.nullModel - p.model) / (p.total * Math.LN2);
}
