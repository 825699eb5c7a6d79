/**
 * Build the hest WASM SIMD kernels: compile `kernels/hest_kernels.c` with clang (wasm32,
 * SIMD128, -O3, no libc) and wasm-ld into `kernels/hest_kernels.wasm`, the file committed to the
 * repository and loaded by `kernels/wasm.ts`. The module imports its memory (so it can run in
 * TF.js's wasm memory) and exports its stack pointer (mutable-globals). The same source with
 * `-DHEST_FAST -mrelaxed-simd` gives the fast build `kernels/hest_kernels_fast.wasm`
 * (`kernels/precision.ts`); relaxed SIMD's final opcodes need clang 16 or later (Debian's
 * `clang-16` and `lld-16`), found as `clang-19` … `clang-16` or a `clang` that new. Without one
 * the exact build is still made and the committed fast build kept.
 *
 * Run it with `deno task kernels` (or `deno run -A kernels/build.ts [--out FILE]`; `--help` for
 * the usage). It needs Debian's `clang` and `lld` packages (`apt-get install -y
 * --no-install-recommends clang lld`). The build is deterministic: the same compiler gives the
 * same bytes, which the tests check. Exit codes as the scripts': 2 for usage errors (unknown
 * flags, an `--out` that cannot be a file), 1 when the build fails (no clang, a compile error).
 *
 * @module
 */
import { dirname } from "node:path";
import { parseArgs } from "node:util";

/** The C source, next to this file. */
export const KERNEL_SOURCE: URL = new URL("./hest_kernels.c", import.meta.url);
/** The committed, built module. */
export const KERNEL_WASM: URL = new URL("./hest_kernels.wasm", import.meta.url);
/** The committed fast (relaxed-SIMD) build. */
export const KERNEL_WASM_FAST: URL = new URL("./hest_kernels_fast.wasm", import.meta.url);
/** What the fast build adds to {@linkcode CLANG_ARGS}. */
export const FAST_ARGS: readonly string[] = ["-mrelaxed-simd", "-DHEST_FAST"];
/**
 * The committed shared-memory build of the exact arithmetic: what runs in a shared memory (TF.js's
 * wasm memory, which hest makes shared so the kernel threads can work in it; kernels/threads.ts).
 */
export const KERNEL_WASM_MT: URL = new URL("./hest_kernels_mt.wasm", import.meta.url);
/** The committed shared-memory build of the fast arithmetic. */
export const KERNEL_WASM_FAST_MT: URL = new URL("./hest_kernels_fast_mt.wasm", import.meta.url);
/**
 * What a shared-memory build adds to {@linkcode CLANG_ARGS}: a shared memory of up to 4 GiB, the
 * maximum TF.js's wasm memory declares (an imported memory's maximum must not exceed the
 * import's).
 */
export const SHARED_ARGS: readonly string[] = [
  "-matomics",
  "-mbulk-memory",
  "-Wl,--shared-memory",
  "-Wl,--max-memory=4294967296",
];

/** Options of {@linkcode buildKernels}. */
export interface BuildOptions {
  /**
   * `"exact"` (default), `"fast"` (relaxed SIMD; needs {@linkcode fastClang}) or `"shared"` (the
   * exact arithmetic on a shared memory: the same as `{ shared: true }`).
   */
  precision?: "exact" | "fast" | "shared";
  /** Import a shared memory (atomics, bulk memory; see {@linkcode SHARED_ARGS}). */
  shared?: boolean;
  /** The compiler (default `clang`, or `fastClang()` for the fast build). */
  clang?: string;
}

/** The clang command line, without the output path. */
export const CLANG_ARGS: readonly string[] = [
  "--target=wasm32",
  "-O3",
  "-msimd128",
  "-ffreestanding",
  "-nostdlib",
  "-fno-builtin",
  "-Wall",
  "-Werror",
  "-Wl,--no-entry",
  "-mmutable-globals",
  "-Wl,--import-memory",
  "-Wl,--export=__heap_base",
  "-Wl,--export=__stack_pointer",
  "-Wl,--strip-all",
];

/**
 * Compile the kernels into `outPath` with `clang` from PATH; throws with clang's message when the
 * compiler is missing or the build fails.
 *
 * @example
 * ```ts
 * import { buildKernels } from "@hest/hest/kernels/build";
 * await buildKernels("/tmp/hest_kernels.wasm");
 * ```
 */
