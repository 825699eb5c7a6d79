/**
 * Baselines every model should beat, for any {@linkcode SpikeDataset}:
 *
 * - {@linkcode smoothingBaseline} — the Neural Latents Benchmark's smoothing baseline
 *   (`nlb_tools` `examples/baselines/smoothing`): Gaussian-smooth the held-in spikes along bins,
 *   fit one Poisson GLM per held-out neuron from the log smoothed held-in rates (+ bias, L2
 *   penalty `alpha` as scikit-learn's `PoissonRegressor`), pick the kernel width and `alpha` by
 *   validation co-bps over a small grid, refit on train + val and score with
 *   {@linkcode evaluate}. Held-in rates are the smoothed spikes themselves.
 * - {@linkcode rawCountRidge} — behaviour decoded by cross-validated ridge from the raw binned
 *   counts of every neuron, with the lag convention of {@linkcode velocityR2}.
 *
 * The pieces are exported too: {@linkcode gaussianWindow} and {@linkcode smoothSpikes} (as
 * `nlb_tools`' `smooth_spk`: a `scipy.signal.gaussian` window of `int(6·sd)` points normalised to
 * sum 1, applied as a zero-padded `"same"` convolution, so edges are not renormalised) and
 * {@linkcode fitPoissonGlm} (Newton's method with a backtracking line search, in float64).
 *
 * @module
 */
import { type Array3D, type SpikeDataset, take3d } from "../data/dataset.ts";
import { bitsPerSpike } from "./bits_per_spike.ts";
import { type EvalResult, type EvalSplit, evaluate } from "./evaluate.ts";
import { type Matrix, velocityR2 } from "./regression.ts";
import type { RatePredictions } from "../data/dataset.ts";

// ---------------------------------------------------------------------------------------------
// Smoothing

/**
 * The normalised Gaussian window `nlb_tools` smooths with: `scipy.signal.gaussian(M, sd,
 * sym=True) / sum` with `M = int(6·sd)` points, i.e. `w[i] ∝ exp(−(i − (M−1)/2)² / (2 sd²))`
 * (for an even `M` the centre falls between two points). Throws when `M < 1` (sd below 1/6 bin).
 *
 * @example
 * ```ts
 * import { gaussianWindow } from "@hest/hest";
 * gaussianWindow(0.5); // 3 points: [0.1065, 0.7870, 0.1065]
 * ```
 */
export function gaussianWindow(sdBins: number): Float64Array {
  if (typeof sdBins !== "number" || !Number.isFinite(sdBins) || sdBins <= 0) {
    throw new RangeError(`gaussianWindow: sdBins must be a finite number > 0, found ${sdBins}`);
  }
  const m = Math.trunc(6 * sdBins);
  if (m < 1) {
    throw new RangeError(
      `gaussianWindow: a kernel SD of ${sdBins} bins gives int(6·sd) = ${m} points; expected ` +
        `an SD of at least 1/6 bin`,
    );
  }
  const w = new Float64Array(m);
  const c = (m - 1) / 2;
  let sum = 0;
  for (let i = 0; i < m; i++) {
    w[i] = Math.exp(-((i - c) ** 2) / (2 * sdBins * sdBins));
    sum += w[i];
  }
  for (let i = 0; i < m; i++) w[i] /= sum;
  return w;
}

/** Options of {@linkcode smoothSpikes}. */
export interface SmoothOptions {
  /** Kernel standard deviation in milliseconds. */
  kernSdMs: number;
  /** Bin width in milliseconds (the kernel SD in bins is `kernSdMs / binSizeMs`). */
  binSizeMs: number;
}

/**
 * Gaussian-smooth `[trials, bins, neurons]` counts along bins, trial by trial, as `nlb_tools`'
 * `smooth_spk`: the {@linkcode gaussianWindow} of SD `kernSdMs / binSizeMs` bins convolved in
 * `"same"` mode — `out[t] = Σ_k w[k] · x[t + ⌊(M−1)/2⌋ − k]` with `x` zero outside the trial (so
 * near the edges the result is pulled towards 0, as in `nlb_tools`). Returns a new array.
 *
 * @example
 * ```ts
 * import { array3d, smoothSpikes } from "@hest/hest";
 * const s = smoothSpikes(array3d([0, 0, 1, 0, 0], [1, 5, 1]), { kernSdMs: 10, binSizeMs: 20 });
 * ```
 */
