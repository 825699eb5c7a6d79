/**
 * Operations on spike tensors: SEW residual connections, random spike masking (RSM),
 * significance-based spike masking of attention Q/K spikes, and firing statistics.
 *
 * Spike tensors carry the SNN timestep axis `T` first (`[T, ...]`); the element-wise operations
 * do not care about the rest of the layout. {@linkcode significanceMask} takes Q or K spikes laid
 * out `[T, B, H, L, d]` (timesteps, batch, heads, bins, channels per head).
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
    throw new TypeError(`${what} must be a tf.Tensor, found ${describe(x)}`);
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
 * import { sew, tf } from "@hest/hest";
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
 * import { key, randomSpikeMask, tf } from "@hest/hest";
 * const y = randomSpikeMask(tf.ones([4, 8]), { p: 0.75, key: key(0) }); // about 1/4 ones
 * ```
 */
export function randomSpikeMask(x: tf.Tensor, opts: RandomSpikeMaskOptions): tf.Tensor {
  checkKeys(opts, ["p", "key"], "randomSpikeMask option");
  checkTensor(x, "randomSpikeMask input x");
  const { p } = opts;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new RangeError(
      `randomSpikeMask option "p" must be a number in [0, 1], found ${describe(p)}`,
    );
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

/** Which unit {@linkcode significanceMask} ranks and masks. */
export type SignificanceMode = "spatial" | "temporal";

/** Options of {@linkcode significanceMask}. */
export interface SignificanceMaskOptions {
  /**
   * Masking ratio p in [0, 1]: the ⌊p·D⌋ least significant channels (`"spatial"`) or, per trial,
   * the ⌊p·L⌋ least significant bins (`"temporal"`) are zeroed.
   */
  p: number;
  /**
   * `"spatial"`: a channel's significance is its firing rate over (T, B, L); the same channels
   * are masked for every trial and bin. `"temporal"`: per trial, a bin's significance is its
   * firing rate over (T, heads, channels).
   */
  mode: SignificanceMode;
  /** Random key of the tie-breaking jitter (same key, same mask). */
  key: Key;
}

/**
 * Significance-based spike masking of Q or K spikes `x` laid out `[T, B, H, L, d]` (D = H·d
 * channels): instead of dropping spikes at random, zero the units that fire least.
 *
 * - `"spatial"`: rank the D channels by their firing rate over (T, B, L) and zero the ⌊p·D⌋
 *   lowest (a keep mask of shape `[H, 1, d]`, broadcast over T, B and L).
 * - `"temporal"`: for each trial b, rank the L bins by their firing rate over (T, H, d) and
 *   zero the ⌊p·L⌋ lowest (a keep mask of shape `[1, B, 1, L, 1]`).
 *
 * Ties are broken by adding to each rate a jitter drawn uniformly from [0, 0.5/(T·B·L·D)) with
 * `key`: smaller than half of one spike's weight in either rate (1/(T·B·L) per channel, 1/(T·D)
 * per bin), so it never reorders units whose rates differ, and the mask is deterministic for a
 * key. The mask is a constant of the forward pass: the gradient is dy·mask (the ranking is not
 * differentiated). p = 0, or a p too small to mask one unit, returns `x` itself; p = 1 zeroes
 * everything. Throws a `TypeError` for a non-tensor or an unknown mode, a `RangeError` for p
 * outside [0, 1] or `x` not of rank 5.
 *
 * @example
 * ```ts
 * import { key, significanceMask, tf } from "@hest/hest";
 * // T = 1, B = 1, H = 1, L = 2, d = 2: channel 0 fires twice, channel 1 once
 * const q = tf.tensor5d([1, 1, 1, 0], [1, 1, 1, 2, 2]);
 * significanceMask(q, { p: 0.5, mode: "spatial", key: key(0) }); // [1, 0, 1, 0]
 * ```
 */
export function significanceMask(x: tf.Tensor, opts: SignificanceMaskOptions): tf.Tensor {
  checkKeys(opts, ["p", "mode", "key"], "significanceMask option");
  checkTensor(x, "significanceMask input x");
  if (x.rank !== 5) {
    throw new RangeError(
      `significanceMask input x must have rank 5 [T, B, H, L, d], found shape [${x.shape}]`,
    );
  }
  const { p, mode, key } = opts;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new RangeError(
      `significanceMask option "p" must be a number in [0, 1], found ${describe(p)}`,
    );
  }
  if (mode !== "spatial" && mode !== "temporal") {
    throw new TypeError(
      `significanceMask option "mode" must be "spatial" or "temporal", found ${describe(mode)}`,
    );
  }
  const seed = tfSeed(key);
  const [T, B, H, L, d] = x.shape as [number, number, number, number, number];
  const D = H * d;
  const nMask = Math.floor(p * (mode === "spatial" ? D : L));
  if (nMask === 0) return x;
  const jitterScale = 0.5 / (T * B * L * D);

  /** 0/1 keep mask, broadcastable to x. */
  function keepMask(xx: tf.Tensor): tf.Tensor {
    if (mode === "spatial") {
      const rate = tf.reshape(tf.mean(xx, [0, 1, 3]), [D]);
      const jitter = tf.mul(tf.randomUniform([D], 0, 1, "float32", seed), jitterScale);
      const { indices } = tf.topk(tf.neg(tf.add(rate, jitter)), nMask);
      return tf.reshape(tf.sub(1, tf.sum(tf.oneHot(indices, D), 0)), [H, 1, d]);
    }
    const rate = tf.mean(xx, [0, 2, 4]); // [B, L]
    const jitter = tf.mul(tf.randomUniform([B, L], 0, 1, "float32", seed), jitterScale);
    const { indices } = tf.topk(tf.neg(tf.add(rate, jitter)), nMask); // [B, nMask]
    return tf.reshape(tf.sub(1, tf.sum(tf.oneHot(indices, L), 1)), [1, B, 1, L, 1]);
  }

  // The keep mask is computed inside a custom-gradient op so the (non-differentiable) ranking
  // is not taped; the gradient is dy · mask.
  const masked = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xx = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const keep = keepMask(xx);
    save([keep]);
    return {
      value: tf.mul(xx, keep),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]),
    };
  });
  return masked(x);
}

/**
 * Mean firing rate of a spike tensor: the mean of all its elements (spikes per neuron per SNN
 * timestep). Read asynchronously, so it works on every backend.
 *
 * @example
 * ```ts
 * import { firingRate, tf } from "@hest/hest";
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
 * import { spikeCount, tf } from "@hest/hest";
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
