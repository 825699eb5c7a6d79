/**
 * TensorFlow.js namespace used by the whole toolkit, and backend selection.
 *
 * hest runs on three TF.js backends: `wasm` (default; XNNPACK with WASM SIMD, one thread),
 * `cpu` (plain JS, the numerical reference) and `webgpu` (a real GPU, or a software adapter such
 * as Mesa llvmpipe). Importing this module registers `wasm` and `cpu`; `webgpu` is loaded on
 * demand by {@linkcode useBackend}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { installLeanTape } from "./tape.ts";
import { sharedMemoryWanted, shareTfWasmMemory } from "./wasm_shared_memory.ts";

// Silence the "running TensorFlow.js in Node.js" banner. The order matters: pin the thread flag
// first, otherwise thread detection turns on and the wasm backend fails to start under Deno.
tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
tf.env().set("IS_NODE", false);
// with HEST_KERNEL_THREADS=N, TF.js's wasm memory is shared so the kernel threads work in it
// (lib/core/wasm_shared_memory.ts)
if (sharedMemoryWanted()) shareTfWasmMemory();

/** The members of tfjs-backend-wasm's `BackendWasm` (4.22) that hest uses directly. */
export interface TfWasmBackend {
  /** Tensor data by data id: its byte offset in the wasm memory. */
  dataIdMap: {
    get(id: object): { memoryOffset: number } | undefined;
    has(id: object): boolean;
  };
  /** The Emscripten module: its memory and allocator. */
  wasm: {
    asm?: { memory?: WebAssembly.Memory };
    _malloc(bytes: number): number;
    _free(ptr: number): void;
  };
  /** Allocate an output tensor's data. */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A typed-array view of a tensor's data in the heap (valid until the heap grows). */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  /** Release a data id (force: regardless of its reference count). */
  disposeData(id: object, force?: boolean): boolean;
  /** Count one more reference to a data id. */
  incRef(id: object): void;
}

/**
 * The active backend as TF.js's wasm backend with its memory reachable, else undefined (another
 * backend, or a wasm backend whose internals are not the ones hest knows).
 *
 * @example
 * ```ts
 * import { tfWasmBackend, useBackend } from "@hest/hest";
 * await useBackend("cpu");
 * tfWasmBackend(); // undefined
 * ```
 */
export function tfWasmBackend(): TfWasmBackend | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  const be = tf.backend() as unknown as Partial<TfWasmBackend>;
  return be.wasm?.asm?.memory instanceof WebAssembly.Memory && be.dataIdMap && be.makeOutput
    ? be as TfWasmBackend
    : undefined;
}

/**
 * Replace the wasm backend's kernel `name` by `numeric` for inputs `x` that are not strings
 * (strings keep TF.js's own kernel).
 */
function replaceWasmKernel(
  name: string,
  numeric: (
    x: tf.TensorInfo,
    args: Parameters<tf.KernelFunc>[0],
  ) => tf.TensorInfo | tf.TensorInfo[],
): void {
  const original = tf.getKernel(name, "wasm");
  if (!original) return;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({
    kernelName: name,
    backendName: "wasm",
    kernelFunc(args) {
      const x = args.inputs.x as tf.TensorInfo;
      return x.dtype === "string" ? original.kernelFunc(args) : numeric(x, args);
    },
  });
}

/**
 * Calls `f(off, at)` once per run of `run` output elements, `at` stepping through the output and
 * `off` through the source: an odometer over the output's first `outer` axes (`shape`), moving
 * `off` by `strides[a]` along axis a from `base`.
 */
function eachRun(
  shape: readonly number[],
  outer: number,
  strides: readonly number[],
  base: number,
  run: number,
  f: (off: number, at: number) => void,
): void {
  const total = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(outer).fill(0);
  let off = base;
  for (let at = 0; at < total; at += run) {
    f(off, at);
    for (let a = outer - 1; a >= 0; a--) {
      off += strides[a];
      if (++idx[a] < shape[a]) break;
      off -= shape[a] * strides[a];
      idx[a] = 0;
    }
  }
}

