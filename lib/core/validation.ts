/**
 * Argument checks shared by the toolkit's modules, so every function words and classes its
 * errors the same way: `TypeError` for a value of the wrong type or an unknown option key,
 * `RangeError` for a number outside its allowed range. Every message names what was expected
 * and what was found. Private: not exported from `mod.ts`.
 *
 * @module
 */
import { tf } from "./backend.ts";

/**
 * Describe a found value for an error message: strings quoted, numbers/booleans/null as they
 * print, tensors by shape, arrays element by element, anything else by its type.
 *
 * @example
 * ```ts ignore
 * describe([1, "a"]); // '[1, "a"]'
 * ```
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

/** An error class to throw: `TypeError`, or a module's own class such as `DatasetError`. */
export type ErrorClass = new (message: string, options?: ErrorOptions) => Error;

/**
 * Throw unless `opts` is a plain object whose keys are all in `allowed`; `what` names the option
 * set in the message (e.g. `"lif option"`: `lif options must be an object`, `unknown lif option
 * "x": expected one of …`). The error is a `TypeError` unless `errorClass` says otherwise (the
 * data loaders report every problem as a `DatasetError`).
 *
 * @example
 * ```ts ignore
 * checkKeys({ tau: 2 }, ["tau", "threshold"], "lif option"); // passes
 * ```
 */
export function checkKeys(
  opts: unknown,
  allowed: readonly string[],
  what: string,
  errorClass: ErrorClass = TypeError,
): void {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    throw new errorClass(`${what}s must be an object, found ${describe(opts)}`);
  }
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) {
      throw new errorClass(`unknown ${what} "${k}": expected one of ${allowed.join(", ")}`);
    }
  }
}

/**
 * Return `v` if it is a finite number; else throw `<what> "<name>" must be a finite number`
 * (`TypeError` for a non-number, `RangeError` for NaN or ±Infinity).
 *
 * @example
 * ```ts ignore
 * finiteOption("lif option", "tau", 2); // 2
 * ```
 */
export function finiteOption(what: string, name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    const E = typeof v === "number" ? RangeError : TypeError;
    throw new E(`${what} "${name}" must be a finite number, found ${describe(v)}`);
  }
  return v;
}

/**
 * Return `v` if it is a boolean; else throw a `TypeError` `<what> "<name>" must be a boolean`.
 *
 * @example
 * ```ts ignore
 * boolOption("lif option", "detachReset", true); // true
 * ```
 */
export function boolOption(what: string, name: string, v: unknown): boolean {
  if (typeof v !== "boolean") {
    throw new TypeError(`${what} "${name}" must be a boolean, found ${describe(v)}`);
  }
  return v;
}

/**
 * Return `v` if it is one of `choices`; else throw a `TypeError`
 * `<label> must be "a", "b" or "c", found …`. `label` is the whole subject of the message, e.g.
 * `train option "kernels"`.
 *
 * @example
 * ```ts ignore
 * choiceOption('train option "kernels"', "fast", ["exact", "fast"]); // "fast"
 * ```
 */
export function choiceOption<T extends string>(
  label: string,
  v: unknown,
  choices: readonly T[],
): T {
  if (!choices.includes(v as T)) {
    const listed = choices.map((c) => `"${c}"`);
    const expected = `${listed.slice(0, -1).join(", ")} or ${listed[listed.length - 1]}`;
    throw new TypeError(`${label} must be ${expected}, found ${describe(v)}`);
  }
  return v as T;
}

/**
 * Return `v` if it is an integer ≥ `min` (default 1); else throw `<label> must be a positive
 * integer` (or `an integer >= min`): `TypeError` for a non-number, `RangeError` for a number that
 * is not a safe integer or is below `min`. `label` is the whole subject of the message, e.g.
 * `initTim option "channels"`.
 *
 * @example
 * ```ts ignore
 * positiveInt('initTim option "channels"', 16); // 16
 * ```
 */
export function positiveInt(label: string, v: unknown, min = 1): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    const E = typeof v === "number" ? RangeError : TypeError;
    const expected = min === 1 ? "a positive integer" : `an integer >= ${min}`;
    throw new E(`${label} must be ${expected}, found ${describe(v)}`);
  }
  return v;
}

/**
 * Return `v` if it is a number in [0, 1] (a rate or probability); else throw `<label> must be in
 * [0, 1]`: `TypeError` for a non-number, `RangeError` for a number outside (NaN included).
 *
 * @example
 * ```ts ignore
 * rateIn01('TIM option "alpha"', 0.5); // 0.5
 * ```
 */
export function rateIn01(label: string, v: unknown): number {
  if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
    const E = typeof v === "number" ? RangeError : TypeError;
    throw new E(`${label} must be in [0, 1], found ${describe(v)}`);
  }
  return v;
}

/**
 * Return `v` if it is a `tf.Tensor`; else throw a `TypeError` `<fn> expects <expected>, found …`.
 *
 * @example
 * ```ts ignore
 * tensorArg("lif", "a tf.Tensor [T, ...]", x);
 * ```
 */
export function tensorArg(fn: string, expected: string, v: unknown): tf.Tensor {
  if (!(v instanceof tf.Tensor)) {
    throw new TypeError(`${fn} expects ${expected}, found ${describe(v)}`);
  }
  return v;
}

/**
 * Re-wrap `err` with `prefix` in front of its message, keeping its class (`TypeError`,
 * `RangeError` or `Error`) and passing it as the `cause`.
 *
 * @example
 * ```ts ignore
 * try {
 *   resolveSurrogate(opts.surrogate);
 * } catch (err) {
 *   throw rewrap('LIF option "surrogate"', err);
 * }
 * ```
 */
export function rewrap(prefix: string, err: unknown): Error {
  const message = `${prefix}: ${err instanceof Error ? err.message : String(err)}`;
  if (err instanceof TypeError) return new TypeError(message, { cause: err });
  if (err instanceof RangeError) return new RangeError(message, { cause: err });
  return new Error(message, { cause: err });
}
