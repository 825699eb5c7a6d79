/**
 * Reading results files (private): JSON with a clear error for a missing or corrupt file, and a
 * validating reader whose errors name the file and the field.
 *
 * @module
 */
import type { StatSummary } from "./report.ts";

/**
 * A short description of a value read from a results file: unlike the argument checks'
 * `describe`, arrays and objects are named, not printed, since they can be whole result tables.
 */
export function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return typeof v === "object" ? "an object" : typeof v;
}

/** Validating accessors for parsed JSON; every error names `source` and the field path. */
export class Reader {
  constructor(readonly source: string) {}
  fail(path: string, expected: string, found: unknown): never {
    throw new TypeError(`${this.source}: ${path} must be ${expected}, found ${kindOf(found)}`);
  }
  object(path: string, v: unknown): Record<string, unknown> {
    if (v === null || typeof v !== "object" || Array.isArray(v)) this.fail(path, "an object", v);
    return v as Record<string, unknown>;
  }
  field(path: string, obj: Record<string, unknown>, key: string): unknown {
    if (!(key in obj)) {
      throw new TypeError(`${this.source}: ${path ? path + "." : ""}${key} is missing`);
    }
    return obj[key];
  }
  string(path: string, v: unknown): string {
    if (typeof v !== "string") this.fail(path, "a string", v);
    return v;
  }
  number(path: string, v: unknown): number {
    if (v === null) return NaN;
    if (typeof v !== "number") this.fail(path, "a number (or null for NaN)", v);
    return v;
  }
  /** `v` if it is one of `values`; else an error listing them (`"a" or "b"`). */
  oneOf<T extends string>(path: string, v: unknown, values: readonly T[]): T {
    if (!values.includes(v as T)) this.fail(path, values.map((x) => `"${x}"`).join(" or "), v);
    return v as T;
  }
  array(path: string, v: unknown): unknown[] {
    if (!Array.isArray(v)) this.fail(path, "an array", v);
    return v;
  }
  stat(path: string, v: unknown): StatSummary {
    const o = this.object(path, v);
    return {
      mean: this.number(`${path}.mean`, this.field(path, o, "mean")),
      sd: this.number(`${path}.sd`, this.field(path, o, "sd")),
      values: this.array(`${path}.values`, this.field(path, o, "values")).map((x, i) =>
        this.number(`${path}.values[${i}]`, x)
      ),
    };
  }
}

/** Parsed JSON of `path`; a missing file throws `Deno.errors.NotFound`, bad JSON a SyntaxError. */
export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${path}: no such file`, { cause: err });
    }
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SyntaxError(`${path}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}
