/**
 * MATLAB `.mat` files: Level 5 (v5/v6/v7, optionally compressed) read here, and v7.3 (HDF5
 * with a 512-byte MATLAB header) through h5wasm.
 *
 * Both give the same view of a variable: MATLAB's own `[rows, cols, …]` shape in row-major
 * order (so `spikes(i, j, k)` is element `[i, j, k]`), with 1×n and n×1 vectors squeezed to 1-D
 * as `scipy.io.loadmat(squeeze_me=True)` does. MATLAB stores arrays column-major (first index
 * fastest) in both kinds of file, so arrays of every rank are reordered to row-major. Fields of
 * scalar structs appear as `struct.field`. Cell arrays, struct arrays, objects, character arrays
 * and complex values are not numeric arrays: asking for one gives an error naming the variable
 * and why. Sparse matrices are expanded to dense ones.
 *
 * A Level 5 file is checked before anything is allocated from what it declares: every data
 * element must lie within the file (a truncated file is reported as such), a compressed element
 * may not inflate past the size its contents declare, and an array's dimensions times its
 * element size must equal the bytes of data it holds, so a small corrupt file cannot claim a
 * huge array.
 *
 * @module
 */
import { Unzlib } from "fflate";
import { openHdf5 } from "./hdf5.ts";
import { type ArraySource, loadError, type NdArray, ndarray, reverseAxes } from "./ndarray.ts";

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

/**
 * The most bytes a sparse matrix may take once expanded to a dense float64 array: hest's arrays
 * are dense, and a sparse matrix legitimately declares far more cells than the file holds, so
 * this limit stands in for the size check the dense arrays get against their data.
 */
const MAX_DENSE_BYTES = 2 ** 31;

/** Nested structs deeper than this are treated as corrupt (guards the reader's recursion). */
const MAX_DEPTH = 32;

function squeezeVector(a: NdArray): NdArray {
  if (a.shape.length === 2 && (a.shape[0] === 1 || a.shape[1] === 1)) {
    return { ...a, shape: [a.shape[0] * a.shape[1]] };
  }
  return a;
}

type Entry = { array: NdArray } | { problem: string };

/** What a miMATRIX element holds: a numeric array, a scalar struct's fields, or neither. */
type MatValue = Entry | { fields: [string, MatValue][] };

/** A malformed Level 5 structure; reported as "cannot parse the MAT-file". */
class Corrupt extends Error {}

/** Bytes per value of the Level 5 numeric data types (miINT8 … miUINT64). */
const MI_BYTES: Readonly<Record<number, number>> = {
  1: 1,
  2: 1,
  3: 2,
  4: 2,
  5: 4,
  6: 4,
  7: 4,
  9: 8,
  12: 8,
  13: 8,
};
const MI_NAMES: Readonly<Record<number, string>> = {
  1: "int8",
  2: "uint8",
  3: "int16",
  4: "uint16",
  5: "int32",
  6: "uint32",
  7: "single",
  9: "double",
  12: "int64",
  13: "uint64",
};
/** MATLAB array classes mxDOUBLE_CLASS (6) … mxUINT64_CLASS (15). */
const MX_NUMERIC: Readonly<Record<number, string>> = {
  6: "double",
  7: "single",
  8: "int8",
  9: "uint8",
  10: "int16",
  11: "uint16",
  12: "int32",
  13: "uint32",
  14: "int64",
  15: "uint64",
};

function pad8(n: number): number {
  return n % 8 === 0 ? n : n + 8 - (n % 8);
}

interface Tag {
  /** Data type (miINT8 = 1 … miUTF32 = 18). */
  type: number;
  /** Bytes of data. */
  nbytes: number;
  /** Offset of the data. */
  data: number;
  /** Offset of the next element (after padding). */
  next: number;
}

/** Reads the data elements of one buffer: the file itself, or one inflated compressed element. */
class Level5Reader {
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly le: boolean,
    private readonly file: string,
    /** File offset of the compressed element these bytes were inflated from, if any. */
    private readonly origin?: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private at(off: number): string {
    return this.origin === undefined
      ? `byte ${off}`
      : `byte ${off} of the compressed element at byte ${this.origin}`;
  }

