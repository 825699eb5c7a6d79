/**
 * HDF5 files through h5wasm (the HDF5 C library compiled to WebAssembly): open a file, read
 * datasets and attributes as {@linkcode NdArray}s with errors that name the file and the key,
 * and write files atomically.
 *
 * A 1-D variable-length numeric dataset (h5py `vlen_dtype`; nlb_tools' `save_to_h5` stores
 * `eval_cond_idx` so) reads as a `[rows, longest row]` array with NaN after each row's end and a
 * dtype starting `vlen`.
 *
 * h5wasm's throwing error handler is switched on, so HDF5's own diagnostics (truncated file,
 * bad signature, unreadable chunk) become one exception instead of text on stderr; the last,
 * most specific line of that stack is quoted in the error.
 *
 * @module
 */
import {
  Dataset as H5Dataset,
  File as H5File,
  Group as H5Group,
  ready as h5ready,
} from "h5wasm/node";
import { basename, dirname, join } from "node:path";
import { type Array3D, DatasetError } from "./dataset.ts";
import {
  type ArraySource,
  loadError,
  type NdArray,
  ndarray,
  type NumericArray,
} from "./ndarray.ts";

/** The 8-byte HDF5 signature. */
export const HDF5_SIGNATURE: Uint8Array = Uint8Array.of(
  0x89,
  0x48,
  0x44,
  0x46,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
);

let readyPromise: Promise<void> | undefined;

/**
 * Initialise h5wasm once (loads its WebAssembly module, switches errors to exceptions).
 *
 * @example
 * ```ts
 * import { hdf5Ready } from "@hest/hest";
 * await hdf5Ready();
 * ```
 */
export function hdf5Ready(): Promise<void> {
  readyPromise ??= h5ready.then((m) => {
    m.activate_throwing_error_handler();
  });
  return readyPromise;
}

/**
 * Where the HDF5 superblock starts: offset 0, 512, 1024, 2048, … (a user block, as MATLAB
 * v7.3 files have, shifts it), or -1 when the bytes hold no HDF5 signature.
 *
 * @example
 * ```ts
 * import { hdf5SignatureOffset } from "@hest/hest";
 * hdf5SignatureOffset(new Uint8Array(8)); // -1
 * ```
 */
export function hdf5SignatureOffset(bytes: Uint8Array): number {
  for (let off = 0; off + 8 <= bytes.length; off = off === 0 ? 512 : off * 2) {
    if (HDF5_SIGNATURE.every((b, i) => bytes[off + i] === b)) return off;
    if (off > (1 << 24)) break;
  }
  return -1;
}

