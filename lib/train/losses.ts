/**
 * Count likelihoods for spiking data: the Poisson negative log-likelihood on log-rates
 * ({@linkcode poissonNll}, PyTorch `PoissonNLLLoss(log_input=True)`) and a differentiable
 * log-gamma ({@linkcode lgamma}), which TF.js lacks (tensorflow/tfjs#2011).
 *
 * @module
 */
import { tf } from "../core/backend.ts";

/** ½·ln(2π) − ½, the constant of the Stirling series written as (z − ½)(ln z − 1) + … */
const STIRLING_CONST = 0.5 * Math.log(2 * Math.PI) - 0.5;

/**
 * Natural log of the gamma function, elementwise, from differentiable TF.js ops, so autodiff
 * gives its derivative, the digamma function.
 *
 * Method: shift the argument up by 4,
 * lgamma(x) = lgamma(x + 4) − ln(x(x + 1)) − ln((x + 2)(x + 3)),
 * then the Stirling series at z = x + 4 ≥ 4,
 * (z − ½)(ln z − 1) + ½ln 2π − ½ + 1/(12z) − 1/(360z³) + 1/(1260z⁵) − 1/(1680z⁷),
 * whose truncation error is below 4e-9 there. In float32 the error is at most about 1.5e-6 of
 * max(1, |lgamma(x)|) for 0 < x < 1e19 (so about 1e-6 relative, and about 1e-6 absolute near the
 * roots x = 1 and x = 2 where lgamma is 0). lgamma(0) = +Infinity; negative inputs give NaN (the
 * function is meant for x > 0).
 *
 * @example
 * ```ts
 * import { lgamma, tf } from "@hest/hest";
 * lgamma(tf.tensor1d([0.5, 1, 10])).print(); // [0.5723649, 0, 12.8018274]
 * ```
 */
export function lgamma(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const xf = tf.cast(x, "float32");
    const z = tf.add(xf, 4);
    const zInv = tf.reciprocal(z);
    const zInv2 = tf.square(zInv);
    // 1/(12z) − 1/(360z³) + 1/(1260z⁵) − 1/(1680z⁷), by Horner in 1/z²
    const series = tf.mul(
      zInv,
      tf.add(
        1 / 12,
        tf.mul(zInv2, tf.add(-1 / 360, tf.mul(zInv2, tf.add(1 / 1260, tf.mul(zInv2, -1 / 1680))))),
      ),
    );
    const stirling = tf.add(
      tf.mul(tf.sub(z, 0.5), tf.sub(tf.log(z), 1)),
      tf.add(series, STIRLING_CONST),
    );
    const shift = tf.add(
      tf.log(tf.mul(xf, tf.add(xf, 1))),
      tf.log(tf.mul(tf.add(xf, 2), tf.add(xf, 3))),
    );
    return tf.sub(stirling, shift);
  });
}

/** Options of {@linkcode poissonNll}. */
export interface PoissonNllOptions {
  /**
   * Add the constant log(y!) = lgamma(y + 1) (exact, not PyTorch's Stirling approximation), so
   * the value is the true negative log-likelihood. Default false.
   */
  full?: boolean;
  /**
   * Loss weights of the same shape as the counts, normally a 0/1 mask: the result is
   * Σ mask·loss / max(Σ mask, 1). Without it the result is the plain mean over all elements.
   */
  mask?: tf.Tensor;
}

function sameShape(what: string, expected: readonly number[], found: readonly number[]): void {
  if (expected.length !== found.length || expected.some((d, i) => d !== found[i])) {
    throw new Error(`poissonNll ${what}: expected shape [${expected}], found [${found}]`);
  }
}

/**
 * Poisson negative log-likelihood on log-rates ℓ = ln λ, elementwise exp(ℓ) − y·ℓ
 * (plus lgamma(y + 1) when `full`), averaged over all elements, or over the mask's weight when
 * `mask` is given. Returns a scalar tensor, differentiable with respect to `logRates`
 * (gradient (exp(ℓ) − y)·mask / max(Σ mask, 1)).
 *
 * @example
 * ```ts
 * import { poissonNll, tf } from "@hest/hest";
 * const loss = poissonNll(tf.tensor1d([Math.log(2)]), tf.tensor1d([3]));
 * loss.print(); // -0.0794415 = 2 − 3·ln 2
 * ```
 */
export function poissonNll(
  logRates: tf.Tensor,
  counts: tf.Tensor,
  opts: PoissonNllOptions = {},
): tf.Scalar {
  for (const k of Object.keys(opts)) {
    if (k !== "full" && k !== "mask") {
      throw new Error(`unknown poissonNll option "${k}": expected one of full, mask`);
    }
  }
  sameShape("counts", logRates.shape, counts.shape);
  if (opts.mask) sameShape("mask", logRates.shape, opts.mask.shape);
  return tf.tidy(() => {
    const l = tf.cast(logRates, "float32");
    const y = tf.cast(counts, "float32");
    let loss = tf.sub(tf.exp(l), tf.mul(y, l));
    if (opts.full) loss = tf.add(loss, lgamma(tf.add(y, 1)));
    if (!opts.mask) return tf.mean(loss) as tf.Scalar;
    const w = tf.cast(opts.mask, "float32");
    return tf.div(tf.sum(tf.mul(loss, w)), tf.maximum(tf.sum(w), 1)) as tf.Scalar;
  });
}

