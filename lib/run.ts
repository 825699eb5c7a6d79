/**
 * Run folders: train a preset on a dataset and record everything needed to reproduce and
 * evaluate it.
 *
 * A run folder holds `config.json` (data spec, preset, overrides, seed, backend, versions),
 * `checkpoint.safetensors` (best parameters), `log.jsonl`, `predictions.safetensors` (rates of
 * every trial, expected counts per bin) and `metrics.json`. Every file is written atomically.
 *
 * @module
 */
import { tf } from "./backend.ts";
import { encodeSafetensors, loadCheckpoint, writeFileAtomic } from "./checkpoint.ts";
import type { SpikeDataset } from "./dataset.ts";
import { loadDatasetJson, writeJsonAtomic } from "./io.ts";
import { lorenzDataset, type LorenzOptions } from "./lorenz.ts";
import { type EvalResult, evaluate, type RatePredictions } from "./metrics.ts";
import type { SpikeStatsCollector } from "./hybrid.ts";
import type { Mode } from "./layers.ts";
import { type ModelPreset, preset, transformerFor } from "./presets.ts";
import { predict, train, type TrainOptions } from "./train.ts";
import { countParams, disposeTree, type Params } from "./tree.ts";

/** Where a run's data comes from: the generated Lorenz set (with options) or a dataset file. */
export type DataSpec = { kind: "lorenz"; options?: LorenzOptions } | { kind: "file"; path: string };

/** JSON-serialisable training overrides allowed in a run config. */
export type TrainOverrides = Omit<
  TrainOptions,
  "onStep" | "key" | "outDir" | "initialParams" | "progress"
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
 * import { loadData } from "./mod.ts";
 * const ds = await loadData({ kind: "lorenz", options: { conditions: 4 } });
 * ```
 */
export async function loadData(spec: DataSpec): Promise<SpikeDataset> {
  if (spec.kind === "lorenz") return lorenzDataset(spec.options ?? {});
  if (spec.kind === "file") {
    if (!spec.path.endsWith(".json")) {
      throw new Error(
        `data file ${spec.path}: unsupported file type; this version reads hest dataset JSON ` +
          `(.json) and the built-in "lorenz" data`,
      );
    }
    return await loadDatasetJson(spec.path);
  }
  throw new Error(`unknown data kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
}

/**
 * A short summary of a dataset for `metrics.json` and reports.
 *
 * @example
 * ```ts
 * import { datasetSummary, lorenzDataset } from "./mod.ts";
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
  const p = preset(cfg.preset);
  return transformerFor(ds, { ...p.model, ...(cfg.model ?? {}) }, { kind: p.kind });
}

/** Modes a run was trained in (and is evaluated in). */
function runModes(cfg: RunConfig): Mode[] {
  const p = preset(cfg.preset);
  const schedule = cfg.train?.modeSchedule ?? p.train.modeSchedule ?? "standard";
  return schedule === "alternate" ? ["standard", "spiking"] : [schedule];
}

/** Options of {@linkcode trainRun}. */
export interface TrainRunOptions {
  /** Run folder (created). */
  outDir: string;
  /** Progress bar on stderr. */
  progress?: boolean;
  /** Split reported in `metrics.json` (default `"test"`). */
  split?: "train" | "val" | "test";
}

/**
 * Train a run end to end: write `config.json`, train with the preset (+ overrides), keep the
 * best checkpoint, predict every trial, evaluate and write `metrics.json`.
 *
 * @example
 * ```ts
 * import { trainRun } from "./mod.ts";
 * const metrics = await trainRun(
 *   { data: { kind: "lorenz" }, preset: "tiny", seed: 0, backend: "wasm", train: { steps: 50 } },
 *   { outDir: "runs/example" },
 * );
 * ```
 */
export async function trainRun(cfg: RunConfig, opts: TrainRunOptions): Promise<MetricsFile> {
  const p = preset(cfg.preset);
  const ds = await loadData(cfg.data);
  const model = modelFor(cfg, ds);
  await Deno.mkdir(opts.outDir, { recursive: true });
  await writeJsonAtomic(`${opts.outDir}/config.json`, {
    ...cfg,
    resolvedModel: model.config,
    resolvedTrain: { ...p.train, ...(cfg.train ?? {}) },
    versions: { hest: "0.1.0", deno: Deno.version.deno, tfjs: tf.version.tfjs },
  });
  const result = await train(model, ds, {
    ...p.train,
    ...(cfg.train ?? {}),
    seed: cfg.seed,
    outDir: opts.outDir,
    progress: opts.progress,
    metadata: { preset: cfg.preset, seed: String(cfg.seed), backend: cfg.backend },
  });
  const metrics = await writeRunOutputs(opts.outDir, cfg, ds, result.params, {
    split: opts.split,
    extra: { bestStep: result.bestStep, trainSeconds: result.seconds },
  });
  disposeTree(result.params);
  return metrics;
}

