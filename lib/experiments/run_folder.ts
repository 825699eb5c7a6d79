/**
 * Run folder bookkeeping shared by `trainRun` and `evaluateRun` (`run.ts`, which re-exports the
 * public part): which files make a folder a run folder, which files a run writes, where an
 * evaluation's metrics go, and the error for a folder that cannot be used as asked.
 *
 * @module
 */

/**
 * A run folder that cannot be used as asked: it already holds a run (and neither resuming nor
 * replacing it was asked for), it has nothing to resume, or its files do not fit the run (an
 * unreadable config, a checkpoint or state of another model). The message names the file; the
 * command-line scripts exit with code 2 on it.
 *
 * @example
 * ```ts
 * import { RunFolderError, trainRun } from "@hest/hest";
 * const cfg = { data: { kind: "lorenz" as const }, preset: "tiny", seed: 0, backend: "cpu" };
 * try {
 *   await trainRun(cfg, { outDir: "runs/example", ifExists: "refuse" });
 * } catch (err) {
 *   if (err instanceof RunFolderError) console.log(err.message); // runs/example already holds …
 * }
 * ```
 */
export class RunFolderError extends Error {
  /** Build with a message naming the folder or file; `options.cause` is the original error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RunFolderError";
  }
}

/** The files whose presence makes a folder a run folder. */
const RUN_MARKERS = ["config.json", "checkpoint.safetensors", "state.safetensors"];

/** Every file a run writes into its folder (removed when a run replaces another). */
const RUN_OUTPUT =
  /^(config\.json|checkpoint\.safetensors|state\.safetensors|log\.jsonl|metrics(_[a-z]+)?(_t\d+)?\.json|predictions(_[a-z]+)?(_t\d+)?\.safetensors)$/;

/**
 * The files that make `dir` a run folder (`config.json`, `checkpoint.safetensors`,
 * `state.safetensors`) present there, in that order; `[]` when there are none or `dir` does not
 * exist. A path that exists but is not a folder is a {@linkcode RunFolderError}.
 *
 * @example
 * ```ts
 * import { existingRunFiles } from "@hest/hest";
 * if ((await existingRunFiles("runs/demo")).length > 0) console.log("runs/demo holds a run");
 * ```
 */
export async function existingRunFiles(dir: string): Promise<string[]> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw new RunFolderError(`${dir} cannot be a run folder: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!st.isDirectory) {
    throw new RunFolderError(`${dir} is a file; expected a run folder (a directory)`);
  }
  const found: string[] = [];
  for (const f of RUN_MARKERS) {
    try {
      await Deno.stat(`${dir}/${f}`);
      found.push(f);
    } catch {
      // absent
    }
  }
  return found;
}

/** Options of {@linkcode metricsFileName}. */
export interface MetricsFileNameOptions {
  /**
   * SNN timesteps the evaluation ran the spiking mode with, when not the trained ones
   * (`evaluateRun`'s `timesteps`): the name gains `_t<T>`.
   */
  timesteps?: number;
}

/**
 * The file an evaluation of `split` writes its metrics to: `metrics.json` for the default split
 * (`undefined`: test, or val for data without held-out test counts) and for `"test"`,
 * `metrics_<split>.json` for `"val"` and `"train"`, so scoring another split never replaces the
 * run's own metrics. An evaluation at other timesteps than the trained ones adds `_t<T>`
 * (`metrics_t8.json`, `metrics_val_t8.json`).
 *
 * @example
 * ```ts
 * import { metricsFileName } from "@hest/hest";
 * metricsFileName("val"); // "metrics_val.json"
 * metricsFileName("test", { timesteps: 8 }); // "metrics_t8.json"
 * ```
 */
export function metricsFileName(
  split?: "train" | "val" | "test",
  opts: MetricsFileNameOptions = {},
): string {
  const base = split === undefined || split === "test" ? "metrics" : `metrics_${split}`;
  return `${base}${timestepsSuffix(opts.timesteps)}.json`;
}

/** `_t<T>` for an evaluation at other SNN timesteps, `""` without. */
function timestepsSuffix(timesteps?: number): string {
  return timesteps === undefined ? "" : `_t${timesteps}`;
}

/** Options of {@linkcode predictionsFile}. */
export interface PredictionsFileOptions {
  /** The run's metrics: its first row's mode owns `predictions.safetensors`. */
  metrics: { results: readonly { mode: string }[] };
  /** SNN timesteps of an evaluation at other timesteps than the trained ones (adds `_t<T>`). */
  timesteps?: number;
}

/**
 * The predictions file of `mode` in a run folder: `predictions.safetensors` holds the run's first
 * mode (the first row of its `metrics.json`), `predictions_<mode>.safetensors` the others; an
 * evaluation at other SNN timesteps adds `_t<T>` (`predictions_spiking_t8.safetensors`).
 *
 * @example
 * ```ts
 * import { predictionsFile } from "@hest/hest";
 * predictionsFile("runs/r", "spiking", { metrics: { results: [{ mode: "standard" }] } });
 * // "runs/r/predictions_spiking.safetensors"
 * ```
 */
export function predictionsFile(dir: string, mode: string, opts: PredictionsFileOptions): string {
  const name = opts.metrics.results[0]?.mode === mode ? "predictions" : `predictions_${mode}`;
  return `${dir}/${name}${timestepsSuffix(opts.timesteps)}.safetensors`;
}

/**
 * Remove the files an earlier run wrote into `dir` (config, checkpoint, state, log, predictions,
 * metrics; nothing else). Internal to `run.ts`, not exported from `mod.ts`.
 *
 * @example
 * ```ts ignore
 * await removeRunOutputs("runs/old");
 * ```
 */
export async function removeRunOutputs(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && RUN_OUTPUT.test(e.name)) await Deno.remove(`${dir}/${e.name}`);
  }
}