/** Shorten an HDF5-DIAG stack to its most specific line. */
function hdf5Message(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text.split("\n").filter((l) => /^\s*#\d+:/.test(l));
  if (lines.length === 0) return text.trim().split("\n")[0];
  return lines[lines.length - 1].replace(/^.*\(\): /, "").trim();
}

/** An HDF5 dataset or group as h5wasm returns it (the parts hest uses). */
type H5Entity = ReturnType<H5Group["get"]>;

/** An open HDF5 file, read-only. Close it with `close()`. */
export interface Hdf5File extends ArraySource {
  /** Names of the members (datasets and groups) of a group (default the root). */
  members(group?: string): string[];
  /** Whether `path` is a group. */
  isGroup(path: string): boolean;
  /** Whether `path` is a dataset. */
  isDataset(path: string): boolean;
  /** Shape of a dataset, without reading it. */
  shape(path: string): number[];
  /** A dataset of strings (e.g. an NWB `split` column). */
  getStrings(path: string): string[];
  /** A numeric attribute of a dataset or group (`path` default the root). */
  attr(name: string, path?: string): number | undefined;
  /** A string attribute of a dataset or group (`path` default the root). */
  attrString(name: string, path?: string): string | undefined;
  /** An {@linkcode ArraySource} over the datasets of one group (keys relative to it). */
  group(path: string): ArraySource;
  /** Release the file. */
  close(): void;
}

/**
 * Open an HDF5 file for reading. Errors (missing file, not HDF5, truncated) name the file.
 *
 * @example
 * ```ts
 * import { openHdf5 } from "@hest/hest";
 * const f = await openHdf5("data.h5");
 * const spikes = f.get("train_spikes_heldin"); // NdArray
 * f.close();
 * ```
 */
export async function openHdf5(path: string): Promise<Hdf5File> {
  await hdf5Ready();
  try {
    const st = await Deno.stat(path);
    if (!st.isFile) throw new Error("not a file");
  } catch (err) {
    throw loadError(path, undefined, `cannot read the file: ${(err as Error).message}`);
  }
  let f: H5File;
  try {
    f = new H5File(path, "r");
  } catch (err) {
    throw loadError(path, undefined, `not a readable HDF5 file: ${hdf5Message(err)}`);
  }
  if (typeof f.file_id === "bigint" && f.file_id < 0n) {
    throw loadError(path, undefined, "not a readable HDF5 file");
  }
  return wrapFile(path, f);
}

function norm(path: string): string {
  return path.replace(/^\/+/, "").replace(/\/+$/, "");
}

/**
 * A 1-D variable-length numeric dataset (h5py's `vlen_dtype`, as nlb_tools' `save_to_h5` writes
 * object arrays such as `eval_cond_idx`) as `[rows, longest row]`, each row padded with NaN: the
 * dense {@linkcode NdArray} every loader takes, with dtype `vlen<…>` so a reader can tell.
 */
function raggedRows(file: string, path: string, d: H5Dataset, value: unknown): NdArray {
  const base = (d.metadata as { vlen_type?: { type: number; size: number; signed: boolean } })
    .vlen_type;
  const shape = d.shape ?? [];
  if (!base || (base.type !== 0 && base.type !== 1)) {
    throw loadError(
      file,
      path,
      `expected numeric variable-length rows, found variable-length ${
        base ? `elements of HDF5 type class ${base.type}` : "data of unknown type"
      }`,
    );
  }
  const dtype = `vlen<${base.type === 1 ? "f" : base.signed ? "i" : "u"}${base.size}>`;
  if (shape.length !== 1 || !Array.isArray(value) || value.length !== shape[0]) {
    throw loadError(
      file,
      path,
      `expected a 1-D list of variable-length rows, found ${dtype} of shape [${shape.join(", ")}]`,
    );
  }
  const rows = value as ArrayLike<number | bigint>[];
  const width = rows.reduce((m, r) => Math.max(m, r.length), 0);
  const out = new Float64Array(rows.length * width).fill(NaN);
  rows.forEach((r, i) => {
    for (let j = 0; j < r.length; j++) {
      const v = r[j];
      if (
        typeof v === "bigint" &&
        (v > BigInt(Number.MAX_SAFE_INTEGER) || -v > BigInt(Number.MAX_SAFE_INTEGER))
      ) {
        throw loadError(file, path, `64-bit integer ${v} in row ${i} is too large`);
      }
      out[i * width + j] = Number(v);
    }
  });
  return { data: out, shape: [rows.length, width], dtype };
}

function wrapFile(file: string, f: H5File): Hdf5File {
  let closed = false;
  const entity = (path: string): H5Entity => {
    if (closed) throw loadError(file, path, "the file is already closed");
    const p = norm(path);
    try {
      return p === "" ? f : f.get(p);
    } catch (err) {
      throw loadError(file, path, `cannot read: ${hdf5Message(err)}`);
    }
  };
  const dataset = (path: string): H5Dataset => {
    const e = entity(path);
    if (e === null || e === undefined) throw loadError(file, path, "not found");
    if (!(e instanceof H5Dataset)) throw loadError(file, path, "is a group, expected a dataset");
    return e;
  };
  const groupOf = (path: string): H5Group => {
    const e = entity(path);
    if (e === null || e === undefined) throw loadError(file, path, "group not found");
    if (!(e instanceof H5Group)) throw loadError(file, path, "is a dataset, expected a group");
    return e;
  };
  const read = (path: string): NdArray => {
    const d = dataset(path);
    let value: unknown, shape: number[], dtype: string, type: number;
    try {
      const meta = d.metadata;
      type = meta.type;
      dtype = typeof d.dtype === "string" ? d.dtype : JSON.stringify(d.dtype);
      shape = d.shape ?? [];
      value = d.value;
    } catch (err) {
      throw loadError(file, path, `cannot read: ${hdf5Message(err)}`);
    }
    // h5wasm metadata.type: 0 integer, 1 float, 8 enum (numpy bool), 9 variable-length
    if (type === 9) return raggedRows(file, path, d, value);
    if (![0, 1, 8].includes(type)) {
      throw loadError(file, path, `expected a numeric dataset, found dtype ${dtype}`);
    }
    if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
      value = [value];
    }
    if (!ArrayBuffer.isView(value) && !Array.isArray(value)) {
      throw loadError(file, path, `expected a numeric dataset, found dtype ${dtype}`);
    }
    return ndarray(value as NumericArray, shape, { file, key: path, dtype });
  };
  const attrOf = (name: string, path = ""): unknown => {
    const e = entity(path);
    if (e === null || e === undefined) return undefined;
    try {
      const attrs = (e as H5Group | H5Dataset).attrs;
      return Object.hasOwn(attrs, name) ? attrs[name].value : undefined;
    } catch (err) {
      throw loadError(file, path || "/", `cannot read attribute "${name}": ${hdf5Message(err)}`);
    }
  };
  const exists = (path: string): boolean => {
    try {
      const e = entity(path);
      return e !== null && e !== undefined;
    } catch {
      return false;
    }
  };
  const self: Hdf5File = {
    file,
    keys: () => self.members(""),
    has: (k) => exists(k) && self.isDataset(k),
    get: read,
    members(group = "") {
      try {
        return groupOf(group).keys();
      } catch (err) {
        if (err instanceof DatasetError) throw err;
        throw loadError(file, group || "/", `cannot list: ${hdf5Message(err)}`);
      }
    },
    isGroup: (p) => exists(p) && entity(p) instanceof H5Group,
    isDataset: (p) => exists(p) && entity(p) instanceof H5Dataset,
    shape(p) {
      try {
        return dataset(p).shape ?? [];
      } catch (err) {
        if (err instanceof DatasetError) throw err;
        throw loadError(file, p, `cannot read: ${hdf5Message(err)}`);
      }
    },
    getStrings(p) {
      const d = dataset(p);
      let v: unknown;
      try {
        v = d.value;
      } catch (err) {
        throw loadError(file, p, `cannot read: ${hdf5Message(err)}`);
      }
      if (typeof v === "string") return [v];
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
      if (Array.isArray(v) || ArrayBuffer.isView(v)) {
        return Array.from(v as ArrayLike<unknown>, (x) => String(x));
      }
      throw loadError(file, p, `expected strings, found ${typeof v}`);
    },
    attr(name, path = "") {
      const v = attrOf(name, path);
      if (v === undefined || v === null) return undefined;
      const x = ArrayBuffer.isView(v) || Array.isArray(v) ? (v as ArrayLike<unknown>)[0] : v;
      if (typeof x === "number") return x;
      if (typeof x === "bigint") return Number(x);
      if (typeof x === "string" && x.trim() !== "" && Number.isFinite(Number(x))) return Number(x);
      return undefined;
    },
    attrString(name, path = "") {
      const v = attrOf(name, path);
      if (typeof v === "string") return v;
      if (Array.isArray(v) && typeof v[0] === "string") return v[0];
      return undefined;
    },
    group(path) {
      const prefix = norm(path);
      groupOf(prefix);
      const full = (k: string) => (prefix === "" ? k : `${prefix}/${k}`);
      return {
        file,
        ...(prefix === "" ? {} : { groupName: prefix }),
        keys: () => self.members(prefix).filter((k) => self.isDataset(full(k))),
        has: (k: string) => self.has(full(k)),
        get: (k: string) => read(full(k)),
        attr: (name: string) => self.attr(name, prefix),
      };
    },
    close() {
      if (!closed) {
        closed = true;
        f.close();
      }
    },
  };
  return self;
}