/** Options of {@linkcode negBinomialNll}. */
export interface NegBinomialNllOptions {
  /** Loss weights of the counts' shape: Σ mask·loss / max(Σ mask, 1). Default: plain mean. */
  mask?: tf.Tensor;
}

/**
 * Negative-binomial negative log-likelihood with mean μ = exp(`logMean`) and dispersion
 * θ = exp(`logTheta`) (inverse over-dispersion: Var = μ + μ²/θ; θ → ∞ gives Poisson), exact:
 *
 * −log p(y) = lgamma(θ) − lgamma(y + θ) + lgamma(y + 1) + (θ + y)·softplus(ℓ − ln θ) − y·(ℓ − ln θ)
 *
 * (the scvi-tools `log_nb_positive` likelihood written stably, lgamma from differentiable ops so
 * autodiff gives the digamma terms for θ). `logTheta` broadcasts against `logMean` (e.g. one
 * learned value per neuron, shape `[N]`). Mean over elements, or weighted by `mask`.
 *
 * @example
 * ```ts
 * import { negBinomialNll, tf } from "@hest/hest";
 * // μ = 1, θ = 2, y = 2 → 1.9095425
 * negBinomialNll(tf.tensor1d([0]), tf.tensor1d([Math.log(2)]), tf.tensor1d([2])).print();
 * ```
 */
export function negBinomialNll(
  logMean: tf.Tensor,
  logTheta: tf.Tensor,
  counts: tf.Tensor,
  opts: NegBinomialNllOptions = {},
): tf.Scalar {
  for (const k of Object.keys(opts)) {
    if (k !== "mask") throw new Error(`unknown negBinomialNll option "${k}": expected mask`);
  }
  if (
    logMean.shape.length !== counts.shape.length ||
    logMean.shape.some((d, i) => d !== counts.shape[i])
  ) {
    throw new Error(
      `negBinomialNll counts: expected shape [${logMean.shape}], found [${counts.shape}]`,
    );
  }
  if (opts.mask) sameShape("mask", logMean.shape, opts.mask.shape);
  return tf.tidy(() => {
    const l = tf.cast(logMean, "float32");
    const lt = tf.cast(logTheta, "float32");
    const y = tf.cast(counts, "float32");
    const theta = tf.exp(lt);
    const z = tf.sub(l, lt);
    let loss = tf.sub(lgamma(theta), lgamma(tf.add(y, theta)));
    loss = tf.add(loss, lgamma(tf.add(y, 1)));
    loss = tf.add(loss, tf.mul(tf.add(theta, y), tf.softplus(z)));
    loss = tf.sub(loss, tf.mul(y, z));
    if (!opts.mask) return tf.mean(loss) as tf.Scalar;
    const w = tf.cast(opts.mask, "float32");
    return tf.div(tf.sum(tf.mul(loss, w)), tf.maximum(tf.sum(w), 1)) as tf.Scalar;
  });
}

/** `x` standardised over its last axis: zero mean and unit variance (ε 1e-5) at every position. */
function standardise(x: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
}

/**
 * Feature distillation between the modes: the mean over the named streams of mean((ŝ − t̂)²),
 * where t̂ and ŝ are the teacher's and the student's stream (`[..., D]`, e.g. the residual stream
 * after a block) standardised over the last axis at every position. Each term lies in [0, 4]
 * (0: the same direction at every position, 2: uncorrelated). Gradients reach the student only
 * if the teacher is a constant (computed outside the gradient, as `trainStep` does). Every
 * teacher stream must have a student stream of its shape.
 *
 * @example
 * ```ts
 * import { streamDistillLoss, tf } from "@hest/hest";
 * const t = { block0: tf.tensor2d([[1, 2, 3]]) };
 * streamDistillLoss({ block0: tf.tensor2d([[2, 4, 6]]) }, t).print(); // 0 (scale is ignored)
 * streamDistillLoss({ block0: tf.tensor2d([[3, 2, 1]]) }, t).print(); // 4 (reversed)
 * ```
 */
export function streamDistillLoss(
  student: Readonly<Record<string, tf.Tensor>>,
  teacher: Readonly<Record<string, tf.Tensor>>,
): tf.Scalar {
  const names = Object.keys(teacher);
  if (names.length === 0) throw new Error("streamDistillLoss: the teacher has no streams");
  for (const n of names) {
    const s = student[n];
    if (!s) {
      throw new Error(
        `streamDistillLoss: the student has no stream "${n}"; it has ${
          Object.keys(student).join(", ") || "none"
        }`,
      );
    }
    const t = teacher[n];
    if (t.rank !== s.rank || t.shape.some((d, i) => d !== s.shape[i])) {
      throw new Error(
        `streamDistillLoss: student stream "${n}" must have the teacher's shape [${t.shape}], ` +
          `found [${s.shape}]`,
      );
    }
  }
  return tf.tidy(() => {
    const terms = names.map((n) =>
      tf.mean(tf.square(tf.sub(standardise(student[n]), standardise(teacher[n]))))
    );
    return tf.div(tf.addN(terms), names.length) as tf.Scalar;
  });
}
