/**
 * Private argument checks shared by the chart builders and renderers (not exported from mod.ts):
 * each names the function, the field and the value found.
 *
 * @module
 */

/** Describe a found value for an error message. */
export function describe(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v;
}

/** `v` as a finite number, else an error naming `field`. */
export function finite(where: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${where}: ${field} must be a finite number, found ${describe(v)}`);
  }
  return v;
}

/** An optional standard deviation: 0 when absent, else a finite number >= 0. */
export function optionalSd(where: string, field: string, v: unknown): number {
  if (v === undefined) return 0;
  const x = finite(where, field, v);
  if (x < 0) throw new Error(`${where}: ${field} must be >= 0, found ${x}`);
  return x;
}

/** Throw unless `list` is a non-empty array. */
export function nonEmpty<T>(fn: string, what: string, list: readonly T[]): void {
  if (!Array.isArray(list)) {
    throw new Error(`${fn}: ${what} must be an array, found ${describe(list)}`);
  }
  if (list.length === 0) throw new Error(`${fn}: ${what} must not be empty, found 0 entries`);
}

/** `v` as a non-empty string, else an error naming `field`. */
export function text(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || v.length === 0) {
    throw new Error(`${where}: ${field} must be a non-empty string, found ${describe(v)}`);
  }
  return v;
}

/** A panel size option: `dflt` when absent, else a positive number. */
export function size(fn: string, field: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) {
    throw new Error(`${fn}: option ${field} must be a positive number, found ${describe(v)}`);
  }
  return v;
}

/** Unique values in first-appearance order. */
export function uniques(values: readonly string[]): string[] {
  return [...new Set(values)];
}
