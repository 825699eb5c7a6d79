/**
 * Run folders: train a preset on a dataset and record everything needed to reproduce and
 * evaluate it.
 *
 * A run folder holds `config.json` (data spec, preset, overrides, seed, backend, versions),
 * `checkpoint.safetensors` (best parameters), `state.safetensors` (to resume), `log.jsonl`,
 * `predictions.safetensors` (rates of every trial, expected counts per bin) and `metrics.json`
 * (the default split; an evaluation of another split writes `metrics_<split>.json`, one at other
 * SNN timesteps than the trained ones adds `_t<T>`). Every file is written atomically, and
 * temporary files an interrupted write left behind are removed when the folder is opened again.
 * A folder that cannot be used as asked (it already holds a run, it has nothing to resume, its
 * checkpoint does not fit) is a {@linkcode RunFolderError}.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { kernelThreads } from "../../kernels/threads.ts";
import { loadCheckpoint } from "../train/checkpoint.ts";
import { removeStaleTemps } from "../core/io.ts";
import {
  existingRunFiles,
  metricsFileName,
  predictionsFile,
  removeRunOutputs,
  RunFolderError,
} from "./run_folder.ts";
import { DatasetError, type SpikeDataset } from "../data/dataset.ts";
import { type RunEnergy, runEnergy } from "./run_energy.ts";
import { writeJsonAtomic } from "../core/io.ts";
import { loadDataset, type LoadOptions } from "../data/load.ts";
import { lorenzDataset, type LorenzOptions } from "../data/lorenz.ts";
import { type EvalResult, evaluate } from "../eval/evaluate.ts";
import type { SpikeStatsCollector } from "../model/blocks.ts";
import type { Mode } from "../nn/types.ts";
import { unknownTestTargets } from "../data/nlb.ts";
import {
  nlbSubmissionName,
  type RunExports,
  writePredictions,
  writeRunExports,
} from "./run_exports.ts";
import { type ModelPreset, type Preset, preset, transformerFor } from "./presets.ts";
export { formatResults } from "./results_table.ts";
import { predict } from "../train/predict.ts";
import { applyRateGains, fitRateGains, type RateGains } from "../train/calibrate.ts";
import { train } from "../train/train.ts";
import { checkResumeState } from "../train/resume.ts";
import { checkTrainOverrides, type TrainOptions } from "../train/train_options.ts";
import {
  disposeTrainState,
  HEST_VERSION,
  loadTrainState,
  type TrainState,
} from "../train/train_state.ts";
import { countParams, disposeTree, flatten, type Params } from "../core/tree.ts";
import { key } from "../core/random.ts";
import { positiveInt } from "../core/validation.ts";
import type { Model } from "../model/hybrid.ts";

export {
  existingRunFiles,
  metricsFileName,
  type MetricsFileNameOptions,
  RunFolderError,
} from "./run_folder.ts";
export {
  NLB_SUBMISSION_NAMES,
  nlbSubmissionName,
  type RunExports,
  writePredictions,
  writeRunExports,
} from "./run_exports.ts";

/** Where a run's data comes from: the generated Lorenz set (with options) or a dataset file. */
export type DataSpec =
  | { kind: "lorenz"; options?: LorenzOptions }
  | { kind: "file"; path: string; options?: LoadOptions };

/**
 * JSON-serialisable training overrides allowed in a run config (the run's seed is
 * {@linkcode RunConfig.seed}; see {@linkcode checkTrainOverrides}).
 */
export type TrainOverrides = Omit<
  TrainOptions,
  "onStep" | "key" | "outDir" | "initialParams" | "progress" | "resumeFrom" | "seed" | "metadata"
>;

/** Everything that defines a run (`config.json`). */
export interface RunConfig {
  /** Data source. */
  data: DataSpec;
  /** Preset name (see `PRESETS`). */
  preset: string;
  /** Architecture overrides on top of the preset. */
  model?: ModelPreset;
  /** Training overrides on top of the preset. */
  train?: TrainOverrides;
  /** Seed of the run. */
  seed: number;
  /** TF.js backend the run used. */
  backend: string;
  /**
   * The preset's model and training settings when the run was made (its `config.json` saves
   * them): a saved run is rebuilt from these, not from the preset as it is now.
   */
  presetSnapshot?: PresetSnapshot;
}

