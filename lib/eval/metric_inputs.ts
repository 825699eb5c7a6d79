/**
 * Private input handling shared by the metric modules (not exported from mod.ts): reading
 * tensors or {@linkcode Array3D}s, shape checks and error-message helpers. The public types
 * {@linkcode RatesInput} and {@linkcode Matrix} are re-exported by `bits_per_spike.ts` and
 * `regression.ts`.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import type { Array3D } from "../data/dataset.ts";

/** A rank-3 `[trials, bins, neurons]` input: a TF.js tensor or an {@linkcode Array3D}. */
export type RatesInput = tf.Tensor | Array3D;

/** A dense row-major 2-D matrix (`data[r * cols + c]`). */
export interface Matrix {
  /** Values, length `rows * cols`. */
  readonly data: Float64Array | Float32Array;
  /** Number of rows (samples). */
  readonly rows: number;
  /** Number of columns (features or outputs). */
  readonly cols: number;
}

function isTensor(x: unknown): x is tf.Tensor {
  if (x instanceof tf.Tensor) return true;
  const t = x as { data?: unknown; shape?: unknown; rank?: unknown } | null;
  return typeof t === "object" && t !== null && typeof t.data === "function" &&
    Array.isArray(t.shape) && typeof t.rank === "number";
}

/** Read a tensor or validate an {@linkcode Array3D}; the result is a rank-3 Array3D. */
export async function toArray3D(x: unknown, name: string): Promise<Array3D> {
  if (isTensor(x)) {
    if (x.rank !== 3) {
      throw new Error(
        `${name} must be a rank-3 tensor [trials, bins, neurons], found rank ${x.rank} ` +
          `with shape [${x.shape.join(", ")}]`,
      );
    }
    const d = await x.data();
    const data = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
    const [a, b, c] = x.shape as [number, number, number];
    return { data, shape: [a, b, c] };
  }
  const a = x as Array3D | undefined;
  if (
    !a || typeof a !== "object" || !(a.data instanceof Float32Array) || !Array.isArray(a.shape) ||
    a.shape.length !== 3
  ) {
    throw new Error(
      `${name} must be a tf.Tensor or an Array3D {data: Float32Array, shape: [a, b, c]}, found ` +
        describe(x),
    );
  }
  const n = a.shape[0] * a.shape[1] * a.shape[2];
  if (!a.shape.every((s) => Number.isInteger(s) && s >= 0) || a.data.length !== n) {
    throw new Error(
      `${name} has ${a.data.length} values but shape [${a.shape.join(", ")}] ` +
        `(expected ${n} values and non-negative integer dimensions)`,
    );
  }
  return a;
}

/** Describe a found value for an error message: its type, class and shape. */
export function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x !== "object") return typeof x;
  const o = x as { constructor?: { name?: string }; shape?: unknown };
  const shape = Array.isArray(o.shape) ? ` with shape [${o.shape.join(", ")}]` : "";
  return `${o.constructor?.name ?? "object"}${shape}`;
}

/** `[a, b, c]`, the shape of `a` as printed in messages. */
export function shapeStr(a: Array3D): string {
  return `[${a.shape.join(", ")}]`;
}

/** Throw unless `a` and `b` have the same shape, naming both. */
export function sameShape(a: Array3D, b: Array3D, what: string, na: string, nb: string): void {
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1] || a.shape[2] !== b.shape[2]) {
    throw new Error(
      `${what}: ${na} and ${nb} must have the same shape, found ${na} ${shapeStr(a)} and ` +
        `${nb} ${shapeStr(b)}`,
    );
  }
}

/** The `[trial, bin, neuron]` index of flat position `i` in an array of `shape`. */
export function where(shape: readonly number[], i: number): string {
  const b = shape[1], c = shape[2];
  const t = Math.floor(i / (b * c));
  const r = i - t * b * c;
  return `[${t}, ${Math.floor(r / c)}, ${r % c}]`;
}

/** Throw unless `m` is a well-formed {@linkcode Matrix}. */
export function checkMatrix(m: Matrix, name: string): void {
  if (
    !m || !(m.data instanceof Float64Array || m.data instanceof Float32Array) ||
    !Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0
  ) {
    throw new Error(
      `${name} must be a Matrix {data: Float64Array | Float32Array, rows, cols}, found ` +
        describe(m),
    );
  }
  if (m.data.length !== m.rows * m.cols) {
    throw new Error(
      `${name} has ${m.data.length} values but rows × cols = ${m.rows} × ${m.cols} = ` +
        `${m.rows * m.cols}`,
    );
  }
}

/** Throw, naming the index, at the first non-finite value of `a`. */
export function checkFiniteRates(a: Array3D, what: string): void {
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) {
      throw new Error(`${what} must be finite, found ${d[i]} at ${where(a.shape, i)}`);
    }
  }
}

/** The default receiver of zero-rate warnings. */
export function defaultWarn(msg: string): void {
  console.warn(msg);
}