export async function buildKernels(outPath: string, opts: BuildOptions = {}): Promise<void> {
  const fast = opts.precision === "fast";
  const clang = opts.clang ?? (fast ? await fastClang() : "clang");
  if (clang === undefined) {
    throw new Error(
      "the fast kernels need clang 16 or later (Debian: apt-get install clang-16 lld-16), found none",
    );
  }
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(clang, {
      args: [
        ...CLANG_ARGS,
        ...(fast ? FAST_ARGS : []),
        ...(opts.shared || opts.precision === "shared" ? SHARED_ARGS : []),
        "-o",
        outPath,
        KERNEL_SOURCE.pathname,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    throw new Error(
      `building kernels needs clang and lld on PATH (Debian: apt-get install clang lld), ` +
        `found none: ${(err as Error).message}`,
    );
  }
  if (!out.success) {
    throw new Error(
      `clang failed on ${KERNEL_SOURCE.pathname} (exit ${out.code}):\n` +
        new TextDecoder().decode(out.stderr),
    );
  }
}

async function clangMajor(cmd: string): Promise<number | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args: ["--version"], stdout: "piped" }).output();
    if (!out.success) return undefined;
    const m = /clang version (\d+)/.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A clang that can build the fast kernels (16 or later: `clang-19` … `clang-16`, else `clang`
 * if it is that new), or undefined.
 *
 * @example
 * ```ts
 * import { fastClang } from "@hest/hest/kernels/build";
 * await fastClang(); // "clang-16" on Debian 12 with clang-16 installed
 * ```
 */
export async function fastClang(): Promise<string | undefined> {
  for (const cmd of ["clang-19", "clang-18", "clang-17", "clang-16", "clang"]) {
    if ((await clangMajor(cmd) ?? 0) >= 16) return cmd;
  }
  return undefined;
}

/** Whether `clang` can be started (for tests that skip without it). */
export async function hasClang(): Promise<boolean> {
  try {
    const out = await new Deno.Command("clang", { args: ["--version"], stdout: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

const USAGE = `usage: deno task kernels [options]

  --out FILE           where to write the exact module (default kernels/hest_kernels.wasm,
                       the committed file)
  --out-shared FILE    where to write the exact module on a shared memory (default
                       kernels/hest_kernels_mt.wasm)
  --out-fast FILE      where to write the fast (relaxed-SIMD) module (default
                       kernels/hest_kernels_fast.wasm; needs clang 16 or later)
  --out-fast-shared FILE
                       where to write the fast module on a shared memory (default
                       kernels/hest_kernels_fast_mt.wasm; needs clang 16 or later)
  -h, --help           this text

Needs clang and lld on PATH (Debian: apt-get install -y --no-install-recommends clang lld), and
for the fast module clang-16 and lld-16 (or any clang 16 or later).`;

/** A bad command line: printed with the usage, exit code 2. */
class UsageError extends Error {}

/** Where `--out` may be written: not a folder, and in a folder that exists. */
async function checkDest(dest: string): Promise<void> {
  const st = await Deno.stat(dest).catch(() => undefined);
  if (st?.isDirectory) {
    throw new UsageError(`--out ${dest} is a directory; expected a .wasm file path`);
  }
  const dir = dirname(dest);
  if (!(await Deno.stat(dir).then((d) => d.isDirectory, () => false))) {
    throw new UsageError(`--out ${dest}: folder ${dir} does not exist`);
  }
}

/** Build into `dest` through a temporary file next to it, then rename (atomic). */
async function buildTo(dest: string, opts: BuildOptions): Promise<void> {
  await checkDest(dest);
  const tmp = `${dest}.tmp-${Deno.pid}`;
  try {
    await buildKernels(tmp, opts);
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, dest);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  console.log(`wrote ${dest} (${(await Deno.stat(dest)).size} bytes)`);
}

async function main(args: string[]): Promise<void> {
  let values: {
    out?: string;
    "out-fast"?: string;
    "out-shared"?: string;
    "out-fast-shared"?: string;
    help?: boolean;
  };
  try {
    values = parseArgs({
      args,
      options: {
        out: { type: "string" },
        "out-fast": { type: "string" },
        "out-shared": { type: "string" },
        "out-fast-shared": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  await buildTo(values.out ?? KERNEL_WASM.pathname, { precision: "exact" });
  await buildTo(values["out-shared"] ?? KERNEL_WASM_MT.pathname, { precision: "shared" });
  const clang = await fastClang();
  if (
    clang === undefined && values["out-fast"] === undefined &&
    values["out-fast-shared"] === undefined
  ) {
    console.log(
      `kept ${KERNEL_WASM_FAST.pathname} and ${KERNEL_WASM_FAST_MT.pathname}: no clang 16 or ` +
        `later to rebuild them (Debian: apt-get install clang-16 lld-16)`,
    );
    return;
  }
  await buildTo(values["out-fast"] ?? KERNEL_WASM_FAST.pathname, { precision: "fast", clang });
  await buildTo(values["out-fast-shared"] ?? KERNEL_WASM_FAST_MT.pathname, {
    precision: "fast",
    shared: true,
    clang,
  });
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n\n${USAGE}`);
      Deno.exit(2);
    }
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