/** A preset's model and training settings as a run folder's `config.json` saves them. */
export interface PresetSnapshot {
  /** The preset's model fields. */
  model: ModelPreset;
  /** The preset's training options. */
  train: TrainOptions;
}

/** The `presetSnapshot` of the run in `dir` (undefined when its config has none). */
async function savedPresetSnapshot(dir: string): Promise<PresetSnapshot | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/config.json`)).presetSnapshot;
  } catch {
    return undefined;
  }
}

/** One row of `metrics.json`. */
export interface ResultRow extends EvalResult {
  /** Model / preset name. */
  model: string;
  /** Mode the row was evaluated in. */
  mode: Mode;
  /** Per-site firing rates (spikes per neuron per timestep) over all trials, spiking mode. */
  firingRates?: Record<string, number>;
  /** Trainable parameters. */
  params: number;
  /** Step of the kept checkpoint. */
  bestStep?: number;
  /** Training wall-clock seconds. */
  trainSeconds?: number;
  /** Threads the kernel products ran on while training (`trainSeconds` depends on them). */
  trainThreads?: number;
  /** Estimated inference energy per trial of the evaluated split (see lib/eval/energy.ts). */
  energy?: RunEnergy;
  /**
   * SNN timesteps the spiking mode ran with, on spiking rows evaluated at other timesteps than
   * the trained ones (`evaluateRun`'s `timesteps`, or the run's train option
   * `inferenceTimesteps`); absent otherwise (the run's config has them).
   */
  timesteps?: number;
  /**
   * Per-neuron gains the row's rates were multiplied by (the run's train option
   * `calibrateRates`, fitted on the training trials by `fitRateGains`); absent without it.
   */
  rateGains?: { rates: number[]; forward: number[] };
}

/** Contents of `metrics.json`. */
export interface MetricsFile {
  /** Dataset summary. */
  dataset: Record<string, unknown>;
  /** One row per (model, mode). */
  results: ResultRow[];
}

/**
 * Build the dataset a {@linkcode DataSpec} names.
 *
 * @example
 * ```ts
 * import { loadData } from "@hest/hest";
 * const ds = await loadData({ kind: "lorenz", options: { conditions: 4 } });
 * ```
 */
export async function loadData(spec: DataSpec): Promise<SpikeDataset> {
  if (spec.kind === "lorenz") return lorenzDataset(spec.options ?? {});
  if (spec.kind === "file") {
    const path = spec.path;
    const dir = await Deno.stat(path).then((st) => st.isDirectory, () => false);
    if (dir) {
      throw new DatasetError(
        `${path} is a directory; expected a data file (NWB/HDF5, MATLAB .mat, NumPy .npy/.npz ` +
          `or hest dataset .json)`,
      );
    }
    try {
      return await loadDataset(path, spec.options ?? {});
    } catch (err) {
      // a parser that trips over a malformed file is still a data problem of that file
      if (err instanceof DatasetError) throw err;
      throw new DatasetError(`${path}: cannot load the data file: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  throw new TypeError(`unknown data kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
}

/**
 * A short summary of a dataset for `metrics.json` and reports.
 *
 * @example
 * ```ts
 * import { datasetSummary, lorenzDataset } from "@hest/hest";
 * datasetSummary(lorenzDataset({ conditions: 2 })).trials;
 * ```
 */
export function datasetSummary(ds: SpikeDataset): Record<string, unknown> {
  const [trials, bins, neurons] = ds.counts.shape;
  let total = 0;
  for (const v of ds.counts.data) total += v;
  return {
    name: ds.name,
    trials,
    bins,
    forwardBins: ds.forwardCounts.shape[1],
    neurons,
    heldIn: ds.heldIn.length,
    heldOut: ds.heldOut.length,
    binSizeMs: ds.binSizeMs,
    split: { train: ds.split.train.length, val: ds.split.val.length, test: ds.split.test.length },
    meanCountPerBin: total / ds.counts.data.length,
    hasTrueRates: ds.trueRates !== undefined,
    hasBehavior: ds.behavior !== undefined,
  };
}

function modelFor(cfg: RunConfig, ds: SpikeDataset) {
  const p = presetOf(cfg);
  return transformerFor(ds, { ...p.model, ...(cfg.model ?? {}) }, { kind: p.kind });
}

/** The run's train option `inferenceTimesteps` (its own over its preset's), if set. */
function inferenceTimesteps(cfg: RunConfig): number | undefined {
  return cfg.train?.inferenceTimesteps ?? presetOf(cfg).train.inferenceTimesteps;
}

/** The run's train option `calibrateRates` (its own over its preset's). */
function calibrates(cfg: RunConfig): boolean {
  return cfg.train?.calibrateRates ?? presetOf(cfg).train.calibrateRates ?? false;
}

/** `cfg` with its spiking mode at `T` timesteps (unchanged when `T` is undefined). */
function atTimesteps(cfg: RunConfig, T: number | undefined): RunConfig {
  return T === undefined ? cfg : { ...cfg, model: { ...(cfg.model ?? {}), timesteps: T } };
}

/**
 * The preset a run is built from: the copy its `config.json` saved (`presetSnapshot`) when the
 * config has one, so a saved run is reloaded, evaluated and resumed as it was trained even after
 * the named preset changed; else the named preset as it is now.
 */
function presetOf(cfg: RunConfig): Preset {
  const p = preset(cfg.preset);
  const snap = cfg.presetSnapshot;
  return snap ? { ...p, model: snap.model, train: snap.train } : p;
}

/**
 * Modes a run was trained in (and is evaluated in): both for an alternating schedule, else the
 * schedule's one mode.
 *
 * @example
 * ```ts
 * import { runModes } from "@hest/hest";
 * runModes({ preset: "hybrid", data: { kind: "lorenz" }, seed: 0, backend: "wasm" }); // both
 * ```
 */
export function runModes(cfg: RunConfig): Mode[] {
  const p = presetOf(cfg);
  const schedule = cfg.train?.modeSchedule ?? p.train.modeSchedule ?? "standard";
  return schedule === "alternate" ? ["standard", "spiking"] : [schedule];
}

/** Options of {@linkcode trainRun}. */
export interface TrainRunOptions {
  /** Run folder (created). */
  outDir: string;
  /**
   * What to do when `outDir` already holds a run (`config.json`, `checkpoint.safetensors` or
   * `state.safetensors`) and `resume` is not set: `"replace"` (default) removes that run's files
   * once the new run's data and model are built, `"refuse"` throws a {@linkcode RunFolderError}
   * before any work.
   */
  ifExists?: "replace" | "refuse";
  /** Progress bar on stderr. */
  progress?: boolean;
  /** Split reported in `metrics.json` (default `"test"`). */
  split?: "train" | "val" | "test";
  /**
   * Continue the run in `outDir` from its `state.safetensors` instead of starting afresh
   * (`config.json` is kept; the caller checks that `cfg` matches it). A missing or unreadable
   * state, or one saved by other settings, is a {@linkcode RunFolderError} naming the file.
   */
  resume?: boolean;
}

/**
 * Train a run end to end: write `config.json`, train with the preset (+ overrides), keep the
 * best checkpoint, predict every trial, evaluate and write `metrics.json`.
 *
 * @example
 * ```ts
 * import { trainRun } from "@hest/hest";
 * const metrics = await trainRun(
 *   { data: { kind: "lorenz" }, preset: "tiny", seed: 0, backend: "wasm", train: { steps: 50 } },
 *   { outDir: "runs/example" },
 * );
 * ```
 */
export async function trainRun(given: RunConfig, opts: TrainRunOptions): Promise<MetricsFile> {
  // the run's own settings (config.json, the checkpoint's runConfig) never carry the snapshot;
  // a resumed run continues with the preset it started with, whatever the preset is now
  const { presetSnapshot, ...runCfg } = given;
  const snapshot = presetSnapshot ??
    (opts.resume ? await savedPresetSnapshot(opts.outDir) : undefined);
  const cfg: RunConfig = snapshot ? { ...runCfg, presetSnapshot: snapshot } : runCfg;
  const p = presetOf(cfg);
  checkTrainOverrides(cfg.train ?? {});
  const existing = await existingRunFiles(opts.outDir);
  if (!opts.resume && existing.length > 0 && opts.ifExists === "refuse") {
    throw new RunFolderError(
      `${opts.outDir} already holds a run (${existing.join(", ")}); resume it, replace it, ` +
        `or train into another folder`,
    );
  }
  const ds = await loadData(cfg.data);
  const model = modelFor(cfg, ds);
  let resumeFrom: TrainState | undefined;
  if (opts.resume) {
    const path = `${opts.outDir}/state.safetensors`;
    try {
      resumeFrom = await loadTrainState(path);
    } catch (err) {
      throw new RunFolderError(`cannot resume: ${(err as Error).message}`, { cause: err });
    }
    try {
      checkResumeState(model, ds, { ...p.train, ...(cfg.train ?? {}), seed: cfg.seed, resumeFrom });
    } catch (err) {
      disposeTrainState(resumeFrom);
      throw new RunFolderError(`cannot resume from ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  } else if (existing.length > 0) await removeRunOutputs(opts.outDir);
  try {
    await Deno.mkdir(opts.outDir, { recursive: true });
  } catch (err) {
    const why = (err as Error).message;
    throw new RunFolderError(`cannot create the run folder ${opts.outDir}: ${why}`, { cause: err });
  }
  await removeStaleTemps(opts.outDir);
  if (!opts.resume) {
    await writeJsonAtomic(`${opts.outDir}/config.json`, {
      ...runCfg,
      resolvedModel: model.config,
      resolvedTrain: { ...p.train, ...(cfg.train ?? {}) },
      presetSnapshot: { model: p.model, train: p.train },
      versions: { hest: HEST_VERSION, deno: Deno.version.deno, tfjs: tf.version.tfjs },
    });
  }
  const result = await train(model, ds, {
    ...p.train,
    ...(cfg.train ?? {}),
    seed: cfg.seed,
    outDir: opts.outDir,
    progress: opts.progress,
    resumeFrom,
    metadata: {
      preset: cfg.preset,
      seed: String(cfg.seed),
      backend: cfg.backend,
      runConfig: JSON.stringify(runCfg),
    },
  });
  const scoreT = inferenceTimesteps(cfg);
  const metrics = await writeRunOutputs(opts.outDir, atTimesteps(cfg, scoreT), ds, result.params, {
    split: opts.split,
    metricsFile: "metrics.json",
    rowTimesteps: scoreT,
    extra: {
      bestStep: result.bestStep,
      trainSeconds: result.seconds,
      trainThreads: kernelThreads(),
    },
  });
  disposeTree(result.params);
  return metrics;
}

