/**
 * Loader and memory of the hest WASM SIMD kernels (`kernels/hest_kernels.wasm`, built from
 * `kernels/hest_kernels.c` by `deno task kernels`), and the switch that decides when hest uses
 * them instead of composite TF.js ops.
 *
 * The module is read synchronously (`Deno.readFileSync`, so `--allow-read` is needed) the first
 * time a kernel runs. It keeps no static data and imports its linear memory, so one compiled
 * module serves two kinds of instance:
 *
 * - **On the wasm backend** the kernels run inside TF.js's own wasm memory (its exported
 *   `WebAssembly.Memory`; the instance's stack is a block from TF.js's allocator). A kernel
 *   reads its inputs where TF.js keeps the tensors and writes its outputs straight into new
 *   TF.js tensors ({@linkcode kernelCall}): no copies in or out.
 * - **Elsewhere** (the cpu backend, and {@linkcode newKernelInstance} for the streaming engine)
 *   an instance has a memory of its own; inputs are copied in and outputs copied out.
 *
 * Scratch comes from {@linkcode kernelCall} and is freed when the call ends.
 *
 * @module
 */
import { tf, type TfWasmBackend, tfWasmBackend } from "../lib/core/backend.ts";
import { kernelModule, type KernelPrecision, kernelPrecision } from "./precision.ts";
import type { KernelExports } from "./kernel_exports.ts";
export type { KernelExports } from "./kernel_exports.ts";

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

function instantiate(memory: WebAssembly.Memory): KernelExports {
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const inst = new WebAssembly.Instance(kernelModule({ shared }), { env: { memory } });
  return { ...(inst.exports as Record<string, unknown>), memory } as unknown as KernelExports;
}

/** `p` rounded up to a multiple of 16 (arithmetic, not bitwise: offsets may pass 2 GiB). */
function align16(p: number): number {
  return Math.ceil(p / 16) * 16;
}

/** Bytes of shadow stack the shared instance gets from TF.js's allocator. */
const STACK_BYTES = 1 << 16;

const own = new Map<KernelPrecision, KernelExports>();
const shared = new Map<KernelPrecision, { memory: WebAssembly.Memory; ex: KernelExports }>();

function sharedExports(be: TfWasmBackend): KernelExports {
  const memory = be.wasm.asm!.memory!;
  let sh = shared.get(kernelPrecision());
  if (sh?.memory !== memory) {
    const ex = instantiate(memory);
    const base = be.wasm._malloc(STACK_BYTES + 16) >>> 0;
    if (base === 0) throw new Error("the TF.js wasm heap could not allocate the kernel stack");
    ex.__stack_pointer.value = align16(base + STACK_BYTES);
    sh = { memory, ex };
    shared.set(kernelPrecision(), sh);
  }
  return sh.ex;
}

/** Off the wasm backend: an instance on a shared memory of its own (threads can work in it). */
function ownExports(): KernelExports {
  let ex = own.get(kernelPrecision());
  if (ex === undefined) {
    ex = instantiate(new WebAssembly.Memory({ initial: 32, maximum: 65536, shared: true }));
    own.set(kernelPrecision(), ex);
  }
  return ex;
}

/** Thread stacks reserved above an own-memory instance's data (16 threads of 64 KiB). */
const OWN_THREAD_STACKS = 16 * STACK_BYTES;

/** Where the kernel threads run: the (shared) memory kernel calls use now, and their stacks. */
export interface KernelThreadHost {
  /** The memory {@linkcode kernelCall} passes pointers into. */
  memory: WebAssembly.Memory;
  /** Stack tops (16-byte aligned, 64 KiB each) for `n` threads, kept until `release`. */
  stacks(n: number): number[];
  /** Free the stacks (TF.js's allocator) where the memory still serves. */
  release(): void;
}

