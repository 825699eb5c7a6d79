/**
 * One task of a sweep in its run folder: whether it is finished ({@linkcode sweepTaskFinished}),
 * running it ({@linkcode runSweepTask}: skip, resume or train, then score the validation split),
 * and what its status file says ({@linkcode readSweepStatus}). The predictions files of a run
 * folder are read without TF.js ({@linkcode readPredictions}), so gathering a sweep needs no
 * backend.
 *
 * @module
 */
import { hostname } from "node:os";
import { writeJsonAtomic } from "../core/io.ts";
import { useBackend } from "../core/backend.ts";
import type { Array3D, RatePredictions } from "../data/dataset.ts";
import { evaluate } from "../eval/evaluate.ts";
import { canonicalJson } from "../train/train_state.ts";
import { preset } from "./presets.ts";
import {
  existingRunFiles,
  loadData,
  type MetricsFile,
  type ResultRow,
  type RunConfig,
  RunFolderError,
  trainRun,
} from "./run.ts";
import { readSweepTasks, sweepRunDir, type SweepTask } from "./sweep.ts";
import { predictionsFile } from "./run_folder.ts";
export { predictionsFile, type PredictionsFileOptions } from "./run_folder.ts";

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

async function readJsonFile(path: string): Promise<unknown | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

/**
 * Whether the `config.json` in `dir` describes the run `cfg` would train: the same settings and
 * the same preset contents (a preset edited since makes the folder stale).
 *
 * @example
 * ```ts
 * import { runFolderMatches } from "@hest/hest";
 * const cfg = { data: { kind: "lorenz" as const }, preset: "tiny", seed: 0, backend: "wasm" };
 * await runFolderMatches("runs/none", cfg); // false: no config.json there
 * ```
 */
export async function runFolderMatches(dir: string, cfg: RunConfig): Promise<boolean> {
  const saved = await readJsonFile(`${dir}/config.json`);
  if (!isObject(saved)) return false;
  const pick = (c: Record<string, unknown>) =>
    canonicalJson([c.data, c.preset, c.model ?? {}, c.train ?? {}, c.seed, c.backend]);
  if (pick(saved) !== pick(cfg as unknown as Record<string, unknown>)) return false;
  let p;
  try {
    p = preset(cfg.preset);
  } catch {
    return false;
  }
  return canonicalJson(saved.presetSnapshot ?? null) ===
    canonicalJson({ model: p.model, train: p.train });
}

/**
 * Whether a task's run folder holds its finished run: `metrics.json` exists and `config.json`
 * matches the task's config.
 *
 * @example
 * ```ts
 * import { sweepTaskFinished } from "@hest/hest";
 * const cfg = { data: { kind: "lorenz" as const }, preset: "tiny", seed: 0, backend: "wasm" };
 * await sweepTaskFinished("runs/none", cfg); // false
 * ```
 */
export async function sweepTaskFinished(dir: string, cfg: RunConfig): Promise<boolean> {
  return isObject(await readJsonFile(`${dir}/metrics.json`)) && await runFolderMatches(dir, cfg);
}

/**
 * Read a predictions file ({@linkcode writePredictions}' format: `rates`, optional
 * `forwardRates`, `[trials, bins, neurons]`).
 *
 * @example
 * ```ts ignore
 * import { readPredictions } from "@hest/hest";
 * const preds = await readPredictions("runs/demo/predictions.safetensors");
 * ```
 */
