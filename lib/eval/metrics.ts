/**
 * Neural Latents Benchmark metrics, computed exactly as `nlb_tools/evaluation.py`.
 *
 * - {@linkcode bitsPerSpike} — Poisson log-likelihood gain over a per-neuron mean-rate null, in
 *   bits per spike (co-bps on held-out neurons, fp-bps on the forward window);
 * - {@linkcode r2Score} — scikit-learn's `r2_score` (with `force_finite`);
 * - {@linkcode ridgeFit} / {@linkcode ridgeCV} — scikit-learn's `Ridge` and
 *   `GridSearchCV(Ridge(), {alpha})` with its default unshuffled 5-fold CV;
 * - {@linkcode velocityR2}, {@linkcode psthR2}, {@linkcode rateR2} — the decoding and PSTH scores;
 * - {@linkcode evaluate} — every metric for a set of predictions on a {@linkcode SpikeDataset}.
 *
 * Rates are **expected counts per bin**. All arithmetic is float64 JavaScript over typed arrays,
 * in O(n) passes; tensors are read with `await t.data()` (never `dataSync`, which WebGPU lacks).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { type Array3D, type SpikeDataset, take3d } from "../data/dataset.ts";
import type { RatePredictions } from "../data/dataset.ts";

/** A rank-3 `[trials, bins, neurons]` input: a TF.js tensor or an {@linkcode Array3D}. */
export type RatesInput = tf.Tensor | Array3D;

/** A dense row-major 2-D matrix (`data[r * cols + c]`). */
export interface Matrix {
  /** Values, length `rows * cols`. */
  readonly data: Float64Array | Float32Array;
  /** Number of rows (samples). */
  readonly rows: number;
  /** Number of columns (features or outputs). */
  readonly cols: number;
}

/** How {@linkcode r2Score} averages per-column scores: plain mean or variance-weighted. */
export type R2Multioutput = "uniform" | "variance";

/** Options of {@linkcode bitsPerSpike}. */
export interface BitsPerSpikeOptions {
  /** Receives the zero-rate warning (at most once per call); default `console.warn`. */
  onWarning?: (msg: string) => void;
}

/** Options of {@linkcode r2Score} and {@linkcode rateR2}. */
export interface R2Options {
  /** `"uniform"` (default): mean over columns; `"variance"`: weighted by each column's variance. */
  multioutput?: R2Multioutput;
}

/** Options of {@linkcode ridgeFit}. */
export interface RidgeOptions {
  /** L2 penalty on the coefficients (not on the intercept), ≥ 0. */
  alpha: number;
}

/** A fitted ridge regression with intercept, as returned by {@linkcode ridgeFit}. */
export interface RidgeModel {
  /** Coefficients, row-major `[features, outputs]`. */
  readonly coef: Float64Array;
  /** Intercept per output. */
  readonly intercept: Float64Array;
  /** The penalty it was fitted with. */
  readonly alpha: number;
  /** Number of input features. */
  readonly nFeatures: number;
  /** Number of outputs. */
  readonly nOutputs: number;
  /** Predict `X · coef + intercept` for `X` `[rows, nFeatures]`; returns `[rows, nOutputs]`. */
  predict(X: Matrix): Matrix;
}

/** Options of {@linkcode ridgeCV}. */
export interface RidgeCVOptions {
  /** Penalties to search (default `logspace(-4, 0, 9)`, as nlb_tools). */
  alphas?: readonly number[];
  /** Number of contiguous, unshuffled folds (default 5, as scikit-learn's `KFold`). */
  folds?: number;
}

/** What {@linkcode ridgeCV} returns. */
export interface RidgeCVResult {
  /** The model refitted on all rows with the chosen penalty. */
  readonly model: RidgeModel;
  /** The chosen penalty (best mean CV score, first on ties). */
  readonly alpha: number;
  /** Mean R² (uniform average) over the folds, one per entry of `alphas`. */
  readonly cvScores: readonly number[];
}

/** Rates and behaviour of one set of trials, for {@linkcode velocityR2}. */
export interface DecodingData {
  /** Predicted rates `[trials, bins, neurons]`. */
  readonly rates: RatesInput;
  /** Behaviour `[trials, bins, dims]` (NaN marks missing values; those rows are dropped). */
  readonly behavior: RatesInput;
}

