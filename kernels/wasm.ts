/**
 * Loader and memory arena of the hest WASM SIMD kernels (`kernels/hest_kernels.wasm`, built from
 * `kernels/hest_kernels.c` by `deno task kernels`), and the switch that decides when hest uses
 * them instead of composite TF.js ops.
 *
 * The module is read synchronously (`Deno.readFileSync`, so `--allow-read` is needed) the first
 * time a kernel runs. It has no imports and exports its memory; every call lays its buffers out
 * from `__heap_base` upwards ({@linkcode kernelArena}), growing the memory when needed, so
 * nothing is freed and nothing leaks between calls.
 *
 * Data moves in and out by copy: inputs are copied into kernel memory (on the wasm backend
 * straight from TF.js's wasm heap, elsewhere from `dataSync()`), outputs by `tf.tensor(..)` of a
 * view (on the cpu backend `tf.tensor` keeps the array it is given, so the view is copied first).
 *
 * @module
 */
import { tf } from "../lib/backend.ts";

/** The raw exports of `hest_kernels.wasm` (pointers are byte offsets into `memory`). */
export interface KernelExports {
  /** The module's linear memory. */
  memory: WebAssembly.Memory;
  /** First free byte above the module's stack and data. */
  __heap_base: WebAssembly.Global;
  /** Fused multi-step LIF forward (see hest_kernels.c). */
  lif_forward(
    x: number,
    s: number,
    h: number,
    v: number,
    T: number,
    n: number,
    k: number,
    omk: number,
    vr: number,
    vth: number,
    soft: number,
    decay: number,
    leakMode: number,
  ): void;
  /** Fused multi-step LIF BPTT backward (see hest_kernels.c). */
  lif_backward(
    dy: number,
    h: number,
    dx: number,
    gv: number,
    T: number,
    n: number,
    k: number,
    omk: number,
    vr: number,
    vth: number,
    soft: number,
    decay: number,
    detachReset: number,
    detachMembrane: number,
    kind: number,
    alpha: number,
  ): void;
  /** Batched matrix product; returns the number of non-0/1 entries of a binary operand. */
  bmm(
    a: number,
    b: number,
    c: number,
    batch: number,
    M: number,
    N: number,
    K: number,
    transA: number,
    transB: number,
    mode: number,
    scratch: number,
  ): number;
  /** One fused TIM step forward (see hest_kernels.c). */
  tim_step_forward(
    c: number,
    q: number,
    vin: number,
    vout: number,
    out: number,
    n: number,
    k: number,
    omk: number,
    thIn: number,
    thOut: number,
    alpha: number,
    oma: number,
  ): void;
  /** Its surrogate backward (see hest_kernels.c). */
  tim_step_backward(
    c: number,
    q: number,
    vin: number,
    vout: number,
    ds: number,
    dc: number,
    dq: number,
    n: number,
    k: number,
    omk: number,
    thIn: number,
    thOut: number,
    alpha: number,
    oma: number,
    kind: number,
    salpha: number,
  ): void;
  /** y = x · W + b row by row, zero inputs skipped (see hest_kernels.c; b = 0: no bias). */
  matvec(
    x: number,
    w: number,
    b: number,
    y: number,
    rows: number,
    inDim: number,
    outDim: number,
  ): void;
  /** Scratch floats `bmm` needs. */
  bmm_scratch_floats(M: number, N: number, K: number, mode: number): number;
  /** Spike-norm forward (see hest_kernels.c); scratch 2·B·C floats, leaves μ and r there. */
  spike_norm_forward(
    x: number,
    g: number,
    bias: number,
    y: number,
    T: number,
    B: number,
    L: number,
    C: number,
    eps: number,
    scratch: number,
  ): void;
  /** Spike-norm backward: dx, dg, dbias (see hest_kernels.c); scratch 4·B·C floats. */
  spike_norm_backward(
    x: number,
    g: number,
    dy: number,
    dx: number,
    dg: number,
    db: number,
    T: number,
    B: number,
    L: number,
    C: number,
    eps: number,
    scratch: number,
  ): void;
  /** `c[m, :] += bias` for every row of `c [M, N]`. */
  add_bias_rows(c: number, bias: number, M: number, N: number): void;
  /** `out[n] = Σ_m dy[m, n]` over `dy [M, N]`. */
  col_sum(dy: number, out: number, M: number, N: number): void;
  /** Bins-axis im2col of `x [S, L, Ci]` into `col [S·L, k·Ci]` (see hest_kernels.c). */
  im2col(x: number, col: number, S: number, L: number, Ci: number, k: number, pad: number): void;
  /** Adjoint of `im2col`: `dx [S, L, Ci]` from `col [S·L, k·Ci]`. */
  col2im(col: number, dx: number, S: number, L: number, Ci: number, k: number, pad: number): void;
  /** `C [I, J] = Xᵀ · D` for `X [R, I]`, `D [R, J]` (row strides ldx, ldd); binary X: event-driven. */
  gemm_tn(
    X: number,
    D: number,
    C: number,
    R: number,
    I: number,
    J: number,
    ldx: number,
    ldd: number,
    binary: number,
  ): number;
}