export async function readPredictions(path: string): Promise<RatePredictions> {
  // parsed here rather than with loadCheckpoint: no TF.js tensors (nor a backend) are needed
  const bytes = await Deno.readFile(path);
  const fail = (what: string): never => {
    throw new Error(`${path}: ${what}; expected a predictions file (writePredictions)`);
  };
  if (bytes.length < 8) fail(`only ${bytes.length} bytes`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > bytes.length - 8) fail(`header of ${n} bytes in a file of ${bytes.length}`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    return fail(`unreadable header (${(err as Error).message})`);
  }
  const get = (name: string): Array3D | undefined => {
    const e = header[name];
    if (e === undefined) return undefined;
    const [b, end] = e.data_offsets ?? [];
    if (
      e.dtype !== "F32" || e.shape?.length !== 3 ||
      !(end - b === 4 * e.shape.reduce((x, y) => x * y, 1))
    ) {
      fail(
        `"${name}" is ${e.dtype} ${
          JSON.stringify(e.shape)
        }, not a F32 [trials, bins, neurons] tensor`,
      );
    }
    if (8 + n + end > bytes.length) fail(`"${name}" runs past the end of the file`);
    // copy: the tensor bytes need not be 4-byte aligned in the file
    const data = new Float32Array(bytes.slice(8 + n + b, 8 + n + end).buffer);
    return { data, shape: [e.shape[0], e.shape[1], e.shape[2]] };
  };
  const rates = get("rates") ?? fail(`no "rates" tensor`);
  const forwardRates = get("forwardRates");
  return forwardRates ? { rates, forwardRates } : { rates };
}

/**
 * Score a finished run folder's saved predictions on the validation split, per mode, and write
 * `metrics_val.json` (the format of `metrics.json`; `results` is empty when the data has no
 * validation trials). Nothing is predicted again: it reads the `predictions*.safetensors` files.
 *
 * @example
 * ```ts ignore
 * import { writeValMetrics } from "@hest/hest";
 * const val = await writeValMetrics("runs/sweep/runs/seed0-0a1b2c3d");
 * ```
 */
export async function writeValMetrics(dir: string): Promise<MetricsFile> {
  const cfg = await readJsonFile(`${dir}/config.json`) as RunConfig | undefined;
  const metrics = await readJsonFile(`${dir}/metrics.json`) as MetricsFile | undefined;
  if (!isObject(cfg) || !isObject(metrics) || !Array.isArray(metrics.results)) {
    throw new RunFolderError(`${dir}: expected a finished run (config.json and metrics.json)`);
  }
  const ds = await loadData(cfg.data);
  const results: ResultRow[] = [];
  if (ds.split.val.length > 0) {
    for (const row of metrics.results) {
      const preds = await readPredictions(predictionsFile(dir, row.mode, { metrics }));
      const ev = await evaluate(preds, ds, { split: "val", onWarning: () => {} });
      results.push({ model: row.model, mode: row.mode, ...ev, params: row.params });
    }
  }
  const out: MetricsFile = { dataset: metrics.dataset, results };
  await writeJsonAtomic(`${dir}/metrics_val.json`, out);
  return out;
}

/** What `<outDir>/status/<id>.json` records about a task's latest attempt. */
export interface SweepTaskStatus {
  /** Task id. */
  id: string;
  /** Task index. */
  index: number;
  /** `running` (or killed while running), `finished` or `failed`. */
  state: "running" | "finished" | "failed";
  /** Host the attempt ran on. */
  host: string;
  /** Process id of the attempt. */
  pid: number;
  /** Slurm job id (`<array job>_<task>`) when run by Slurm. */
  slurmJob?: string;
  /** Log files of the attempt (as given to {@linkcode runSweepTask}). */
  logs: string[];
  /** ISO start time. */
  startedAt: string;
  /** Seconds the attempt took (finished or failed). */
  wallSeconds?: number;
  /** Whether it resumed an interrupted run. */
  resumed?: boolean;
  /** The error of a failed attempt. */
  error?: string;
}

/** Options of {@linkcode runSweepTask}. */
export interface RunSweepTaskOptions {
  /** Tasks file (default `<outDir>/tasks.jsonl`; the Slurm script passes its frozen copy). */
  tasksFile?: string;
  /** Log files this attempt writes to (recorded in its status, reported on failure). */
  logs?: readonly string[];
  /** Progress bar on stderr. */
  progress?: boolean;
  /** Receives progress lines (default `console.error`). */
  log?: (line: string) => void;
}

/** What {@linkcode runSweepTask} did. */
export interface SweepTaskOutcome {
  /** The task. */
  task: SweepTask;
  /** Its run folder. */
  dir: string;
  /** It was already finished: nothing was trained. */
  skipped: boolean;
  /** It resumed an interrupted run. */
  resumed: boolean;
}

