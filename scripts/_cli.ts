/**
 * Shared command-line plumbing for the scripts: strict flag parsing, config files with
 * unknown-key checks, building datasets from a data spec, and the exit codes.
 *
 * Exit codes, the same for every script run through {@linkcode runMain}:
 *
 * - **0**: done.
 * - **2**: the script cannot do what it was asked with what it was given, and nothing was
 *   written: usage errors (unknown or repeated flags, a flag without its value, bad flag values;
 *   printed with the usage text), config errors (unreadable or invalid JSON, unknown keys,
 *   `null`, non-finite or out-of-range values), data errors (a data file that is missing, a
 *   directory, unreadable or invalid: a `DatasetError`) and run-folder errors (an `--out` that
 *   already holds a run, nothing to resume, a config, checkpoint or state that does not fit: a
 *   `RunFolderError`). One `error: …` line names the flag, key or file.
 * - **1**: an internal failure: anything else (a bug, running out of memory, a failed write
 *   such as a full disk), reported as one `error: …` line.
 *
 * Flag values may be negative numbers (`--seed -1` or `--seed=-1`); range checks then reject
 * them with the usual message.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { BACKENDS, useBackend } from "../lib/core/backend.ts";
import { shareTfWasmMemory } from "../lib/core/wasm_shared_memory.ts";
import { kernelThreads, MAX_KERNEL_THREADS, setKernelThreads } from "../kernels/threads.ts";
import { DatasetError } from "../lib/data/dataset.ts";
import { resolveHybridConfig } from "../lib/model/config.ts";
import { validateLoadOptions } from "../lib/data/load.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { dataPaths } from "../lib/data/multi_file.ts";
import { preset } from "../lib/experiments/presets.ts";
import { type DataSpec, type RunConfig, RunFolderError } from "../lib/experiments/run.ts";
import { checkTrainOverrides, resolveTrainOptions } from "../lib/train/train_options.ts";
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

/**
 * A problem with a file or folder the script was given (config file, data file, run folder),
 * not with the flags: exit code 2, one `error: …` line without the usage text.
 */
export class InputError extends Error {
  /** Build with a message naming the file and the problem. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InputError";
  }
}

/** A value that reads as a number with a minus sign, so `--seed -1` is a value, not a flag. */
const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity$)/;

/**
 * Parse `Deno.args` strictly; unknown flags become a {@linkcode UsageError}. A string flag
 * followed by a negative number takes it as its value (`--steps -5` reads as `--steps=-5`,
 * which the range checks then refuse); followed by another flag, it has no value.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  options: T,
  args: string[] = Deno.args,
): ReturnType<
  typeof parseArgs<{ options: T; strict: true; allowPositionals: false; args: string[] }>
>["values"] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.startsWith("--") && !a.includes("=") ? a.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === "string" && i + 1 < args.length) {
      const v = args[i + 1];
      if (NEGATIVE_NUMBER.test(v)) {
        joined.push(`${a}=${v}`);
        i++;
        continue;
      }
      if (v.startsWith("-")) throw new UsageError(`${a} needs a value, found the flag "${v}"`);
    }
    joined.push(a);
  }
  try {
    return parseArgs({ options, strict: true, allowPositionals: false, args: joined }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]);
  }
}

/** Parse an integer flag (a safe integer >= `min`), or throw a {@linkcode UsageError} naming it. */
export function intFlag(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === "" ? NaN : Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, found "${v}"`);
  }
  return n;
}

/** Parse a finite float flag, or throw a {@linkcode UsageError} naming it. */
export function floatFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === "" ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, found "${v}"`);
  return n;
}

/**
 * Most threads `--threads auto` takes: the products split by rows, and the gain past two cores has
 * not been measured (docs/performance.md).
 */
export const AUTO_THREADS_MAX = 4;

/**
 * Parse `--threads N|auto`: an integer from 1 to `MAX_KERNEL_THREADS`, or `auto` (the machine's
 * cores, at most {@linkcode AUTO_THREADS_MAX}); `undefined` when the flag is absent.
 */
export function threadsFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v === "auto") {
    return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, AUTO_THREADS_MAX));
  }
  const n = v.trim() === "" ? NaN : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_KERNEL_THREADS) {
    throw new UsageError(
      `--threads must be "auto" or an integer from 1 to ${MAX_KERNEL_THREADS}, found "${v}"`,
    );
  }
  return n;
}

/** `", N kernel threads"` when the products run on more than one thread, else `""`. */
export function threadNote(): string {
  const n = kernelThreads();
  return n > 1 ? `, ${n} kernel threads` : "";
}

/**
 * Select the backend named by `--backend` (default wasm) with a usage error when unknown, and,
 * when `threads` is given, run the kernel products on that many threads (values do not change
 * with it). The wasm backend's memory is shared first, which must happen before it starts.
 */