let instance: KernelExports | undefined;
let enabled = envEnabled();

/** `HEST_KERNELS=0` in the environment starts with the kernels off (when env access is granted). */
function envEnabled(): boolean {
  try {
    const q = Deno.permissions.querySync({ name: "env", variable: "HEST_KERNELS" });
    return q.state !== "granted" || Deno.env.get("HEST_KERNELS") !== "0";
  } catch {
    return true;
  }
}

/**
 * The instantiated kernel module, loaded on first use from `kernels/hest_kernels.wasm`.
 *
 * @example
 * ```ts
 * import { kernelExports } from "./kernels/wasm.ts";
 * kernelExports().memory.buffer.byteLength > 0; // true
 * ```
 */
export function kernelExports(): KernelExports {
  if (instance === undefined) instance = newKernelInstance();
  return instance;
}

let compiled: WebAssembly.Module | undefined;

/**
 * A fresh instance of the kernel module with its own memory (the module is compiled once): for
 * code that keeps data in kernel memory between calls, such as the streaming engine
 * (kernels/stream_engine.ts), whose parameters would otherwise be overwritten by the shared
 * arena of {@linkcode kernelExports}.
 *
 * @example
 * ```ts
 * import { newKernelInstance } from "./kernels/wasm.ts";
 * const ex = newKernelInstance();
 * ex.memory.buffer.byteLength > 0; // true
 * ```
 */
export function newKernelInstance(): KernelExports {
  if (compiled === undefined) {
    const url = new URL("./hest_kernels.wasm", import.meta.url);
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(url);
    } catch (err) {
      throw new Error(
        `cannot read the hest kernels module ${url.pathname} (run with --allow-read; rebuild ` +
          `it with "deno task kernels"): ${(err as Error).message}`,
      );
    }
    compiled = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  }
  return new WebAssembly.Instance(compiled, {}).exports as unknown as KernelExports;
}

/**
 * Turn the kernels on or off for the whole process (on by default; `HEST_KERNELS=0` in the
 * environment turns them off at start-up). Off, every hest op takes its composite TF.js path on
 * every backend: the reference the tests compare against.
 *
 * @example
 * ```ts
 * import { setKernelsEnabled } from "./kernels/wasm.ts";
 * setKernelsEnabled(false); // composite TF.js ops everywhere
 * setKernelsEnabled(true);
 * ```
 */
export function setKernelsEnabled(on: boolean): void {
  if (typeof on !== "boolean") {
    throw new Error(`setKernelsEnabled expects a boolean, found ${typeof on}`);
  }
  enabled = on;
}

/**
 * Whether hest ops should run the WASM kernels now: kernels enabled and the active TF.js backend
 * is `"wasm"` or `"cpu"` (where data can be read synchronously). WebGPU keeps the composite
 * path.
 *
 * @example
 * ```ts
 * import { kernelsActive } from "./kernels/wasm.ts";
 * import { useBackend } from "./lib/backend.ts";
 * await useBackend("cpu");
 * kernelsActive(); // true
 * ```
 */
export function kernelsActive(): boolean {
  if (!enabled) return false;
  const b = tf.getBackend();
  return b === "wasm" || b === "cpu";
}

/** Byte offsets of the buffers laid out by {@linkcode kernelArena}. */
export type ArenaPointers = number[];

/**
 * Lay out buffers of the given sizes (in 4-byte words) from `__heap_base`, each 16-byte aligned,
 * growing the memory when needed, and return their byte offsets. Every call starts again at
 * `__heap_base`: the buffers of the previous call are overwritten. Create typed-array views only
 * after this call (growing the memory detaches older views).
 *
 * @example
 * ```ts
 * import { kernelArena } from "./kernels/wasm.ts";
 * const [a, b] = kernelArena([10, 3]); // b - a === 48
 * ```
 */
export function kernelArena(words: readonly number[]): ArenaPointers {
  const ex = kernelExports();
  let p = ex.__heap_base.value as number;
  p = (p + 15) & ~15;
  const out: number[] = [];
  for (const w of words) {
    out.push(p);
    p += Math.ceil((w * 4) / 16) * 16;
  }
  const have = ex.memory.buffer.byteLength;
  if (p > have) ex.memory.grow(Math.ceil((p - have) / 65536));
  return out;
}