function heapSlice(
  backend: TfWasmBackend,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const total = size.reduce((a, b) => a * b, 1);
  if (total === 0) return out;
  // views after makeOutput: allocating may grow (and detach) the heap
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = x.shape.length;
  if (rank === 0) {
    dst[0] = src[0];
    return out;
  }
  const strides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; s *= x.shape[i], i--) strides[i] = s;
  // merge the trailing axes the slice takes whole into one contiguous run
  let inner = rank - 1;
  let run = size[rank - 1];
  while (inner > 0 && size[inner] === x.shape[inner] && begin[inner] === 0) {
    inner--;
    run *= size[inner];
  }
  let base = 0;
  for (let i = 0; i < rank; i++) base += begin[i] * strides[i];
  eachRun(size, inner, strides, base, run, (off, at) => {
    if (run >= 16) dst.set(src.subarray(off, off + run), at);
    else for (let j = 0; j < run; j++) dst[at + j] = src[off + j];
  });
  return out;
}

/**
 * `x` (float32, x's rank, 1 on the axes a reduction removed) spread over `shape` straight into a
 * new heap tensor: one `fill` or `set` per run of the trailing axes that are all spread or all
 * kept, an odometer over the axes before them.
 */
function heapSpread(backend: TfWasmBackend, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const out = backend.makeOutput(shape, "float32");
  const total = shape.reduce((a, b) => a * b, 1);
  if (total === 0) return out;
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const rank = shape.length;
  const xs = x.shape;
  // a spread axis is one x has as 1 and the output longer; a length-1 axis is either kind
  const spread = (i: number) => xs[i] !== shape[i];
  let j = rank;
  let run = 1;
  let fill: boolean | undefined;
  while (j > 0) {
    const i = j - 1;
    if (shape[i] !== 1) {
      if (fill === undefined) fill = spread(i);
      else if (fill !== spread(i)) break;
    }
    run *= shape[i];
    j--;
  }
  const srcStride = new Array<number>(rank);
  for (let i = rank - 1, st = 1; i >= 0; st *= xs[i], i--) srcStride[i] = spread(i) ? 0 : st;
  eachRun(shape, j, srcStride, 0, run, (off, at) => {
    if (fill) dst.fill(src[off], at, at + run);
    else dst.set(src.subarray(off, off + run), at);
  });
  return out;
}

/**
 * dy of a reduction (`Sum`, `Mean`) over `axis` of `x`, spread back over x's shape; for the mean
 * divided by the count first. TF.js's own gradients multiply dy by a tensor of ones of x's full
 * shape, made in JavaScript, and the mean's then divides that: dy·1 is dy exactly, so dividing dy
 * first and spreading it (the `HestSpread` kernel, heap to heap) gives the same values.
 */
function spreadReduction(dy: tf.Tensor, x: tf.Tensor, axis: unknown, mean: boolean): tf.Tensor {
  const axes = tf.util.parseAxisParam(axis as number | number[], x.shape);
  const expanded = x.shape.slice();
  for (const a of axes) expanded[a] = 1;
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  const e = tf.reshape(dy, expanded);
  if (e.dtype !== "float32" || tf.getBackend() !== "wasm") {
    // TF.js's own formula
    const d = tf.mul(e, tf.ones(x.shape, "float32"));
    return mean ? tf.div(d, count) : d;
  }
  const d = mean ? tf.div(e, count) : e;
  return tf.engine().runKernel("HestSpread", { x: d }, { shape: x.shape }) as tf.Tensor;
}

let overridesInstalled = false;

/**
 * Install hest's wasm kernel overrides (Identity, Slice, SplitV) and the gradients of Sum and Mean:
 * the same values, fewer copies.
 * Called by {@linkcode useBackend} for `"wasm"`, once; importing hest changes no TF.js kernel.
 */