/** Options of {@linkcode velocityR2}. */
export interface VelocityR2Options {
  /** Behaviour at bin `t + lagBins` is decoded from rates at bin `t` (default 0; may be < 0). */
  lagBins?: number;
  /** Ridge penalties searched by {@linkcode ridgeCV} (default `logspace(-4, 0, 9)`). */
  alphas?: readonly number[];
}

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
  /** PSTH R² against smoothed condition-averaged counts (when conditions are known). */
  psthR2?: number;
  /** Ridge-decoded behaviour R² (when behaviour is present). */
  velR2?: number;
}

// ---------------------------------------------------------------------------------------------
// Input handling

function isTensor(x: unknown): x is tf.Tensor {
  if (x instanceof tf.Tensor) return true;
  const t = x as { data?: unknown; shape?: unknown; rank?: unknown } | null;
  return typeof t === "object" && t !== null && typeof t.data === "function" &&
    Array.isArray(t.shape) && typeof t.rank === "number";
}

/** Read a tensor or validate an {@linkcode Array3D}; the result is a rank-3 Array3D. */
async function toArray3D(x: unknown, name: string): Promise<Array3D> {
  if (isTensor(x)) {
    if (x.rank !== 3) {
      throw new Error(
        `${name} must be a rank-3 tensor [trials, bins, neurons], found rank ${x.rank} ` +
          `with shape [${x.shape.join(", ")}]`,
      );
    }
    const d = await x.data();
    const data = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
    const [a, b, c] = x.shape as [number, number, number];
    return { data, shape: [a, b, c] };
  }
  const a = x as Array3D | undefined;
  if (
    !a || typeof a !== "object" || !(a.data instanceof Float32Array) || !Array.isArray(a.shape) ||
    a.shape.length !== 3
  ) {
    throw new Error(
      `${name} must be a tf.Tensor or an Array3D {data: Float32Array, shape: [a, b, c]}, found ` +
        describe(x),
    );
  }
  const n = a.shape[0] * a.shape[1] * a.shape[2];
  if (!a.shape.every((s) => Number.isInteger(s) && s >= 0) || a.data.length !== n) {
    throw new Error(
      `${name} has ${a.data.length} values but shape [${a.shape.join(", ")}] ` +
        `(expected ${n} values and non-negative integer dimensions)`,
    );
  }
  return a;
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x !== "object") return typeof x;
  const o = x as { constructor?: { name?: string }; shape?: unknown };
  const shape = Array.isArray(o.shape) ? ` with shape [${o.shape.join(", ")}]` : "";
  return `${o.constructor?.name ?? "object"}${shape}`;
}

function shapeStr(a: Array3D): string {
  return `[${a.shape.join(", ")}]`;
}

function sameShape(a: Array3D, b: Array3D, what: string, na: string, nb: string): void {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1] || a.shape[2] !== b.shape[2]) {
    throw new Error(
      `${what}: ${na} and ${nb} must have the same shape, found ${na} ${shapeStr(a)} and ` +
        `${nb} ${shapeStr(b)}`,
    );
  }
}

function where(shape: readonly number[], i: number): string {
  const b = shape[1], c = shape[2];
  const t = Math.floor(i / (b * c));
  const r = i - t * b * c;
  return `[${t}, ${Math.floor(r / c)}, ${r % c}]`;
}

