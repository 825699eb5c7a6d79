/**
 * Shared helpers of the kernel tests: seeded random tensors, a relative-tolerance comparison of
 * kernel and composite results, running a function with the WASM kernels switched off, and the
 * values and gradients of a norm (or norm-and-LIF) op.
 *
 * @module
 */
import assert from "node:assert/strict";
import { tf } from "../lib/core/backend.ts";
import { key, normal, uniform } from "../lib/core/random.ts";
import { setKernelsEnabled } from "../kernels/wasm.ts";
import type { LayerNormParams } from "../lib/nn/layers.ts";

/** Seeded random tensors; each call draws from the next key after `firstSeed`. */
export function randomTensors(firstSeed: number): {
  randn(shape: number[], scale?: number, shift?: number): tf.Tensor;
  spikes(shape: number[], p: number): tf.Tensor;
} {
  let seed = firstSeed;
  const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
  return {
    randn(shape, scale = 1, shift = 0) {
      const n = size(shape);
      return tf.tensor(Array.from(normal(key(seed++), n), (z) => shift + scale * z), shape);
    },
    spikes(shape, p) {
      const n = size(shape);
      return tf.tensor(Array.from(uniform(key(seed++), n), (u) => (u < p ? 1 : 0)), shape);
    },
  };
}

/** `|a − b| ≤ tol·(1 + |b|)` element-wise, naming the first element that is not. */
export function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])),
      `${what}[${i}]: kernel ${a[i]} vs composite ${b[i]}`,
    );
  }
}

/** Run `f` with the WASM kernels switched off (the composite TF.js path), then back on. */
export function withoutKernels<R>(f: () => R): R {
  setKernelsEnabled(false);
  try {
    return f();
  } finally {
    setKernelsEnabled(true);
  }
}

/**
 * The values of `f(p, x)` and the gradients of `sum(f(p, x) ⊙ w)` for x, g and b, as plain arrays
 * (for bit-for-bit comparisons of a fused op with the ops it replaces).
 */
export async function valuesAndGrads(
  f: (p: LayerNormParams, x: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  p: LayerNormParams,
  w: tf.Tensor,
): Promise<number[][]> {
  const y = f(p, x);
  const out = [Array.from(await y.data())];
  y.dispose();
  const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
    tf.sum(tf.mul(f({ g: gg as tf.Tensor1D, b: bb as tf.Tensor1D }, xx), w))
  )([x, p.g, p.b]);
  for (const t of grads) out.push(Array.from(await t.data()));
  tf.dispose(grads);
  return out;
}