export function smoothSpikes(counts: Array3D, opts: SmoothOptions): Array3D {
  const { kernSdMs, binSizeMs } = opts ?? {};
  if (!(binSizeMs > 0) || !Number.isFinite(binSizeMs)) {
    throw new RangeError(`smoothSpikes: binSizeMs must be a finite number > 0, found ${binSizeMs}`);
  }
  if (!(kernSdMs > 0) || !Number.isFinite(kernSdMs)) {
    throw new RangeError(`smoothSpikes: kernSdMs must be a finite number > 0, found ${kernSdMs}`);
  }
  const w = gaussianWindow(kernSdMs / binSizeMs);
  const m = w.length, shift = Math.floor((m - 1) / 2);
  const [nT, nB, nN] = counts.shape;
  const x = counts.data;
  const out = new Float32Array(x.length);
  const acc = new Float64Array(nN);
  for (let tr = 0; tr < nT; tr++) {
    const base = tr * nB * nN;
    for (let t = 0; t < nB; t++) {
      acc.fill(0);
      // k runs over window points whose source bin t + shift − k lies inside the trial
      const kLo = Math.max(0, t + shift - (nB - 1)), kHi = Math.min(m - 1, t + shift);
      for (let k = kLo; k <= kHi; k++) {
        const wk = w[k], src = base + (t + shift - k) * nN;
        for (let n = 0; n < nN; n++) acc[n] += wk * x[src + n];
      }
      out.set(acc, base + t * nN);
    }
  }
  return { data: out, shape: [nT, nB, nN] };
}

// ---------------------------------------------------------------------------------------------
// Poisson GLM

/** Options of {@linkcode fitPoissonGlm}. */
export interface PoissonGlmOptions {
  /** L2 penalty on the weights (not the bias), scikit-learn's `alpha` (default 0). */
  alpha?: number;
  /** Newton iterations at most (default 100). */
  maxIter?: number;
  /** Stop when every gradient entry is below this in absolute value (default 1e-8). */
  tol?: number;
  /** Starting weights and bias (warm start); default: zero weights, bias `log(mean y)`. */
  init?: { coef: Float64Array; intercept: number };
}

/** A fitted Poisson GLM `λ = exp(X·coef + intercept)`. */
export interface PoissonGlm {
  /** Weights, one per feature. */
  readonly coef: Float64Array;
  /** Bias. */
  readonly intercept: number;
  /** The penalty it was fitted with. */
  readonly alpha: number;
  /** Newton iterations taken. */
  readonly iterations: number;
  /** Whether the gradient tolerance was reached. */
  readonly converged: boolean;
  /** Expected counts `exp(X·coef + intercept)` for `X` `[rows, features]`. */
  predict(X: Matrix): Float64Array;
}

function linearPredictor(
  X: Matrix,
  coef: Float64Array,
  b: number,
  out: Float64Array,
): Float64Array {
  const p = X.cols, d = X.data;
  for (let r = 0, i = 0; r < X.rows; r++) {
    let s = b;
    for (let j = 0; j < p; j++, i++) s += d[i] * coef[j];
    out[r] = s;
  }
  return out;
}

