/**
 * Softmax over the last axis on the WASM kernels, differentiable: one pass forward
 * (`softmax_forward`: SIMD exp) and one backward (`softmax_backward`: dx = y·(dy − Σ dy·y)),
 * where TF.js's wasm Softmax is scalar and its gradient four ops. The attention of the standard
 * mode (lib/model/blocks.ts) calls it on the wasm and cpu backends; values equal `tf.softmax`'s
 * within float32 rounding (scores more than 87 below their row's maximum, masked ones, give 0).
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";

type SoftmaxFn = (x: tf.Tensor) => tf.Tensor;

let fn: SoftmaxFn | undefined;

function softmaxFn(): SoftmaxFn {
  fn ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const C = x.shape[x.rank - 1];
    const R = x.size / C;
    const y = withKernelCall((call) => {
      const [px, py] = [call.input(x), call.output(x.shape)];
      call.ex.softmax_forward(px, py, R, C);
      return call.take(py);
    });
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
        withKernelCall((call) => {
          const [py, pdy, pdx] = [call.input(saved[0]), call.input(dy), call.output(x.shape)];
          call.ex.softmax_backward(py, pdy, pdx, R, C);
          return call.take(pdx);
        }),
    };
  }) as SoftmaxFn;
  return fn;
}

/**
 * `exp(x)/Σ exp(x)` over the last axis on the WASM kernels, differentiable; elsewhere (kernels
 * off, WebGPU) `tf.softmax`.
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
