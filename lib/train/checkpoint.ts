/**
 * Checkpoints in the safetensors format (HuggingFace), readable from PyTorch with
 * `safetensors.torch.load_file`.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header padded with spaces to
 * a multiple of 8, then the tensor data. The header maps each dotted parameter path to
 * `{ dtype, shape, data_offsets: [begin, end] }` (byte offsets into the data section) and may
 * hold `"__metadata__"`, a record of strings. Tensors are written in sorted path order,
 * little-endian; float32 tensors as `F32`, int32 tensors as `I32`.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { flatten, type Params, unflatten } from "../core/tree.ts";
import { writeFileAtomic } from "../core/io.ts";

/** Safetensors dtypes hest reads and writes. */
export type SafetensorsDtype = "F32" | "I32";

/** One tensor entry of a safetensors header. */
export interface SafetensorsEntry {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Tensor shape (empty for a scalar). */
  shape: number[];
  /** `[begin, end)` byte offsets into the data section. */
  data_offsets: [number, number];
}

/** Options of {@linkcode encodeSafetensors} and {@linkcode saveCheckpoint}. */
export interface SafetensorsOptions {
  /** Free-form string metadata stored under `"__metadata__"`. */
  metadata?: Record<string, string>;
}

/** A decoded safetensors file. */
export interface DecodedSafetensors {
  /** The tensors as a parameter tree (new tensors, owned by the caller). */
  params: Params;
  /** The `"__metadata__"` record; empty when the file has none. */
  metadata: Record<string, string>;
}

const DTYPES: Record<SafetensorsDtype, { tf: "float32" | "int32"; bytes: number }> = {
  F32: { tf: "float32", bytes: 4 },
  I32: { tf: "int32", bytes: 4 },
};

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function toLittleEndian(values: Float32Array | Int32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else {
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) {
      if (values instanceof Float32Array) view.setFloat32(4 * i, values[i], true);
      else view.setInt32(4 * i, values[i], true);
    }
  }
  return out;
}

function fromLittleEndian(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array | Int32Array {
  const n = bytes.length / 4;
  if (LITTLE_ENDIAN) {
    const copy = bytes.slice().buffer; // aligned, owned copy
    return dtype === "F32" ? new Float32Array(copy) : new Int32Array(copy);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = dtype === "F32" ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = dtype === "F32" ? view.getFloat32(4 * i, true) : view.getInt32(4 * i, true);
  }
  return out;
}

function checkMetadata(metadata: unknown, where: string): Record<string, string> {
  if (metadata === undefined) return {};
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new Error(
      `${where}: expected "__metadata__" to be a record of strings, found ${
        metadata === null ? "null" : Array.isArray(metadata) ? "an array" : typeof metadata
      }`,
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new Error(`${where}: expected metadata "${k}" to be a string, found ${typeof v}`);
    }
    out[k] = v;
  }
  return out;
}

/**
 * Serialise a parameter tree to safetensors bytes. Tensor names are the dotted paths, written in
 * sorted order; values are read with `await t.data()`, so this works on every backend. Float32
 * tensors are stored as `F32`, int32 as `I32`; other dtypes throw naming the tensor. The input
 * tensors are not disposed.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, tf } from "@hest/hest";
 * const bytes = await encodeSafetensors({ w: tf.ones([2, 2]) }, { metadata: { step: "10" } });
 * ```
 */
