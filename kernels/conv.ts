/**
 * 1-D convolution along the bin axis on the WASM SIMD kernels (the product of lib/nn/conv.ts
 * `applyCausalConv`), differentiable: im2col of `x [..., L, Ci]` into `[rows, k·Ci]`, one
 * product with the taps `w [k, Ci, Co]` seen as `[k·Ci, Co]`, plus the bias; the backward is
 * `dcol = dy · wᵀ` folded back by col2im, `dw = colᵀ · dy`, `db = Σ_rows dy`, all in one WASM
 * arena (no TF.js pad, slice, unstack, addN or transpose ops). With `binary: true` the input is
 * spikes and the forward and `dw` run event-driven.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { describe } from "../lib/core/validation.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";
import { linearBackwardAt, linearForwardAt } from "./linear.ts";

/** Options of {@linkcode convKernel}. */
export interface ConvKernelOptions {
  /** Zero padding before the first bin: tap j reads bin t − padLeft + j (0 ≤ padLeft < k). */
  padLeft: number;
  /** The input holds only 0 and 1 (spikes): event-driven forward and weight gradient. */
  binary?: boolean;
}

type ConvFn = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const fns = new Map<string, ConvFn>();

function checkBad(bad: number): void {
  if (bad > 0) {
    throw new Error(
      `convKernel option binary: the input must hold only 0 and 1, found ${bad} other nonzero ` +
        `entries`,
    );
  }
}

function convFnFor(padLeft: number, binary: boolean): ConvFn {
  const mode = binary ? 1 : 0;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const w = args[1] as tf.Tensor;
    const b = args[2] as tf.Tensor;
    const save = args[3] as tf.GradSaveFunc;
    save([x, w]);
    const [k, Ci, Co] = w.shape as [number, number, number];
    const L = x.shape[x.rank - 2];
    const S = x.size / (L * Ci);
    const M = S * L;
    const KC = k * Ci;
    const yShape = [...x.shape.slice(0, -1), Co];
    const y = withKernelCall((call) => {
      const pcol = call.scratch(M * KC);
      call.ex.im2col(call.input(x), pcol, S, L, Ci, k, padLeft);
      const py = call.output(yShape);
      const at = { M, K: KC, N: Co, mode, x: pcol, w: call.input(w) };
      checkBad(linearForwardAt(call, { ...at, b: call.input(b), y: py }));
      return call.take(py);
    });
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
        withKernelCall((g) => {
          const [sx, sw] = saved;
          const [qdx, qdw, qdb] = [g.output(sx.shape), g.output([k, Ci, Co]), g.output([Co])];
          const [qcol, qdcol] = [g.scratch(M * KC), g.scratch(M * KC)];
          g.ex.im2col(g.input(sx), qcol, S, L, Ci, k, padLeft);
          // the dense layer on the im2col matrix, then its gradient folded back onto the bins
          const at = { M, K: KC, N: Co, mode, x: qcol, w: g.input(sw) };
          checkBad(
            linearBackwardAt(g, { ...at, dy: g.input(dy), dx: qdcol, dw: qdw, db: qdb }),
          );
          g.ex.col2im(qdcol, qdx, S, L, Ci, k, padLeft);
          return [g.take(qdx), g.take(qdw), g.take(qdb)];
        }),
    };
  }) as ConvFn;
}

/**
 * Convolution along the bins of `x [..., L, Ci]` with taps `w [k, Ci, Co]` and bias `b [Co]`:
 * `y[..., t, :] = b + Σ_j x[..., t − padLeft + j, :] · w[j]` (zero outside the bins) →
 * `[..., L, Co]`, on the WASM kernels, differentiable in x, w and b. The caller checks shapes
 * (lib/nn/conv.ts `applyCausalConv` does); needs the kernels active (wasm or cpu backend).
 *
 * @example
 * ```ts
 * import { convKernel, tf } from "@hest/hest";
 * // causal 2-tap sum over bins: y[t] = x[t − 1] + x[t]
 * const y = convKernel(tf.tensor3d([[[1], [2], [3]]]), tf.ones([2, 1, 1]), tf.zeros([1]), {
 *   padLeft: 1,
 * }); // [[[1], [3], [5]]]
 * ```
 */
export function convKernel(
  x: tf.Tensor,
  w: tf.Tensor,
  b: tf.Tensor,
  opts: ConvKernelOptions,
): tf.Tensor {
  const padLeft = opts?.padLeft;
  const binary = opts?.binary ?? false;
  if (w.rank !== 3 || b.rank !== 1 || b.shape[0] !== w.shape[2]) {
    throw new Error(
      `convKernel expects taps w [k, Ci, Co] and bias b [Co], found w [${w.shape.join(", ")}], ` +
        `b [${b.shape.join(", ")}]`,
    );
  }
  if (x.rank < 2 || x.shape[x.rank - 1] !== w.shape[1]) {
    throw new Error(
      `convKernel expects x [..., L, ${w.shape[1]}], found [${x.shape.join(", ")}]`,
    );
  }
  if (!Number.isInteger(padLeft) || padLeft < 0 || padLeft >= w.shape[0]) {
    throw new RangeError(
      `convKernel option "padLeft" must be an integer in [0, ${w.shape[0] - 1}], found ${
        describe(padLeft)
      }`,
    );
  }
  if (typeof binary !== "boolean") {
    throw new TypeError(`convKernel option "binary" must be a boolean, found ${describe(binary)}`);
  }
  if (!kernelsActive()) {
    throw new Error("convKernel needs the WASM kernels active (wasm or cpu backend)");
  }
  const id = `${padLeft}:${binary}`;
  let fn = fns.get(id);
  if (fn === undefined) {
    fn = convFnFor(padLeft, binary);
    fns.set(id, fn);
  }
  return fn(x, w, b);
}
