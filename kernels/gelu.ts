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
import { recording } from "./_internal.ts";
import { threadedParts } from "./threads.ts";

type GeluFn = (x: tf.Tensor) => tf.Tensor;

let fn: GeluFn | undefined;

/** y (and, with `keep`, s = 1 + erf(x/√2) for the backward) in one kernel call. */
function forward(x: tf.Tensor, keep: boolean): tf.Tensor[] {
  return withKernelCall((call) => {
    const px = call.input(x);
    const py = call.output(x.shape);
    const ps = keep ? call.output(x.shape) : 0;
    const on = (s: number, c: number) => [px + 4 * s, py + 4 * s, ps && ps + 4 * s, c];
    if (!threadedParts(call, { name: "gelu_forward", n: x.size, args: on })) {
      call.ex.gelu_forward(px, py, ps, x.size);
    }
    return keep ? [call.take(py), call.take(ps)] : [call.take(py)];
  });
}

function geluFn(): GeluFn {
  fn ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    // the backward reads s instead of recomputing erf: half its work, the same values
    const [y, s] = forward(x, true);
    save([x, s]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
        withKernelCall((call) => {
          const [px, ps, pdy] = [call.input(saved[0]), call.input(saved[1]), call.input(dy)];
          const pdx = call.output(x.shape);
          const on = (s: number, c: number) => [px, ps, pdy, pdx].map((p) => p + 4 * s).concat(c);
          if (!threadedParts(call, { name: "gelu_backward", n: x.size, args: on })) {
            call.ex.gelu_backward(px, ps, pdy, pdx, x.size);
          }
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
  // outside a gradient computation: the forward alone, nothing kept for a backward pass
  return recording() ? geluFn()(x) : forward(x, false)[0];
}
