/**
 * Softmax over the last axis with a one-pass WASM backward: the forward is TF.js's own Softmax
 * (XNNPACK's on the wasm backend), the gradient one `softmax_backward` call (dx = y·(dy − Σ
 * dy·y) per row) where TF.js's is four ops over the `[B, H, L, L]` scores. The attention of the
 * standard mode (lib/model/blocks.ts) and the NDT transformer's call it on the wasm and cpu
 * backends; values are `tf.softmax`'s, gradients equal its gradient within float32 rounding.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";
import { threadedParts } from "./threads.ts";

type SoftmaxFn = (x: tf.Tensor) => tf.Tensor;

let fn: SoftmaxFn | undefined;

function softmaxFn(): SoftmaxFn {
  fn ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const C = x.shape[x.rank - 1];
    const R = x.size / C;
    const y = tf.softmax(x, -1);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
        withKernelCall((call) => {
          const [py, pdy, pdx] = [call.input(saved[0]), call.input(dy), call.output(x.shape)];
          const on = (s: number, c: number) =>
            [py, pdy, pdx].map((p) => p + 4 * s * C).concat(c, C);
          const opts = { name: "softmax_backward", n: R, args: on, unit: 1, itemSize: C };
          if (!threadedParts(call, opts)) call.ex.softmax_backward(py, pdy, pdx, R, C);
          return call.take(pdx);
        }),
    };
  }) as SoftmaxFn;
  return fn;
}

/**
 * `exp(x)/Σ exp(x)` over the last axis, differentiable, its gradient on the WASM kernels; elsewhere
 * (kernels off, WebGPU) `tf.softmax` with TF.js's gradient.
 *
 * @example
 * ```ts
 * import { softmaxKernel, tf } from "@hest/hest";
 * softmaxKernel(tf.tensor2d([[0, Math.log(3)]])); // [[0.25, 0.75]]
 * ```
 */
export function softmaxKernel(x: tf.Tensor): tf.Tensor {
  if (!(x instanceof tf.Tensor) || x.rank < 1 || x.dtype !== "float32") {
    throw new TypeError(`softmaxKernel expects a float32 tensor of rank >= 1, found ${String(x)}`);
  }
  if (!kernelsActive() || x.size === 0) return tf.softmax(x, -1);
  return softmaxFn()(x);
}