async function writeRunOutputs(
  dir: string,
  cfg: RunConfig,
  ds: SpikeDataset,
  params: Params,
  opts: {
    split?: "train" | "val" | "test";
    metricsFile: string;
    extra?: Partial<ResultRow>;
    exports?: RunExports;
    /** Spiking-mode timesteps other than the trained ones (names the predictions files). */
    timesteps?: number;
    /** Timesteps the spiking row records (default `timesteps`). */
    rowTimesteps?: number;
  },
): Promise<MetricsFile> {
  const model = modelFor(cfg, ds);
  // NLB files without eval_spikes_heldout cannot score the test split: default to val
  const unknown = unknownTestTargets(ds);
  if (opts.split === "test" && unknown.heldOut) {
    throw new DatasetError(
      `${ds.meta.source ?? ds.name}: the test (eval) trials have no held-out counts in the file ` +
        `(no eval_spikes_heldout), so the test split cannot be scored; use split "val"`,
    );
  }
  const split = opts.split ?? (unknown.heldOut ? "val" : "test");
  const results: ResultRow[] = [];
  const modes = runModes(cfg);
  const exportMode = opts.exports?.mode ?? modes[0];
  if (!modes.includes(exportMode)) {
    throw new RunFolderError(
      `${dir}: the run was trained in ${
        modes.join(" and ")
      } mode, so it has no ${exportMode}-mode ` +
        `rates to export; choose one of ${modes.join(", ")}`,
    );
  }
  // refuse a submission name before any work
  if (opts.exports?.nlbSubmission) nlbSubmissionName(ds, opts.exports.nlbName);
  // the first mode's rates go to predictions.safetensors
  const owner = { results: modes.map((mode) => ({ mode })) };
  for (const mode of modes) {
    const pending: { name: string; sum: tf.Tensor; n: number }[] = [];
    const stats: SpikeStatsCollector = {
      record(name: string, s: tf.Tensor) {
        pending.push({ name, sum: tf.keep(tf.sum(s)), n: s.size });
      },
    };
    let preds = await predict(model, params, ds, {
      mode,
      stats: mode === "spiking" ? stats : undefined,
    });
    const gains = calibrates(cfg) ? fitRateGains(preds, ds) : undefined;
    if (gains) preds = applyRateGains(preds, gains);
    await writePredictions(
      predictionsFile(dir, mode, { metrics: owner, timesteps: opts.timesteps }),
      preds,
    );
    if (mode === exportMode) await writeRunExports(preds, ds, opts.exports ?? {});
    const ev = await evaluate(preds, ds, { split, onWarning: () => {} });
    if (split === "test" && unknown.forward) delete ev.fpBps; // forward targets not in the file
    const row: ResultRow = {
      model: cfg.preset,
      mode,
      ...ev,
      params: countParams(params),
      ...(opts.extra ?? {}),
    };
    row.energy = await runEnergy(model, params, { dataset: ds, split, mode });
    if (gains) row.rateGains = { rates: [...gains.rates], forward: [...gains.forward] };
    const rowT = opts.rowTimesteps ?? opts.timesteps;
    if (mode === "spiking" && rowT !== undefined) row.timesteps = rowT;
    if (mode === "spiking") {
      const acc = new Map<string, { spikes: number; n: number }>();
      for (const { name, sum, n } of pending) {
        const a = acc.get(name) ?? { spikes: 0, n: 0 };
        a.spikes += (await sum.data())[0];
        a.n += n;
        acc.set(name, a);
        sum.dispose();
      }
      row.firingRates = Object.fromEntries([...acc].map(([k, v]) => [k, v.spikes / v.n]));
    }
    results.push(row);
  }
  const metrics: MetricsFile = { dataset: datasetSummary(ds), results };
  await writeJsonAtomic(`${dir}/${opts.metricsFile}`, metrics);
  return metrics;
}