  /** The tag at `off`, with its data checked to end before `end`. */
  tag(off: number, end: number): Tag {
    if (off + 8 > end) throw new Corrupt(`a data element tag at ${this.at(off)} is cut off`);
    const first = this.view.getUint32(off, this.le);
    // small data element format: type in the low 16 bits, size in the high 16 bits, data inline
    if (first >>> 16 !== 0) {
      const nbytes = first >>> 16;
      if (nbytes > 4) {
        throw new Corrupt(`the small data element at ${this.at(off)} claims ${nbytes} bytes`);
      }
      return { type: first & 0xffff, nbytes, data: off + 4, next: off + 8 };
    }
    const nbytes = this.view.getUint32(off + 4, this.le);
    if (nbytes > end - off - 8) {
      throw new Corrupt(
        `the data element at ${this.at(off)} needs ${nbytes} bytes but only ${
          end - off - 8
        } remain`,
      );
    }
    const next = off + 8 + (first === 15 ? nbytes : pad8(nbytes));
    return { type: first, nbytes, data: off + 8, next: Math.min(next, end) };
  }

  private int32s(t: Tag, what: string): number[] {
    if (t.type !== 5 || t.nbytes % 4 !== 0) {
      throw new Corrupt(`${what} at ${this.at(t.data)} is not an int32 array (type ${t.type})`);
    }
    const out = [];
    for (let i = 0; i < t.nbytes; i += 4) out.push(this.view.getInt32(t.data + i, this.le));
    return out;
  }

  private text(t: Tag): string {
    return new TextDecoder("latin1").decode(this.bytes.subarray(t.data, t.data + t.nbytes));
  }

  /** The values of a numeric data element as float64, in file order. */
  private numbers(t: Tag, key: string): Float64Array {
    const size = MI_BYTES[t.type];
    const n = t.nbytes / size;
    const v = this.view, le = this.le, o = t.data;
    const out = new Float64Array(n);
    switch (t.type) {
      case 1:
        for (let i = 0; i < n; i++) out[i] = v.getInt8(o + i);
        break;
      case 2:
        for (let i = 0; i < n; i++) out[i] = v.getUint8(o + i);
        break;
      case 3:
        for (let i = 0; i < n; i++) out[i] = v.getInt16(o + 2 * i, le);
        break;
      case 4:
        for (let i = 0; i < n; i++) out[i] = v.getUint16(o + 2 * i, le);
        break;
      case 5:
        for (let i = 0; i < n; i++) out[i] = v.getInt32(o + 4 * i, le);
        break;
      case 6:
        for (let i = 0; i < n; i++) out[i] = v.getUint32(o + 4 * i, le);
        break;
      case 7:
        for (let i = 0; i < n; i++) out[i] = v.getFloat32(o + 4 * i, le);
        break;
      case 9:
        for (let i = 0; i < n; i++) out[i] = v.getFloat64(o + 8 * i, le);
        break;
      case 12:
      case 13: {
        const big = t.type === 12 ? new BigInt64Array(n) : new BigUint64Array(n);
        for (let i = 0; i < n; i++) {
          big[i] = t.type === 12 ? v.getBigInt64(o + 8 * i, le) : v.getBigUint64(o + 8 * i, le);
        }
        // ndarray() refuses 64-bit integers a double cannot hold exactly
        return ndarray(big, [n], { file: this.file, key, dtype: MI_NAMES[t.type] }).data;
      }
    }
    return out;
  }

  /** A numeric data element that must hold exactly `count` values. */
  private sized(t: Tag, count: number, dims: number[], key: string, what: string): Float64Array {
    const size = MI_BYTES[t.type];
    if (size === undefined) {
      throw new Corrupt(`the ${what} of "${key}" has data type ${t.type}, which is not numeric`);
    }
    if (count * size !== t.nbytes) {
      throw loadError(
        this.file,
        key,
        `declares dimensions [${dims.join(", ")}] (${count} values, ${count * size} bytes of ${
          MI_NAMES[t.type]
        } ${what}) but its data element holds ${t.nbytes} bytes; ` +
          `the file is corrupt`,
      );
    }
    return this.numbers(t, key);
  }