/** Solve `A x = g` for a symmetric positive definite `A` (`n × n`, overwritten) by Cholesky. */
function choleskySolve(A: Float64Array, g: Float64Array, n: number): Float64Array | undefined {
  for (let j = 0; j < n; j++) {
    let d = A[j * n + j];
    for (let k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
    if (!(d > 0) || !Number.isFinite(d)) return undefined;
    const l = Math.sqrt(d);
    A[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = A[i * n + j];
      for (let k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = s / l;
    }
  }
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = g[i];
    for (let k = 0; k < i; k++) s -= A[i * n + k] * z[k];
    z[i] = s / A[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < n; k++) s -= A[k * n + i] * z[k];
    z[i] = s / A[i * n + i];
  }
  return z;
}

/**
 * Fit a Poisson GLM with log link, as scikit-learn's `PoissonRegressor(alpha)`: minimise
 * `(1/n) Σ_r (exp(η_r) − y_r η_r) + (alpha/2)‖w‖²` with `η = X·w + b` (the bias is not
 * penalised), by Newton's method on the exact gradient `(1/n) Xᵀ(λ − y) + alpha·w` and Hessian
 * `(1/n) Xᵀ diag(λ) X + alpha·I`, with a backtracking (Armijo) line search. A target that is zero
 * everywhere gives zero weights and the bias `log(1e-9)`.
 *
 * @example
 * ```ts
 * import { fitPoissonGlm } from "@hest/hest";
 * const X = { data: Float64Array.of(0, 1, 2, 3), rows: 4, cols: 1 };
 * const glm = fitPoissonGlm(X, Float64Array.of(1, 2, 4, 9), { alpha: 0.01 });
 * glm.predict(X); // ≈ [0.95, 1.99, 4.20, 8.86]
 * ```
 */
export function fitPoissonGlm(
  X: Matrix,
  y: ArrayLike<number>,
  opts: PoissonGlmOptions = {},
): PoissonGlm {
  const n = X.rows, p = X.cols;
  if (!X || X.data.length !== n * p || n < 1) {
    throw new Error(
      `fitPoissonGlm: X must be a Matrix with rows × cols values and at least 1 row, found ` +
        `${X?.data?.length} values for ${n} × ${p}`,
    );
  }
  if (y.length !== n) {
    throw new Error(`fitPoissonGlm: expected ${n} targets (one per row of X), found ${y.length}`);
  }
  const alpha = opts.alpha ?? 0;
  if (!(alpha >= 0) || !Number.isFinite(alpha)) {
    throw new RangeError(`fitPoissonGlm: alpha must be a finite number >= 0, found ${alpha}`);
  }
  const maxIter = opts.maxIter ?? 100, tol = opts.tol ?? 1e-8;
  let ySum = 0;
  for (let r = 0; r < n; r++) {
    const v = y[r];
    if (!(v >= 0) || !Number.isFinite(v)) {
      throw new RangeError(
        `fitPoissonGlm: targets must be finite and >= 0, found ${v} at row ${r}`,
      );
    }
    ySum += v;
  }
  for (let i = 0; i < X.data.length; i++) {
    if (!Number.isFinite(X.data[i])) {
      throw new RangeError(
        `fitPoissonGlm: X must be finite, found ${X.data[i]} at row ${Math.floor(i / p)}, ` +
          `column ${i % p}`,
      );
    }
  }
  const make = (coef: Float64Array, b: number, it: number, ok: boolean): PoissonGlm => ({
    coef,
    intercept: b,
    alpha,
    iterations: it,
    converged: ok,
    predict(Z: Matrix): Float64Array {
      if (Z.cols !== p) {
        throw new Error(`PoissonGlm.predict: expected X with ${p} columns, found ${Z.cols}`);
      }
      const eta = linearPredictor(Z, coef, b, new Float64Array(Z.rows));
      for (let r = 0; r < Z.rows; r++) eta[r] = Math.exp(eta[r]);
      return eta;
    },
  });
  if (ySum === 0) return make(new Float64Array(p), Math.log(1e-9), 0, true);

  const q = p + 1; // weights, then the bias
  const theta = new Float64Array(q);
  if (opts.init) {
    theta.set(opts.init.coef);
    theta[p] = opts.init.intercept;
  } else theta[p] = Math.log(ySum / n);
  const eta = new Float64Array(n), mu = new Float64Array(n), trialEta = new Float64Array(n);
  const d = X.data;
  const objective = (coef: Float64Array, b: number, etaOut: Float64Array): number => {
    linearPredictor(X, coef, b, etaOut);
    let f = 0;
    for (let r = 0; r < n; r++) f += Math.exp(etaOut[r]) - y[r] * etaOut[r];
    let pen = 0;
    for (let j = 0; j < p; j++) pen += coef[j] * coef[j];
    return f / n + 0.5 * alpha * pen;
  };
  let f = objective(theta.subarray(0, p), theta[p], eta);
  const g = new Float64Array(q), H = new Float64Array(q * q), xr = new Float64Array(q);
  let it = 0, converged = false;
  for (; it < maxIter; it++) {
    g.fill(0);
    H.fill(0);
    for (let r = 0; r < n; r++) mu[r] = Math.exp(eta[r]);
    for (let r = 0, i = 0; r < n; r++) {
      for (let j = 0; j < p; j++, i++) xr[j] = d[i];
      xr[p] = 1;
      const res = mu[r] - y[r], m = mu[r];
      for (let a = 0; a < q; a++) {
        const va = xr[a];
        g[a] += va * res;
        if (va === 0) continue;
        const wa = m * va, row = a * q;
        for (let c = a; c < q; c++) H[row + c] += wa * xr[c];
      }
    }
    let gmax = 0;
    for (let a = 0; a < q; a++) {
      g[a] /= n;
      if (a < p) g[a] += alpha * theta[a];
      gmax = Math.max(gmax, Math.abs(g[a]));
    }
    if (gmax <= tol) {
      converged = true;
      break;
    }
    for (let a = 0; a < q; a++) {
      for (let c = a; c < q; c++) {
        const v = H[a * q + c] / n + (a === c && a < p ? alpha : 0);
        H[a * q + c] = v;
        H[c * q + a] = v;
      }
    }
    let step: Float64Array | undefined;
    let trace = 0;
    for (let a = 0; a < q; a++) trace += H[a * q + a];
    for (let jitter = 0; !step && jitter < 8; jitter++) {
      const A = H.slice();
      if (jitter > 0) {
        for (let a = 0; a < q; a++) A[a * q + a] += (trace / q) * 10 ** (jitter - 12);
      }
      step = choleskySolve(A, g, q);
    }
    if (!step) break;
    let slope = 0;
    for (let a = 0; a < q; a++) slope -= g[a] * step[a];
    const next = new Float64Array(q);
    let t = 1, fNext = Infinity;
    for (; t > 1e-12; t /= 2) {
      for (let a = 0; a < q; a++) next[a] = theta[a] - t * step[a];
      fNext = objective(next.subarray(0, p), next[p], trialEta);
      if (fNext <= f + 1e-4 * t * slope) break;
    }
    if (!(fNext < f) && !(fNext <= f + 1e-4 * t * slope)) {
      // no decrease possible at this precision: the current point is the optimum we can reach
      converged = gmax <= Math.max(tol, 1e-6);
      break;
    }
    theta.set(next);
    eta.set(trialEta);
    const improved = f - fNext;
    f = fNext;
    if (improved <= 1e-16 * Math.max(1, Math.abs(f)) && gmax <= 1e-6) {
      converged = true;
      it++;
      break;
    }
  }
  return make(theta.slice(0, p), theta[p], it, converged);
}

// ---------------------------------------------------------------------------------------------
// The smoothing baseline

/** Options of {@linkcode smoothingBaseline} and {@linkcode smoothingPredictions}. */
export interface SmoothingBaselineOptions {
  /**
   * Kernel SDs in ms to choose from (default `[10, 20, 30, 40, 50, 60]`: nlb_tools' sweep of
   * 30–60 ms for 5-ms bins, extended down for coarser bins). SDs below 1/6 bin (a window of no
   * points) are skipped.
   */
  kernSdMs?: readonly number[];
  /** GLM penalties to choose from (default `[1e-3, 1e-2, 1e-1, 1]`, nlb_tools' sweep). */
  alphas?: readonly number[];
  /** Added before the log of the smoothed rates (default 1e-4, as nlb_tools). */
  logOffset?: number;
  /** Split to score (default `"test"`). */
  split?: EvalSplit;
  /** Behaviour lag in bins for `velR2` (default 0). */
  lagBins?: number;
  /** Newton iterations per GLM at most (default 100). */
  maxIter?: number;
  /** Receives zero-rate warnings of the scoring; default `console.warn`. */
  onWarning?: (msg: string) => void;
}

/** One grid point of the baseline's selection. */
export interface SmoothingCandidate {
  /** Kernel SD in ms. */
  kernSdMs: number;
  /** GLM penalty. */
  alpha: number;
  /** co-bps on the validation trials (GLMs fitted on the training trials). */
  valCoBps: number;
}

/** What {@linkcode smoothingPredictions} returns. */
export interface SmoothingPredictions {
  /** Rates of every trial and neuron (held-in: smoothed counts; held-out: GLM predictions). */
  predictions: RatePredictions;
  /** The chosen kernel SD in ms. */
  kernSdMs: number;
  /** The chosen GLM penalty. */
  alpha: number;
  /** Every grid point with its validation co-bps (empty when the grid has one point). */
  selection: SmoothingCandidate[];
}

/** What {@linkcode smoothingBaseline} returns: the {@linkcode evaluate} metrics plus the choice. */
export interface SmoothingBaselineResult extends EvalResult {
  /** The chosen kernel SD in ms. */
  kernSdMs: number;
  /** The chosen GLM penalty. */
  alpha: number;
  /** Every grid point with its validation co-bps. */
  selection: SmoothingCandidate[];
}

/** Rows (trial-major, then bins) of `a[trials, :, neurons]` as a float64 matrix. */
function rowsOf(a: Array3D, trials: ArrayLike<number>, neurons: Int32Array): Float64Array {
  const [, nB, nN] = a.shape;
  const out = new Float64Array(trials.length * nB * neurons.length);
  let o = 0;
  for (let i = 0; i < trials.length; i++) {
    for (let b = 0; b < nB; b++) {
      const src = (trials[i] * nB + b) * nN;
      for (let k = 0; k < neurons.length; k++) out[o++] = a.data[src + neurons[k]];
    }
  }
  return out;
}

function checkGrid(name: string, v: readonly number[], ok: (x: number) => boolean): void {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "number" && ok(x))) {
    throw new Error(
      `smoothingBaseline: ${name} must be a non-empty array of numbers ${
        name === "alphas" ? ">= 0" : "> 0"
      }, found ${JSON.stringify(v)}`,
    );
  }
}