/** Options of {@linkcode evaluateRun}. */
export interface EvaluateRunOptions extends RunExports {
  /** Split to score (default test; val when the file has no held-out counts for the test trials). */
  split?: "train" | "val" | "test";
  /** Data to evaluate on instead of the run's own data spec (same neurons and bins). */
  data?: DataSpec;
  /**
   * Run the spiking mode with this many SNN timesteps instead of the trained ones (the weights do
   * not depend on T; more timesteps cost proportionally more operations). The metrics go to
   * `metrics_t<T>.json` (`metrics_<split>_t<T>.json`) and the predictions to
   * `predictions*_t<T>.safetensors`, so the run's own files stay as they are; the spiking row
   * records `timesteps`. Needs a run with a spiking mode. Without it the spiking mode runs at the
   * run's train option `inferenceTimesteps` where set, as the run's own scoring did.
   */
  timesteps?: number;
}

/**
 * Re-evaluate a run folder: rebuild its data and model from `config.json`, load the checkpoint,
 * predict, evaluate and rewrite `predictions.safetensors` and the metrics file of the split
 * ({@linkcode metricsFileName}: `metrics.json` for the default or test split,
 * `metrics_val.json` / `metrics_train.json` otherwise; `timesteps` adds `_t<T>` to the metrics
 * and predictions files). A folder whose config or checkpoint cannot be read or does not fit is a
 * {@linkcode RunFolderError}, a data file that cannot be loaded a `DatasetError`.
 *
 * @example
 * ```ts
 * import { evaluateRun } from "@hest/hest";
 * const metrics = await evaluateRun("runs/demo");
 * // the spiking mode at 8 SNN timesteps, on the validation split: runs/demo/metrics_val_t8.json
 * const t8 = await evaluateRun("runs/demo", { split: "val", timesteps: 8 });
 * ```
 */
