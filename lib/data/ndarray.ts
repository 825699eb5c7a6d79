/**
 * Named n-dimensional numeric arrays as the file readers return them, and the checks every
 * loader shares.
 *
 * Each reader (HDF5, MATLAB, NumPy) turns what it finds into an {@linkcode NdArray}: a flat
 * row-major `Float64Array` (last index fastest), its shape, and the dtype it had in the file.
 * An {@linkcode ArraySource} hands them out by key, so the dataset builders (NLB tensors,
 * continuous windows, trial tensors) work the same on every container. Problems are reported
 * with {@linkcode loadError}: one `DatasetError` naming the file, the key and what was expected.
 *
 * @module
 */
import { type Array3D, DatasetError } from "./dataset.ts";

/** A dense numeric array read from a file, row-major (last index fastest). */
export interface NdArray {
  /** Values, length = product of `shape`. */
  readonly data: Float64Array;
  /** Dimensions; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** The element type in the file, e.g. `"f4"`, `"u1"`, `"double"`, `"bool"`. */
  readonly dtype: string;
}

/** Named arrays of one file (or one group of it), read on demand. */
export interface ArraySource {
  /** The file path, for error messages. */
  readonly file: string;
  /** Names of the arrays available. */
  keys(): string[];
  /** Whether an array of this name exists. */
  has(key: string): boolean;
  /** Read one array; throws a {@linkcode loadError} naming file and key when it cannot. */
  get(key: string): NdArray;
  /** A numeric attribute of the source (e.g. HDF5 `bin_size_ms`), when present. */
  attr(name: string): number | undefined;
  /** The HDF5 group the arrays sit in (e.g. nlb_tools' `mc_maze_small`), when not the root. */
  readonly groupName?: string;
  /** The file an array comes from, when the source spans several files (default `file`). */
  fileOf?(key: string): string;
  /** Release the file behind the source, when one is held open. */
  close?(): void;
}

/**
 * Build the one error every loader raises: `FILE: key "KEY": PROBLEM` (a `DatasetError`).
 *
 * @example
 * ```ts
 * import { loadError } from "@hest/hest";
 * throw loadError("data.h5", "train_spikes_heldin", "expected 3 dimensions, found 2");
 * ```
 */
export function loadError(file: string, key: string | undefined, problem: string): DatasetError {
  return new DatasetError(
    key === undefined ? `${file}: ${problem}` : `${file}: key "${key}": ${problem}`,
  );
}

/**
 * Product of a shape's dimensions (1 for a scalar).
 *
 * @example
 * ```ts
 * import { shapeSize } from "@hest/hest";
 * shapeSize([2, 3, 4]); // 24
 * ```
 */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Typed arrays the readers may hand over. */
export type NumericArray =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | readonly (number | bigint | boolean)[];

/** Where an array came from, for error messages. */
export interface ArrayOrigin {
  /** File path. */
  file: string;
  /** Key (dataset path, variable name) in the file. */
  key: string;
}

/**
 * Make an {@linkcode NdArray} from values of any numeric type, checking that their number
 * matches the shape (a shorter array means a truncated file). 64-bit integers must be exactly
 * representable as doubles; booleans become 0/1.
 *
 * @example
 * ```ts
 * import { ndarray } from "@hest/hest";
 * const a = ndarray(new Uint8Array([1, 2, 3, 4]), [2, 2], { file: "x.npy", key: "x", dtype: "u1" });
 * ```
 */
export function ndarray(
  values: NumericArray,
  shape: readonly number[],
  opts: ArrayOrigin & { dtype: string },
): NdArray {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw loadError(opts.file, opts.key, `invalid shape [${shape.join(", ")}]`);
  }
  const n = shapeSize(shape);
  if (values.length !== n) {
    throw loadError(
      opts.file,
      opts.key,
      `has ${values.length} values but its shape [${shape.join(", ")}] needs ${n} ` +
        `(truncated or corrupt file?)`,
    );
  }
  let data: Float64Array;
  if (values instanceof Float64Array) data = values;
  else if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    data = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
        throw loadError(opts.file, opts.key, `64-bit integer ${v} at flat index ${i} is too large`);
      }
      data[i] = Number(v);
    }
  } else if (ArrayBuffer.isView(values)) {
    data = Float64Array.from(values as ArrayLike<number>);
  } else {
    data = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === "boolean") data[i] = v ? 1 : 0;
      else if (typeof v === "bigint") data[i] = Number(v);
      else if (typeof v === "number") data[i] = v;
      else {
        throw loadError(
          opts.file,
          opts.key,
          `value at flat index ${i} is not a number (${typeof v})`,
        );
      }
    }
  }
  return { data, shape: [...shape], dtype: opts.dtype };
}

/**
 * Reverse the axis order of an array (a full transpose): MATLAB v7.3 and Fortran-order NumPy
 * files store arrays column-major, so their row-major view has the axes reversed.
 *
 * @example
 * ```ts
 * import { ndarray, reverseAxes } from "@hest/hest";
 * const a = ndarray([1, 2, 3, 4, 5, 6], [2, 3], { file: "f", key: "k", dtype: "f8" });
 * reverseAxes(a).data; // Float64Array [1, 4, 2, 5, 3, 6], shape [3, 2]
 * ```
 */
