/**
 * Atomic file writes: readers see the old file or the complete new one, never a partial file.
 *
 * The bytes go to a temporary file next to the target, named `.<name>.<uuid>.tmp`
 * ({@linkcode isAtomicTempName}); a writer killed before its rename leaves that file behind, and
 * {@linkcode removeStaleTemps} clears such leftovers when a folder is opened for writing again.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Bytes written per `write` call by {@linkcode writeFileAtomic}. */
const CHUNK = 1 << 20;

/** `.<target name>.<random UUID>.tmp`, the temporary names {@linkcode writeFileAtomic} uses. */
const TEMP_NAME = /^\..+\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/**
 * Whether a file name has the shape of {@linkcode writeFileAtomic}'s temporary files
 * (`.<target name>.<random UUID>.tmp`).
 *
 * @example
 * ```ts
 * import { isAtomicTempName } from "@hest/hest";
 * isAtomicTempName(".metrics.json.0b7c6a3e-1f2d-4c5b-9a8e-7d6c5b4a3f21.tmp"); // true
 * isAtomicTempName("metrics.json"); // false
 * ```
 */
export function isAtomicTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/**
 * Write `data` to `path` atomically: the bytes go to a uniquely named temporary file in the same
 * directory, which is flushed to disk and then renamed over `path`. Readers see either the old
 * file or the complete new one, never a partial file. On any failure (disk full, missing folder,
 * no permission) the temporary file is removed, an existing `path` is left untouched and the
 * error thrown names `path` (`cannot write <path>: …`, the original error as its `cause`).
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "@hest/hest";
 * await writeFileAtomic("/tmp/hest-example.json", JSON.stringify({ ok: true }));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true });
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let off = 0; off < bytes.length;) {
      const chunk = bytes.subarray(off, Math.min(off + CHUNK, bytes.length));
      let done = 0;
      while (done < chunk.length) done += await file.write(chunk.subarray(done));
      off += chunk.length;
    }
    await file.sync();
    file.close();
    file = undefined;
    await Deno.rename(tmp, path);
  } catch (err) {
    try {
      file?.close();
    } catch {
      // already closed by the failure: nothing left to release
    }
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Write `value` as pretty JSON atomically (temp file + rename).
 *
 * @example
 * ```ts
 * import { writeJsonAtomic } from "@hest/hest";
 * await writeJsonAtomic("/tmp/x.json", { a: 1 });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Remove the temporary files interrupted {@linkcode writeFileAtomic} calls left in `dir` (only
 * names matching {@linkcode isAtomicTempName}; nothing else is touched) and return their names.
 * Call it when a folder is opened for writing, not while another process writes into it. A
 * missing `dir` has nothing to remove.
 *
 * @example
 * ```ts
 * import { removeStaleTemps } from "@hest/hest";
 * const removed = await removeStaleTemps("/tmp");
 * ```
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const stale: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && isAtomicTempName(e.name)) stale.push(e.name);
    }
    for (const name of stale) {
      await Deno.remove(join(dir, name)).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound && stale.length === 0) return [];
    throw new Error(`cannot clear temporary files in ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return stale.sort();
}
