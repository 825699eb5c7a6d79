/**
 * Shared command-line plumbing for the scripts: strict flag parsing, usage errors with exit
 * code 2, config files with unknown-key checks, and building datasets from a data spec.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { BACKENDS, useBackend } from "../lib/core/backend.ts";
import { resolveHybridConfig } from "../lib/model/config.ts";
import { validateLoadOptions } from "../lib/data/load.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { preset } from "../lib/experiments/presets.ts";
import type { DataSpec, RunConfig } from "../lib/experiments/run.ts";
import { resolveTrainOptions } from "../lib/train/train_options.ts";
import { resolveTransformerConfig } from "../lib/model/config.ts";

/** The trained causal run `deno task stream` and the bench's stream rows replay (in results/). */
export const DEFAULT_STREAM_RUN = "results/hybrid_causal";

/** An error in how the script was called: printed with the usage, exit code 2. */
export class UsageError extends Error {
  /** Build with a message naming the bad flag or value. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parse `Deno.args` strictly; unknown flags become a {@linkcode UsageError}. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  options: T,
  args: string[] = Deno.args,
): ReturnType<
  typeof parseArgs<{ options: T; strict: true; allowPositionals: false; args: string[] }>
>["values"] {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false, args }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]);
  }
}

/** Parse an integer flag, or throw a {@linkcode UsageError} naming it. */
export function intFlag(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, found "${v}"`);
  }
  return n;
}

/** Parse a float flag, or throw a {@linkcode UsageError} naming it. */
export function floatFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, found "${v}"`);
  return n;
}

/** Select the backend named by `--backend` (default wasm) with a usage error when unknown. */
export async function selectBackend(name: string | undefined): Promise<string> {
  const b = name ?? "wasm";
  if (!(BACKENDS as readonly string[]).includes(b)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, found "${b}"`);
  }
  return await useBackend(b);
}

/** Turn `--data lorenz|PATH` into a {@linkcode DataSpec}. */
export function dataSpecFromFlag(v: string | undefined): DataSpec {
  if (v === undefined || v === "lorenz") return { kind: "lorenz" };
  return { kind: "file", path: v };
}

/** Read a JSON file, naming the file in any error. */
export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Check that an object has only the allowed keys, naming the first unknown one. */
export function checkKeys(where: string, obj: unknown, allowed: readonly string[]): void {
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) {
    throw new UsageError(`${where} must be a JSON object`);
  }
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new UsageError(
        `unknown key "${k}" in ${where}; expected one of: ${allowed.join(", ")}`,
      );
    }
  }
}

/** Run a script body: usage errors print `error: …` plus the usage and exit 2. */
export async function runMain(usage: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n\n${usage}`);
      Deno.exit(2);
    }
    console.error(`error: ${(err as Error).message}`);
    Deno.exit(1);
  }
}

/**
 * Check a run config before any work starts: known preset, data spec shape, model and train
 * overrides (unknown keys and bad values) — all as {@linkcode UsageError}s (exit code 2).
 */
export function validateRunConfig(cfg: RunConfig): void {
  try {
    const p = preset(cfg.preset);
    if (!cfg.data || typeof cfg.data !== "object") throw new Error(`"data" must be an object`);
    checkKeys("data", cfg.data, ["kind", "options", "path"]);
    if (cfg.data.kind === "lorenz") {
      checkKeys("data", cfg.data, ["kind", "options"]);
      lorenzDataset({ ...(cfg.data.options ?? {}), conditions: 1, trialsPerCondition: 1 });
    } else if (cfg.data.kind === "file") {
      if (typeof cfg.data.path !== "string") throw new Error(`data "path" must be a string`);
      if (cfg.data.options !== undefined) validateLoadOptions(cfg.data.options);
    } else {
      throw new Error(
        `data "kind" must be "lorenz" or "file", found ${
          JSON.stringify((cfg.data as { kind?: unknown }).kind)
        }`,
      );
    }
    const sized = { nInputs: 1, nOutputs: 1, bins: 1, ...p.model, ...(cfg.model ?? {}) };
    if (p.kind === "hybrid") resolveHybridConfig(sized);
    else resolveTransformerConfig(sized);
    resolveTrainOptions({ ...p.train, ...(cfg.train ?? {}) });
    if (!Number.isSafeInteger(cfg.seed)) {
      throw new Error(`"seed" must be an integer, found ${cfg.seed}`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
}
