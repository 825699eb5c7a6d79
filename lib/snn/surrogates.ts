/**
 * Spike functions with surrogate gradients, and a gradient stop.
 *
 * The forward pass of {@linkcode heaviside} is the Heaviside step Θ(x) = 1 where x ≥ 0 (note ≥,
 * as SpikingJelly's `heaviside` and its cupy kernel `spike = v >= v_th`), else 0. Its backward
 * pass replaces the zero-almost-everywhere derivative by a smooth surrogate g′(x):
 *
 * - `"sigmoid"`: g′(x) = α·σ(αx)·(1 − σ(αx)), default α = 4 (SpikingJelly `Sigmoid`).
 * - `"atan"`: g′(x) = (α/2) / (1 + (π·α·x/2)²), default α = 2 (SpikingJelly / snnTorch `ATan`).
 *
 * Both surrogates equal 1 at x = 0 with their default α. TF.js has no `stop_gradient` op, so
 * {@linkcode stopGradient} provides one with `tf.customGrad`.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { describe, tensorArg } from "../core/validation.ts";

/** Names of the surrogate-gradient families. */
export type SurrogateKind = "sigmoid" | "atan";

/** Every surrogate-gradient family, in documentation order. */
export const SURROGATE_KINDS: readonly SurrogateKind[] = ["sigmoid", "atan"];

/** A surrogate gradient: its family and sharpness α (default 4 for sigmoid, 2 for atan). */
export interface Surrogate {
  /** The surrogate family. */
  kind: SurrogateKind;
  /** Sharpness α > 0; larger α gives a narrower, taller surrogate. */
  alpha?: number;
}

/** A surrogate given either by family name (default α) or as a {@linkcode Surrogate}. */
export type SurrogateLike = SurrogateKind | Surrogate;

/** A validated surrogate with α filled in, returned by {@linkcode resolveSurrogate}. */
export interface ResolvedSurrogate {
  /** The surrogate family. */
  readonly kind: SurrogateKind;
  /** Sharpness α > 0. */
  readonly alpha: number;
}

/** Default sharpness α of each surrogate family (SpikingJelly defaults). */
export const DEFAULT_ALPHA: Readonly<Record<SurrogateKind, number>> = { sigmoid: 4, atan: 2 };

/**
 * Validate a surrogate specification and fill in the default α.
 *
 * Throws when the family is unknown, an unknown field is present, or α is not a finite
 * positive number. `undefined` gives the default sigmoid surrogate with α = 4.
 *
 * @example
 * ```ts
 * import { resolveSurrogate } from "@hest/hest";
 * resolveSurrogate("atan"); // { kind: "atan", alpha: 2 }
 * resolveSurrogate({ kind: "sigmoid", alpha: 5 }); // { kind: "sigmoid", alpha: 5 }
 * ```
 */
export function resolveSurrogate(surrogate?: SurrogateLike): ResolvedSurrogate {
  const expected = `expected "sigmoid", "atan" or { kind: "sigmoid" | "atan", alpha?: number }`;
  if (surrogate === undefined) return { kind: "sigmoid", alpha: DEFAULT_ALPHA.sigmoid };
  if (typeof surrogate === "string") {
    if (!SURROGATE_KINDS.includes(surrogate)) {
      throw new TypeError(`unknown surrogate ${describe(surrogate)}: ${expected}`);
    }
    return { kind: surrogate, alpha: DEFAULT_ALPHA[surrogate] };
  }
  if (surrogate === null || typeof surrogate !== "object" || Array.isArray(surrogate)) {
    throw new TypeError(`invalid surrogate ${describe(surrogate)}: ${expected}`);
  }
  for (const k of Object.keys(surrogate)) {
    if (k !== "kind" && k !== "alpha") {
      throw new TypeError(`unknown surrogate field "${k}": expected only "kind" and "alpha"`);
    }
  }
  const kind = surrogate.kind;
  if (!SURROGATE_KINDS.includes(kind)) {
    throw new TypeError(`unknown surrogate kind ${describe(kind)}: expected "sigmoid" or "atan"`);
  }
  const alpha = surrogate.alpha ?? DEFAULT_ALPHA[kind];
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) {
    throw new (typeof alpha === "number" ? RangeError : TypeError)(
      `surrogate alpha must be a finite positive number, found ${describe(alpha)}`,
    );
  }
  return { kind, alpha };
}