/** Fit one GLM per held-out neuron on `fitTrials`, predict `predTrials`; rates clipped as nlb. */
function fitAndPredict(
  features: Float64Array,
  nB: number,
  ds: SpikeDataset,
  fitTrials: Int32Array,
  predTrials: ArrayLike<number>,
  alpha: number,
  maxIter: number,
  warm?: PoissonGlm[],
): { rates: Float64Array; glms: PoissonGlm[] } {
  const nIn = ds.heldIn.length, nOut = ds.heldOut.length;
  const pick = (trials: ArrayLike<number>): Matrix => {
    const data = new Float64Array(trials.length * nB * nIn);
    for (let i = 0; i < trials.length; i++) {
      const src = trials[i] * nB * nIn;
      data.set(features.subarray(src, src + nB * nIn), i * nB * nIn);
    }
    return { data, rows: trials.length * nB, cols: nIn };
  };
  const Xfit = pick(fitTrials), Xpred = pick(predTrials);
  const Y = rowsOf(ds.counts, fitTrials, ds.heldOut);
  const rates = new Float64Array(Xpred.rows * nOut);
  const glms: PoissonGlm[] = [];
  const y = new Float64Array(Xfit.rows);
  for (let k = 0; k < nOut; k++) {
    for (let r = 0; r < Xfit.rows; r++) y[r] = Y[r * nOut + k];
    const w = warm?.[k];
    const glm = fitPoissonGlm(Xfit, y, {
      alpha,
      maxIter,
      init: w && w.coef.length === nIn ? { coef: w.coef, intercept: w.intercept } : undefined,
    });
    glms.push(glm);
    const pr = glm.predict(Xpred);
    for (let r = 0; r < Xpred.rows; r++) {
      rates[r * nOut + k] = Math.min(1e20, Math.max(1e-9, pr[r]));
    }
  }
  return { rates, glms };
}

