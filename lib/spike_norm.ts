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
 * On the wasm and cpu backends (kernels enabled, see kernels/wasm.ts) the forward and its
 * gradient run as two fused WASM SIMD kernels (kernels/hest_kernels.c `spike_norm_forward`,
 * `spike_norm_backward`); on webgpu, or with the kernels off, it is the composite TF.js path
 * below, the reference the tests compare against.
 *
 * @module
 */
import { tf } from "./backend.ts";
import type { LayerNormParams } from "./layers.ts";
import {
  kernelArena,
  kernelExports,
  kernelsActive,
  readTensorAt,
  writeTensor,
} from "../kernels/wasm.ts";

const EPS = 1e-5;

/**
 * The fused kernel path: forward in one WASM call (moments, normalise, gain, bias), backward
 * (dx, dg, db) in another, recomputing the moments from the saved x.
 */
const spikeNormFused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  const g = args[1] as tf.Tensor;
  const b = args[2] as tf.Tensor;
  const save = args[3] as tf.GradSaveFunc;
  save([x, g]);
  const [T, B, L, C] = x.shape;
  const [px, pg, pb, py, ps] = kernelArena([x.size, C, C, x.size, 2 * B * C]);
  writeTensor(x, px);
  writeTensor(g, pg);
  writeTensor(b, pb);
  kernelExports().spike_norm_forward(px, pg, pb, py, T, B, L, C, EPS, ps);
  return {
    value: readTensorAt(py, x.shape),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sx, sg] = saved;
      const n = sx.size;
      const [qx, qg, qdy, qdx, qdg, qdb, qs] = kernelArena([n, C, n, n, C, C, 4 * B * C]);
      writeTensor(sx, qx);
      writeTensor(sg, qg);
      writeTensor(dy, qdy);
      kernelExports().spike_norm_backward(qx, qg, qdy, qdx, qdg, qdb, T, B, L, C, EPS, qs);
      return [readTensorAt(qdx, sx.shape), readTensorAt(qdg, [C]), readTensorAt(qdb, [C])];
    },
  };
});

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
  const C = x.shape[3];
  if (p.g.size !== C || p.b.size !== C) {
    throw new Error(
      `spikeNorm params must be g [${C}] and b [${C}] for input [${x.shape.join(", ")}], ` +
        `found g [${p.g.shape.join(", ")}] and b [${p.b.shape.join(", ")}]`,
    );
  }
  if (kernelsActive() && x.size > 0 && x.dtype === "float32") {
    return spikeNormFused(x, p.g, p.b);
  }
  const { mean, variance } = tf.moments(x, [0, 2], true);
  const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, EPS)));
  return tf.add(tf.mul(xn, p.g), p.b);
}