/**
 * The {@linkcode KernelThreadHost} of the active backend, or undefined where its kernel memory
 * is not shared (TF.js's binaries left unpatched, see lib/core/wasm_shared_memory.ts).
 *
 * @example
 * ```ts
 * import { kernelThreadHost } from "@hest/hest";
 * kernelThreadHost(); // undefined on the wasm backend unless TF.js's memory is shared
 * ```
 */
export function kernelThreadHost(): KernelThreadHost | undefined {
  const be = tfWasmBackend();
  const ex = be ? sharedExports(be) : ownExports();
  const memory = ex.memory;
  if (!(memory.buffer instanceof SharedArrayBuffer)) return undefined;
  if (!be) {
    const base = align16(ex.__heap_base.value as number);
    const stacks = (n: number) => {
      if (n * STACK_BYTES > OWN_THREAD_STACKS) throw new RangeError(`at most 16 stacks, not ${n}`);
      return Array.from({ length: n }, (_, i) => base + (i + 1) * STACK_BYTES);
    };
    return { memory, stacks, release() {} };
  }
  const blocks: number[] = [];
  return {
    memory,
    stacks(n) {
      return Array.from({ length: n }, () => {
        const p = be.wasm._malloc(STACK_BYTES + 16) >>> 0;
        if (p === 0) throw new Error("the TF.js wasm heap could not allocate a thread stack");
        blocks.push(p);
        return align16(p + STACK_BYTES);
      });
    },
    release() {
      if (tfWasmBackend() === be) { for (const p of blocks) be.wasm._free(p); }
      blocks.length = 0;
    },
  };
}

/**
 * The kernel instance for the active backend, loaded on first use from
 * `kernels/hest_kernels.wasm`: on the wasm backend the instance that runs in TF.js's memory,
 * elsewhere one with a memory of its own.
 *
 * @example
 * ```ts
 * import { kernelExports } from "@hest/hest";
 * kernelExports().memory.buffer.byteLength > 0; // true
 * ```
 */
export function kernelExports(): KernelExports {
  const be = tfWasmBackend();
  const ex = be ? sharedExports(be) : ownExports();
  return wrapper ? wrapper(ex) : ex;
}

let wrapper: ((ex: KernelExports) => KernelExports) | undefined;

/**
 * Wrap the exports every kernel call gets (`kernels/profile.ts` times them this way), or
 * `undefined` to stop wrapping. The wrapper must call through to the same exports.
 *
 * @example
 * ```ts
 * import { setKernelExportsWrapper } from "@hest/hest";
 * setKernelExportsWrapper((ex) => ex);
 * setKernelExportsWrapper(undefined);
 * ```
 */
export function setKernelExportsWrapper(
  wrap: ((ex: KernelExports) => KernelExports) | undefined,
): void {
  wrapper = wrap;
}

/**
 * Whether the kernels run inside TF.js's wasm memory now (the wasm backend is active), so
 * {@linkcode kernelCall} passes tensors without copies.
 *
 * @example
 * ```ts
 * import { kernelsShareMemory, useBackend } from "@hest/hest";
 * await useBackend("cpu");
 * kernelsShareMemory(); // false
 * ```
 */
export function kernelsShareMemory(): boolean {
  return tfWasmBackend() !== undefined;
}

/**
 * A fresh instance of the kernel module with a memory of its own (the module is compiled once):
 * for code that keeps data in kernel memory between calls, such as the streaming engine
 * (kernels/stream_engine.ts), with a layout of its own.
 *
 * @example
 * ```ts
 * import { newKernelInstance } from "@hest/hest";
 * const ex = newKernelInstance();
 * ex.memory.buffer.byteLength > 0; // true
 * ```
 */
export function newKernelInstance(): KernelExports {
  // 16 pages (1 MiB) hold the module's stack; the instance grows the memory as it needs
  return instantiate(new WebAssembly.Memory({ initial: 16 }));
}

