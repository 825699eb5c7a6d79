/**
 * Batched matrix products on WASM SIMD: {@linkcode bmm} for attention products over leading
 * batch axes (`[T, B, H, L, d]`), with a dense blocked kernel (which switches to a sparse-input
 * kernel, the same values, when the left operand is at most half nonzero) and an event-driven
 * kernel for a binary (0/1 spike) operand that skips zeros and sums rows of the other operand
 * without multiplies; and {@linkcode spikeMatMul}, the event-driven spike × weight product of spiking
 * linear layers. Both are differentiable (`tf.customGrad`; each gradient is two more products,
 * event-driven where the binary operand appears). On the wasm and cpu backends they run the
 * kernels; on webgpu, or after `setKernelsEnabled(false)`, they are `tf.matMul`.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { boolOption, checkKeys, describe } from "../lib/core/validation.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";
import { kernelThreads, splitRange, THREADED_MIN_FLOPS, withThreads } from "./threads.ts";

/** Options of {@linkcode bmm}. */
export interface BmmOptions {
  /** Use the transpose of `a`'s last two axes (default false). */
  transposeA?: boolean;
  /** Use the transpose of `b`'s last two axes (default false). */
  transposeB?: boolean;
  /**
   * `a` holds only 0 and 1 (spikes): the kernel gathers the ones of each row of op(a) and sums
   * the matching rows of op(b), no multiplies. Any other value throws. Default false.
   */
  binaryA?: boolean;
  /** `b` holds only 0 and 1: event-driven over the ones of op(b) (default false). */
  binaryB?: boolean;
}

const BMM_KEYS = ["transposeA", "transposeB", "binaryA", "binaryB"];

interface Dims {
  batchShape: number[];
  batch: number;
  M: number;
  N: number;
  K: number;
}

function dims(a: tf.Tensor, b: tf.Tensor, tA: boolean, tB: boolean): Dims {
  const r = a.rank;
  const batchShape = a.shape.slice(0, r - 2);
  let batch = 1;
  for (const d of batchShape) batch *= d;
  const M = tA ? a.shape[r - 1] : a.shape[r - 2];
  const K = tA ? a.shape[r - 2] : a.shape[r - 1];
  const N = tB ? b.shape[r - 2] : b.shape[r - 1];
  return { batchShape, batch, M, N, K };
}

function badError(mode: number, bad: number): Error {
  const which = mode === 1 ? "binaryA: the left operand" : "binaryB: the right operand";
  return new Error(
    `bmm option ${which} must hold only 0 and 1, found ${bad} other nonzero entries`,
  );
}

/**
 * bmmRaw on the kernel threads (kernels/threads.ts): the batch split across threads (or, for one
 * untransposed-A product, its rows), each part by the same `bmm` as one thread; undefined when
 * the pool is off, the product is small, or it cannot be split.
 */
function bmmThreaded(
  a: tf.Tensor,
  b: tf.Tensor,
  tA: boolean,
  tB: boolean,
  mode: number,
): tf.Tensor | undefined {
  const { batchShape, batch, M, N, K } = dims(a, b, tA, tB);
  if (kernelThreads() < 2 || 2 * batch * M * N * K < THREADED_MIN_FLOPS || (batch === 1 && tA)) {
    return undefined;
  }
  return withKernelCall((call) => {
    const out = withThreads(call, (tc) => {
      const [pa, pb] = [call.input(a), call.input(b)];
      const pc = call.output([...batchShape, M, N]);
      const flags = [tA ? 1 : 0, tB ? 1 : 0, mode];
      const jobs = batch > 1
        ? splitRange(batch, tc.threads).map(([b0, nb]) => ({
          name: "bmm",
          args: [
            pa + 4 * b0 * M * K,
            pb + 4 * b0 * K * N,
            pc + 4 * b0 * M * N,
            nb,
            M,
            N,
            K,
            ...flags,
            call.scratch(call.ex.bmm_scratch_floats(M, N, K, mode)),
          ],
        }))
        : splitRange(M, tc.threads, 4).map(([m0, m]) => ({
          name: "bmm",
          args: [
            pa + 4 * m0 * K,
            pb,
            pc + 4 * m0 * N,
            1,
            m,
            N,
            K,
            ...flags,
            call.scratch(call.ex.bmm_scratch_floats(m, N, K, mode)),
          ],
        }));
      return { pc, bad: tc.run(jobs).reduce((x, r) => x + r, 0) };
    });
    if (out === undefined) return undefined;
    if (out.bad > 0) throw badError(mode, out.bad);
    return call.take(out.pc);
  });
}

