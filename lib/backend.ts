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
