/**
 * Inverted dropout on the WASM kernels with TF.js's own random stream: `dropoutKernel(x, rate,
 * seed)` gives what `tf.dropout(x, rate, undefined, seed)` gives, bit for bit, in one kernel call
 * (`dropout_alea` in hest_kernels.c), differentiable.
 *
 * `tf.dropout` draws its uniforms with `tf.randomUniform`: seedrandom's alea generator, run in
 * JavaScript one element at a time, seeded by Mash of the seed's decimal string. Then it makes
 * the multiplier with three more ops and multiplies. On a `[32, 60, 64]` activation that took
 * about 4 ms on the wasm backend, most of it the JavaScript loop; a model with NDT's dropout spends
 * a quarter of its standard train step there. Here the seeding (Mash, a few dozen operations)
 * stays in JavaScript and the recurrence runs in the kernel, in the same float64 arithmetic, so
 * the masks, and every run trained with them, are unchanged.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";
import { recording } from "./_internal.ts";

/** seedrandom's alea state after seeding: three float64 fractions and the carry. */
export interface AleaState {
  /** Oldest of the three lags. */
  readonly s0: number;
  /** Middle lag. */
  readonly s1: number;
  /** Newest lag: the last value drawn. */
  readonly s2: number;
  /** The carry (an integer). */
  readonly c: number;
}

/** Baagøe's Mash hash, as seedrandom's alea seeds itself with it (float64 and uint32 steps). */
function mash(): (data: string) => number {
  let n = 0xefc8249d;
  return function hash(data: string): number {
    for (let i = 0; i < data.length; i++) {
      n += data.charCodeAt(i);
      let h = 0.02519603282416938 * n;
      n = h >>> 0;
      h -= n;
      h *= n;
      n = h >>> 0;
      h -= n;
      n += h * 0x100000000; // 2^32
    }
    return (n >>> 0) * 2.3283064365386963e-10; // 2^-32
  };
}

/**
 * The state seedrandom's `alea(seed)` starts from, as `tf.randomUniform(shape, 0, 1, "float32",
 * seed)` seeds it (a number seed is first turned into its decimal string).
 *
 * @example
 * ```ts
 * import { aleaSeedState } from "@hest/hest/kernels";
 * const s = aleaSeedState(7); // { s0, s1, s2 in [0, 1), c: 1 }
 * ```
 */
export function aleaSeedState(seed: number | string): AleaState {
  const data = String(seed);
  const m = mash();
  let s0 = m(" "), s1 = m(" "), s2 = m(" ");
  s0 -= m(data);
  if (s0 < 0) s0 += 1;
  s1 -= m(data);
  if (s1 < 0) s1 += 1;
  s2 -= m(data);
  if (s2 < 0) s2 += 1;
  return { s0, s1, s2, c: 1 };
}

/** y (and, with `keepMask`, the multiplier for the backward) in one kernel call. */
function forward(x: tf.Tensor, keep: number, st: AleaState, keepMask: boolean): tf.Tensor[] {
  return withKernelCall((call) => {
    const px = call.input(x);
    const py = call.output(x.shape);
    const pm = keepMask ? call.output(x.shape) : 0;
    call.ex.dropout_alea(px, py, pm, x.size, st.s0, st.s1, st.s2, st.c, keep);
    return keepMask ? [call.take(py), call.take(pm)] : [call.take(py)];
  });
}

/**
 * `tf.dropout(x, rate, undefined, seed)` on the WASM kernels: the same values bit for bit (the
 * same alea stream and float32 operations), differentiable (dx = dy · the multiplier, as TF.js's
 * gradient of its final multiply). Elsewhere (kernels off, WebGPU) it is `tf.dropout` itself.
 * `rate` must lie in [0, 1); `seed` is what `tf.dropout` takes (hest passes `tfSeed(key)`). Most
 * callers want `dropout` from lib/nn/layers.ts.
 *
 * @example
 * ```ts
 * import { tf } from "@hest/hest";
 * import { dropoutKernel } from "@hest/hest/kernels";
 * const y = dropoutKernel(tf.ones([4, 4]), 0.5, 7); // 0 or 2 in each element
 * ```
 */
export function dropoutKernel(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (!(x instanceof tf.Tensor) || x.dtype !== "float32") {
    throw new TypeError(`dropoutKernel expects a float32 tensor, found ${String(x)}`);
  }
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`dropoutKernel: rate must lie in [0, 1), found ${rate}`);
  }
  if (!Number.isFinite(seed)) {
    throw new RangeError(`dropoutKernel: seed must be a finite number, found ${seed}`);
  }
  if (!kernelsActive() || x.size === 0 || rate === 0) {
    return tf.dropout(x, rate, undefined, seed);
  }
  // TF.js forms keepProb in float64 and its scalar tensor rounds it to float32
  const keep = Math.fround(1 - rate);
  const st = aleaSeedState(seed);
  if (!recording()) return forward(x, keep, st, false)[0];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[1] as tf.GradSaveFunc;
    const [y, m] = forward(args[0] as tf.Tensor, keep, st, true);
    save([m]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => tf.mul(dy, saved[0]),
    };
  }) as (x: tf.Tensor) => tf.Tensor;
  return f(x);
}