  /**
   * Read the miMATRIX element whose data is `[start, end)`. `key` names it in messages (the
   * variable name at the top level, `struct.field` inside a struct); `""` means "use its own
   * name".
   */
  matrix(start: number, end: number, key: string, depth = 0): { name: string; value: MatValue } {
    if (depth > MAX_DEPTH) throw new Corrupt(`structs nested more than ${MAX_DEPTH} deep`);
    if (start === end) {
      return {
        name: "",
        value: { array: { data: new Float64Array(0), shape: [0, 0], dtype: "" } },
      };
    }
    const flags = this.tag(start, end);
    if (flags.type !== 6 || flags.nbytes !== 8) {
      throw new Corrupt(`the array flags at ${this.at(start)} are not two uint32 values`);
    }
    const f0 = this.view.getUint32(flags.data, this.le);
    const cls = f0 & 0xff, complex = (f0 & 0x800) !== 0, logical = (f0 & 0x200) !== 0;
    const dimsTag = this.tag(flags.next, end);
    const dims = this.int32s(dimsTag, "the dimensions");
    if (dims.length < 2 || dims.some((d) => d < 0)) {
      throw new Corrupt(`invalid dimensions [${dims.join(", ")}] at ${this.at(dimsTag.data)}`);
    }
    const nameTag = this.tag(dimsTag.next, end);
    const name = this.text(nameTag);
    key ||= name;
    // no allocation depends on this product until it has been matched against the bytes present
    const count = dims.reduce((a, b) => a * b, 1);
    let off = nameTag.next;
    const problem = (p: string) => ({ name, value: { problem: p } });
    switch (cls) {
      case 1:
        return problem("is a cell array, not a numeric array");
      case 2: {
        const lenTag = this.tag(off, end);
        const [len] = this.int32s(lenTag, "the field name length");
        const namesTag = this.tag(lenTag.next, end);
        if (namesTag.nbytes > 0 && (!(len > 0) || namesTag.nbytes % len !== 0)) {
          throw new Corrupt(`struct "${key}" has field names of invalid length ${len}`);
        }
        const names: string[] = [];
        for (let i = 0; i < namesTag.nbytes; i += len) {
          const raw = this.bytes.subarray(namesTag.data + i, namesTag.data + i + len);
          const z = raw.indexOf(0);
          names.push(new TextDecoder("latin1").decode(z < 0 ? raw : raw.subarray(0, z)));
        }
        if (count !== 1) {
          return problem(
            `is a struct array [${dims.join(", ")}]; only the fields of a 1×1 struct can be read`,
          );
        }
        off = namesTag.next;
        const fields: [string, MatValue][] = [];
        for (const field of names) {
          const t = this.tag(off, end);
          if (t.type !== 14) {
            throw new Corrupt(`field "${key}.${field}" is not an array element (type ${t.type})`);
          }
          fields.push([
            field,
            this.matrix(t.data, t.data + t.nbytes, `${key}.${field}`, depth + 1)
              .value,
          ]);
          off = t.next;
        }
        return { name, value: { fields } };
      }
      case 3:
        return problem("is a MATLAB object, not a numeric array");
      case 4:
        return problem("is a character array, not numeric");
      case 5:
        return { name, value: this.sparse(off, end, dims, key, complex) };
      case 16:
        return problem("is a function handle, not a numeric array");
      case 17:
      case 18:
        return problem("is a MATLAB object, not a numeric array");
    }
    const dtype = MX_NUMERIC[cls];
    if (dtype === undefined) throw new Corrupt(`"${key}" has unknown array class ${cls}`);
    const pr = this.tag(off, end);
    const colMajor = this.sized(pr, count, dims, key, "data");
    if (complex) return problem("has complex values");
    // column-major [d0, d1, …] is row-major [… , d1, d0]: reversing the axes gives MATLAB's order
    const reversed = {
      data: colMajor,
      shape: [...dims].reverse(),
      dtype: logical ? "logical" : dtype,
    };
    return { name, value: { array: reverseAxes(reversed) } };
  }

  private sparse(off: number, end: number, dims: number[], key: string, complex: boolean): Entry {
    if (dims.length !== 2) throw new Corrupt(`sparse "${key}" has ${dims.length} dimensions`);
    const [rows, cols] = dims;
    const irTag = this.tag(off, end);
    const jcTag = this.tag(irTag.next, end);
    const prTag = this.tag(jcTag.next, end);
    const ir = this.int32s(irTag, "the row indices");
    if (jcTag.nbytes !== (cols + 1) * 4) {
      throw loadError(
        this.file,
        key,
        `declares a sparse [${rows}, ${cols}] matrix (${cols + 1} column starts) but holds ${
          jcTag.nbytes / 4
        }; the file is corrupt`,
      );
    }
    const jc = this.int32s(jcTag, "the column starts");
    if (complex) return { problem: "is a complex sparse matrix" };
    if (MI_BYTES[prTag.type] === undefined) {
      throw new Corrupt(`the values of sparse "${key}" have data type ${prTag.type}`);
    }
    const pr = this.numbers(prTag, key);
    const nnz = jc[cols];
    if (
      jc[0] !== 0 || nnz > ir.length || nnz > pr.length || jc.some((v, i) => i > 0 && v < jc[i - 1])
    ) {
      throw loadError(this.file, key, "has inconsistent sparse indices; the file is corrupt");
    }
    if (rows * cols * 8 > MAX_DENSE_BYTES) {
      throw loadError(
        this.file,
        key,
        `is a sparse [${rows}, ${cols}] matrix; as a dense array it needs ${
          rows * cols * 8
        } bytes, more than the ${MAX_DENSE_BYTES} this reader expands`,
      );
    }
    const out = new Float64Array(rows * cols);
    for (let c = 0; c < cols; c++) {
      for (let k = jc[c]; k < jc[c + 1]; k++) {
        if (!(ir[k] >= 0 && ir[k] < rows)) {
          throw loadError(this.file, key, `has row index ${ir[k]} outside [0, ${rows})`);
        }
        out[ir[k] * cols + c] = pr[k];
      }
    }
    return { array: { data: out, shape: [rows, cols], dtype: "sparse" } };
  }
}

