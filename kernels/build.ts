/**
 * Build the hest WASM SIMD kernels: compile `kernels/hest_kernels.c` with clang (wasm32,
 * SIMD128, -O3, no libc) and wasm-ld into `kernels/hest_kernels.wasm`, the file committed to the
 * repository and loaded by `kernels/wasm.ts`. The module imports its memory (so it can run in
 * TF.js's wasm memory) and exports its stack pointer (mutable-globals).
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
export async function buildKernels(outPath: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("clang", {
      args: [...CLANG_ARGS, "-o", outPath, KERNEL_SOURCE.pathname],
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

  --out FILE           where to write the module (default kernels/hest_kernels.wasm, the
                       committed file)
  -h, --help           this text

Needs clang and lld on PATH (Debian: apt-get install -y --no-install-recommends clang lld).`;

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

async function main(args: string[]): Promise<void> {
  let values: { out?: string; help?: boolean };
  try {
    values = parseArgs({
      args,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
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
  const dest = values.out ?? KERNEL_WASM.pathname;
  await checkDest(dest);
  // Build next to the destination, then rename: the committed file is replaced atomically.
  const tmp = `${dest}.tmp-${Deno.pid}`;
  try {
    await buildKernels(tmp);
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, dest);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  console.log(`wrote ${dest} (${(await Deno.stat(dest)).size} bytes)`);
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