/**
 * Run task `index` of a sweep into `<outDir>/runs/<id>/`: skip it when finished (only scoring
 * the validation split if `metrics_val.json` is missing), resume it from `state.safetensors`
 * when an earlier attempt was interrupted, train it otherwise; then write `metrics_val.json`.
 * `<outDir>/status/<id>.json` says `running` during the attempt and `finished` or `failed`
 * (with the error and the log files) after it; a failure is rethrown.
 *
 * @example
 * ```ts ignore
 * import { runSweepTask } from "@hest/hest";
 * const { skipped } = await runSweepTask("runs/sweep", 3);
 * ```
 */
export async function runSweepTask(
  outDir: string,
  index: number,
  opts: RunSweepTaskOptions = {},
): Promise<SweepTaskOutcome> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const tasks = await readSweepTasks(opts.tasksFile ?? `${outDir}/tasks.jsonl`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= tasks.length) {
    throw new RangeError(
      `task index must be 0..${
        tasks.length - 1
      } (the sweep has ${tasks.length} tasks), found ${index}`,
    );
  }
  const task = tasks[index];
  const dir = sweepRunDir(outDir, task.id);
  const label = `task ${index} (${task.id})`;
  if (await sweepTaskFinished(dir, task.config)) {
    try {
      await Deno.stat(`${dir}/metrics_val.json`);
    } catch {
      await writeValMetrics(dir);
    }
    log(`${label}: finished earlier in ${dir}; nothing to train`);
    return { task, dir, skipped: true, resumed: false };
  }
  const statusPath = `${outDir}/status/${task.id}.json`;
  await Deno.mkdir(`${outDir}/status`, { recursive: true });
  const arrayJob = Deno.env.get("SLURM_ARRAY_JOB_ID");
  const status: SweepTaskStatus = {
    id: task.id,
    index,
    state: "running",
    host: hostname(),
    pid: Deno.pid,
    ...(arrayJob ? { slurmJob: `${arrayJob}_${Deno.env.get("SLURM_ARRAY_TASK_ID")}` } : {}),
    logs: [...(opts.logs ?? [])],
    startedAt: new Date().toISOString(),
  };
  const t0 = performance.now();
  try {
    const existing = await existingRunFiles(dir);
    let resume = existing.includes("state.safetensors") &&
      await runFolderMatches(dir, task.config);
    status.resumed = resume;
    await writeJsonAtomic(statusPath, status);
    await useBackend(task.config.backend);
    log(`${label}: ${resume ? "resuming" : "training"} -> ${dir}`);
    try {
      // not resumable (none, or a stale run of an edited preset): start over in the folder
      await trainRun(task.config, {
        outDir: dir,
        progress: opts.progress,
        resume,
        ifExists: "replace",
      });
    } catch (err) {
      // a state file that cannot be resumed (torn by a kill, other settings) only costs a restart
      if (!(resume && err instanceof RunFolderError)) throw err;
      log(`${label}: cannot resume (${err.message}); training afresh`);
      resume = status.resumed = false;
      await trainRun(task.config, { outDir: dir, progress: opts.progress, ifExists: "replace" });
    }
    await writeValMetrics(dir);
    status.state = "finished";
    status.wallSeconds = (performance.now() - t0) / 1000;
    await writeJsonAtomic(statusPath, status);
    log(`${label}: finished in ${status.wallSeconds.toFixed(1)} s`);
    return { task, dir, skipped: false, resumed: resume };
  } catch (err) {
    status.state = "failed";
    status.error = (err as Error).message;
    status.wallSeconds = (performance.now() - t0) / 1000;
    await writeJsonAtomic(statusPath, status).catch(() => {});
    throw err;
  }
}

/**
 * Read a task's `<outDir>/status/<id>.json`, or `undefined` when the task has not run.
 *
 * @example
 * ```ts
 * import { readSweepStatus } from "@hest/hest";
 * await readSweepStatus("runs/none", "seed0-0a1b2c3d"); // undefined
 * ```
 */
export async function readSweepStatus(
  outDir: string,
  id: string,
): Promise<SweepTaskStatus | undefined> {
  const s = await readJsonFile(`${outDir}/status/${id}.json`);
  return isObject(s) ? s as unknown as SweepTaskStatus : undefined;
}
