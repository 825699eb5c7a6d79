/**
 * MATLAB `.mat` files: Level 5 (v5/v7, optionally compressed) through mat-for-js, and v7.3
 * (HDF5 with a 512-byte MATLAB header) through h5wasm.
 *
 * Both give the same view of a variable: MATLAB's own `[rows, cols, …]` shape in row-major
 * order (so `spikes(i, j)` is element `[i, j]`), with 1×n and n×1 vectors squeezed to 1-D as
 * `scipy.io.loadmat(squeeze_me=True)` does. v7.3 files store arrays column-major, so their HDF5
 * datasets are transposed back. Fields of scalar structs appear as `struct.field`. Cell arrays,
 * objects and complex values are not numeric arrays: asking for one gives an error naming the
 * variable and why. (mat-for-js does not keep a Level 5 variable's MATLAB class, so a v5
 * character array reads as its character codes; v7.3 character arrays are refused.)
 *
 * Before handing a Level 5 file to mat-for-js, the top-level data element tags are walked to
 * check that every element fits in the file: a truncated file is reported as such (a truncated
 * compressed element could otherwise inflate to a plausible prefix).
 *
 * @module
 */
import { read as readMat5 } from "mat-for-js";
import { openHdf5 } from "./hdf5.ts";
import {
  type ArraySource,
  loadError,
  type NdArray,
  ndarray,
  reverseAxes,
  shapeSize,
} from "./ndarray.ts";

/** The text every MATLAB Level 5 / v7.3 file starts with. */
export const MAT_HEADER_PREFIX = "MATLAB ";

/**
 * The MAT-file version from the first bytes: `"5"` (Level 5, which covers v6/v7), `"7.3"`
 * (HDF5), or `undefined` when the bytes do not start with a MATLAB header.
 *
 * @example
 * ```ts
 * import { matVersion } from "@hest/hest";
 * matVersion(new TextEncoder().encode("MATLAB 5.0 MAT-file, Platform: GLNXA64")); // "5"
 * ```
 */
export function matVersion(bytes: Uint8Array): "5" | "7.3" | undefined {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, Math.min(bytes.length, 128)));
  if (!head.startsWith(MAT_HEADER_PREFIX)) return undefined;
  if (head.startsWith("MATLAB 7.3 MAT-file")) return "7.3";
  if (bytes.length >= 128) {
    // version word at byte 124: 0x0100 (Level 5) or 0x0200 (v7.3), in the file's byte order
    const le = bytes[126] === 0x49 && bytes[127] === 0x4d; // "IM": little-endian
    const version = le ? bytes[124] | (bytes[125] << 8) : (bytes[124] << 8) | bytes[125];
    if (version === 0x0200) return "7.3";
  }
  return "5";
}

function squeezeVector(a: NdArray): NdArray {
  if (a.shape.length === 2 && (a.shape[0] === 1 || a.shape[1] === 1)) {
    return { ...a, shape: [a.shape[0] * a.shape[1]] };
  }
  return a;
}

type Entry = { array: NdArray } | { problem: string };

/** Turn mat-for-js's nested arrays into an NdArray, or say why it is not one. */
function fromNested(value: unknown, file: string, key: string): Entry {
  if (typeof value === "string") return { problem: "is a character array, not numeric" };
  if (typeof value === "number" || typeof value === "bigint") {
    return { array: ndarray([value], [], { file, key, dtype: "mat5" }) };
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const v = value as { x?: unknown; y?: unknown; nz?: unknown };
    if (typeof v.x === "number" && typeof v.y === "number" && Array.isArray(v.nz)) {
      // sparse matrix: y rows × x columns with non-zeros {x, y, v}
      const out = new Float64Array(v.x * v.y);
      for (const e of v.nz as { x: number; y: number; v: unknown }[]) {
        if (typeof e.v !== "number") return { problem: "is a complex sparse matrix" };
        out[e.y * v.x + e.x] = e.v;
      }
      return { array: squeezeVector({ data: out, shape: [v.y, v.x], dtype: "mat5-sparse" }) };
    }
    return { problem: 'is a struct; use its fields ("name.field")' };
  }
  if (!Array.isArray(value)) return { problem: `has an unsupported type (${typeof value})` };
  const shape: number[] = [];
  for (let v: unknown = value; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (v.length === 0) break;
  }
  const n = shapeSize(shape);
  const out = new Float64Array(n);
  let k = 0;
  let problem: string | undefined;
  const walk = (v: unknown, d: number): void => {
    if (problem) return;
    if (d === shape.length) {
      if (typeof v === "number") out[k++] = v;
      else if (typeof v === "bigint") out[k++] = Number(v);
      else if (v && typeof v === "object" && "r" in v && "i" in v) problem = "has complex values";
      else if (typeof v === "string") problem = "is a character array, not numeric";
      else problem = "is a cell array, not a numeric array";
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) {
      problem = "is a cell array, not a numeric array";
      return;
    }
    for (const x of v) walk(x, d + 1);
  };
  walk(value, 0);
  if (problem) return { problem };
  return { array: { data: out, shape, dtype: "mat5" } };
}

function flattenVars(
  data: Record<string, unknown>,
  file: string,
  prefix: string,
  out: Map<string, Entry>,
): void {
  for (const [name, value] of Object.entries(data)) {
    const key = prefix + name;
    const isStruct = value !== null && typeof value === "object" && !Array.isArray(value) &&
      !("nz" in (value as object));
    if (isStruct) {
      out.set(key, { problem: 'is a struct; use its fields ("name.field")' });
      flattenVars(value as Record<string, unknown>, file, `${key}.`, out);
    } else {
      out.set(key, fromNested(value, file, key));
    }
  }
}

