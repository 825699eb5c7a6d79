/**
 * Atomic file writes: readers see the old file or the complete new one, never a partial file.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Bytes written per `write` call by {@linkcode writeFileAtomic}. */
const CHUNK = 1 << 20;

/**
 * Write `data` to `path` atomically: the bytes go to a uniquely named temporary file in the same
 * directory, which is flushed to disk and then renamed over `path`. Readers see either the old
 * file or the complete new one, never a partial file. On any failure the temporary file is
 * removed and the error is rethrown (an existing `path` is left untouched).
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "@hest/hest";
 * await writeFileAtomic("/tmp/hest-example.json", JSON.stringify({ ok: true }));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  const file = await Deno.open(tmp, { write: true, createNew: true });
  let closed = false;
  try {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let off = 0; off < bytes.length;) {
      const chunk = bytes.subarray(off, Math.min(off + CHUNK, bytes.length));
      let done = 0;
      while (done < chunk.length) done += await file.write(chunk.subarray(done));
      off += chunk.length;
    }
    await file.sync();
    file.close();
    closed = true;
    await Deno.rename(tmp, path);
  } catch (err) {
    if (!closed) file.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
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