export async function encodeSafetensors(
  params: Params,
  opts: SafetensorsOptions = {},
): Promise<Uint8Array> {
  const metadata = checkMetadata(opts.metadata, "encodeSafetensors");
  const header: Record<string, SafetensorsEntry | Record<string, string>> = {};
  if (opts.metadata !== undefined) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { path, tensor } of flatten(params)) {
    if (path === "__metadata__") {
      throw new Error(`encodeSafetensors: the name "__metadata__" is reserved, found a tensor`);
    }
    let dtype: SafetensorsDtype;
    if (tensor.dtype === "float32") dtype = "F32";
    else if (tensor.dtype === "int32") dtype = "I32";
    else {
      throw new Error(
        `encodeSafetensors "${path}": expected a float32 or int32 tensor, found ${tensor.dtype}`,
      );
    }
    const values = await tensor.data();
    const bytes = toLittleEndian(values as Float32Array | Int32Array);
    header[path] = {
      dtype,
      shape: [...tensor.shape],
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parse safetensors bytes into a parameter tree and metadata, validating everything first (no
 * tensor is created for an invalid file). Throws an error naming the problem, and the tensor
 * where there is one, for: a file shorter than 8 bytes, a header length beyond the file, a header
 * that is not a JSON object, an unsupported dtype (only `F32` and `I32`), a bad shape or
 * offsets, offsets that do not match the shape, lie beyond the data, overlap, leave gaps or do
 * not cover the whole data section, and names that do not form a tree (`"a"` and `"a.b"`).
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors, tf } from "@hest/hest";
 * const { params, metadata } = decodeSafetensors(await encodeSafetensors({ w: tf.ones([2]) }));
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (bytes.length < 8) {
    throw new Error(
      `safetensors: truncated file: expected at least 8 bytes for the header length, found ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    throw new Error(
      `safetensors: header length ${n} bytes exceeds the ${bytes.length - 8} bytes after the ` +
        `length field (truncated or not a safetensors file)`,
    );
  }
  const headerEnd = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, headerEnd)),
    );
  } catch (err) {
    throw new Error(`safetensors: header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new Error(
      `safetensors: expected the header to be a JSON object, found ${
        header === null ? "null" : Array.isArray(header) ? "an array" : typeof header
      }`,
    );
  }
  const dataLength = bytes.length - headerEnd;
  const record = header as Record<string, unknown>;
  const metadata = checkMetadata(record.__metadata__, "safetensors");
  const entries: {
    name: string;
    dtype: SafetensorsDtype;
    shape: number[];
    begin: number;
    end: number;
  }[] = [];
  for (const [name, raw] of Object.entries(record)) {
    if (name === "__metadata__") continue;
    const where = `safetensors tensor "${name}"`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new Error(`${where}: expected an object with dtype, shape, data_offsets`);
    }
    const e = raw as Record<string, unknown>;
    if (typeof e.dtype !== "string" || !(e.dtype in DTYPES)) {
      throw new Error(
        `${where}: unsupported dtype ${JSON.stringify(e.dtype)}: expected one of ${
          Object.keys(DTYPES).join(", ")
        }`,
      );
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || !e.shape.every(isNonNegInt)) {
      throw new Error(
        `${where}: expected shape to be an array of integers ≥ 0, found ${JSON.stringify(e.shape)}`,
      );
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every(isNonNegInt) || off[0] > off[1]) {
      throw new Error(
        `${where}: expected data_offsets [begin, end] with 0 ≤ begin ≤ end, found ${
          JSON.stringify(off)
        }`,
      );
    }
    const [begin, end] = off as [number, number];
    const shape = e.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].bytes;
    if (end - begin !== size) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, expected ${size} ` +
          `for ${dtype} shape [${shape}]`,
      );
    }
    if (end > dataLength) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] out of range: the data section has ` +
          `${dataLength} bytes (truncated file?)`,
      );
    }
    const parts = name.split(".");
    if (parts.some((p) => p === "")) {
      throw new Error(`${where}: expected a dotted path of non-empty names`);
    }
    entries.push({ name, dtype, shape, begin, end });
  }
  // the tensors must tile the data section exactly, in offset order
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (let i = 0; i < byOffset.length; i++) {
    const e = byOffset[i];
    if (e.begin < pos) {
      throw new Error(
        `safetensors tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor ` +
          `"${byOffset[i - 1].name}" (which ends at ${pos})`,
      );
    }
    if (e.begin > pos) {
      throw new Error(
        `safetensors tensor "${e.name}": data_offsets begin at ${e.begin}, expected ${pos}: ` +
          `bytes ${pos}..${e.begin} are not covered by any tensor`,
      );
    }
    pos = e.end;
  }
  if (pos !== dataLength) {
    throw new Error(
      `safetensors: tensors cover ${pos} bytes of the data section, expected all ${dataLength} ` +
        `(trailing bytes not covered by any tensor)`,
    );
  }
  const names = new Set(entries.map((e) => e.name));
  for (const { name } of entries) {
    const parts = name.split(".");
    for (let k = 1; k < parts.length; k++) {
      const prefix = parts.slice(0, k).join(".");
      if (names.has(prefix)) {
        throw new Error(
          `safetensors tensor "${name}": its prefix "${prefix}" is also a tensor; expected ` +
            `names that form a tree`,
        );
      }
    }
  }
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const leaves = sorted.map((e) => {
    const values = fromLittleEndian(
      bytes.subarray(headerEnd + e.begin, headerEnd + e.end),
      e.dtype,
    );
    return { path: e.name, tensor: tf.tensor(values, e.shape, DTYPES[e.dtype].tf) };
  });
  return { params: unflatten(leaves), metadata };
}

/**
 * Save `params` (and optional string metadata) to a safetensors file, atomically.
 *
 * @example
 * ```ts
 * import { saveCheckpoint, tf } from "@hest/hest";
 * await saveCheckpoint("/tmp/hest-example.safetensors", { w: tf.ones([2]) }, {
 *   metadata: { step: "100" },
 * });
 * ```
 */
export async function saveCheckpoint(
  path: string,
  params: Params,
  opts: SafetensorsOptions = {},
): Promise<void> {
  await writeFileAtomic(path, await encodeSafetensors(params, opts));
}

/**
 * Load a safetensors checkpoint. Errors (missing file, corrupt contents) name the file.
 *
 * @example
 * ```ts
 * import { loadCheckpoint } from "@hest/hest";
 * // const { params, metadata } = await loadCheckpoint("runs/demo/checkpoint.safetensors");
 * ```
 */
export async function loadCheckpoint(path: string): Promise<DecodedSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read the checkpoint: ${(err as Error).message}`);
  }
  try {
    return decodeSafetensors(bytes);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}