/**
 * Rates of the `nlb_tools` smoothing baseline for every trial (see the module docs): held-in
 * counts smoothed with each kernel of the grid, features `log(smoothed + logOffset)`, one Poisson
 * GLM per held-out neuron for each `alpha`, fitted on `split.train` and scored by co-bps on
 * `split.val`; the best pair (first on ties) is refitted on train + val. With a single grid point
 * no selection runs (and no validation trials are needed).
 *
 * @example
 * ```ts
 * import { lorenzDataset, smoothingPredictions } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 4, trialsPerCondition: 6 });
 * const { predictions, kernSdMs } = await smoothingPredictions(ds, { kernSdMs: [40, 60] });
 * ```
 */
export async function smoothingPredictions(
  ds: SpikeDataset,
  opts: SmoothingBaselineOptions = {},
): Promise<SmoothingPredictions> {
  const grid = opts.kernSdMs ?? [10, 20, 30, 40, 50, 60];
  const alphas = opts.alphas ?? [1e-3, 1e-2, 1e-1, 1];
  checkGrid("kernSdMs", grid, (x) => x > 0 && Number.isFinite(x));
  checkGrid("alphas", alphas, (x) => x >= 0 && Number.isFinite(x));
  const kernels = grid.filter((k) => Math.trunc((6 * k) / ds.binSizeMs) >= 1);
  if (kernels.length === 0) {
    throw new RangeError(
      `smoothingBaseline: every kernSdMs (${grid.join(", ")}) is below 1/6 of the ` +
        `${ds.binSizeMs}-ms bins (a window of no points); expected at least one >= ` +
        `${ds.binSizeMs / 6} ms`,
    );
  }
  const logOffset = opts.logOffset ?? 1e-4;
  if (!(logOffset > 0)) {
    throw new RangeError(`smoothingBaseline: logOffset must be > 0, found ${logOffset}`);
  }
  const maxIter = opts.maxIter ?? 100;
  if (ds.heldOut.length === 0) {
    throw new Error(
      `smoothingBaseline: dataset "${ds.name}" has no held-out neurons; the baseline predicts ` +
        `held-out neurons from held-in ones`,
    );
  }
  const [nT, nB, nN] = ds.counts.shape;
  const nIn = ds.heldIn.length;
  const all = Int32Array.from({ length: nT }, (_, i) => i);
  const heldInCounts = take3d(ds.counts, all, { last: ds.heldIn });
  const smoothCache = new Map<number, Array3D>();
  const smoothed = (ks: number): Array3D => {
    let s = smoothCache.get(ks);
    if (!s) {
      s = smoothSpikes(heldInCounts, { kernSdMs: ks, binSizeMs: ds.binSizeMs });
      smoothCache.set(ks, s);
    }
    return s;
  };
  const featuresOf = (s: Array3D): Float64Array => {
    const f = new Float64Array(s.data.length);
    for (let i = 0; i < f.length; i++) f[i] = Math.log(s.data[i] + logOffset);
    return f;
  };

  const selection: SmoothingCandidate[] = [];
  let bestK = kernels[0], bestA = alphas[0];
  if (kernels.length * alphas.length > 1) {
    const { train, val } = ds.split;
    if (val.length === 0 || train.length === 0) {
      throw new Error(
        `smoothingBaseline: choosing among ${kernels.length * alphas.length} kernel/alpha pairs ` +
          `needs train and val trials, found ${train.length} train and ${val.length} val; give ` +
          `one kernSdMs and one alpha to skip the selection`,
      );
    }
    const valCounts = take3d(ds.counts, val, { last: ds.heldOut });
    const nOut = ds.heldOut.length;
    const quiet = { onWarning: () => {} };
    let best = -Infinity;
    for (const ks of kernels) {
      const features = featuresOf(smoothed(ks));
      let warm: PoissonGlm[] | undefined;
      for (const a of alphas) {
        const fit = fitAndPredict(features, nB, ds, train, val, a, maxIter, warm);
        warm = fit.glms;
        const score = await bitsPerSpike(
          { data: Float32Array.from(fit.rates), shape: [val.length, nB, nOut] },
          valCounts,
          quiet,
        );
        selection.push({ kernSdMs: ks, alpha: a, valCoBps: score });
        if (score > best) {
          best = score;
          bestK = ks;
          bestA = a;
        }
      }
    }
  }
  const fitTrials = Int32Array.from([...ds.split.train, ...ds.split.val]);
  if (fitTrials.length === 0) {
    throw new Error(`smoothingBaseline: dataset "${ds.name}" has no train or val trials to fit`);
  }
  const s = smoothed(bestK);
  const { rates: heldOutRates } = fitAndPredict(
    featuresOf(s),
    nB,
    ds,
    fitTrials,
    all,
    bestA,
    maxIter,
  );
  const rates = new Float32Array(nT * nB * nN);
  const nOut = ds.heldOut.length;
  for (let r = 0; r < nT * nB; r++) {
    for (let k = 0; k < nIn; k++) rates[r * nN + ds.heldIn[k]] = s.data[r * nIn + k];
    for (let k = 0; k < nOut; k++) rates[r * nN + ds.heldOut[k]] = heldOutRates[r * nOut + k];
  }
  return {
    predictions: { rates: { data: rates, shape: [nT, nB, nN] } },
    kernSdMs: bestK,
    alpha: bestA,
    selection,
  };
}