/** Run the kernel: op(a) · op(b), mode 0 dense, 1 binary a, 2 binary b. No autodiff. */
function bmmRaw(a: tf.Tensor, b: tf.Tensor, tA: boolean, tB: boolean, mode: number): tf.Tensor {
  const threaded = bmmThreaded(a, b, tA, tB, mode);
  if (threaded) return threaded;
  const { batchShape, batch, M, N, K } = dims(a, b, tA, tB);
  return withKernelCall((call) => {
    const ex = call.ex;
    const [pa, pb] = [call.input(a), call.input(b)];
    const pc = call.output([...batchShape, M, N]);
    const ps = call.scratch(ex.bmm_scratch_floats(M, N, K, mode));
    const bad = ex.bmm(pa, pb, pc, batch, M, N, K, tA ? 1 : 0, tB ? 1 : 0, mode, ps);
    if (bad > 0) throw badError(mode, bad);
    return call.take(pc);
  });
}

type BmmFn = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

const bmmFns = new Map<string, BmmFn>();

function modeOf(binA: boolean, binB: boolean): number {
  return binA ? 1 : binB ? 2 : 0;
}

function bmmFnFor(tA: boolean, tB: boolean, bA: boolean, bB: boolean): BmmFn {
  const id = `${tA}:${tB}:${bA}:${bB}`;
  let fn = bmmFns.get(id);
  if (fn !== undefined) return fn;
  fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as tf.Tensor;
    const b = args[1] as tf.Tensor;
    const save = args[2] as tf.GradSaveFunc;
    save([a, b]);
    return {
      value: bmmRaw(a, b, tA, tB, modeOf(bA, bB)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [sa, sb] = saved;
        // C = op(A)·op(B); the binary operand keeps its event-driven kernel in each product.
        if (!tA && !tB) {
          return [
            bmmRaw(dy, sb, false, true, modeOf(false, bB)),
            bmmRaw(sa, dy, true, false, modeOf(bA, false)),
          ];
        }
        if (!tA && tB) {
          return [
            bmmRaw(dy, sb, false, false, modeOf(false, bB)),
            bmmRaw(dy, sa, true, false, modeOf(false, bA)),
          ];
        }
        if (tA && !tB) {
          return [
            bmmRaw(sb, dy, false, true, modeOf(bB, false)),
            bmmRaw(sa, dy, false, false, modeOf(bA, false)),
          ];
        }
        return [
          bmmRaw(sb, dy, true, true, modeOf(bB, false)),
          bmmRaw(dy, sa, true, true, modeOf(false, bA)),
        ];
      },
    };
  }) as BmmFn;
  bmmFns.set(id, fn);
  return fn;
}

function flag(opts: BmmOptions, name: keyof BmmOptions): boolean {
  return boolOption("bmm option", name, opts[name] ?? false);
}