/** A dataset to write with {@linkcode writeHdf5}: float32 or int32 values with a shape. */
export interface Hdf5Dataset {
  /** Values, row-major. */
  data: Float32Array | Float64Array | Int32Array | Uint8Array;
  /** Shape; the product must equal `data.length`. */
  shape: readonly number[];
}

/** A tree of groups and datasets to write: a key maps to a dataset or to a nested group. */
export interface Hdf5Tree {
  /** A dataset, or a nested group, by name (no `/` in names). */
  [name: string]: Hdf5Dataset | Hdf5Tree;
}

/** Options of {@linkcode writeHdf5}. */
export interface WriteHdf5Options {
  /** Attributes of the root group (numbers or strings). */
  attrs?: Record<string, number | string>;
  /** gzip level for every dataset (default none). */
  gzip?: number;
}

function isDatasetSpec(v: Hdf5Dataset | Hdf5Tree): v is Hdf5Dataset {
  return ArrayBuffer.isView((v as Hdf5Dataset).data) && Array.isArray((v as Hdf5Dataset).shape);
}

const DTYPES = new Map<unknown, string>([
  [Float32Array, "<f"],
  [Float64Array, "<d"],
  [Int32Array, "<i"],
  [Uint8Array, "<B"],
]);

/**
 * Write a tree of groups and datasets as an HDF5 file, atomically: into a temporary file next
 * to `path`, synced, then renamed over it. On any error the temporary file is removed and
 * `path` is left as it was.
 *
 * @example
 * ```ts
 * import { writeHdf5 } from "@hest/hest";
 * await writeHdf5("/tmp/x.h5", { grp: { x: { data: new Float32Array(6), shape: [2, 3] } } });
 * ```
 */