export async function evaluateRun(
  dir: string,
  opts: EvaluateRunOptions = {},
): Promise<MetricsFile> {
  const T = opts.timesteps === undefined
    ? undefined
    : positiveInt('evaluateRun option "timesteps"', opts.timesteps);
  let run: LoadedRun;
  try {
    run = await loadRun(dir, { data: opts.data });
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new RunFolderError((err as Error).message, { cause: err });
  }
  const { dataset: ds, params } = run;
  try {
    const modes = runModes(run.config);
    if (T !== undefined && !modes.includes("spiking")) {
      throw new RunFolderError(
        `${dir}: timesteps set the spiking mode's SNN timesteps, but the run was trained in ` +
          `${modes.join(" and ")} mode only`,
      );
    }
    // an explicit T names files of its own; the run's inferenceTimesteps is its own scoring
    const scoreT = T ?? inferenceTimesteps(run.config);
    const cfg = atTimesteps(run.config, scoreT);
    await removeStaleTemps(dir);
    // no earlier metrics: nothing to carry over
    const r = (await savedMetrics(dir))?.results?.[0];
    const previous: Partial<ResultRow> = r
      ? { bestStep: r.bestStep, trainSeconds: r.trainSeconds, trainThreads: r.trainThreads }
      : {};
    return await writeRunOutputs(dir, cfg, ds, params, {
      split: opts.split,
      metricsFile: metricsFileName(opts.split, { timesteps: T }),
      extra: previous,
      exports: opts,
      timesteps: T,
      rowTimesteps: scoreT,
    });
  } finally {
    disposeTree(params);
  }
}