export async function selectBackend(
  name: string | undefined,
  threads?: number,
): Promise<string> {
  const b = name ?? "wasm";
  if (!(BACKENDS as readonly string[]).includes(b)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, found "${b}"`);
  }
  if (threads !== undefined && threads > 1 && b === "wasm") shareTfWasmMemory();
  const got = await useBackend(b);
  // the WebGPU backend runs no wasm kernels, so it has no threads to set
  if (threads !== undefined && got !== "webgpu") await setKernelThreads(threads);
  return got;
}

/** Turn `--data lorenz|PATH` into a {@linkcode DataSpec}. */
export function dataSpecFromFlag(v: string | undefined): DataSpec {
  if (v === undefined || v === "lorenz") return { kind: "lorenz" };
  return { kind: "file", path: v };
}

/**
 * Before any work: a file data spec must name an existing file, not a folder. `label` names where
 * the path came from (`--data`, `config "data.path"`); problems are {@linkcode InputError}s.
 */
export async function checkDataFile(spec: DataSpec, label: string): Promise<void> {
  if (spec.kind !== "file") return;
  // a comma-separated list (nlb_tools' train input, eval input and target files) is checked file
  // by file
  let paths: string[];
  try {
    paths = await dataPaths(spec.path);
  } catch (err) {
    throw new InputError(`${label}: ${(err as Error).message}`);
  }
  for (const path of paths) {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(path);
    } catch (err) {
      throw new InputError(
        `${label}: cannot read the data file ${path}: ${(err as Error).message}`,
      );
    }
    if (st.isDirectory) {
      throw new InputError(
        `${label}: ${path} is a directory; expected a data file (NWB/HDF5, MATLAB .mat, ` +
          `NumPy .npy/.npz or hest dataset .json) or "lorenz"`,
      );
    }
  }
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

/**
 * Whether `err` (or an error in its `cause` chain) is a problem with what the script was given:
 * a usage, config, data or run-folder error (exit code 2; see the module docs).
 */
export function isInputError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (
      e instanceof UsageError || e instanceof InputError || e instanceof DatasetError ||
      e instanceof RunFolderError
    ) return true;
  }
  return false;
}

/**
 * Run a script body with the exit codes of the module docs: usage errors print `error: …` plus
 * the usage and exit 2, other input errors print `error: …` and exit 2, anything else prints
 * `error: …` and exits 1.
 */
export async function runMain(usage: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof UsageError) {
      console.error(`error: ${message}\n\n${usage}`);
      Deno.exit(2);
    }
    console.error(`error: ${message}`);
    Deno.exit(isInputError(err) ? 2 : 1);
  }
}

/**
 * The key paths where `null` is a value of its own: the LIF's `vReset: null` is a soft reset
 * (V = H − V_th·S, SpikingJelly's `v_reset=None`), not a missing value.
 */
const NULL_VALUES = new Set(["model.lif.vReset"]);

/**
 * Throw a {@linkcode UsageError} naming the first `null` in a JSON value by its key path
 * (`"train.lr" is null in cfg.json`): a JSON `null` never means "the default" here. The one
 * exception is `model.lif.vReset`, where `null` asks for the soft reset.
 */
export function refuseNulls(v: unknown, where: string): void {
  const walk = (x: unknown, path: string): void => {
    if (x === null && !NULL_VALUES.has(path)) {
      throw new UsageError(
        `${path ? `"${path}"` : "the value"} is null in ${where}; give a value or leave the ` +
          `key out for the default`,
      );
    }
    if (typeof x === "object" && x !== null) {
      for (const [k, y] of Object.entries(x)) {
        walk(y, Array.isArray(x) ? `${path}[${k}]` : path ? `${path}.${k}` : k);
      }
    }
  };
  walk(v, "");
}

/**
 * Check a run config before any work starts: known preset, data spec shape, model and train
 * overrides (unknown keys and bad values) — all as {@linkcode UsageError}s (exit code 2).
 */
export function validateRunConfig(cfg: RunConfig): void {
  try {
    refuseNulls(cfg, "the run config");
    if (typeof cfg.preset !== "string") {
      throw new Error(`"preset" must be a preset name, found ${JSON.stringify(cfg.preset)}`);
    }
    if (typeof cfg.backend !== "string") {
      throw new Error(`"backend" must be a backend name, found ${JSON.stringify(cfg.backend)}`);
    }
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
    if (cfg.model !== undefined) checkKeysObject("model", cfg.model);
    const sized = { nInputs: 1, nOutputs: 1, bins: 1, ...p.model, ...(cfg.model ?? {}) };
    if (p.kind === "hybrid") resolveHybridConfig(sized);
    else resolveTransformerConfig(sized);
    checkTrainOverrides(cfg.train ?? {});
    resolveTrainOptions({ ...p.train, ...(cfg.train ?? {}) });
    if (!Number.isSafeInteger(cfg.seed)) {
      throw new Error(`"seed" must be an integer, found ${cfg.seed}`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
}

function checkKeysObject(where: string, v: unknown): void {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Error(`"${where}" must be a JSON object, found ${JSON.stringify(v)}`);
  }
}
