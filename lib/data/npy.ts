/**
 * NumPy `.npy` and `.npz` files: read through npyjs (and fflate for the zip container of
 * `.npz`), write `.npy` predictions atomically.
 *
 * Reading checks what npyjs leaves to the caller: the number of values must match the header's
 * shape (a truncated file has fewer), big-endian and non-numeric dtypes are refused with the
 * dtype named, and Fortran-order arrays are turned into row-major ones.
 *
 * @module
 */
import { unzipSync, zipSync } from "fflate";
import { dump, parse } from "npyjs";
import { writeFileAtomic } from "../core/io.ts";
import type { Array3D } from "./dataset.ts";
import {
  type ArraySource,
  loadError,
  memorySource,
  type NdArray,
  ndarray,
  type NumericArray,
  reverseAxes,
} from "./ndarray.ts";

/** The 6-byte NumPy magic string `\x93NUMPY`. */
export const NPY_MAGIC: Uint8Array = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59);

const NUMERIC = /^[<|=]?(b1|i1|u1|i2|u2|i4|u4|i8|u8|f2|f4|f8)$/;

function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Read the header's dtype text, so that we can refuse what npyjs would misread. */
function headerDescr(bytes: Uint8Array): string | undefined {
  const major = bytes[6];
  const offset = major <= 1 ? 10 : 12;
  const len = major <= 1
    ? bytes[8] | (bytes[9] << 8)
    : (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16)) + bytes[11] * 2 ** 24;
  if (offset + len > bytes.length) return undefined;
  const header = new TextDecoder("latin1").decode(bytes.subarray(offset, offset + len));
  return /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
}

/**
 * Parse the bytes of one `.npy` array. `file` and `key` name it in errors.
 *
 * @example
 * ```ts
 * import { encodeNpy, parseNpy } from "@hest/hest";
 * const bytes = encodeNpy({ data: new Float64Array([1, 2, 3, 4]), shape: [2, 2], dtype: "f8" });
 * parseNpy(bytes, { file: "x.npy", key: "x" }).shape; // [2, 2]
 * ```
 */
export function parseNpy(bytes: Uint8Array, where: { file: string; key: string }): NdArray {
  const { file, key } = where;
  if (bytes.length < 10 || !NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw loadError(file, key, "not a NumPy .npy array (no \\x93NUMPY magic)");
  }
  const descr = headerDescr(bytes);
  if (descr === undefined) {
    throw loadError(file, key, "truncated .npy header");
  }
  if (descr.startsWith(">")) {
    throw loadError(
      file,
      key,
      `big-endian dtype "${descr}" is not supported; save it little-endian`,
    );
  }
  if (!NUMERIC.test(descr)) {
    throw loadError(
      file,
      key,
      `expected a numeric dtype (bool, int, uint, float), found "${descr}"`,
    );
  }
  let parsed;
  try {
    parsed = parse(exactBuffer(bytes));
  } catch (err) {
    throw loadError(
      file,
      key,
      `cannot parse .npy (truncated or corrupt file?): ${(err as Error).message}`,
    );
  }
  const shape = parsed.shape;
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw loadError(file, key, `invalid shape in the .npy header: (${shape.join(", ")})`);
  }
  const arr = ndarray(parsed.data as unknown as NumericArray, shape, {
    file,
    key,
    dtype: parsed.dtype,
  });
  return parsed.fortranOrder ? reverseAxes({ ...arr, shape: [...shape].reverse() }) : arr;
}

/**
 * Parse the bytes of a `.npz` archive (as `np.savez` / `np.savez_compressed` write it) into
 * named arrays (the `.npy` suffix removed).
 *
 * @example
 * ```ts
 * import { encodeNpz, parseNpz } from "@hest/hest";
 * const bytes = encodeNpz({ a: { data: new Float64Array([1]), shape: [1], dtype: "f8" } });
 * parseNpz(bytes, "x.npz").get("a").data; // Float64Array [1]
 * ```
 */
export function parseNpz(bytes: Uint8Array, file: string): ArraySource {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (err) {
    throw loadError(
      file,
      undefined,
      `not a readable .npz (zip) archive: ${(err as Error).message}`,
    );
  }
  const arrays: Record<string, NdArray> = {};
  for (const [name, data] of Object.entries(entries)) {
    if (name.endsWith("/")) continue;
    const key = name.replace(/\.npy$/, "");
    arrays[key] = parseNpy(data, { file, key });
  }
  if (Object.keys(arrays).length === 0) {
    throw loadError(file, undefined, "the .npz archive is empty");
  }
  return memorySource(file, arrays);
}

/**
 * Encode an array as `.npy` bytes: float32 for `"f4"`, float64 otherwise.
 *
 * @example
 * ```ts
 * import { encodeNpy } from "@hest/hest";
 * encodeNpy({ data: new Float64Array([1, 2]), shape: [2], dtype: "f4" }).length; // 136
 * ```
 */
export function encodeNpy(a: NdArray | Array3D): Uint8Array {
  const shape = [...a.shape];
  const f4 = a.data instanceof Float32Array || (a as NdArray).dtype === "f4";
  const data = f4
    ? (a.data instanceof Float32Array ? a.data : Float32Array.from(a.data))
    : (a.data instanceof Float64Array ? a.data : Float64Array.from(a.data));
  return new Uint8Array(dump(data, shape));
}

/**
 * Encode named arrays as an uncompressed `.npz` archive (readable with `np.load`).
 *
 * @example
 * ```ts
 * import { encodeNpz } from "@hest/hest";
 * const bytes = encodeNpz({ spikes: { data: new Float64Array(6), shape: [3, 2], dtype: "f8" } });
 * ```
 */
export function encodeNpz(arrays: Readonly<Record<string, NdArray | Array3D>>): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(arrays)) files[`${k}.npy`] = encodeNpy(v);
  return zipSync(files, { level: 0 });
}

/**
 * Write an array as a `.npy` file atomically (temp file + rename); float32 arrays stay float32.
 *
 * @example
 * ```ts
 * import { array3d, writeNpy } from "@hest/hest";
 * await writeNpy("/tmp/rates.npy", array3d(new Float32Array(6), [1, 2, 3]));
 * ```
 */
export async function writeNpy(path: string, a: NdArray | Array3D): Promise<void> {
  await writeFileAtomic(path, encodeNpy(a));
}