/**
 * A Float32Array view of `length` floats at byte offset `ptr` of the kernel memory.
 *
 * @example
 * ```ts
 * import { f32View, kernelArena } from "./kernels/wasm.ts";
 * const [p] = kernelArena([4]);
 * f32View(p, 4).fill(1);
 * ```
 */
export function f32View(ptr: number, length: number): Float32Array {
  return new Float32Array(kernelExports().memory.buffer, ptr, length);
}

/**
 * Copy columns `j0 … j0 + m − 1` of a row-major `src [rows, n]` into `dst [rows, m]`: how the
 * chunked kernels (LIF on neurons, spike norm on trials) lay out one chunk in kernel memory.
 *
 * @example
 * ```ts
 * import { packColumns } from "./kernels/wasm.ts";
 * const dst = new Float32Array(4);
 * packColumns(Float32Array.of(1, 2, 3, 4, 5, 6), dst, { rows: 2, n: 3, j0: 1, m: 2 }); // 2, 3, 5, 6
 * ```
 */
export function packColumns(src: Float32Array, dst: Float32Array, at: ColumnBlock): void {
  const { rows, n, j0, m } = at;
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * n + j0, r * n + j0 + m), r * m);
}

/**
 * The inverse of {@linkcode packColumns}: write `src [rows, m]` into columns `j0 … j0 + m − 1`
 * of `dst [rows, n]`.
 *
 * @example
 * ```ts
 * import { unpackColumns } from "./kernels/wasm.ts";
 * const dst = new Float32Array(6);
 * unpackColumns(Float32Array.of(2, 3, 5, 6), dst, { rows: 2, n: 3, j0: 1, m: 2 }); // 0,2,3,0,5,6
 * ```
 */
export function unpackColumns(src: Float32Array, dst: Float32Array, at: ColumnBlock): void {
  const { rows, n, j0, m } = at;
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * m, (r + 1) * m), r * n + j0);
}

/** A block of columns of a row-major `[rows, n]` array, for {@linkcode packColumns}. */
export interface ColumnBlock {
  /** Rows of the full array. */
  rows: number;
  /** Columns of the full array. */
  n: number;
  /** First column of the block. */
  j0: number;
  /** Columns in the block. */
  m: number;
}

/**
 * A tensor's float32 values for reading now: on the wasm backend a view of TF.js's heap (no
 * copy; valid until TF.js next allocates), elsewhere `dataSync()`. Do not keep or modify it.
 *
 * @example
 * ```ts
 * import { tensorData } from "./kernels/wasm.ts";
 * import { tf } from "./lib/backend.ts";
 * tensorData(tf.tensor1d([1, 2]))[1]; // 2
 * ```
 */
export function tensorData(t: tf.Tensor): Float32Array {
  const be = tf.backend() as unknown as WasmBackendLike;
  if (tf.getBackend() === "wasm" && be.dataIdMap?.has(t.dataId) && be.typedArrayFromHeap) {
    return be.typedArrayFromHeap(t) as Float32Array;
  }
  return t.dataSync() as Float32Array;
}

/**
 * Copy a float32 tensor's values into kernel memory at byte offset `ptr`.
 *
 * @example
 * ```ts
 * import { kernelArena, writeTensor } from "./kernels/wasm.ts";
 * import { tf } from "./lib/backend.ts";
 * const [p] = kernelArena([3]);
 * writeTensor(tf.tensor1d([1, 2, 3]), p);
 * ```
 */
export function writeTensor(t: tf.Tensor, ptr: number): void {
  if (t.size === 0) return;
  // On the wasm backend, copy straight from its heap (dataSync would allocate a copy first).
  f32View(ptr, t.size).set(tensorData(t));
}

/** The two members of tfjs-backend-wasm's BackendWasm that {@linkcode writeTensor} uses. */
interface WasmBackendLike {
  dataIdMap?: { has(id: object): boolean };
  typedArrayFromHeap?(t: tf.Tensor): ArrayLike<number>;
}

/**
 * A new float32 tensor of `shape` holding the floats at byte offset `ptr` of kernel memory
 * (always a copy, so the kernel memory may be reused at once).
 *
 * @example
 * ```ts
 * import { kernelArena, readTensorAt } from "./kernels/wasm.ts";
 * const [p] = kernelArena([2]);
 * const t = readTensorAt(p, [2]); // [0, 0] or whatever was there
 * ```
 */
export function readTensorAt(ptr: number, shape: readonly number[]): tf.Tensor {
  let n = 1;
  for (const d of shape) n *= d;
  const view = f32View(ptr, n);
  // The wasm backend copies on write; the cpu backend keeps the array, so copy for it.
  return tf.tensor(tf.getBackend() === "cpu" ? view.slice() : view, shape.slice(), "float32");
}
