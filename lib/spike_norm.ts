/**
 * The normalisation in front of every LIF neuron of the spiking mode.
 *
 * `spikeNorm(p, x)` normalises `x [T, B, L, C]` per trial and channel over the SNN timesteps and
 * the bins (axes T and L), then applies a learned gain and bias per channel:
 *
 * ```
 * μ[b, c] = mean over (t, l) of x[t, b, l, c]        σ²[b, c] = the matching variance
 * y = (x − μ) / sqrt(σ² + 1e-5) · g[c] + b[c]
 * ```
 *
 * Unlike a per-position layer norm it does not divide by ~0 at positions where a spike-driven
 * input is all zeros (common after the attention), and unlike BatchNorm it has no running state
 * and never mixes trials, so training and inference compute the same function. Every bin gets
 * an input of comparable scale, so masked (zeroed) bins still produce spikes and pass context on
 * (../shared/bench/README.md, caveat 6).
 *
 * @module
 */
import { tf } from "./backend.ts";
import type { LayerNormParams } from "./layers.ts";

/**
 * Per-trial, per-channel normalisation over axes T and L of `x [T, B, L, C]` with gain `p.g` and
 * bias `p.b` (each `[C]`).
 *
 * @example
 * ```ts
 * import { initLayerNorm, spikeNorm, tf } from "./mod.ts";
 * const y = spikeNorm(initLayerNorm(8), tf.randomNormal([4, 2, 10, 8]));
 * ```
 */
export function spikeNorm(p: LayerNormParams, x: tf.Tensor): tf.Tensor {
  if (x.rank !== 4) {
    throw new Error(`spikeNorm input must be [T, B, L, C], found [${x.shape.join(", ")}]`);
  }
  const { mean, variance } = tf.moments(x, [0, 2], true);
  const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
  return tf.add(tf.mul(xn, p.g), p.b);
}