function installWasmOverrides(): void {
  if (overridesInstalled) return;
  overridesInstalled = true;
  // TF.js clones tensors through the Identity kernel: `tf.clone`, the output of every custom-gradient
  // op, and every tensor such an op saves for its backward pass (hest's fused kernels and
  // rematerialised blocks are custom-gradient ops). On the wasm backend that kernel copies the
  // data. Tensors are immutable, so a clone can share its data, reference-counted, as the wasm
  // backend's own Reshape does: no copy and no second buffer.
  replaceWasmKernel("Identity", (x, args) => {
    (args.backend as unknown as TfWasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });

  // The wasm backend's Slice (and SplitV, which calls it once per part) first copies the whole
  // input out of the wasm heap (`readSync`), then copies the part element by element in JS for a
  // slice that is not one contiguous block. Splitting the fused Q/K/V product of a training step
  // thus copied it 3 + 1 times, a large share of a spiking train step (docs/performance.md).
  // These replacements copy the part straight from heap view to heap view, one `set` per
  // contiguous run: the same values, no intermediate copy.
  replaceWasmKernel("Slice", (x, args) => {
    const attrs = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs.begin, attrs.size);
    return heapSlice(args.backend as unknown as TfWasmBackend, x, begin, size);
  });

  // The gradients of Sum and Mean: TF.js's multiply dy by a tensor of ones the size of x, made
  // in JavaScript (a feature-distillation loss's means over [T, B, L, C] made several such arrays
  // a step). The replacements give the same values (see spreadReduction); on other backends, or
  // for other dtypes, they run TF.js's formula.
  tf.registerKernel({
    kernelName: "HestSpread",
    backendName: "wasm",
    kernelFunc(args) {
      const shape = (args.attrs as unknown as { shape: number[] }).shape;
      const x = args.inputs.x as tf.TensorInfo;
      return heapSpread(args.backend as unknown as TfWasmBackend, x, shape);
    },
  });
  tf.registerGradient({
    kernelName: "Sum",
    inputsToSave: ["x"],
    gradFunc(dy, saved, attrs) {
      const axis = (attrs as { axis: unknown }).axis;
      const d = spreadReduction(dy as tf.Tensor, saved[0], axis, false);
      return { x: () => d };
    },
  });
  tf.registerGradient({
    kernelName: "Mean",
    inputsToSave: ["x"],
    gradFunc(dy, saved, attrs) {
      const axis = (attrs as { axis: unknown }).axis;
      return { x: () => spreadReduction(dy as tf.Tensor, saved[0], axis, true) };
    },
  });

  replaceWasmKernel("SplitV", (x, args) => {
    const attrs = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const part = heapSlice(args.backend as unknown as TfWasmBackend, x, [...begin], size);
      begin[axis] += s;
      return part;
    });
  });
}

/**
 * The TensorFlow.js namespace hest uses (the `@tensorflow/tfjs` union package, with the wasm
 * backend registered), re-exported so scripts and notebooks need no import map of their own.
 *
 * @example
 * ```ts
 * import { tf } from "@hest/hest";
 * tf.tensor1d([1, 2, 3]).square().print();
 * ```
 */
export { tf };

/** Names of the TF.js backends hest supports. */
export type BackendName = "wasm" | "webgpu" | "cpu";

/** Every supported backend name, in order of preference. */
export const BACKENDS: readonly BackendName[] = ["wasm", "webgpu", "cpu"];

/**
 * Switch TF.js to `name` and wait until it is ready.
 *
 * Throws a clear error when the name is unknown or the backend cannot start (for instance
 * `webgpu` on a machine without `navigator.gpu`).
 *
 * @example
 * ```ts
 * import { tf, useBackend } from "@hest/hest";
 * await useBackend("cpu");
 * console.log(tf.getBackend()); // "cpu"
 * ```
 */
export async function useBackend(name: string): Promise<BackendName> {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new TypeError(
      `unknown backend "${name}": expected one of ${BACKENDS.join(", ")}`,
    );
  }
  if (name === "webgpu") {
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    if (!nav?.gpu) {
      throw new Error(
        'backend "webgpu" is unavailable: navigator.gpu is not defined in this runtime',
      );
    }
    await import("@tensorflow/tfjs-backend-webgpu");
  }
  if (name === "wasm") installWasmOverrides();
  installLeanTape();
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (err) {
    throw new Error(`backend "${name}" failed to initialise: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!ok || tf.getBackend() !== name) {
    throw new Error(
      `backend "${name}" failed to initialise (TF.js is on "${tf.getBackend()}"); ` +
        (name === "wasm" ? "the wasm backend needs --allow-read to load its .wasm file" : ""),
    );
  }
  return name as BackendName;
}

/**
 * Read a tensor's values on any backend. WebGPU cannot read synchronously, so hest always reads
 * through this helper (an `await t.data()`), which returns a copy the caller may keep.
 *
 * @example
 * ```ts
 * import { readTensor, tf } from "@hest/hest";
 * const v = await readTensor(tf.tensor1d([1, 2, 3]));
 * console.log(v[2]); // 3
 * ```
 */
export async function readTensor(t: tf.Tensor): Promise<Float32Array> {
  const d = await t.data();
  return d instanceof Float32Array ? d.slice() : Float32Array.from(d as ArrayLike<number>);
}