function gradOf(x: tf.Tensor, s: ResolvedSurrogate): tf.Tensor {
  return tf.tidy(() => {
    if (s.kind === "sigmoid") {
      const sg = tf.sigmoid(tf.mul(x, s.alpha));
      return tf.mul(tf.mul(sg, tf.sub(1, sg)), s.alpha);
    }
    const z = tf.mul(x, (Math.PI * s.alpha) / 2);
    return tf.div(s.alpha / 2, tf.add(1, tf.square(z)));
  });
}

/**
 * The surrogate derivative g′(x) as a tensor of the shape of `x` (no gradient tape involved).
 * Useful for tests and for hand-written kernels.
 *
 * @example
 * ```ts
 * import { surrogateGrad, tf } from "@hest/hest";
 * const g = surrogateGrad(tf.tensor1d([0, 0.125]), "sigmoid"); // [1, 0.940015]
 * ```
 */
export function surrogateGrad(x: tf.Tensor, surrogate?: SurrogateLike): tf.Tensor {
  return gradOf(x, resolveSurrogate(surrogate));
}

type SpikeFn = (x: tf.Tensor) => tf.Tensor;

const spikeFns = new Map<string, SpikeFn>();

function spikeFnFor(s: ResolvedSurrogate): SpikeFn {
  const id = `${s.kind}:${s.alpha}`;
  let fn = spikeFns.get(id);
  if (fn === undefined) {
    fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const x = args[0] as tf.Tensor;
      const save = args[1] as tf.GradSaveFunc;
      save([x]);
      return {
        // 1 − step(−x) is 1 where x ≥ 0; unlike a bool cast it gives float32 data on every backend.
        value: tf.sub(1, tf.step(tf.neg(x))),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => tf.mul(dy, gradOf(saved[0], s)),
      };
    }) as SpikeFn;
    spikeFns.set(id, fn);
  }
  return fn;
}

/**
 * Heaviside spike function with a surrogate gradient: forward Θ(x) = 1 where x ≥ 0, else 0
 * (float32; NaN stays NaN); backward dy·g′(x). The default surrogate is sigmoid with α = 4.
 *
 * @example
 * ```ts
 * import { heaviside, tf } from "@hest/hest";
 * const s = heaviside(tf.tensor1d([-0.5, 0, 0.5])); // [0, 1, 1]
 * const g = tf.grad((x: tf.Tensor) => heaviside(x, "atan"))(tf.tensor1d([0])); // [1]
 * ```
 */
export function heaviside(x: tf.Tensor, surrogate?: SurrogateLike): tf.Tensor {
  tensorArg("heaviside", "a tf.Tensor", x);
  return spikeFnFor(resolveSurrogate(surrogate))(x);
}

const stopGradientFn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  return {
    value: tf.clone(x),
    gradFunc: (dy: tf.Tensor): tf.Tensor => tf.zerosLike(dy),
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * Identity in the forward pass, zero gradient in the backward pass (PyTorch `detach`,
 * JAX `stop_gradient`). Returns a new tensor.
 *
 * @example
 * ```ts
 * import { stopGradient, tf } from "@hest/hest";
 * const g = tf.grad((x: tf.Tensor) => tf.mul(x, stopGradient(x)))(tf.tensor1d([3])); // [3]
 * ```
 */
export function stopGradient(x: tf.Tensor): tf.Tensor {
  tensorArg("stopGradient", "a tf.Tensor", x);
  return stopGradientFn(x);
}
