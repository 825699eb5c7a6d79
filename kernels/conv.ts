/**
 * 1-D convolution along the bin axis on the WASM SIMD kernels (the product of lib/conv.ts
 * `applyCausalConv`), differentiable: im2col of `x [..., L, Ci]` into `[rows, k·Ci]`, one
 * product with the taps `w [k, Ci, Co]` seen as `[k·Ci, Co]`, plus the bias; the backward is
 * `dcol = dy · wᵀ` folded back by col2im, `dw = colᵀ · dy`, `db = Σ_rows dy`, all in one WASM
 * arena (no TF.js pad, slice, unstack, addN or transpose ops). With `binary: true` the input is
 * spikes and the forward and `dw` run event-driven.
 *
 * @module
 */
import { tf } from "../lib/backend.ts";
import { describe } from "../lib/_internal.ts";
import { kernelArena, kernelExports, kernelsActive, readTensorAt, writeTensor } from "./wasm.ts";

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
    const ex = kernelExports();
    const [px, pw, pb, pcol, py, ps] = kernelArena([
      x.size,
      KC * Co,
      Co,
      M * KC,
      M * Co,
      ex.bmm_scratch_floats(M, Co, KC, mode),
    ]);
    writeTensor(x, px);
    writeTensor(w, pw);
    writeTensor(b, pb);
    ex.im2col(px, pcol, S, L, Ci, k, padLeft);
    checkBad(ex.bmm(pcol, pw, py, 1, M, Co, KC, 0, 0, mode, ps));
    ex.add_bias_rows(py, pb, M, Co);
    return {
      value: readTensorAt(py, [...x.shape.slice(0, -1), Co]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [sx, sw] = saved;
        const [qx, qw, qdy, qcol, qdcol, qdx, qdw, qdb, qs] = kernelArena([
          sx.size,
          KC * Co,
          M * Co,
          M * KC,
          M * KC,
          sx.size,
          KC * Co,
          Co,
          ex.bmm_scratch_floats(M, KC, Co, 0),
        ]);
        writeTensor(sx, qx);
        writeTensor(sw, qw);
        writeTensor(dy, qdy);
        ex.im2col(qx, qcol, S, L, Ci, k, padLeft);
        ex.bmm(qdy, qw, qdcol, 1, M, KC, Co, 0, 1, 0, qs);
        ex.col2im(qdcol, qdx, S, L, Ci, k, padLeft);
        checkBad(ex.gemm_tn(qcol, qdy, qdw, M, KC, Co, KC, Co, mode));
        ex.col_sum(qdy, qdb, M, Co);
        return [
          readTensorAt(qdx, sx.shape),
          readTensorAt(qdw, [k, Ci, Co]),
          readTensorAt(qdb, [Co]),
        ];
      },
    };
  }) as ConvFn;
}

/**
 * Convolution along the bins of `x [..., L, Ci]` with taps `w [k, Ci, Co]` and bias `b [Co]`:
 * `y[..., t, :] = b + Σ_j x[..., t − padLeft + j, :] · w[j]` (zero outside the bins) →
 * `[..., L, Co]`, on the WASM kernels, differentiable in x, w and b. The caller checks shapes
 * (lib/conv.ts `applyCausalConv` does); needs the kernels active (wasm or cpu backend).
 *
 * @example
 * ```ts
 * import { convKernel } from "./kernels/conv.ts";
 * import { tf } from "./lib/backend.ts";
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
    throw new Error(
      `convKernel option "padLeft" must be an integer in [0, ${w.shape[0] - 1}], found ${
        describe(padLeft)
      }`,
    );
  }
  if (typeof binary !== "boolean") {
    throw new Error(`convKernel option "binary" must be a boolean, found ${describe(binary)}`);
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
