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

// Silence the "running TensorFlow.js in Node.js" banner. The order matters: pin the thread flag
// first, otherwise thread detection turns on and the wasm backend fails to start under Deno.
tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
tf.env().set("IS_NODE", false);

// TF.js clones tensors through the Identity kernel: `tf.clone`, the output of every custom-gradient
// op, and every tensor such an op saves for its backward pass (hest's fused kernels and
// rematerialised blocks are custom-gradient ops). On the wasm backend that kernel copies the
// data. Tensors are immutable, so a clone can share its data, reference-counted, as the wasm
// backend's own Reshape does: no copy and no second buffer (measured on the reference spiking
// train step: see README "Speed"). Strings keep the copying kernel.
const wasmIdentity = tf.getKernel("Identity", "wasm");
if (wasmIdentity) {
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc(args) {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return wasmIdentity.kernelFunc(args);
      (args.backend as unknown as { incRef(id: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

// The wasm backend's Slice (and SplitV, which calls it once per part) first copies the whole
// input out of the wasm heap (`readSync`), then copies the part element by element in JS for a
// slice that is not one contiguous block. Splitting the fused Q/K/V product of a training step
// thus copied it 3 + 1 times (measured on the reference spiking train step: TypedArray slice
// and set were a quarter of the step). These replacements copy the part straight from heap view
// to heap view, one `set` per contiguous run: the same values, no intermediate copy.
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function heapSlice(
  backend: WasmBackendLike,
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
  const outer = total / run;
  const idx = new Array<number>(inner).fill(0);
  let off = base;
  for (let o = 0, at = 0; o < outer; o++, at += run) {
    if (run >= 16) dst.set(src.subarray(off, off + run), at);
    else for (let j = 0; j < run; j++) dst[at + j] = src[off + j];
    // next index over axes inner-1 .. 0 (odometer)
    for (let a = inner - 1; a >= 0; a--) {
      off += strides[a];
      if (++idx[a] < size[a]) break;
      off -= size[a] * strides[a];
      idx[a] = 0;
    }
  }
  return out;
}

const wasmSlice = tf.getKernel("Slice", "wasm");
const wasmSplitV = tf.getKernel("SplitV", "wasm");
if (wasmSlice && wasmSplitV) {
  tf.unregisterKernel("Slice", "wasm");
  tf.registerKernel({
    kernelName: "Slice",
    backendName: "wasm",
    kernelFunc(args) {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return wasmSlice.kernelFunc(args);
      const attrs = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
      const [begin, size] = tf.slice_util.parseSliceParams(
        x as tf.Tensor,
        attrs.begin,
        attrs.size,
      );
      return heapSlice(args.backend as unknown as WasmBackendLike, x, begin, size);
    },
  });
  tf.unregisterKernel("SplitV", "wasm");
  tf.registerKernel({
    kernelName: "SplitV",
    backendName: "wasm",
    kernelFunc(args) {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return wasmSplitV.kernelFunc(args);
      const attrs = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
      const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, axis);
      const begin = new Array<number>(x.shape.length).fill(0);
      return sizes.map((s) => {
        const size = [...x.shape];
        size[axis] = s;
        const part = heapSlice(args.backend as unknown as WasmBackendLike, x, [...begin], size);
        begin[axis] += s;
        return part;
      });
    },
  });
}

/**
 * The TensorFlow.js namespace hest uses (the `@tensorflow/tfjs` union package, with the wasm
 * backend registered), re-exported so scripts and notebooks need no import map of their own.
 *
 * @example
 * ```ts
 * import { tf } from "./mod.ts";
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
 * import { useBackend, tf } from "./mod.ts";
 * await useBackend("cpu");
 * console.log(tf.getBackend()); // "cpu"
 * ```
 */
export async function useBackend(name: string): Promise<BackendName> {
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new Error(
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
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (err) {
    throw new Error(`backend "${name}" failed to initialise: ${(err as Error).message}`);
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
 * import { readTensor, tf } from "./mod.ts";
 * const v = await readTensor(tf.tensor1d([1, 2, 3]));
 * console.log(v[2]); // 3
 * ```
 */
export async function readTensor(t: tf.Tensor): Promise<Float32Array> {
  const d = await t.data();
  return d instanceof Float32Array ? d.slice() : Float32Array.from(d as ArrayLike<number>);
}
