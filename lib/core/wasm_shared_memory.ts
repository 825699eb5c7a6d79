/**
 * TF.js's wasm backend on a shared memory, so that the hest kernel threads (kernels/threads.ts)
 * can work on tensors where TF.js keeps them, with no copies.
 *
 * tfjs-backend-wasm's single-threaded binaries define their memory themselves (not shared). A
 * memory's sharedness is one flag in the binary's memory section, so before the backend starts
 * hest hands TF.js copies of its `.wasm` files whose memory is marked shared (same size limits,
 * same code) through TF.js's own `setWasmPaths`. Nothing else changes: plain loads and stores run
 * the same on a shared memory, and TF.js never shares it with a thread of its own (hest pins its
 * thread support off). Where anything is not as expected (another file layout, a memory section
 * of another form, no read permission), the binaries are left as they are, and the kernels run on
 * one thread.
 *
 * @module
 */
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

/** The binaries of tfjs-backend-wasm 4.22, by the names `setWasmPaths` maps. */
const BINARIES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
] as const;

function readLeb(b: Uint8Array, at: number): [number, number] {
  let r = 0, shift = 0, i = at;
  for (;;) {
    if (i >= b.length) throw new RangeError("truncated LEB128");
    const x = b[i++];
    r += (x & 0x7f) * 2 ** shift;
    shift += 7;
    if (x < 0x80) return [r, i];
  }
}

/**
 * A copy of wasm module `bytes` whose one defined memory is shared, or undefined when the module
 * is not of the expected form: one memory, defined (not imported), with a maximum and not yet
 * shared (limits flag 1; shared memories need a maximum, flag 3).
 *
 * @example
 * ```ts
 * import { sharedMemoryBinary } from "@hest/hest/core";
 * // (module header) (memory section: 1 memory, flag 1, min 1, max 2)
 * const m = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 4, 1, 1, 1, 2]);
 * sharedMemoryBinary(m)?.[11]; // 3
 * ```
 */
export function sharedMemoryBinary(bytes: Uint8Array): Uint8Array | undefined {
  const magic = [0, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || magic.some((m, i) => bytes[i] !== m)) return undefined;
  let i = 8;
  try {
    while (i < bytes.length) {
      const id = bytes[i];
      const [size, start] = readLeb(bytes, i + 1);
      if (id === 2 && importsMemory(bytes, start)) return undefined;
      if (id === 5) {
        const [count, at] = readLeb(bytes, start);
        if (count !== 1 || bytes[at] !== 1) return undefined;
        const out = bytes.slice();
        out[at] = 3;
        return out;
      }
      i = start + size;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Whether an import section (its contents start at `at`) imports a memory. */
function importsMemory(b: Uint8Array, at: number): boolean {
  let [n, i] = readLeb(b, at);
  for (; n > 0; n--) {
    for (let s = 0; s < 2; s++) {
      const [len, p] = readLeb(b, i);
      i = p + len;
    }
    const kind = b[i++];
    if (kind === 2) return true;
    if (kind === 0) i = readLeb(b, i)[1];
    else if (kind === 1) {
      const flags = b[i + 1];
      i = readLeb(b, i + 2)[1];
      if (flags & 1) i = readLeb(b, i)[1];
    } else if (kind === 3) i += 2;
    else if (kind === 4) i = readLeb(b, i + 1)[1];
    else throw new RangeError(`unknown import kind ${kind}`);
  }
  return false;
}

/**
 * Whether hest shares TF.js's wasm memory when it loads: when the environment asks for kernel
 * threads (`HEST_KERNEL_THREADS` above 1, with env access granted). A shared memory costs the
 * single-threaded path a few per cent (TF.js's copies in and out of a `SharedArrayBuffer`;
 * docs/performance.md), so a process that runs on one thread keeps TF.js's own; to turn threads
 * on later with `setKernelThreads`, call {@linkcode shareTfWasmMemory} before the wasm backend
 * starts.
 *
 * @example
 * ```ts
 * import { sharedMemoryWanted } from "@hest/hest/core";
 * sharedMemoryWanted(); // false unless HEST_KERNEL_THREADS=2 (or more)
 * ```
 */
export function sharedMemoryWanted(): boolean {
  try {
    const q = Deno.permissions.querySync({ name: "env", variable: "HEST_KERNEL_THREADS" });
    return q.state === "granted" && Number(Deno.env.get("HEST_KERNEL_THREADS")) > 1;
  } catch {
    return false;
  }
}

let installed: boolean | undefined;

/**
 * Point TF.js's wasm backend at copies of its binaries whose memory is shared, so the kernel
 * threads (`setKernelThreads`) can work in it. Call it before the wasm backend starts
 * (`useBackend("wasm")`, or the first op); `lib/core/backend.ts` calls it on import when
 * {@linkcode sharedMemoryWanted}. Returns whether it did; false leaves TF.js's defaults in place
 * (binaries not found or not readable, or not of the expected form).
 *
 * @example
 * ```ts
 * import { shareTfWasmMemory } from "@hest/hest/core";
 * shareTfWasmMemory(); // true with --allow-read
 * ```
 */
export function shareTfWasmMemory(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  let dir: URL;
  try {
    dir = new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm"));
    if (dir.protocol !== "file:") return false;
  } catch {
    return false;
  }
  const map: Record<string, string> = {};
  for (const name of BINARIES) {
    let bytes: Uint8Array;
    try {
      const file = new URL(name, dir);
      // no permission prompt at import: without read access TF.js's own loading fails anyway
      if (Deno.permissions.querySync({ name: "read", path: file }).state !== "granted") {
        return false;
      }
      bytes = Deno.readFileSync(file);
    } catch {
      return false;
    }
    // the threaded build imports a shared memory already (and hest never starts it)
    const out = name.includes("threaded") ? bytes : sharedMemoryBinary(bytes);
    if (!out) return false;
    map[name] = URL.createObjectURL(new Blob([out as BlobPart], { type: "application/wasm" }));
  }
  // the platform fetch reads the blob: URLs (TF.js's Node branch would read them as paths)
  setWasmPaths(map, true);
  installed = true;
  return true;
}
