/**
 * Fused dense layer `x · w + b` on the WASM SIMD kernels, differentiable: the forward is one
 * product with the bias added as each output block is stored; the backward computes
 * `dx = dy · wᵀ`, `dw = xᵀ · dy` and `db = Σ_rows dy` in three kernel calls (no separate TF.js
 * transpose, sum or broadcast-reduction ops). On the wasm backend the kernels read and write
 * the tensors in TF.js's memory (kernels/wasm.ts `withKernelCall`). An input at most half nonzero
 * takes the sparse-input kernels (the same values); with `binary: true` the input holds only 0
 * and 1 (spikes): the forward and `dw` run the event-driven kernels (rows of `w` / `dy` summed
 * over each spike, no multiplies). `lib/nn/layers.ts` `applyLinear` calls it on the wasm and cpu
 * backends.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { describe } from "../lib/core/validation.ts";
import { type KernelCall, kernelsActive, withKernelCall } from "./wasm.ts";
import { kernelThreads, splitRange, THREADED_MIN_FLOPS, withThreads } from "./threads.ts";

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

/** Where a dense layer `x [M, K] · w [K, N] + b` lives in kernel memory (byte offsets). */
export interface LinearAt {
  /** Rows M, inputs K, outputs N. */
  M: number;
  K: number;
  N: number;
  /** 0: dense (or sparse-input, the same values), 1: x holds only 0 and 1. */
  mode: number;
  /** x [M, K] and w [K, N]. */
  x: number;
  w: number;
}

/**
 * `y = x · w + b` into `y` ([M, N]) within a kernel call; returns the number of entries of a
 * binary x (mode 1) that are neither 0 nor 1. The dense layer of `linearKernel` and, on its
 * im2col matrix, of `convKernel`.
 *
 * @example
 * ```ts
 * import { linearForwardAt, tf, withKernelCall } from "@hest/hest";
 * const y = withKernelCall((call) => {
 *   const at = { M: 1, K: 2, N: 1, mode: 0, x: call.input(tf.tensor2d([[1, 2]])), w: call.input(tf.tensor2d([[3], [4]])) };
 *   const py = call.output([1, 1]);
 *   linearForwardAt(call, { ...at, b: call.input(tf.tensor1d([1])), y: py });
 *   return call.take(py); // [[12]]
 * });
 * ```
 */
export function linearForwardAt(call: KernelCall, at: LinearAt & { b: number; y: number }): number {
  const { M, K, N, mode } = at;
  const ps = call.scratch(call.ex.linear_scratch_floats(M, N, K, mode));
  return call.ex.linear_forward(at.x, at.w, at.b, at.y, M, N, K, mode, ps);
}

/**
 * The gradients of `y = x · w + b` from `dy` within a kernel call: `dx = dy · wᵀ`,
 * `dw = xᵀ · dy` (event-driven for a sparse or binary x) and `db = Σ_rows dy`; returns the
 * number of entries of a binary x (mode 1) that are neither 0 nor 1.
 *
 * @example
 * ```ts
 * import { linearBackwardAt, tf, withKernelCall } from "@hest/hest";
 * const dw = withKernelCall((call) => {
 *   const at = { M: 1, K: 2, N: 1, mode: 0, x: call.input(tf.tensor2d([[1, 2]])), w: call.input(tf.tensor2d([[3], [4]])) };
 *   const [dx, dw, db] = [call.output([1, 2]), call.output([2, 1]), call.output([1])];
 *   linearBackwardAt(call, { ...at, dy: call.input(tf.tensor2d([[1]])), dx, dw, db });
 *   return call.take(dw); // [[1], [2]]
 * });
 * ```
 */
export function linearBackwardAt(
  call: KernelCall,
  at: LinearAt & { dy: number; dx: number; dw: number; db: number },
): number {
  const { M, K, N, mode } = at;
  const ex = call.ex;
  ex.bmm(at.dy, at.w, at.dx, 1, M, K, N, 0, 1, 0, call.scratch(ex.bmm_scratch_floats(M, K, N, 0)));
  const bad = ex.gemm_tn(
    at.x,
    at.dy,
    at.dw,
    M,
    K,
    N,
    K,
    N,
    mode,
    call.scratch(ex.gemm_tn_scratch_floats(M, K, N)),
  );
  ex.col_sum(at.dy, at.db, M, N);
  return bad;
}

/**
 * The forward on the kernel threads (kernels/threads.ts): rows split across threads, each part
 * by the same `linear_forward` as one thread, in place; undefined when the pool is off or the
 * product is too small.
 */
