/**
 * The two builds of the hest WASM kernels and the switch between them: the exact build
 * (`kernels/hest_kernels.wasm`, the default, bit-reproducible) and the fast build
 * (`kernels/hest_kernels_fast.wasm`, relaxed-SIMD multiply-add in the dense products). Both come
 * from `kernels/hest_kernels.c` (`deno task kernels`); docs/performance.md gives what each runs at.
 *
 * @module
 */
/**
 * Which build of the kernels runs. `"exact"` (the default, `kernels/hest_kernels.wasm`): every
 * product is float32 multiplies and adds in a fixed order, the same bits on every engine and
 * machine. `"fast"` (`kernels/hest_kernels_fast.wasm`, the same source with `HEST_FAST`): the dense
 * products fuse each multiply-add with relaxed SIMD (`f32x4.relaxed_madd`), which an engine may
 * round once (FMA) or twice: faster where the CPU has FMA, equal to the exact build within a
 * relative 1e-5 of the sums' magnitude, not bit-reproducible across machines.
 */
export type KernelPrecision = "exact" | "fast";

/** Each build's file: on a memory of its own, and on a shared memory (TF.js's, for threads). */
const KERNEL_FILES: Record<KernelPrecision, { own: string; shared: string }> = {
  exact: { own: "hest_kernels.wasm", shared: "hest_kernels_mt.wasm" },
  fast: { own: "hest_kernels_fast.wasm", shared: "hest_kernels_fast_mt.wasm" },
};

const compiled = new Map<string, WebAssembly.Module>();

/**
 * The bytes of a kernel module next to this file (`hest_kernels.wasm`, `hest_kernels_fast.wasm`,
 * and their shared-memory builds `hest_kernels_mt.wasm`, `hest_kernels_fast_mt.wasm`), with an
 * error that says how to get it when it cannot be read.
 *
 * @example
 * ```ts
 * import { readKernelModule } from "@hest/hest";
 * readKernelModule("hest_kernels.wasm").length > 0; // true
 * ```
 */
export function readKernelModule(file: string): Uint8Array<ArrayBuffer> {
  const url = new URL(`./${file}`, import.meta.url);
  try {
    return Deno.readFileSync(url) as Uint8Array<ArrayBuffer>;
  } catch (err) {
    throw new Error(
      `cannot read the hest kernels module ${url.pathname} (run with --allow-read; rebuild ` +
        `it with "deno task kernels"): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function readModule(p: KernelPrecision, shared = false): Uint8Array<ArrayBuffer> {
  return readKernelModule(KERNEL_FILES[p][shared ? "shared" : "own"]);
}

/** Options of {@linkcode kernelModule}. */
export interface KernelModuleOptions {
  /** The build (default: the one in use, {@linkcode kernelPrecision}). */
  precision?: KernelPrecision;
  /** The build that imports a shared memory (default false). */
  shared?: boolean;
}

/**
 * The compiled kernel module of the build in use, or of `opts.precision`, for a memory of its own
 * or (`opts.shared`) a shared one; compiled once per build, on first use.
 *
 * @example
 * ```ts
 * import { kernelModule } from "@hest/hest";
 * WebAssembly.Module.exports(kernelModule()).length > 0; // true
 * ```
 */
export function kernelModule(opts: KernelModuleOptions = {}): WebAssembly.Module {
  const p = opts.precision ?? precision;
  const shared = opts.shared === true;
  const id = `${p}:${shared}`;
  let m = compiled.get(id);
  if (m === undefined) {
    m = new WebAssembly.Module(readModule(p, shared));
    compiled.set(id, m);
  }
  return m;
}

let fastSupport: boolean | undefined;

/**
 * Whether this engine can run the fast (relaxed-SIMD) build: its module validates. V8 has shipped
 * relaxed SIMD by default since 11.4 (Deno 1.35); engines without it get `false`.
 *
 * @example
 * ```ts
 * import { fastKernelsSupported } from "@hest/hest";
 * typeof fastKernelsSupported(); // "boolean"
 * ```
 */
export function fastKernelsSupported(): boolean {
  if (fastSupport === undefined) {
    try {
      fastSupport = WebAssembly.validate(readModule("fast")) &&
        WebAssembly.validate(readModule("fast", true));
    } catch {
      fastSupport = false;
    }
  }
  return fastSupport;
}

let precision: KernelPrecision = envPrecision();

/** `HEST_KERNEL_PRECISION=fast` in the environment starts with the fast build (where it runs). */
function envPrecision(): KernelPrecision {
  try {
    const q = Deno.permissions.querySync({ name: "env", variable: "HEST_KERNEL_PRECISION" });
    const v = q.state === "granted" ? Deno.env.get("HEST_KERNEL_PRECISION") : undefined;
    if (v === undefined || v === "" || v === "exact") return "exact";
    if (v === "fast") return fastKernelsSupported() ? "fast" : "exact";
    throw new Error(`HEST_KERNEL_PRECISION must be "exact" or "fast", found "${v}"`);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("HEST_KERNEL_PRECISION")) throw err;
    return "exact";
  }
}

/**
 * Choose the kernel build for the whole process (see {@linkcode KernelPrecision}); returns the
 * build that runs from now on: `"fast"` falls back to `"exact"` (with a warning) where the engine
 * lacks relaxed SIMD. Kernel instances made before keep their build.
 *
 * @example
 * ```ts
 * import { setKernelPrecision } from "@hest/hest";
 * setKernelPrecision("fast"); // "fast" on Deno 2
 * setKernelPrecision("exact");
 * ```
 */
export function setKernelPrecision(p: KernelPrecision): KernelPrecision {
  if (p !== "exact" && p !== "fast") {
    throw new TypeError(`setKernelPrecision expects "exact" or "fast", found ${String(p)}`);
  }
  if (p === "fast" && !fastKernelsSupported()) {
    console.warn("hest: this engine lacks relaxed SIMD; the fast kernels fall back to exact");
    p = "exact";
  }
  precision = p;
  return p;
}

/**
 * The kernel build in use (see {@linkcode setKernelPrecision}).
 *
 * @example
 * ```ts
 * import { kernelPrecision } from "@hest/hest";
 * kernelPrecision(); // "exact" unless HEST_KERNEL_PRECISION=fast
 * ```
 */
export function kernelPrecision(): KernelPrecision {
  return precision;
}