async function writeRunOutputs(
  dir: string,
  cfg: RunConfig,
  ds: SpikeDataset,
  params: Params,
  opts: { split?: "train" | "val" | "test"; extra?: Partial<ResultRow> },
): Promise<MetricsFile> {
  const model = modelFor(cfg, ds);
  const split = opts.split ?? "test";
  const results: ResultRow[] = [];
  const modes = runModes(cfg);
  for (const mode of modes) {
    const pending: { name: string; sum: tf.Tensor; n: number }[] = [];
    const stats: SpikeStatsCollector = {
      record(name: string, s: tf.Tensor) {
        pending.push({ name, sum: tf.keep(tf.sum(s)), n: s.size });
      },
    };
    const preds = await predict(model, params, ds, {
      mode,
      stats: mode === "spiking" ? stats : undefined,
    });
    if (mode === modes[0]) await writePredictions(`${dir}/predictions.safetensors`, preds);
    else await writePredictions(`${dir}/predictions_${mode}.safetensors`, preds);
    const ev = await evaluate(preds, ds, { split, onWarning: () => {} });
    const row: ResultRow = {
      model: cfg.preset,
      mode,
      ...ev,
      params: countParams(params),
      ...(opts.extra ?? {}),
    };
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
  await writeJsonAtomic(`${dir}/metrics.json`, metrics);
  return metrics;
}

/**
 * Write predictions as safetensors (`rates` `[trials, bins, neurons]`, `forwardRates`), readable
 * with `safetensors.numpy.load_file`.
 *
 * @example
 * ```ts
 * import { writePredictions } from "./mod.ts";
 * // await writePredictions("runs/demo/predictions.safetensors", preds);
 * ```
 */
export async function writePredictions(path: string, preds: RatePredictions): Promise<void> {
  const tensors: Params = { rates: tf.tensor(preds.rates.data, [...preds.rates.shape]) };
  if (preds.forwardRates && preds.forwardRates.shape[1] > 0) {
    tensors.forwardRates = tf.tensor(preds.forwardRates.data, [...preds.forwardRates.shape]);
  }
  const bytes = await encodeSafetensors(tensors, {
    metadata: { units: "expected counts per bin", layout: "[trials, bins, neurons]" },
  });
  disposeTree(tensors);
  await writeFileAtomic(path, bytes);
}

/**
 * Re-evaluate a run folder: rebuild its data and model from `config.json`, load the checkpoint,
 * predict, evaluate and rewrite `predictions.safetensors` and `metrics.json`.
 *
 * @example
 * ```ts
 * import { evaluateRun } from "./mod.ts";
 * const metrics = await evaluateRun("runs/demo");
 * ```
 */
export async function evaluateRun(
  dir: string,
  opts: { split?: "train" | "val" | "test" } = {},
): Promise<MetricsFile> {
  let cfg: RunConfig;
  try {
    cfg = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (err) {
    throw new Error(`${dir}/config.json: cannot read the run config: ${(err as Error).message}`);
  }
  const ds = await loadData(cfg.data);
  const { params } = await loadCheckpoint(`${dir}/checkpoint.safetensors`);
  let previous: Partial<ResultRow> = {};
  try {
    const old = JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`)) as MetricsFile;
    previous = { bestStep: old.results[0]?.bestStep, trainSeconds: old.results[0]?.trainSeconds };
  } catch {
    // no earlier metrics: nothing to carry over
  }
  const metrics = await writeRunOutputs(dir, cfg, ds, params, {
    split: opts.split,
    extra: previous,
  });
  disposeTree(params);
  return metrics;
}

/**
 * Format result rows as a fixed-width text table.
 *
 * @example
 * ```ts
 * import { formatResults } from "./mod.ts";
 * console.log(formatResults([]));
 * ```
 */
export function formatResults(rows: readonly ResultRow[]): string {
  const cols: [string, (r: ResultRow) => string][] = [
    ["model", (r) => r.model],
    ["mode", (r) => r.mode],
    ["co-bps", (r) => fmt(r.coBps)],
    ["oracle co-bps", (r) => fmt(r.oracleCoBps)],
    ["co-bps/oracle", (r) => r.oracleCoBps ? fmt(r.coBps / r.oracleCoBps, 3) : "-"],
    ["fp-bps", (r) => fmt(r.fpBps)],
    ["rate R²", (r) => fmt(r.rateR2)],
    ["PSTH R²", (r) => fmt(r.psthR2)],
    ["vel R²", (r) => fmt(r.velR2)],
    ["params", (r) => String(r.params)],
  ];
  const cells = [cols.map((c) => c[0]), ...rows.map((r) => cols.map((c) => c[1](r)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((c, i) => c.padStart(widths[i])).join("  ")).join("\n");
}

function fmt(v: number | undefined, digits = 4): string {
  return v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits);
}