/**
 * Inflate a compressed element, stopping as soon as the output passes the size that the inner
 * element's tag declares (so a small file cannot expand without bound).
 */
function inflate(data: Uint8Array, le: boolean, at: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let cap = Infinity;
  const z = new Unzlib((chunk) => {
    chunks.push(chunk);
    total += chunk.length;
    if (cap === Infinity && total >= 8) {
      const head = concat(chunks).subarray(0, 8);
      const dv = new DataView(head.buffer, head.byteOffset, 8);
      const first = dv.getUint32(0, le);
      cap = first >>> 16 !== 0 ? 8 : 8 + pad8(dv.getUint32(4, le));
    }
    if (total > cap) {
      throw new Corrupt(
        `the compressed element at byte ${at} inflates past the ${cap} bytes its contents declare`,
      );
    }
  });
  const step = 1 << 16;
  try {
    if (data.length === 0) throw new Error("it is empty");
    for (let i = 0; i < data.length; i += step) {
      z.push(data.subarray(i, i + step), i + step >= data.length);
    }
  } catch (err) {
    if (err instanceof Corrupt) throw err;
    throw new Corrupt(
      `the compressed element at byte ${at} does not inflate: ${(err as Error).message}`,
    );
  }
  return concat(chunks);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function flatten(key: string, value: MatValue, out: Map<string, Entry>): void {
  if ("fields" in value) {
    out.set(key, { problem: 'is a struct; use its fields ("name.field")' });
    for (const [f, v] of value.fields) flatten(`${key}.${f}`, v, out);
  } else {
    out.set(key, value);
  }
}

/** Read every variable of a Level 5 file; malformed structure becomes one error naming the file. */
function readLevel5(bytes: Uint8Array, file: string): Map<string, Entry> {
  let le: boolean;
  if (bytes[126] === 0x49 && bytes[127] === 0x4d) le = true; // "IM"
  else if (bytes[126] === 0x4d && bytes[127] === 0x49) le = false; // "MI"
  else {throw loadError(
      file,
      undefined,
      'not a MATLAB Level 5 MAT-file (no "IM"/"MI" byte order mark)',
    );}
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, Entry>();
  const reader = new Level5Reader(bytes, le, file);
  let off = 128;
  while (off < bytes.length) {
    if (off + 8 > bytes.length) {
      throw loadError(file, undefined, `truncated: a data element tag at byte ${off} is cut off`);
    }
    const first = view.getUint32(off, le);
    const small = first >>> 16 !== 0;
    const type = small ? first & 0xffff : first;
    const nbytes = small ? 0 : view.getUint32(off + 4, le);
    const size = small ? 8 : 8 + (type === 15 ? nbytes : pad8(nbytes));
    if (off + size > bytes.length) {
      throw loadError(
        file,
        undefined,
        `truncated: the data element at byte ${off} needs ${size} bytes but the file ends after ${
          bytes.length - off
        }`,
      );
    }
    try {
      let read: { name: string; value: MatValue } | undefined;
      if (type === 14) read = reader.matrix(off + 8, off + 8 + nbytes, "");
      else if (type === 15) {
        const inner = inflate(bytes.subarray(off + 8, off + 8 + nbytes), le, off);
        const r = new Level5Reader(inner, le, file, off);
        const t = r.tag(0, inner.length);
        if (t.type === 14) read = r.matrix(t.data, t.data + t.nbytes, "");
      }
      // other top-level elements carry no variable; unnamed ones are MATLAB's own workspace data
      if (read && read.name !== "") flatten(read.name, read.value, out);
    } catch (err) {
      if (!(err instanceof Corrupt)) throw err;
      throw loadError(
        file,
        undefined,
        `cannot parse the MAT-file (truncated or corrupt?): ${err.message}`,
      );
    }
    off += size;
  }
  return out;
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
  const entries = readLevel5(bytes, file);
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