/** A trained run read back from its folder by {@linkcode loadRun}. */
export interface LoadedRun {
  /** The run's `config.json`. */
  config: RunConfig;
  /** The dataset it was trained on (or `opts.data`). */
  dataset: SpikeDataset;
  /**
   * The model the run's preset and overrides build for that dataset, its spiking mode at the
   * run's train option `inferenceTimesteps` where set.
   */
  model: Model;
  /** The trained parameters (`checkpoint.safetensors`); the caller disposes them. */
  params: Params;
  /**
   * Each mode's per-neuron rate gains, for a run with the train option `calibrateRates` (from
   * the rows of its `metrics.json`): `applyRateGains(await predict(...), rateGains[mode])` gives
   * the rates the run was scored on. Absent otherwise.
   */
  rateGains?: Partial<Record<Mode, RateGains>>;
}

/**
 * Read a run folder (`config.json` + `checkpoint.safetensors`, as `deno task train` writes):
 * its config, data, model and trained parameters. A checkpoint that does not fit the model is
 * refused, naming both.
 *
 * @example
 * ```ts ignore
 * import { loadRun } from "@hest/hest";
 * const { model, params, dataset } = await loadRun("results/hybrid_causal");
 * ```
 */
export async function loadRun(
  dir: string,
  opts: { data?: DataSpec } = {},
): Promise<LoadedRun> {
  let config: RunConfig;
  try {
    config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (err) {
    throw new Error(`${dir}/config.json: cannot read the run config: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const dataset = await loadData(opts.data ?? config.data);
  const model = modelFor(atTimesteps(config, inferenceTimesteps(config)), dataset);
  const { params } = await loadCheckpoint(`${dir}/checkpoint.safetensors`);
  const fresh = model.init(key(0));
  const want = new Map(flatten(fresh).map((l) => [l.path, l.tensor.shape.join("×")]));
  const have = new Map(flatten(params).map((l) => [l.path, l.tensor.shape.join("×")]));
  disposeTree(fresh);
  for (const [path, shape] of want) {
    if (have.get(path) !== shape) {
      disposeTree(params);
      throw new Error(
        `${dir}/checkpoint.safetensors does not match the model of ${dir}/config.json on this ` +
          `data: parameter ${path} should be [${shape.replaceAll("×", ", ")}], found ` +
          (have.has(path) ? `[${have.get(path)!.replaceAll("×", ", ")}]` : "none"),
      );
    }
  }
  const rateGains = calibrates(config) ? await savedRateGains(dir) : undefined;
  return { config, dataset, model, params, ...(rateGains ? { rateGains } : {}) };
}

/** `dir`'s `metrics.json`, or undefined when the run has none yet (or it cannot be read). */
async function savedMetrics(dir: string): Promise<MetricsFile | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`));
  } catch {
    return undefined;
  }
}

/** The gains recorded in the rows of `dir`'s `metrics.json`, by mode (undefined without any). */
async function savedRateGains(dir: string): Promise<Partial<Record<Mode, RateGains>> | undefined> {
  const out: Partial<Record<Mode, RateGains>> = {};
  for (const r of (await savedMetrics(dir))?.results ?? []) {
    if (!r.rateGains) continue;
    out[r.mode] = {
      rates: Float32Array.from(r.rateGains.rates),
      forward: Float32Array.from(r.rateGains.forward),
    };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