/**
 * Batched matrix product `op(a) · op(b)` over equal leading batch axes: `a [..., M, K]` (or
 * `[..., K, M]` with `transposeA`), `b [..., K, N]` (or `[..., N, K]` with `transposeB`) →
 * `[..., M, N]`. Differentiable. With `binaryA` / `binaryB` the spike operand runs the
 * event-driven kernel (forward and, where it appears, backward).
 *
 * Spiking self-attention, for `q, k, v [T, B, H, L, d]` spikes and `att [T, B, H, L, L]`:
 * `bmm(q, k, { transposeB: true, binaryA: true, binaryB: true })` and
 * `bmm(att, v, { binaryB: true })`.
 *
 * @example
 * ```ts
 * import { bmm, tf } from "@hest/hest";
 * const q = tf.tensor3d([[[1, 0], [0, 1]]]);
 * const k = tf.tensor3d([[[1, 1], [0, 1]]]);
 * const s = bmm(q, k, { transposeB: true, binaryA: true }); // [[[1, 0], [1, 1]]]
 * ```
 */
export function bmm(a: tf.Tensor, b: tf.Tensor, opts: BmmOptions = {}): tf.Tensor {
  checkKeys(opts, BMM_KEYS, "bmm option");
  const tA = flag(opts, "transposeA");
  const tB = flag(opts, "transposeB");
  const bA = flag(opts, "binaryA");
  const bB = flag(opts, "binaryB");
  for (const [name, t] of [["a", a], ["b", b]] as const) {
    if (!(t instanceof tf.Tensor) || t.rank < 2 || t.dtype !== "float32") {
      throw new TypeError(
        `bmm expects "${name}" to be a float32 tensor of rank >= 2, found ${describe(t)}` +
          (t instanceof tf.Tensor ? ` (dtype ${t.dtype})` : ""),
      );
    }
  }
  const same = a.rank === b.rank && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  const { M, N, K } = dims(a, b, tA, tB);
  const kb = tB ? b.shape[b.rank - 1] : b.shape[b.rank - 2];
  if (!same || K !== kb) {
    throw new Error(
      `bmm expects a [..., M, K] and b [..., K, N] with equal batch axes (after transposes), ` +
        `found a [${a.shape.join(", ")}]${tA ? "ᵀ" : ""} and b [${b.shape.join(", ")}]${
          tB ? "ᵀ" : ""
        }`,
    );
  }
  if (!kernelsActive() || M === 0 || N === 0 || K === 0) return tf.matMul(a, b, tA, tB);
  return bmmFnFor(tA, tB, bA, bB)(a, b);
}

/**
 * Event-driven spike × weight product for spiking linear layers: `s [..., K]` holding only 0
 * and 1, `w [K, N]` → `[..., N]`, summing the rows of `w` selected by each row's spikes (no
 * multiplies). Differentiable: the gradient for `s` is `dy · wᵀ` (dense), for `w` it is
 * `sᵀ · dy` (event-driven over the spikes).
 *
 * @example
 * ```ts
 * import { spikeMatMul, tf } from "@hest/hest";
 * const y = spikeMatMul(tf.tensor2d([[1, 0, 1]]), tf.tensor2d([[1, 2], [3, 4], [5, 6]])); // [[6, 8]]
 * ```
 */
export function spikeMatMul(s: tf.Tensor, w: tf.Tensor): tf.Tensor {
  if (!(s instanceof tf.Tensor) || s.rank < 1) {
    throw new Error(`spikeMatMul expects spikes s [..., K] as a tf.Tensor, found ${describe(s)}`);
  }
  if (!(w instanceof tf.Tensor) || w.rank !== 2 || w.shape[0] !== s.shape[s.rank - 1]) {
    throw new Error(
      `spikeMatMul expects weights w [${s.shape[s.rank - 1]}, N] for spikes [${
        s.shape.join(", ")
      }], found ${describe(w)}`,
    );
  }
  const [K, N] = w.shape as number[];
  const lead: number[] = (s.shape as number[]).slice(0, -1);
  return tf.tidy(() => {
    const y = bmm(tf.reshape(s, [-1, K]), w, { binaryA: true });
    return tf.reshape(y, [...lead, N]);
  });
}