export async function writeHdf5(
  path: string,
  tree: Hdf5Tree,
  opts: WriteHdf5Options = {},
): Promise<void> {
  await hdf5Ready();
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID()}.tmp`);
  let f: H5File | undefined;
  try {
    f = new H5File(tmp, "w");
    for (const [k, v] of Object.entries(opts.attrs ?? {})) f.create_attribute(k, v);
    const fill = (g: H5Group, t: Hdf5Tree, at: string) => {
      for (const [name, v] of Object.entries(t)) {
        if (name === "" || name.includes("/")) {
          throw new DatasetError(`writeHdf5: invalid name "${name}" in ${at || "/"}`);
        }
        if (isDatasetSpec(v)) {
          const n = v.shape.reduce((a, b) => a * b, 1);
          if (n !== v.data.length) {
            throw new DatasetError(
              `writeHdf5: ${at}/${name} has ${v.data.length} values for shape [${
                v.shape.join(", ")
              }]`,
            );
          }
          g.create_dataset({
            name,
            data: v.data,
            shape: [...v.shape],
            dtype: DTYPES.get(v.data.constructor) ?? "<f",
            ...(opts.gzip !== undefined && n > 0
              ? { compression: opts.gzip, chunks: [...v.shape].map((d) => Math.max(1, d)) }
              : {}),
          });
        } else {
          fill(g.create_group(name), v, `${at}/${name}`);
        }
      }
    };
    fill(f, tree, "");
    f.close();
    f = undefined;
    const fh = await Deno.open(tmp, { read: true, write: true });
    try {
      await fh.sync();
    } finally {
      fh.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    try {
      f?.close();
    } catch {
      // already failing: keep the first error
    }
    await Deno.remove(tmp).catch(() => {});
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(`${path}: cannot write HDF5: ${hdf5Message(err)}`);
  }
}

/**
 * An {@linkcode Array3D} as an HDF5 dataset spec (float32).
 *
 * @example
 * ```ts
 * import { array3d, hdf5Dataset } from "@hest/hest";
 * hdf5Dataset(array3d(new Float32Array(6), [1, 2, 3])).shape; // [1, 2, 3]
 * ```
 */
export function hdf5Dataset(a: Array3D): Hdf5Dataset {
  return { data: a.data, shape: [...a.shape] };
}
