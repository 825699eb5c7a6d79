/**
 * Regression scores as scikit-learn and `nlb_tools` compute them:
 *
 * - {@linkcode r2Score} — scikit-learn's `r2_score` (with `force_finite`);
 * - {@linkcode ridgeFit} / {@linkcode ridgeCV} — scikit-learn's `Ridge` and
 *   `GridSearchCV(Ridge(), {alpha})` with its default unshuffled 5-fold CV;
 * - {@linkcode velocityR2} — `nlb_tools` behaviour decoding: a cross-validated ridge from rates to
 *   behaviour, scored by R².
 *
 * All arithmetic is float64 JavaScript over typed arrays; tensors are read with
 * `await t.data()`.
 *
 * @module
 */
import type { Array3D } from "../data/dataset.ts";
import {
  checkFiniteRates,
  checkMatrix,
  describe,
  type Matrix,
  type RatesInput,
  shapeStr,
  toArray3D,
} from "./metric_inputs.ts";

export type { Matrix } from "./metric_inputs.ts";

/** How {@linkcode r2Score} averages per-column scores: plain mean or variance-weighted. */
export type R2Multioutput = "uniform" | "variance";

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
 * import { r2Score } from "@hest/hest";
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
 * import { ridgeFit } from "@hest/hest";
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
 * import { ridgeCV } from "@hest/hest";
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
 * import { array3d, velocityR2 } from "@hest/hest";
 * const rates = array3d(Array.from({ length: 40 }, (_, i) => i % 7), [4, 10, 1]);
 * const behavior = array3d(Array.from({ length: 40 }, (_, i) => 2 * (i % 7) + 1), [4, 10, 1]);
 * const r2 = await velocityR2({ rates, behavior }, { rates, behavior }); // ≈ 1 (linear behaviour)
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