/**
 * Turn the kernels on or off for the whole process (on by default; `HEST_KERNELS=0` in the
 * environment turns them off at start-up). Off, every hest op takes its composite TF.js path on
 * every backend: the reference the tests compare against.
 *
 * @example
 * ```ts
 * import { setKernelsEnabled } from "@hest/hest";
 * setKernelsEnabled(false); // composite TF.js ops everywhere
 * setKernelsEnabled(true);
 * ```
 */
export function setKernelsEnabled(on: boolean): void {
  if (typeof on !== "boolean") {
    throw new TypeError(`setKernelsEnabled expects a boolean, found ${typeof on}`);
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
 * import { kernelsActive, useBackend } from "@hest/hest";
 * await useBackend("cpu");
 * kernelsActive(); // true
 * ```
 */
export function kernelsActive(): boolean {
  if (!enabled) return false;
  const b = tf.getBackend();
  return b === "wasm" || b === "cpu";
}

/**
 * The buffers of one kernel call (see {@linkcode kernelCall}). Pointers are byte offsets into
 * `ex.memory`; take views with `view` after the last allocation of the call.
 */
export interface KernelCall {
  /** The kernel instance to call. */
  ex: KernelExports;
  /**
   * Pointer to a float32 tensor's values for the kernel to read (never write): the tensor's own
   * storage when the kernels share TF.js's memory, else a copy in kernel memory.
   */
  input(t: tf.Tensor): number;
  /** A scratch buffer of `words` floats (contents undefined), freed by `end`. */
  scratch(words: number): number;
  /** A buffer for an output of `shape` that the kernel fills; `take` turns it into a tensor. */
  output(shape: readonly number[]): number;
  /** The tensor of an `output` buffer, once the kernel has filled it (taken once). */
  take(ptr: number): tf.Tensor;
  /** A Float32Array view of `length` floats at `ptr`. */
  view(ptr: number, length: number): Float32Array;
  /** Free the scratch buffers and any output not taken. */
  end(): void;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sharedCall(be: TfWasmBackend): KernelCall {
  const ex = wrapper ? wrapper(sharedExports(be)) : sharedExports(be);
  const scratch: number[] = [];
  const outputs = new Map<number, tf.TensorInfo>();
  const alloc = (words: number) => {
    const p = be.wasm._malloc(Math.max(words, 1) * 4 + 16) >>> 0;
    if (p === 0) throw new Error(`the TF.js wasm heap could not allocate ${words * 4} bytes`);
    scratch.push(p);
    return align16(p);
  };
  return {
    ex,
    input(t) {
      const d = t.dtype === "float32" ? be.dataIdMap.get(t.dataId) : undefined;
      if (d) return d.memoryOffset;
      const p = alloc(t.size);
      new Float32Array(ex.memory.buffer, p, t.size).set(t.dataSync());
      return p;
    },
    scratch: alloc,
    output(shape) {
      const info = be.makeOutput([...shape], "float32");
      const p = be.dataIdMap.get(info.dataId)!.memoryOffset;
      outputs.set(p, info);
      return p;
    },
    take(ptr) {
      const info = outputs.get(ptr);
      if (!info) throw new Error(`kernelCall.take: no output buffer at ${ptr} (taken already?)`);
      outputs.delete(ptr);
      return tf.engine().makeTensorFromTensorInfo(info);
    },
    view: (ptr, length) => new Float32Array(ex.memory.buffer, ptr, length),
    end() {
      for (const p of scratch) be.wasm._free(p);
      scratch.length = 0;
      for (const info of outputs.values()) be.disposeData(info.dataId, true);
      outputs.clear();
    },
  };
}

function ownCall(): KernelCall {
  const own = ownExports();
  const ex = wrapper ? wrapper(own) : own;
  let next = align16(ex.__heap_base.value as number) + OWN_THREAD_STACKS;
  const shapes = new Map<number, number[]>();
  const alloc = (words: number) => {
    const p = next;
    next += Math.ceil((Math.max(words, 1) * 4) / 16) * 16;
    const have = ex.memory.buffer.byteLength;
    if (next > have) ex.memory.grow(Math.ceil((next - have) / 65536));
    return p;
  };
  return {
    ex,
    input(t) {
      const p = alloc(t.size);
      if (t.size > 0) new Float32Array(ex.memory.buffer, p, t.size).set(tensorData(t));
      return p;
    },
    scratch: alloc,
    output(shape) {
      const p = alloc(sizeOf(shape));
      shapes.set(p, [...shape]);
      return p;
    },
    take(ptr) {
      const shape = shapes.get(ptr);
      if (!shape) throw new Error(`kernelCall.take: no output buffer at ${ptr} (taken already?)`);
      shapes.delete(ptr);
      const n = sizeOf(shape);
      return tf.tensor(new Float32Array(ex.memory.buffer, ptr, n).slice(), shape, "float32");
    },
    view: (ptr, length) => new Float32Array(ex.memory.buffer, ptr, length),
    end() {
      shapes.clear();
    },
  };
}

/**
 * Start one kernel call: allocate its inputs, outputs and scratch through the returned
 * {@linkcode KernelCall}, run the kernel, `take` the outputs, and `end` it (in a `finally`). On
 * the wasm backend the kernels run in TF.js's memory, so inputs are read where the tensors live
 * and outputs are written into new TF.js tensors: no copies. Elsewhere inputs are copied into the
 * kernel's own memory and outputs copied out. Calls must not overlap.
 *
 * @example
 * ```ts
 * import { kernelCall, tf } from "@hest/hest";
 * const x = tf.tensor2d([[1, 0], [0, 1]]);
 * const w = tf.tensor2d([[1, 2], [3, 4]]);
 * const call = kernelCall();
 * try {
 *   const ex = call.ex;
 *   const pa = call.input(x), pb = call.input(w), pc = call.output([2, 2]);
 *   ex.bmm(pa, pb, pc, 1, 2, 2, 2, 0, 0, 0, call.scratch(ex.bmm_scratch_floats(2, 2, 2, 0)));
 *   call.take(pc).print(); // [[1, 2], [3, 4]]
 * } finally {
 *   call.end();
 * }
 * ```
 */
export function kernelCall(): KernelCall {
  const be = tfWasmBackend();
  return be ? sharedCall(be) : ownCall();
}

/**
 * Run `f` with a fresh {@linkcode kernelCall} and end the call afterwards, whether `f` returns or
 * throws: the form every kernel binding uses.
 *
 * @example
 * ```ts
 * import { tf, withKernelCall } from "@hest/hest";
 * const x = tf.tensor2d([[1, 0], [0, 1]]);
 * const w = tf.tensor2d([[1, 2], [3, 4]]);
 * const c = withKernelCall((call) => {
 *   const ex = call.ex;
 *   const [pa, pb, pc] = [call.input(x), call.input(w), call.output([2, 2])];
 *   ex.bmm(pa, pb, pc, 1, 2, 2, 2, 0, 0, 0, call.scratch(ex.bmm_scratch_floats(2, 2, 2, 0)));
 *   return call.take(pc); // [[1, 2], [3, 4]]
 * });
 * ```
 */
export function withKernelCall<T>(f: (call: KernelCall) => T): T {
  const call = kernelCall();
  try {
    return f(call);
  } finally {
    call.end();
  }
}

/**
 * A tensor's float32 values for reading now: on the wasm backend a view of TF.js's heap (no
 * copy; valid until TF.js next allocates), elsewhere `dataSync()`. Do not keep or modify it.
 *
 * @example
 * ```ts
 * import { tensorData, tf } from "@hest/hest";
 * tensorData(tf.tensor1d([1, 2]))[1]; // 2
 * ```
 */
export function tensorData(t: tf.Tensor): Float32Array {
  const be = tfWasmBackend();
  if (be && be.dataIdMap.has(t.dataId)) return be.typedArrayFromHeap(t) as Float32Array;
  return t.dataSync() as Float32Array;
}
