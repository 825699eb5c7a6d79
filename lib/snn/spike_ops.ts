/**
 * Operations on spike tensors: SEW residual connections, random spike masking (RSM) and firing
 * statistics.
 *
 * Spike tensors carry the SNN timestep axis `T` first (`[T, ...]`); these operations are
 * element-wise and do not care about the layout.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { checkKeys, describe } from "../core/validation.ts";
import { type Key, tfSeed } from "../core/random.ts";

/** SEW (spike-element-wise) connect functions. */
export type SewMode = "add" | "and" | "iand";

/** Every SEW connect function. */
export const SEW_MODES: readonly SewMode[] = ["add", "and", "iand"];

/** Options of {@linkcode sew}. */
export interface SewOptions {
  /** The connect function g (default `"add"`). */
  mode?: SewMode;
}

function checkTensor(x: unknown, what: string): tf.Tensor {
  if (!(x instanceof tf.Tensor)) {
    throw new Error(`${what} must be a tf.Tensor, found ${describe(x)}`);
  }
  return x;
}

/**
 * SEW residual connection O = g(A, S) (Fang et al., NeurIPS 2021), with `s` the shortcut spikes
 * S and `a` the residual-branch spikes A:
 *
 * - `"add"`: O = A + S (may reach 2; not a spike tensor)
 * - `"and"`: O = A · S
 * - `"iand"`: O = (1 − A) · S
 *
 * Differentiable in both inputs; `s` and `a` must broadcast together.
 *
 * @example
 * ```ts
 * import { sew } from "./lib/spike_ops.ts";
 * import { tf } from "./lib/backend.ts";
 * const a = tf.tensor1d([0, 0, 1, 1]);
 * const s = tf.tensor1d([0, 1, 0, 1]);
 * sew(s, a, { mode: "iand" }); // [0, 1, 0, 0]
 * ```
 */
export function sew(s: tf.Tensor, a: tf.Tensor, opts: SewOptions = {}): tf.Tensor {
  checkKeys(opts, ["mode"], "sew option");
  checkTensor(s, "sew shortcut s");
  checkTensor(a, "sew residual a");
  const mode = opts.mode ?? "add";
  if (mode === "add") return tf.add(a, s);
  if (mode === "and") return tf.mul(a, s);
  if (mode === "iand") return tf.tidy(() => tf.mul(tf.sub(1, a), s));
  throw new Error(
    `sew option "mode" must be one of ${SEW_MODES.map((m) => `"${m}"`).join(", ")}, found ${
      describe(mode)
    }`,
  );
}

/** Options of {@linkcode randomSpikeMask}. */
export interface RandomSpikeMaskOptions {
  /** Masking ratio p in [0, 1]: each element is zeroed with probability p. */
  p: number;
  /** Random key for the mask; required when 0 < p < 1. */
  key?: Key;
}

/**
 * Random spike masking (RSM, Masked Spiking Transformer, Wang et al. ICCV 2023):
 * x ⊙ m with m ~ Bernoulli(1 − p) element-wise, drawn from `key`.
 *
 * There is **no** 1/(1 − p) rescaling (unlike dropout), and the mask applies in training and
 * inference alike. p = 0 returns `x` itself; p = 1 returns zeros. Draw a fresh key for every
 * call (e.g. `foldIn(key, step)`) to get a fresh mask per simulation step.
 *
 * @example
 * ```ts
 * import { randomSpikeMask } from "./lib/spike_ops.ts";
 * import { key } from "./lib/random.ts";
 * import { tf } from "./lib/backend.ts";
 * const y = randomSpikeMask(tf.ones([4, 8]), { p: 0.75, key: key(0) }); // about 1/4 ones
 * ```
 */
export function randomSpikeMask(x: tf.Tensor, opts: RandomSpikeMaskOptions): tf.Tensor {
  checkKeys(opts, ["p", "key"], "randomSpikeMask option");
  checkTensor(x, "randomSpikeMask input x");
  const { p } = opts;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new Error(`randomSpikeMask option "p" must be a number in [0, 1], found ${describe(p)}`);
  }
  if (p === 0) return x;
  if (p === 1) return tf.zerosLike(x);
  if (opts.key === undefined) {
    throw new Error(`randomSpikeMask needs a random "key" when 0 < p < 1, found none (p = ${p})`);
  }
  const seed = tfSeed(opts.key);
  return tf.tidy(() => {
    const u = tf.randomUniform(x.shape, 0, 1, "float32", seed);
    // m = 1 where u ≥ p, i.e. with probability 1 − p.
    const m = tf.sub(1, tf.step(tf.sub(p, u)));
    return tf.mul(x, x.dtype === "float32" ? m : tf.cast(m, x.dtype));
  });
}

/**
 * Mean firing rate of a spike tensor: the mean of all its elements (spikes per neuron per SNN
 * timestep). Read asynchronously, so it works on every backend.
 *
 * @example
 * ```ts
 * import { firingRate } from "./lib/spike_ops.ts";
 * import { tf } from "./lib/backend.ts";
 * await firingRate(tf.tensor1d([0, 1, 0, 1])); // 0.5
 * ```
 */
export async function firingRate(spikes: tf.Tensor): Promise<number> {
  checkTensor(spikes, "firingRate input");
  if (spikes.size === 0) {
    throw new Error(`firingRate expects a non-empty tensor, found shape [${spikes.shape}]`);
  }
  const count = await spikeCount(spikes);
  return count / spikes.size;
}

/**
 * Total number of spikes (the sum of all elements) of a spike tensor, read asynchronously.
 *
 * @example
 * ```ts
 * import { spikeCount } from "./lib/spike_ops.ts";
 * import { tf } from "./lib/backend.ts";
 * await spikeCount(tf.tensor2d([[0, 1], [1, 1]])); // 3
 * ```
 */
export async function spikeCount(spikes: tf.Tensor): Promise<number> {
  checkTensor(spikes, "spikeCount input");
  const total = tf.tidy(() => tf.sum(tf.cast(spikes, "float32")));
  try {
    const d = await total.data();
    return d[0];
  } finally {
    total.dispose();
  }
}