/**
 * The `nlb_tools` smoothing baseline scored on a split: {@linkcode smoothingPredictions} then
 * {@linkcode evaluate} (co-bps, held-in bps, PSTH R², velocity R², rate R² and the oracle when
 * the dataset has them), plus the chosen kernel SD, `alpha` and the selection grid.
 *
 * @example
 * ```ts
 * import { lorenzDataset, smoothingBaseline } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 4, trialsPerCondition: 6 });
 * const r = await smoothingBaseline(ds, { kernSdMs: [40], alphas: [0.01] });
 * console.log(r.coBps, r.oracleCoBps);
 * ```
 */
export async function smoothingBaseline(
  ds: SpikeDataset,
  opts: SmoothingBaselineOptions = {},
): Promise<SmoothingBaselineResult> {
  const p = await smoothingPredictions(ds, opts);
  const ev = await evaluate(p.predictions, ds, {
    split: opts.split,
    lagBins: opts.lagBins,
    onWarning: opts.onWarning,
  });
  return { ...ev, kernSdMs: p.kernSdMs, alpha: p.alpha, selection: p.selection };
}

// ---------------------------------------------------------------------------------------------
// Ridge decoding from raw counts

/** Options of {@linkcode rawCountRidge}. */
export interface RawCountRidgeOptions {
  /** Split to score (default `"test"`); the decoder is fitted on `split.train`. */
  split?: EvalSplit;
  /** Behaviour at bin `t + lagBins` is decoded from counts at bin `t` (default 0). */
  lagBins?: number;
  /** Ridge penalties searched by cross-validation (default `logspace(-4, 0, 9)`). */
  alphas?: readonly number[];
}