function checkMatrix(m: Matrix, name: string): void {
  if (
    !m || !(m.data instanceof Float64Array || m.data instanceof Float32Array) ||
    !Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0
  ) {
    throw new Error(
      `${name} must be a Matrix {data: Float64Array | Float32Array, rows, cols}, found ` +
        describe(m),
    );
  }
  if (m.data.length !== m.rows * m.cols) {
    throw new Error(
      `${name} has ${m.data.length} values but rows × cols = ${m.rows} × ${m.cols} = ` +
        `${m.rows * m.cols}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Poisson likelihood

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
 * import { array3d } from "./lib/dataset.ts";
 * import { bitsPerSpike } from "./lib/metrics.ts";
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

function defaultWarn(msg: string): void {
  console.warn(msg);
}

// ---------------------------------------------------------------------------------------------
// R²

/**
 * Coefficient of determination, as scikit-learn's `r2_score(yTrue, yPred)` on 2-D data.
 *
 * Per column, R² = 1 − SS_res / SS_tot; a constant column (SS_tot = 0) scores 1 when it is
 * predicted exactly and 0 otherwise (`force_finite`). `"uniform"` (default) averages the
 * columns; `"variance"` weights them by SS_tot (and returns 1 / 0 when every column is constant).
 *
 * @example
 * ```ts
 * import { r2Score } from "./lib/metrics.ts";
 * const t = { data: Float64Array.of(1, 2, 3), rows: 3, cols: 1 };
 * const p = { data: Float64Array.of(1, 2, 4), rows: 3, cols: 1 };
 * r2Score(t, p); // 0.5
 * ```
 */
export function r2Score(yTrue: Matrix, yPred: Matrix, opts: R2Options = {}): number {
  checkMatrix(yTrue, "r2Score: yTrue");
  checkMatrix(yPred, "r2Score: yPred");
  if (yTrue.rows !== yPred.rows || yTrue.cols !== yPred.cols) {
    throw new Error(
      `r2Score: yTrue and yPred must have the same shape, found yTrue ${yTrue.rows} × ` +
        `${yTrue.cols} and yPred ${yPred.rows} × ${yPred.cols}`,
    );
  }
  const mo = opts.multioutput ?? "uniform";
  if (mo !== "uniform" && mo !== "variance") {
    throw new Error(`r2Score: multioutput must be "uniform" or "variance", found ${String(mo)}`);
  }
  const { rows, cols } = yTrue;
  if (rows < 2) throw new Error(`r2Score: R² needs at least 2 rows, found ${rows}`);
  if (cols < 1) throw new Error(`r2Score: expected at least 1 column, found ${cols}`);
  const t = yTrue.data, p = yPred.data;
  const mean = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++) for (let c = 0; c < cols; c++, i++) mean[c] += t[i];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  const corr = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) corr[c] += t[i] - mean[c];
  }
  for (let c = 0; c < cols; c++) mean[c] += corr[c] / rows;
  const ssRes = new Float64Array(cols), ssTot = new Float64Array(cols);
  for (let r = 0, i = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++, i++) {
      const e = t[i] - p[i], d = t[i] - mean[c];
      ssRes[c] += e * e;
      ssTot[c] += d * d;
    }
  }
  const scores = new Float64Array(cols);
  let anyTot = false, anyRes = false;
  for (let c = 0; c < cols; c++) {
    if (Number.isNaN(ssRes[c]) || Number.isNaN(ssTot[c])) {
      throw new Error(`r2Score: NaN in column ${c} of yTrue or yPred`);
    }
    anyTot ||= ssTot[c] !== 0;
    anyRes ||= ssRes[c] !== 0;
    if (ssTot[c] !== 0) scores[c] = ssRes[c] !== 0 ? 1 - ssRes[c] / ssTot[c] : 1;
    else scores[c] = ssRes[c] !== 0 ? 0 : 1;
  }
  if (mo === "uniform") {
    let s = 0;
    for (let c = 0; c < cols; c++) s += scores[c];
    return s / cols;
  }
  if (!anyTot) return anyRes ? 0 : 1;
  let num = 0, den = 0;
  for (let c = 0; c < cols; c++) {
    num += ssTot[c] * scores[c];
    den += ssTot[c];
  }
  return num / den;
}

// ---------------------------------------------------------------------------------------------
// Ridge regression

/** Sufficient statistics of a block of rows, shifted by fixed column offsets `mx`, `my`. */
interface Moments {
  n: number;
  /** Σ (x − mx), length p. */
  sx: Float64Array;
  /** Σ (y − my), length q. */
  sy: Float64Array;
  /** Σ (x − mx)(x − mx)ᵀ, p × p, upper triangle filled. */
  sxx: Float64Array;
  /** Σ (x − mx)(y − my)ᵀ, p × q. */
  sxy: Float64Array;
}

function columnMeans(m: Matrix, start: number, end: number): Float64Array {
  const c = m.cols, d = m.data, n = end - start;
  const mean = new Float64Array(c);
  if (n === 0) return mean;
  for (let r = start; r < end; r++) for (let j = 0, i = r * c; j < c; j++, i++) mean[j] += d[i];
  for (let j = 0; j < c; j++) mean[j] /= n;
  const corr = new Float64Array(c);
  for (let r = start; r < end; r++) {
    for (let j = 0, i = r * c; j < c; j++, i++) corr[j] += d[i] - mean[j];
  }
  for (let j = 0; j < c; j++) mean[j] += corr[j] / n;
  return mean;
}

function moments(
  X: Matrix,
  Y: Matrix,
  start: number,
  end: number,
  mx: Float64Array,
  my: Float64Array,
): Moments {
  const p = X.cols, q = Y.cols, xd = X.data, yd = Y.data;
  const sx = new Float64Array(p), sy = new Float64Array(q);
  const sxx = new Float64Array(p * p), sxy = new Float64Array(p * q);
  const dx = new Float64Array(p), dy = new Float64Array(q);
  for (let r = start; r < end; r++) {
    for (let a = 0, i = r * p; a < p; a++, i++) {
      const v = xd[i] - mx[a];
      if (Number.isNaN(v)) throw new Error(`ridge: X is NaN at row ${r}, column ${a}`);
      dx[a] = v;
      sx[a] += v;
    }
    for (let k = 0, i = r * q; k < q; k++, i++) {
      const v = yd[i] - my[k];
      if (Number.isNaN(v)) throw new Error(`ridge: Y is NaN at row ${r}, column ${k}`);
      dy[k] = v;
      sy[k] += v;
    }
    for (let a = 0; a < p; a++) {
      const va = dx[a];
      if (va === 0) continue;
      const row = a * p;
      for (let b = a; b < p; b++) sxx[row + b] += va * dx[b];
      const rowY = a * q;
      for (let k = 0; k < q; k++) sxy[rowY + k] += va * dy[k];
    }
  }
  return { n: end - start, sx, sy, sxx, sxy };
}

function addMoments(parts: readonly Moments[], p: number, q: number): Moments {
  const out: Moments = {
    n: 0,
    sx: new Float64Array(p),
    sy: new Float64Array(q),
    sxx: new Float64Array(p * p),
    sxy: new Float64Array(p * q),
  };
  for (const m of parts) {
    out.n += m.n;
    for (let i = 0; i < p; i++) out.sx[i] += m.sx[i];
    for (let i = 0; i < q; i++) out.sy[i] += m.sy[i];
    for (let i = 0; i < p * p; i++) out.sxx[i] += m.sxx[i];
    for (let i = 0; i < p * q; i++) out.sxy[i] += m.sxy[i];
  }
  return out;
}

function checkAlpha(alpha: number, what: string): void {
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha < 0) {
    throw new Error(`${what}: alpha must be a finite number ≥ 0, found ${alpha}`);
  }
}

/** Solve the centred ridge normal equations from shifted moments by Cholesky. */
function solveRidge(m: Moments, mx: Float64Array, my: Float64Array, alpha: number): RidgeModel {
  const p = mx.length, q = my.length, n = m.n;
  // A = Σ (x − x̄)(x − x̄)ᵀ + αI, B = Σ (x − x̄)(y − ȳ)ᵀ, from moments about (mx, my).
  const A = new Float64Array(p * p), B = new Float64Array(p * q);
  for (let a = 0; a < p; a++) {
    for (let b = a; b < p; b++) {
      const v = m.sxx[a * p + b] - m.sx[a] * m.sx[b] / n;
      A[a * p + b] = v;
      A[b * p + a] = v;
    }
    A[a * p + a] += alpha;
    for (let k = 0; k < q; k++) B[a * q + k] = m.sxy[a * q + k] - m.sx[a] * m.sy[k] / n;
  }
  // In-place Cholesky: A = L Lᵀ, L in the lower triangle.
  for (let j = 0; j < p; j++) {
    let d = A[j * p + j];
    for (let k = 0; k < j; k++) d -= A[j * p + k] * A[j * p + k];
    if (!(d > 0) || !Number.isFinite(d)) {
      throw new Error(
        `ridge: XᵀX + αI is not positive definite (pivot ${d} at feature ${j}, alpha = ` +
          `${alpha}); use alpha > 0 for constant or collinear features`,
      );
    }
    const l = Math.sqrt(d);
    A[j * p + j] = l;
    for (let i = j + 1; i < p; i++) {
      let s = A[i * p + j];
      for (let k = 0; k < j; k++) s -= A[i * p + k] * A[j * p + k];
      A[i * p + j] = s / l;
    }
  }
  const coef = new Float64Array(p * q);
  const z = new Float64Array(p);
  for (let k = 0; k < q; k++) {
    for (let i = 0; i < p; i++) {
      let s = B[i * q + k];
      for (let j = 0; j < i; j++) s -= A[i * p + j] * z[j];
      z[i] = s / A[i * p + i];
    }
    for (let i = p - 1; i >= 0; i--) {
      let s = z[i];
      for (let j = i + 1; j < p; j++) s -= A[j * p + i] * coef[j * q + k];
      coef[i * q + k] = s / A[i * p + i];
    }
  }
  // intercept = ȳ − x̄ᵀ W with x̄ = mx + sx / n, ȳ = my + sy / n.
  const intercept = new Float64Array(q);
  for (let k = 0; k < q; k++) {
    let s = my[k] + m.sy[k] / n;
    for (let a = 0; a < p; a++) s -= (mx[a] + m.sx[a] / n) * coef[a * q + k];
    intercept[k] = s;
  }
  return makeRidgeModel(coef, intercept, alpha, p, q);
}

function makeRidgeModel(
  coef: Float64Array,
  intercept: Float64Array,
  alpha: number,
  p: number,
  q: number,
): RidgeModel {
  return {
    coef,
    intercept,
    alpha,
    nFeatures: p,
    nOutputs: q,
    predict(X: Matrix): Matrix {
      checkMatrix(X, "RidgeModel.predict: X");
      if (X.cols !== p) {
        throw new Error(`RidgeModel.predict: expected X with ${p} columns, found ${X.cols}`);
      }
      return predictRows(X, 0, X.rows, coef, intercept, q);
    },
  };
}

function predictRows(
  X: Matrix,
  start: number,
  end: number,
  coef: Float64Array,
  intercept: Float64Array,
  q: number,
): Matrix {
  const p = X.cols, xd = X.data;
  const out = new Float64Array((end - start) * q);
  for (let r = start, o = 0; r < end; r++, o += q) {
    for (let k = 0; k < q; k++) out[o + k] = intercept[k];
    for (let a = 0, i = r * p; a < p; a++, i++) {
      const v = xd[i];
      if (v === 0) continue;
      for (let k = 0; k < q; k++) out[o + k] += v * coef[a * q + k];
    }
  }
  return { data: out, rows: end - start, cols: q };
}

function checkXY(X: Matrix, Y: Matrix, what: string): void {
  checkMatrix(X, `${what}: X`);
  checkMatrix(Y, `${what}: Y`);
  if (X.rows !== Y.rows) {
    throw new Error(
      `${what}: X and Y must have the same number of rows, found X ${X.rows} × ${X.cols} and ` +
        `Y ${Y.rows} × ${Y.cols}`,
    );
  }
  if (X.rows < 1 || X.cols < 1 || Y.cols < 1) {
    throw new Error(
      `${what}: expected at least 1 row, 1 feature and 1 output, found X ${X.rows} × ${X.cols} ` +
        `and Y ${Y.rows} × ${Y.cols}`,
    );
  }
}

/**
 * Ridge regression with an (unpenalised) intercept, as scikit-learn's `Ridge(alpha)`:
 * minimises ‖Y − X W − 1 bᵀ‖² + α ‖W‖², solved by Cholesky of the centred normal equations
 * `(XcᵀXc + αI) W = XcᵀYc`, with `b = ȳ − x̄ᵀW`.
 *
 * @example
 * ```ts
 * import { ridgeFit } from "./lib/metrics.ts";
 * const X = { data: Float64Array.of(1, 2, 3, 4), rows: 4, cols: 1 };
 * const Y = { data: Float64Array.of(2, 4, 5, 8), rows: 4, cols: 1 };
 * const m = ridgeFit(X, Y, { alpha: 1 }); // coef [1.58333], intercept [0.79167]
 * ```
 */
export function ridgeFit(X: Matrix, Y: Matrix, opts: RidgeOptions): RidgeModel {
  checkXY(X, Y, "ridgeFit");
  checkAlpha(opts?.alpha, "ridgeFit");
  const mx = columnMeans(X, 0, X.rows), my = columnMeans(Y, 0, Y.rows);
  return solveRidge(moments(X, Y, 0, X.rows, mx, my), mx, my, opts.alpha);
}

function logspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => 10 ** (start + i * step));
}

/**
 * Cross-validated ridge, as scikit-learn's `GridSearchCV(Ridge(), {"alpha": alphas})` with its
 * defaults: unshuffled contiguous `KFold` (the first `rows % folds` folds get one extra row),
 * score = R² uniform average on the held-out fold, best mean score wins (first on ties), then a
 * refit on all rows.
 *
 * @example
 * ```ts
 * import { ridgeCV } from "./lib/metrics.ts";
 * const X = { data: Float64Array.from({ length: 20 }, (_, i) => i), rows: 20, cols: 1 };
 * const Y = { data: Float64Array.from({ length: 20 }, (_, i) => 3 * i + 1), rows: 20, cols: 1 };
 * const { alpha, model } = ridgeCV(X, Y); // alpha 1e-4, coef ≈ [3]
 * ```
 */
export function ridgeCV(X: Matrix, Y: Matrix, opts: RidgeCVOptions = {}): RidgeCVResult {
  checkXY(X, Y, "ridgeCV");
  const alphas = opts.alphas ?? logspace(-4, 0, 9);
  if (!Array.isArray(alphas) || alphas.length === 0) {
    throw new Error(`ridgeCV: alphas must be a non-empty array, found ${describe(alphas)}`);
  }
  for (const a of alphas) checkAlpha(a, "ridgeCV");
  const k = opts.folds ?? 5;
  const n = X.rows, p = X.cols, q = Y.cols;
  if (!Number.isInteger(k) || k < 2) {
    throw new Error(`ridgeCV: folds must be an integer ≥ 2, found ${k}`);
  }
  if (n < 2 * k) {
    throw new Error(
      `ridgeCV: ${k}-fold CV needs at least 2 rows per fold (≥ ${2 * k} rows), found ${n}`,
    );
  }
  const bounds: number[] = [0];
  for (let f = 0; f < k; f++) {
    bounds.push(bounds[f] + Math.floor(n / k) + (f < n % k ? 1 : 0));
  }
  const mx = columnMeans(X, 0, n), my = columnMeans(Y, 0, n);
  const parts = Array.from(
    { length: k },
    (_, f) => moments(X, Y, bounds[f], bounds[f + 1], mx, my),
  );
  const scores = new Float64Array(alphas.length);
  for (let f = 0; f < k; f++) {
    const train = addMoments(parts.filter((_, g) => g !== f), p, q);
    const lo = bounds[f], hi = bounds[f + 1];
    const yFold: Matrix = { data: Y.data.subarray(lo * q, hi * q), rows: hi - lo, cols: q };
    alphas.forEach((alpha, i) => {
      const m = solveRidge(train, mx, my, alpha);
      scores[i] += r2Score(yFold, predictRows(X, lo, hi, m.coef, m.intercept, q)) / k;
    });
  }
  let best = 0;
  for (let i = 1; i < alphas.length; i++) {
    if (scores[i] > scores[best] || (Number.isNaN(scores[best]) && !Number.isNaN(scores[i]))) {
      best = i;
    }
  }
  return {
    model: ridgeFit(X, Y, { alpha: alphas[best] }),
    alpha: alphas[best],
    cvScores: Array.from(scores),
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding, PSTH and rate R²

function checkFiniteRates(a: Array3D, what: string): void {
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) {
      throw new Error(`${what} must be finite, found ${d[i]} at ${where(a.shape, i)}`);
    }
  }
}

function decodingRows(
  rates: Array3D,
  behavior: Array3D,
  lag: number,
  what: string,
): { X: Matrix; Y: Matrix } {
  const [nT, nB, p] = rates.shape;
  const q = behavior.shape[2];
  if (behavior.shape[0] !== nT || behavior.shape[1] !== nB) {
    throw new Error(
      `velocityR2: ${what} rates and behavior must agree on [trials, bins], found rates ` +
        `${shapeStr(rates)} and behavior ${shapeStr(behavior)}`,
    );
  }
  checkFiniteRates(rates, `velocityR2: ${what} rates`);
  const t0 = Math.max(0, -lag), t1 = Math.min(nB, nB - lag);
  if (t1 <= t0) {
    throw new Error(
      `velocityR2: lagBins = ${lag} leaves no bins to decode in trials of ${nB} bins ` +
        `(expected |lagBins| < ${nB})`,
    );
  }
  const X = new Float32Array(nT * (t1 - t0) * p), Y = new Float32Array(nT * (t1 - t0) * q);
  let rows = 0;
  for (let t = 0; t < nT; t++) {
    for (let b = t0; b < t1; b++) {
      const yo = (t * nB + b + lag) * q;
      let ok = true;
      for (let k = 0; k < q; k++) if (Number.isNaN(behavior.data[yo + k])) ok = false;
      if (!ok) continue;
      Y.set(behavior.data.subarray(yo, yo + q), rows * q);
      const xo = (t * nB + b) * p;
      X.set(rates.data.subarray(xo, xo + p), rows * p);
      rows++;
    }
  }
  return {
    X: { data: X.subarray(0, rows * p), rows, cols: p },
    Y: { data: Y.subarray(0, rows * q), rows, cols: q },
  };
}

/**
 * Behaviour decoding R², as `nlb_tools` `velocity_decoding`: rows are trials × bins, X the rates of
 * every neuron, Y the behaviour `lagBins` bins later (bins whose partner falls outside the trial
 * are dropped, as are rows with any NaN behaviour). A {@linkcode ridgeCV} decoder is fitted on
 * `train` and scored on `test` with R², uniform average over behaviour dims.
 *
 * @example
 * ```ts
 * import { velocityR2 } from "./lib/metrics.ts";
 * // const r2 = await velocityR2({ rates, behavior }, { rates: r2s, behavior: b2 }, { lagBins: 5 });
 * ```
 */
export async function velocityR2(
  train: DecodingData,
  test: DecodingData,
  opts: VelocityR2Options = {},
): Promise<number> {
  const lag = opts.lagBins ?? 0;
  if (!Number.isInteger(lag)) {
    throw new Error(`velocityR2: lagBins must be an integer, found ${lag}`);
  }
  const tr = await toArray3D(train?.rates, "velocityR2: train.rates");
  const tb = await toArray3D(train?.behavior, "velocityR2: train.behavior");
  const er = await toArray3D(test?.rates, "velocityR2: test.rates");
  const eb = await toArray3D(test?.behavior, "velocityR2: test.behavior");
  if (tr.shape[2] !== er.shape[2] || tb.shape[2] !== eb.shape[2]) {
    throw new Error(
      `velocityR2: train and test must have the same neurons and behaviour dims, found train ` +
        `rates ${shapeStr(tr)} / behavior ${shapeStr(tb)} and test rates ${shapeStr(er)} / ` +
        `behavior ${shapeStr(eb)}`,
    );
  }
  const a = decodingRows(tr, tb, lag, "train");
  const b = decodingRows(er, eb, lag, "test");
  const { model } = ridgeCV(a.X, a.Y, { alphas: opts.alphas });
  return r2Score(b.Y, model.predict(b.X));
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
 * import { array3d } from "./lib/dataset.ts";
 * import { psthR2 } from "./lib/metrics.ts";
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
 * R² of predicted vs true rates: rows are trials × bins, columns are neurons, scikit-learn
 * `r2_score(truth, pred)` with `multioutput` `"uniform"` (default) or `"variance"`.
 *
 * @example
 * ```ts
 * import { array3d } from "./lib/dataset.ts";
 * import { rateR2 } from "./lib/metrics.ts";
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
 * - `psthR2` when conditions are known; `velR2` when behaviour is present (ridge fitted on the
 *   predicted rates of `dataset.split.train`, scored on the evaluated split, lag `lagBins`).
 *
 * @example
 * ```ts
 * import { evaluate, lorenzDataset } from "./mod.ts";
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
  if (dataset.conditions) {
    const cond = Int32Array.from(trials, (t) => dataset.conditions![t]);
    result.psthR2 = await withContext(
      "psthR2",
      () =>
        psthR2(predAll, sel(dataset.counts, all), cond, { kernelSdBins: opts.psthKernelSdBins }),
    );
  }
  if (dataset.behavior) {
    const beh = dataset.behavior;
    const trainTrials = dataset.split.train;
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
