/**
 * Fused dense layer `x · w + b` on the WASM SIMD kernels, differentiable: the forward is one
 * product with the bias added as each output block is stored; the backward computes
 * `dx = dy · wᵀ`, `dw = xᵀ · dy` and `db = Σ_rows dy` in three kernel calls (no separate TF.js
 * transpose, sum or broadcast-reduction ops). On the wasm backend the kernels read and write
 * the tensors in TF.js's memory (kernels/wasm.ts `withKernelCall`). An input at most half nonzero
 * takes the sparse-input kernels (the same values); with `binary: true` the input holds only 0
 * and 1 (spikes): the forward and `dw` run the event-driven kernels (rows of `w` / `dy` summed
 * over each spike, no multiplies). `lib/layers.ts` `applyLinear` calls it on the wasm and cpu
 * backends.
 *
 * @module
 */
import { tf } from "../lib/backend.ts";
import { describe } from "../lib/_internal.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";

/** Options of {@linkcode linearKernel}. */
export interface LinearKernelOptions {
  /**
   * The input holds only 0 and 1 (spikes): event-driven forward and weight gradient. Any other
   * value throws. Default false.
   */
  binary?: boolean;
}

type LinearFn = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;

function checkBad(bad: number, what: string): void {
  if (bad > 0) {
    throw new Error(
      `linearKernel option binary: the input must hold only 0 and 1, found ${bad} other ` +
        `nonzero entries (${what})`,
    );
  }
}

function linearFnFor(binary: boolean): LinearFn {
  const mode = binary ? 1 : 0;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const w = args[1] as tf.Tensor;
    const b = args[2] as tf.Tensor;
    const save = args[3] as tf.GradSaveFunc;
    save([x, w]);
    const [M, K] = x.shape as [number, number];
    const N = w.shape[1] as number;
    const y = withKernelCall((call) => {
      const ex = call.ex;
      const [px, pw, pb] = [call.input(x), call.input(w), call.input(b)];
      const py = call.output([M, N]);
      const ps = call.scratch(ex.linear_scratch_floats(M, N, K, mode));
      checkBad(ex.linear_forward(px, pw, pb, py, M, N, K, mode, ps), "forward");
      return call.take(py);
    });
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
        withKernelCall((g) => {
          const [sx, sw] = saved;
          // dx [M, K] = dy [M, N] · wᵀ; dw [K, N] = xᵀ · dy (gemm_tn); db = Σ_rows dy
          const ex = g.ex;
          const [qx, qw, qdy] = [g.input(sx), g.input(sw), g.input(dy)];
          const [qdx, qdw, qdb] = [g.output([M, K]), g.output([K, N]), g.output([N])];
          const qs = g.scratch(ex.bmm_scratch_floats(M, K, N, 0));
          ex.bmm(qdy, qw, qdx, 1, M, K, N, 0, 1, 0, qs);
          const qt = g.scratch(ex.gemm_tn_scratch_floats(K));
          checkBad(ex.gemm_tn(qx, qdy, qdw, M, K, N, K, N, mode, qt), "backward");
          ex.col_sum(qdy, qdb, M, N);
          return [g.take(qdx), g.take(qdw), g.take(qdb)];
        }),
    };
  }) as LinearFn;
}

const fns = new Map<boolean, LinearFn>();

/**
 * `x [M, K] · w [K, N] + b [N]` → `[M, N]` on the WASM kernels, differentiable in x, w and b.
 * Needs a backend with synchronous reads (wasm or cpu) and the kernels enabled; elsewhere it is
 * `tf.add(tf.matMul(x, w), b)`. Most callers want `applyLinear` from lib/layers.ts.
 *
 * @example
 * ```ts
 * import { linearKernel } from "./kernels/linear.ts";
 * import { tf } from "./lib/backend.ts";
 * const y = linearKernel(tf.tensor2d([[1, 0, 1]]), tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([1, 1]), {
 *   binary: true,
 * }); // [[7, 9]]
 * ```
 */
export function linearKernel(
  x: tf.Tensor,
  w: tf.Tensor,
  b: tf.Tensor,
  opts: LinearKernelOptions = {},
): tf.Tensor {
  const binary = opts.binary ?? false;
  if (typeof binary !== "boolean") {
    throw new Error(`linearKernel option "binary" must be a boolean, found ${describe(binary)}`);
  }
  if (
    x.rank !== 2 || w.rank !== 2 || b.rank !== 1 || x.shape[1] !== w.shape[0] ||
    b.shape[0] !== w.shape[1]
  ) {
    throw new Error(
      `linearKernel expects x [M, K], w [K, N], b [N], found x [${x.shape.join(", ")}], ` +
        `w [${w.shape.join(", ")}], b [${b.shape.join(", ")}]`,
    );
  }
  if (!kernelsActive() || x.size === 0 || w.size === 0) return tf.add(tf.matMul(x, w), b);
  let fn = fns.get(binary);
  if (fn === undefined) {
    fn = linearFnFor(binary);
    fns.set(binary, fn);
  }
  return fn(x, w, b);
}
