/**
 * Layer norm over the last axis on the WASM kernels, differentiable: one pass forward (which
 * keeps each row's mean and 1/std) and one backward giving dx, dg and db (`layer_norm_forward` /
 * `layer_norm_backward` in hest_kernels.c), where the composite TF.js path runs about 7 ops
 * forward and 15 backward, its row sums of dg and db transposing first. `applyLayerNorm`
 * (lib/nn/layers.ts) calls it on the wasm and cpu backends; values equal the composite's within
 * float32 rounding (1e-5).
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";
import { threadedParts } from "./threads.ts";

type LnFn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const fns = new Map<number, LnFn>();

function lnFn(eps: number): LnFn {
  let fn = fns.get(eps);
  if (fn) return fn;
  fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const C = x.shape[x.rank - 1];
    const R = x.size / C;
    const [y, stats] = withKernelCall((call) => {
      const [px, pg, pb] = [call.input(x), call.input(g), call.input(b)];
      const [py, ps] = [call.output(x.shape), call.output([R, 2])];
      const rows = (s: number) => [px + 4 * s * C, pg, pb, py + 4 * s * C, ps + 8 * s];
      const on = (s: number, c: number) => [...rows(s), c, C, eps];
      const opts = { name: "layer_norm_forward", n: R, args: on, unit: 1, itemSize: C };
      if (!threadedParts(call, opts)) call.ex.layer_norm_forward(px, pg, pb, py, ps, R, C, eps);
      return [call.take(py), call.take(ps)];
    });
    save([x, g, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
        withKernelCall((call) => {
          const [sx, sg, sst] = saved;
          const [px, pg, ps, pdy] = [
            call.input(sx),
            call.input(sg),
            call.input(sst),
            call.input(dy),
          ];
          const [pdx, pdg, pdb] = [call.output(sx.shape), call.output([C]), call.output([C])];
          call.ex.layer_norm_backward(px, pg, ps, pdy, pdx, pdg, pdb, R, C);
          return [call.take(pdx), call.take(pdg), call.take(pdb)];
        }),
    };
  }) as LnFn;
  fns.set(eps, fn);
  return fn;
}

/**
 * `(x − mean)/√(var + eps) · g + b` over the last axis (biased variance) on the WASM kernels,
 * differentiable in x, g and b; elsewhere (kernels off, WebGPU) the composite TF.js ops. Most
 * callers want `applyLayerNorm` from lib/nn/layers.ts.
 *
 * @example
 * ```ts
 * import { layerNormKernel, tf } from "@hest/hest";
 * layerNormKernel(tf.tensor2d([[1, 3]]), tf.ones([2]), tf.zeros([2])); // ≈ [[-1, 1]]
 * ```
 */
export function layerNormKernel(
  x: tf.Tensor,
  g: tf.Tensor,
  b: tf.Tensor,
  opts: { eps?: number } = {},
): tf.Tensor {
  const eps = opts.eps ?? 1e-5;
  const C = x.shape[x.rank - 1];
  if (x.rank < 1 || g.rank !== 1 || b.rank !== 1 || g.shape[0] !== C || b.shape[0] !== C) {
    throw new Error(
      `layerNormKernel expects x [..., C], g [C] and b [C], found x [${x.shape}], g [${g.shape}], ` +
        `b [${b.shape}]`,
    );
  }
  if (!kernelsActive() || x.size === 0 || x.dtype !== "float32") {
    const { mean, variance } = tf.moments(x, -1, true);
    const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(xn, g), b);
  }
  return lnFn(eps)(x, g, b);
}