/** What {@linkcode rawCountRidge} returns (field names as in {@linkcode EvalResult}). */
export interface RawCountRidgeResult {
  /** The split scored. */
  split: EvalSplit;
  /** Number of trials in it. */
  nTrials: number;
  /** Decoding R² of the behaviour, uniform average over its dimensions. */
  velR2: number;
  /** The lag used. */
  lagBins: number;
  /** Number of neurons used as features (all of them). */
  nFeatures: number;
}

/**
 * Behaviour decoding from the raw binned counts of every neuron (held-in then held-out), exactly
 * as {@linkcode evaluate} decodes from predicted rates: a cross-validated ridge
 * ({@linkcode velocityR2}) fitted on `split.train`, R² on the scored split.
 *
 * @example
 * ```ts
 * import { lorenzDataset, rawCountRidge } from "@hest/hest";
 * const r = await rawCountRidge(lorenzDataset({ conditions: 4, trialsPerCondition: 6 }));
 * console.log(r.velR2);
 * ```
 */
export async function rawCountRidge(
  ds: SpikeDataset,
  opts: RawCountRidgeOptions = {},
): Promise<RawCountRidgeResult> {
  const split = opts.split ?? "test";
  if (!["train", "val", "test"].includes(split)) {
    throw new TypeError(`rawCountRidge: split must be "train", "val" or "test", found ${split}`);
  }
  const beh = ds.behavior;
  if (!beh) {
    throw new Error(`rawCountRidge: dataset "${ds.name}" has no behaviour to decode`);
  }
  const trials = ds.split[split], train = ds.split.train;
  if (trials.length === 0 || train.length === 0) {
    throw new Error(
      `rawCountRidge: needs train trials and ${split} trials, found ${train.length} and ` +
        `${trials.length}`,
    );
  }
  const lagBins = opts.lagBins ?? 0;
  const all = Int32Array.from([...ds.heldIn, ...ds.heldOut]);
  const velR2 = await velocityR2(
    { rates: take3d(ds.counts, train, { last: all }), behavior: take3d(beh, train) },
    { rates: take3d(ds.counts, trials, { last: all }), behavior: take3d(beh, trials) },
    { lagBins, alphas: opts.alphas },
  );
  return { split, nTrials: trials.length, velR2, lagBins, nFeatures: all.length };
}
