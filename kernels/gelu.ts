/**
 * Exact (erf) GELU on the WASM kernels, differentiable: one pass forward and one backward
 * (`gelu_forward` / `gelu_backward` in hest_kernels.c), where the composite TF.js path runs four
 * ops forward and about ten backward, with TF.js's scalar Erf among them. `lib/nn/layers.ts`
 * `gelu` calls it on the wasm and cpu backends. Its erf is a rational approximation with an
 * absolute error below 5e-7, so values equal the composite's within that.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";

type GeluFn = (x: tf.Tensor) => tf.Tensor;

let fn: GeluFn | undefined;

function geluFn(): GeluFn {
  fn ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    save([x]);
    const y = withKernelCall((call) => {
      const px = call.input(x);
      const py = call.output(x.shape);
      call.ex.gelu_forward(px, py, x.size);
      return call.take(py);
    });
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
        withKernelCall((call) => {
          const [px, pdy] = [call.input(saved[0]), call.input(dy)];
          const pdx = call.output(x.shape);
          call.ex.gelu_backward(px, pdy, pdx, x.size);
          return call.take(pdx);
        }),
    };
  }) as GeluFn;
  return fn;
}

/**
 * `0.5·x·(1 + erf(x/√2))` elementwise on the WASM kernels, differentiable; elsewhere (kernels
 * off, WebGPU) the composite TF.js ops. Most callers want `gelu` from lib/nn/layers.ts.
 *
 * @example
 * ```ts
 * import { geluKernel, tf } from "@hest/hest";
 * geluKernel(tf.tensor1d([0, 1])); // [0, 0.8413447]
 * ```
 */
export function geluKernel(x: tf.Tensor): tf.Tensor {
  if (!(x instanceof tf.Tensor) || x.dtype !== "float32") {
    throw new TypeError(`geluKernel expects a float32 tensor, found ${String(x)}`);
  }
  if (!kernelsActive() || x.size === 0) {
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  }
  return geluFn()(x);
}