/** Check that each top-level Level 5 data element lies within the file. */
function checkElements(bytes: Uint8Array, file: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = bytes[126] === 0x49 && bytes[127] === 0x4d;
  let off = 128;
  while (off < bytes.length) {
    if (off + 8 > bytes.length) {
      throw loadError(file, undefined, `truncated: a data element tag at byte ${off} is cut off`);
    }
    const first = view.getUint32(off, le);
    // small data element format: type in the low 16 bits, size in the high 16 bits, 8 bytes in all
    const size = first >>> 16 !== 0
      ? 8
      : 8 + (first === 15 ? view.getUint32(off + 4, le) : pad8(view.getUint32(off + 4, le)));
    if (off + size > bytes.length) {
      throw loadError(
        file,
        undefined,
        `truncated: the data element at byte ${off} needs ${size} bytes but the file ends after ${
          bytes.length - off
        }`,
      );
    }
    off += size;
  }
}

function pad8(n: number): number {
  return n % 8 === 0 ? n : n + 8 - (n % 8);
}

/**
 * Read a MATLAB Level 5 file (bytes) into named arrays.
 *
 * @example
 * ```ts
 * import { parseMat5 } from "@hest/hest";
 * const src = parseMat5(await Deno.readFile("s1_data.mat"), "s1_data.mat");
 * src.get("spikes").shape; // [35129, 52]
 * ```
 */
export function parseMat5(bytes: Uint8Array, file: string): ArraySource {
  if (matVersion(bytes) !== "5" || bytes.length < 128) {
    throw loadError(file, undefined, 'not a MATLAB Level 5 MAT-file (no "MATLAB 5.0" header)');
  }
  checkElements(bytes, file);
  let parsed: { header: string; data: Record<string, unknown> };
  try {
    parsed = readMat5(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } catch (err) {
    throw loadError(
      file,
      undefined,
      `cannot parse the MAT-file (truncated or corrupt?): ${(err as Error).message}`,
    );
  }
  const entries = new Map<string, Entry>();
  flattenVars(parsed.data ?? {}, file, "", entries);
  const numeric = () => [...entries].filter(([, e]) => "array" in e).map(([k]) => k);
  return {
    file,
    keys: numeric,
    has: (k) => {
      const e = entries.get(k);
      return e !== undefined && "array" in e;
    },
    get(k) {
      const e = entries.get(k);
      if (e === undefined) {
        throw loadError(
          file,
          k,
          `variable not found; numeric variables: ${numeric().join(", ") || "(none)"}`,
        );
      }
      if ("problem" in e) throw loadError(file, k, `${e.problem}; expected a numeric array`);
      return squeezeVector(e.array);
    },
    attr: () => undefined,
  };
}

/**
 * Open a `.mat` file of either kind and return its numeric variables (v7.3 files stay open
 * until `close()`).
 *
 * @example
 * ```ts
 * import { openMat } from "@hest/hest";
 * const src = await openMat("m1_stevenson_2011.mat");
 * console.log(src.keys()); // ["time", "spikes", "handVel", "handPos"]
 * src.close?.();
 * ```
 */
export async function openMat(path: string): Promise<ArraySource> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw loadError(path, undefined, `cannot read the file: ${(err as Error).message}`);
  }
  const v = matVersion(bytes);
  if (v === "5") return parseMat5(bytes, path);
  if (v === "7.3") return await openMat73(path);
  throw loadError(path, undefined, 'not a MATLAB MAT-file (no "MATLAB" header text)');
}

/**
 * Open a MATLAB v7.3 (HDF5) file: root datasets are variables (transposed back to MATLAB's
 * shape), groups are structs (`struct.field`).
 *
 * @example
 * ```ts
 * import { openMat73 } from "@hest/hest";
 * const src = await openMat73("big.mat");
 * src.close?.();
 * ```
 */
export async function openMat73(path: string): Promise<ArraySource> {
  const h5 = await openHdf5(path);
  const vars: string[] = [];
  const walk = (group: string, prefix: string) => {
    for (const name of h5.members(group)) {
      if (name.startsWith("#")) continue; // "#refs#", "#subsystem#"
      const p = group === "" ? name : `${group}/${name}`;
      if (h5.isGroup(p)) walk(p, `${prefix}${name}.`);
      else vars.push(prefix + name);
    }
  };
  walk("", "");
  const toPath = (k: string) => k.split(".").join("/");
  const classOf = (k: string) => h5.attrString("MATLAB_class", toPath(k));
  const numeric = () =>
    vars.filter((k) => {
      const c = classOf(k);
      return c !== "char" && c !== "cell" &&
        h5.attrString("MATLAB_sparse", toPath(k)) === undefined &&
        h5.attr("MATLAB_sparse", toPath(k)) === undefined;
    });
  return {
    file: path,
    keys: numeric,
    has: (k) => numeric().includes(k),
    get(k) {
      if (!vars.includes(k)) {
        throw loadError(path, k, `variable not found; variables: ${vars.join(", ") || "(none)"}`);
      }
      const c = classOf(k);
      if (c === "char") throw loadError(path, k, "is a character array; expected a numeric array");
      if (c === "cell") throw loadError(path, k, "is a cell array; expected a numeric array");
      if (h5.attr("MATLAB_sparse", toPath(k)) !== undefined) {
        throw loadError(
          path,
          k,
          "is a sparse matrix, which v7.3 reading does not support; save it full()",
        );
      }
      const a = h5.get(toPath(k));
      const shaped = reverseAxes(a);
      return squeezeVector({ ...shaped, dtype: c ?? a.dtype });
    },
    attr: () => undefined,
    close: () => h5.close(),
  };
}