export function reverseAxes(a: NdArray): NdArray {
  const shape = a.shape;
  const k = shape.length;
  if (k < 2) return a;
  const out = new Float64Array(a.data.length);
  const rshape = [...shape].reverse();
  const strides = new Array<number>(k);
  strides[k - 1] = 1;
  for (let d = k - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
  // walk the output in row-major order; output index (j0..jk-1) = input (jk-1..j0)
  const idx = new Array<number>(k).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < k; d++) src += idx[d] * strides[k - 1 - d];
    out[o] = a.data[src];
    for (let d = k - 1; d >= 0; d--) {
      if (++idx[d] < rshape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: rshape, dtype: a.dtype };
}

/**
 * Transpose a 2-D array.
 *
 * @example
 * ```ts
 * import { ndarray, transpose2d } from "@hest/hest";
 * transpose2d(ndarray([1, 2, 3, 4, 5, 6], [2, 3], { file: "f", key: "k", dtype: "f8" })).shape; // [3, 2]
 * ```
 */
export function transpose2d(a: NdArray): NdArray {
  if (a.shape.length !== 2) {
    throw new DatasetError(
      `transpose2d: expected a 2-D array, found shape [${a.shape.join(", ")}]`,
    );
  }
  return reverseAxes(a);
}

/**
 * Check an array's rank (and optionally some dimensions), naming file and key when it is wrong.
 *
 * @example
 * ```ts
 * import { expectShape, ndarray } from "@hest/hest";
 * const a = ndarray([0, 1], [1, 2], { file: "f", key: "k", dtype: "f8" });
 * expectShape(a, [null, 2], { file: "f", key: "k" });
 * ```
 */
export function expectShape(
  a: NdArray,
  expected: readonly (number | null)[],
  where: ArrayOrigin & { what?: string },
): void {
  const found = `[${a.shape.join(", ")}]`;
  const want = `[${expected.map((e) => e ?? "*").join(", ")}]`;
  const what = where.what ? ` (${where.what})` : "";
  if (a.shape.length !== expected.length) {
    throw loadError(
      where.file,
      where.key,
      `expected ${expected.length} dimensions ${want}${what}, found shape ${found}`,
    );
  }
  expected.forEach((e, d) => {
    if (e !== null && a.shape[d] !== e) {
      throw loadError(
        where.file,
        where.key,
        `expected shape ${want}${what}, found ${found} (dimension ${d} is ${a.shape[d]}, not ${e})`,
      );
    }
  });
}

/**
 * Check that every value is a finite non-negative integer (a spike count), naming the file,
 * key and the first bad element's index.
 *
 * @example
 * ```ts
 * import { checkCounts, ndarray } from "@hest/hest";
 * checkCounts(ndarray([0, 2, 1], [3], { file: "f", key: "spikes", dtype: "u1" }), { file: "f", key: "spikes" });
 * ```
 */
export function checkCounts(a: NdArray, where: ArrayOrigin): void {
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v >= 0 && v === Math.round(v) && v !== Infinity) continue;
    const at = `[${unravel(i, a.shape).join(", ")}]`;
    const problem = Number.isNaN(v)
      ? "NaN"
      : v < 0
      ? `negative (${v})`
      : `not a non-negative integer (${v})`;
    throw loadError(
      where.file,
      where.key,
      `spike counts must be non-negative integers; ${problem} at ${at}`,
    );
  }
}

/**
 * Check that every value is finite or NaN (NaN marks missing behaviour); ±Infinity is an error.
 *
 * @example
 * ```ts
 * import { checkFiniteOrNaN, ndarray } from "@hest/hest";
 * checkFiniteOrNaN(ndarray([0, NaN], [2], { file: "f", key: "vel", dtype: "f8" }), { file: "f", key: "vel" });
 * ```
 */
export function checkFiniteOrNaN(a: NdArray, where: ArrayOrigin): void {
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    if (d[i] === Infinity || d[i] === -Infinity) {
      throw loadError(
        where.file,
        where.key,
        `value ${d[i]} at [${unravel(i, a.shape).join(", ")}] is not finite`,
      );
    }
  }
}

/**
 * Row-major multi-index of a flat index.
 *
 * @example
 * ```ts
 * import { unravel } from "@hest/hest";
 * unravel(5, [2, 3]); // [1, 2]
 * ```
 */
export function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = shape[d] === 0 ? 0 : i % shape[d];
    i = shape[d] === 0 ? 0 : Math.floor(i / shape[d]);
  }
  return out;
}

/**
 * View a 3-D {@linkcode NdArray} as a float32 {@linkcode Array3D}.
 *
 * @example
 * ```ts
 * import { ndarray, toArray3D } from "@hest/hest";
 * toArray3D(ndarray([1, 2], [1, 1, 2], { file: "f", key: "k", dtype: "f8" }), { file: "f", key: "k" }).shape; // [1, 1, 2]
 * ```
 */
export function toArray3D(a: NdArray, where: ArrayOrigin): Array3D {
  expectShape(a, [null, null, null], where);
  return { data: Float32Array.from(a.data), shape: [a.shape[0], a.shape[1], a.shape[2]] };
}

/**
 * An {@linkcode ArraySource} over arrays already in memory (NumPy .npz, MATLAB v5).
 *
 * @example
 * ```ts
 * import { memorySource, ndarray } from "@hest/hest";
 * const src = memorySource("x.npz", { a: ndarray([1], [1], { file: "x.npz", key: "a", dtype: "f8" }) });
 * src.get("a").shape; // [1]
 * ```
 */
export function memorySource(
  file: string,
  arrays: Readonly<Record<string, NdArray>>,
  attrs: Readonly<Record<string, number>> = {},
): ArraySource {
  return {
    file,
    keys: () => Object.keys(arrays),
    has: (k: string) => Object.hasOwn(arrays, k),
    get(k: string): NdArray {
      if (!Object.hasOwn(arrays, k)) {
        throw loadError(
          file,
          k,
          `not found; the file has: ${Object.keys(arrays).join(", ") || "(nothing)"}`,
        );
      }
      return arrays[k];
    },
    attr: (name: string) => attrs[name],
  };
}
