/**
 * Private helpers shared by the toolkit's modules (not exported from mod.ts).
 *
 * @module
 */
import { tf } from "./backend.ts";

/**
 * Describe a found value for an error message: strings quoted, numbers/booleans/null as they
 * print, tensors by shape, arrays element by element, anything else by its type.
 */
export function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined || typeof v === "number" || typeof v === "boolean") {
    return String(v);
  }
  if (v instanceof tf.Tensor) return `a tensor of shape [${v.shape.join(", ")}]`;
  if (Array.isArray(v)) return `[${v.map(describe).join(", ")}]`;
  return typeof v;
}

/**
 * Throw unless `opts` is a plain object whose keys are all in `allowed`; `what` names the
 * option set in the message (e.g. `"lif option"`).
 */
export function checkKeys(opts: unknown, allowed: readonly string[], what: string): void {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    throw new Error(`${what} must be an object, found ${describe(opts)}`);
  }
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) {
      throw new Error(`unknown ${what} "${k}": expected one of ${allowed.join(", ")}`);
    }
  }
}

/** Return `v` if it is a finite number, else throw `<what> "<name>" must be a finite number`. */
export function finiteOption(what: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${what} "${name}" must be a finite number, found ${describe(v)}`);
  }
  return v;
}

/** Return `v` if it is a boolean, else throw `<what> "<name>" must be a boolean`. */
export function boolOption(what: string, name: string, v: unknown): boolean {
  if (typeof v !== "boolean") {
    throw new Error(`${what} "${name}" must be a boolean, found ${describe(v)}`);
  }
  return v;
}