function forwardThreaded(
  x: tf.Tensor,
  w: tf.Tensor,
  b: tf.Tensor,
  dims: { M: number; K: number; N: number; mode: number },
): [tf.Tensor, number] | undefined {
  const { M, K, N, mode } = dims;
  if (kernelThreads() < 2 || 2 * M * K * N < THREADED_MIN_FLOPS) return undefined;
  return withKernelCall((call) => {
    const bad = withThreads(call, (tc) => {
      const [px, pw, pb] = [call.input(x), call.input(w), call.input(b)];
      const py = call.output([M, N]);
      const jobs = splitRange(M, tc.threads, 4).map(([m0, m]) => ({
        name: "linear_forward",
        args: [
          px + 4 * m0 * K,
          pw,
          pb,
          py + 4 * m0 * N,
          m,
          N,
          K,
          mode,
          call.scratch(call.ex.linear_scratch_floats(m, N, K, mode)),
        ],
      }));
      return [py, tc.run(jobs).reduce((a, r) => a + r, 0)];
    });
    return bad === undefined ? undefined : [call.take(bad[0]), bad[1]];
  });
}

/**
 * The backward on the kernel threads, in place: `dx = dy · wᵀ` split by rows over all threads,
 * then `dw = xᵀ · dy` split by its rows (x's columns) over all threads (each part by the
 * single-threaded code, so the same values); `db` on the calling thread. Both gradients are
 * split, not one given to each thread: their kernels differ in speed, and the split keeps the
 * threads even. Undefined when the pool is off or the product is too small.
 */
function backwardThreaded(
  x: tf.Tensor,
  w: tf.Tensor,
  dy: tf.Tensor,
  dims: { M: number; K: number; N: number; mode: number },
): [tf.Tensor[], number] | undefined {
  const { M, K, N, mode } = dims;
  if (kernelThreads() < 2 || 2 * M * K * N < THREADED_MIN_FLOPS) return undefined;
  return withKernelCall((call) => {
    const out = withThreads(call, (tc) => {
      const [px, pw, pdy] = [call.input(x), call.input(w), call.input(dy)];
      const [pdx, pdw, pdb] = [call.output([M, K]), call.output([K, N]), call.output([N])];
      const ex = call.ex;
      const dxJobs = splitRange(M, tc.threads, 4).map(([m0, m]) => ({
        name: "bmm",
        args: [
          pdy + 4 * m0 * N,
          pw,
          pdx + 4 * m0 * K,
          1,
          m,
          K,
          N,
          0,
          1,
          0,
          call.scratch(ex.bmm_scratch_floats(m, K, N, 0)),
        ],
      }));
      const dwJobs = splitRange(K, tc.threads, 4).map(([i0, i]) => ({
        name: "gemm_tn",
        args: [
          px + 4 * i0,
          pdy,
          pdw + 4 * i0 * N,
          M,
          i,
          N,
          K,
          N,
          mode,
          call.scratch(ex.gemm_tn_scratch_floats(M, i, N)),
        ],
      }));
      const bad = [...tc.run(dxJobs), ...tc.run(dwJobs)].reduce((a, r) => a + r, 0);
      ex.col_sum(pdy, pdb, M, N);
      return { ptrs: [pdx, pdw, pdb], bad };
    });
    return out === undefined ? undefined : [out.ptrs.map((p) => call.take(p)), out.bad];
  });
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
    const threaded = forwardThreaded(x, w, b, { M, K, N, mode });
    if (threaded) checkBad(threaded[1], "forward");
    const y = threaded?.[0] ?? withKernelCall((call) => {
      const at = { M, K, N, mode, x: call.input(x), w: call.input(w) };
      const py = call.output([M, N]);
      checkBad(linearForwardAt(call, { ...at, b: call.input(b), y: py }), "forward");
      return call.take(py);
    });
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const tg = backwardThreaded(saved[0], saved[1], dy, { M, K, N, mode });
        if (tg) {
          checkBad(tg[1], "backward");
          return tg[0];
        }
        return withKernelCall((g) => {
          const at = { M, K, N, mode, x: g.input(saved[0]), w: g.input(saved[1]) };
          const [qdx, qdw, qdb] = [g.output([M, K]), g.output([K, N]), g.output([N])];
          const bad = linearBackwardAt(g, { ...at, dy: g.input(dy), dx: qdx, dw: qdw, db: qdb });
          checkBad(bad, "backward");
          return [g.take(qdx), g.take(qdw), g.take(qdb)];
        });
      },
    };
  }) as LinearFn;
}

const fns = new Map<boolean, LinearFn>();

/**
 * `x [M, K] · w [K, N] + b [N]` → `[M, N]` on the WASM kernels, differentiable in x, w and b.
 * Needs a backend with synchronous reads (wasm or cpu) and the kernels enabled; elsewhere it is
 * `tf.add(tf.matMul(x, w), b)`. Most callers want `applyLinear` from lib/nn/layers.ts.
 *
 * @example
 * ```ts
 * import { linearKernel, tf } from "@hest/hest";
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
    throw new TypeError(
      `linearKernel option "binary" must be a boolean, found ${describe(binary)}`,
    );
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
