/**
 * Multi-variant, multi-seed experiments: the engine behind the ablation, comparison and
 * roadmap-phase scripts.
 *
 * `runExperiment(variants, opts)` trains every variant (a preset plus model/train overrides) for
 * every seed with {@linkcode trainRun}, each in its own run folder
 * `<outDir>/runs/<variant>_s<seed>/` (config, checkpoint, log, predictions, metrics), then
 * aggregates the per-mode rows into mean ± sd over seeds: co-bps, co-bps / oracle, energy per
 * trial, mean firing rate, training time. A run folder whose `metrics.json` exists and whose
 * `config.json` matches is reused, so an interrupted experiment continues where it stopped and
 * seeds can be run by separate processes into the same folder (the last one aggregates).
 *
 * The same experiment can run as a sweep instead (locally in parallel, or as a Slurm job array):
 * {@linkcode experimentSweepSpec} writes the variants as the sweep's `cases` and the seeds as
 * its grid, and {@linkcode collectExperimentSweep} aggregates the sweep's run folders with the
 * same {@linkcode aggregateExperiment} as `runExperiment`. {@linkcode variantRunConfig} is the
 * one place a variant and seed become a run config, so both paths train the same runs.
 *
 * @module
 */
import { writeJsonAtomic } from "../core/io.ts";
import type { Mode } from "../nn/types.ts";
import { type ModelPreset, preset } from "./presets.ts";
import { canonicalJson } from "../train/train_state.ts";
import {
  type DataSpec,
  type MetricsFile,
  type RunConfig,
  RunFolderError,
  type TrainOverrides,
  trainRun,
} from "./run.ts";
import { expandSweep, parseSweepSpec, sweepRunDir, type SweepSpec } from "./sweep.ts";
import { readSweepStatus, sweepTaskFinished } from "./sweep_task.ts";

/** One configuration of an experiment. */
export interface ExperimentVariant {
  /** Short identifier (run folder names), e.g. `"conv"`. */
  name: string;
  /** Label for tables and figures, e.g. `"+ conv attention"`. */
  label: string;
  /** Preset the variant starts from. */
  preset: string;
  /** Architecture overrides. */
  model?: ModelPreset;
  /** Training overrides. */
  train?: TrainOverrides;
  /** Modes to report (default: every mode the run was trained in). */
  modes?: readonly Mode[];
}

/** Mean, standard deviation (n − 1; 0 for one value) and the per-seed values. */
export interface Stat {
  /** Mean over seeds. */
  mean: number;
  /** Sample standard deviation over seeds. */
  sd: number;
  /** One value per seed, in seed order. */
  values: number[];
}

/** Aggregated results of one variant in one mode. */
export interface VariantResult {
  /** Variant name. */
  name: string;
  /** Variant label. */
  label: string;
  /** Preset. */
  preset: string;
  /** Mode evaluated. */
  mode: Mode;
  /** Held-out co-bps on the evaluated split. */
  coBps: Stat;
  /** Oracle co-bps of the true rates (synthetic data; NaN otherwise). */
  oracleCoBps: number;
  /** co-bps / oracle co-bps. */
  coBpsRatio: Stat;
  /** Rate R² against the true rates (synthetic data; NaN otherwise). */
  rateR2: Stat;
  /** Forward-prediction bits/spike. */
  fpBps: Stat;
  /** Inference energy per trial, µJ. */
  energyUj: Stat;
  /** Mean firing rate over all LIF sites (spiking mode; NaN in standard mode). */
  firingRate: Stat;
  /** Training wall-clock seconds. */
  trainSeconds: Stat;
  /** Trainable parameters. */
  params: number;
  /** Per-site firing rates averaged over seeds (spiking mode). */
  firingRates?: Record<string, number>;
  /** Model and training overrides of the variant. */
  config: { model?: ModelPreset; train?: TrainOverrides };
}

/** Options of {@linkcode runExperiment}. */
export interface ExperimentOptions {
  /** Seeds (default [0]). */
  seeds?: readonly number[];
  /** Data (default the Lorenz set). */
  data?: DataSpec;
  /** Folder of the experiment; run folders go to `<outDir>/runs/` unless `runsDir` is set. */
  outDir: string;
  /**
   * Folder of the run folders (default `<outDir>/runs`). Experiments that share it reuse each
   * other's finished runs when a variant has the same name, preset, overrides, data and seed.
   */
  runsDir?: string;
  /** TF.js backend name recorded in the run configs (default `"wasm"`). */
  backend?: string;
  /** Training overrides applied to every variant (e.g. a step budget), before the variant's. */
  train?: TrainOverrides;
  /** Progress bars. */
  progress?: boolean;
  /** Called before each run. */
  onRun?: (info: { variant: string; seed: number; index: number; total: number }) => void;
}

/** What {@linkcode runExperiment} returns and writes to `<outDir>/experiment.json`. */
export interface ExperimentResult {
  /** Seeds used. */
  seeds: number[];
  /** Data spec. */
  data: DataSpec;
  /** Dataset summary of the first run. */
  dataset: Record<string, unknown>;
  /** One entry per variant and mode, in variant order. */
  results: VariantResult[];
}

/**
 * Mean and sample standard deviation.
 *
 * @example
 * ```ts
 * import { stat } from "@hest/hest";
 * stat([1, 2, 3]); // { mean: 2, sd: 1, values: [1, 2, 3] }
 * ```
 */
export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) return { mean: NaN, sd: NaN, values: [] };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, values: [...values] };
}

/**
 * Whether a saved `config.json` describes the run `b` would train: the same settings and the same
 * preset contents (a preset edited since the run was trained makes it stale). Run folders written
 * before `presetSnapshot` existed are checked on their resolved training options.
 */
function sameConfig(a: unknown, b: RunConfig): boolean {
  if (!a || typeof a !== "object") return false;
  const x = a as Record<string, unknown>;
  const pick = (c: Record<string, unknown>) =>
    canonicalJson([c.data, c.preset, c.model ?? {}, c.train ?? {}, c.seed, c.backend]);
  if (pick(x) !== pick(b as unknown as Record<string, unknown>)) return false;
  const p = preset(b.preset);
  if (x.presetSnapshot !== undefined) {
    return canonicalJson(x.presetSnapshot) === canonicalJson({ model: p.model, train: p.train });
  }
  return canonicalJson(x.resolvedTrain ?? null) ===
    canonicalJson({ ...p.train, ...(b.train ?? {}) });
}

async function readJson(path: string): Promise<unknown | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

/**
 * Train every variant for every seed (reusing finished run folders) and aggregate per mode.
 *
 * @example
 * ```ts
 * import { runExperiment } from "@hest/hest";
 * const r = await runExperiment(
 *   [{ name: "tiny", label: "tiny model", preset: "tiny", train: { steps: 20 } }],
 *   { outDir: "runs/example", seeds: [0, 1], data: { kind: "lorenz", options: { conditions: 4 } } },
 * );
 * console.log(r.results[0].coBps.mean);
 * ```
 */
export async function runExperiment(
  variants: readonly ExperimentVariant[],
  opts: ExperimentOptions,
): Promise<ExperimentResult> {
  const seeds = checkExperiment(variants, opts.seeds);
  const data = opts.data ?? { kind: "lorenz" };
  const metrics = new Map<string, MetricsFile>();
  let index = 0;
  const total = variants.length * seeds.length;
  for (const v of variants) {
    for (const seed of seeds) {
      const dir = `${opts.runsDir ?? `${opts.outDir}/runs`}/${v.name}_s${seed}`;
      const cfg = variantRunConfig(v, { ...opts, seed });
      opts.onRun?.({ variant: v.name, seed, index: index++, total });
      const prior = await readJson(`${dir}/metrics.json`);
      const priorCfg = await readJson(`${dir}/config.json`);
      if (prior && sameConfig(priorCfg, cfg)) {
        metrics.set(`${v.name}/${seed}`, prior as MetricsFile);
        continue;
      }
      metrics.set(
        `${v.name}/${seed}`,
        await trainRun(cfg, { outDir: dir, progress: opts.progress }),
      );
    }
  }
  const out = aggregateExperiment(variants, {
    seeds,
    data,
    metrics: (name, seed) => metrics.get(`${name}/${seed}`)!,
  });
  await Deno.mkdir(opts.outDir, { recursive: true });
  await writeJsonAtomic(`${opts.outDir}/experiment.json`, out);
  return out;
}

/** Check the variant names (run folder and case names) and the seeds; the seeds, default [0]. */
function checkExperiment(
  variants: readonly ExperimentVariant[],
  seedList: readonly number[] | undefined,
): number[] {
  const seeds = [...(seedList ?? [0])];
  const names = new Set<string>();
  for (const v of variants) {
    if (!/^[A-Za-z0-9_.-]+$/.test(v.name)) {
      throw new Error(`variant name must be letters, digits, "_", "." or "-", found "${v.name}"`);
    }
    if (names.has(v.name)) throw new Error(`duplicate variant name "${v.name}"`);
    names.add(v.name);
  }
  if (variants.length === 0) throw new Error(`expected at least one variant, found none`);
  if (seeds.length === 0 || seeds.some((s) => !Number.isSafeInteger(s))) {
    throw new Error(`seeds must be a non-empty list of integers, found ${JSON.stringify(seeds)}`);
  }
  return seeds;
}

/** Options of {@linkcode variantRunConfig}. */
export interface VariantRunOptions {
  /** Seed of the run. */
  seed: number;
  /** Data (default the Lorenz set). */
  data?: DataSpec;
  /** TF.js backend name (default `"wasm"`). */
  backend?: string;
  /** Training overrides of every variant, applied before the variant's own. */
  train?: TrainOverrides;
}

/**
 * The run config of one variant and seed: the in-process path trains exactly this, and the
 * sweep of {@linkcode experimentSweepSpec} expands to it (`model` is always an object, as a
 * sweep's is, so both write the same `config.json`).
 *
 * @example
 * ```ts
 * import { variantRunConfig } from "@hest/hest";
 * const cfg = variantRunConfig(
 *   { name: "conv", label: "+ conv", preset: "spikformer", model: { attention: "conv" } },
 *   { seed: 1, train: { steps: 50 } },
 * );
 * cfg.train; // { steps: 50 }
 * ```
 */
export function variantRunConfig(variant: ExperimentVariant, opts: VariantRunOptions): RunConfig {
  return {
    data: opts.data ?? { kind: "lorenz" },
    preset: variant.preset,
    model: { ...(variant.model ?? {}) },
    train: { ...(opts.train ?? {}), ...(variant.train ?? {}) },
    seed: opts.seed,
    backend: opts.backend ?? "wasm",
  };
}

/** Options of {@linkcode aggregateExperiment}. */
export interface AggregateOptions {
  /** Seeds, in the order of each {@linkcode Stat}'s values. */
  seeds: readonly number[];
  /** Data spec (recorded in the result; default the Lorenz set). */
  data?: DataSpec;
  /** The `metrics.json` of a variant's run with a seed. */
  metrics: (variant: string, seed: number) => MetricsFile;
}

/**
 * Aggregate finished runs per variant and mode: mean ± sd over seeds of co-bps, co-bps / oracle,
 * energy per trial, mean firing rate and training time, and the per-site firing rates. Both
 * {@linkcode runExperiment} and {@linkcode collectExperimentSweep} report through this.
 *
 * @example
 * ```ts
 * import { aggregateExperiment, type MetricsFile } from "@hest/hest";
 * const run = (coBps: number): MetricsFile => ({
 *   dataset: {},
 *   results: [{ model: "tiny", mode: "standard", coBps, split: "test", params: 10 } as never],
 * });
 * const r = aggregateExperiment([{ name: "a", label: "A", preset: "tiny" }], {
 *   seeds: [0, 1],
 *   metrics: (_v, seed) => run(seed === 0 ? 0.1 : 0.3),
 * });
 * r.results[0].coBps.mean; // 0.2
 * ```
 */
export function aggregateExperiment(
  variants: readonly ExperimentVariant[],
  opts: AggregateOptions,
): ExperimentResult {
  const seeds = [...opts.seeds];
  const results: VariantResult[] = [];
  for (const v of variants) {
    const runs = seeds.map((s) => opts.metrics(v.name, s));
    const modes = v.modes ?? runs[0].results.map((r) => r.mode);
    for (const mode of modes) {
      const rows = runs.map((m) => {
        const r = m.results.find((x) => x.mode === mode);
        if (!r) throw new Error(`variant "${v.name}" has no "${mode}" result`);
        return r;
      });
      const rates = rows.map((r) => Object.values(r.firingRates ?? {}));
      const sites = new Map<string, number[]>();
      for (const r of rows) {
        for (const [k, x] of Object.entries(r.firingRates ?? {})) {
          sites.set(k, [...(sites.get(k) ?? []), x]);
        }
      }
      results.push({
        name: v.name,
        label: v.label,
        preset: v.preset,
        mode,
        coBps: stat(rows.map((r) => r.coBps)),
        oracleCoBps: rows[0].oracleCoBps ?? NaN,
        coBpsRatio: stat(rows.map((r) => r.coBps / (r.oracleCoBps ?? NaN))),
        rateR2: stat(rows.map((r) => r.rateR2 ?? NaN)),
        fpBps: stat(rows.map((r) => r.fpBps ?? NaN)),
        energyUj: stat(rows.map((r) => r.energy?.perSampleUj ?? NaN)),
        firingRate: stat(
          rates.map((xs) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN),
        ),
        trainSeconds: stat(rows.map((r) => r.trainSeconds ?? NaN)),
        params: rows[0].params,
        firingRates: sites.size
          ? Object.fromEntries([...sites].map(([k, xs]) => [k, stat(xs).mean]))
          : undefined,
        config: { model: v.model, train: v.train },
      });
    }
  }
  const first = opts.metrics(variants[0].name, seeds[0]);
  return { seeds, data: opts.data ?? { kind: "lorenz" }, dataset: first.dataset, results };
}

/** Options of {@linkcode experimentSweepSpec}. */
export interface ExperimentSweepOptions {
  /** Seeds (default [0]): the sweep's grid over `seed`. */
  seeds?: readonly number[];
  /** Data (default the Lorenz set). */
  data?: DataSpec;
  /** TF.js backend name (default `"wasm"`). */
  backend?: string;
  /** Training overrides of every variant (the base's `train`), before the variant's own. */
  train?: TrainOverrides;
}

/**
 * The sweep spec of an experiment: the data, backend and common training overrides as its
 * `base`, one case per variant (name, label, preset, model and training overrides) and a grid
 * over `seed`. Each of its tasks has the run config {@linkcode variantRunConfig} gives for its
 * case and seed; `modes` only choose what is reported and stay with the variants.
 *
 * @example
 * ```ts
 * import { expandSweep, experimentSweepSpec, parseSweepSpec } from "@hest/hest";
 * const spec = experimentSweepSpec(
 *   [{ name: "tiny", label: "tiny model", preset: "tiny" }, { name: "std", label: "standard", preset: "standard" }],
 *   { seeds: [0, 1], train: { steps: 20 } },
 * );
 * (await expandSweep(parseSweepSpec(spec))).map((t) => t.id.split("-")[0]);
 * // ["tiny_seed0", "tiny_seed1", "std_seed0", "std_seed1"]
 * ```
 */
export function experimentSweepSpec(
  variants: readonly ExperimentVariant[],
  opts: ExperimentSweepOptions = {},
): SweepSpec {
  const seeds = checkExperiment(variants, opts.seeds);
  return {
    base: {
      data: structuredClone(opts.data ?? { kind: "lorenz" }),
      ...(opts.train ? { train: structuredClone(opts.train) } : {}),
      backend: opts.backend ?? "wasm",
    },
    cases: variants.map((v) => ({
      name: v.name,
      label: v.label,
      preset: v.preset,
      ...(v.model ? { model: structuredClone(v.model) } : {}),
      ...(v.train ? { train: structuredClone(v.train) } : {}),
    })),
    grid: { seed: seeds },
  };
}

/** Options of {@linkcode collectExperimentSweep}. */
export interface CollectExperimentOptions extends ExperimentSweepOptions {
  /** The sweep folder (`tasks.jsonl`, `runs/<id>/`, `status/`). */
  sweepDir: string;
  /** Where `experiment.json` goes. */
  outDir: string;
}

/**
 * Aggregate an experiment that ran as the sweep of {@linkcode experimentSweepSpec} (same
 * variants and options) from the sweep's run folders, like {@linkcode runExperiment} does from
 * its own, and write `<outDir>/experiment.json`. Nothing is trained: a run that has not finished
 * (failed, running, not started, or trained with another config) is a `RunFolderError` listing
 * each such task with its state, error and log files.
 *
 * @example
 * ```ts ignore
 * import { collectExperimentSweep } from "@hest/hest";
 * const r = await collectExperimentSweep(
 *   [{ name: "tiny", label: "tiny model", preset: "tiny" }],
 *   { sweepDir: "runs/sweep", outDir: "runs/experiment", seeds: [0, 1] },
 * );
 * ```
 */
export async function collectExperimentSweep(
  variants: readonly ExperimentVariant[],
  opts: CollectExperimentOptions,
): Promise<ExperimentResult> {
  const seeds = checkExperiment(variants, opts.seeds);
  const spec = parseSweepSpec(experimentSweepSpec(variants, opts));
  const metrics = new Map<string, MetricsFile>();
  const missing: string[] = [];
  for (const task of await expandSweep(spec)) {
    const v = variants.find((x) => x.name === task.case)!;
    const seed = task.params.seed as number;
    // the sweep's configs are the in-process path's: a drift here would compare other runs
    const cfg = variantRunConfig(v, { ...opts, seed });
    if (canonicalJson(cfg) !== canonicalJson(task.config)) {
      throw new Error(
        `internal: sweep task ${task.id} has config ${canonicalJson(task.config)}, expected ` +
          `${canonicalJson(cfg)} (variant "${v.name}", seed ${seed})`,
      );
    }
    const dir = sweepRunDir(opts.sweepDir, task.id);
    if (await sweepTaskFinished(dir, task.config)) {
      metrics.set(`${v.name}/${seed}`, await readJson(`${dir}/metrics.json`) as MetricsFile);
      continue;
    }
    const st = await readSweepStatus(opts.sweepDir, task.id);
    missing.push(
      `task ${task.index} (${task.id}): ` +
        (st?.state === "failed"
          ? `failed: ${st.error ?? "unknown error"}`
          : st?.state === "running"
          ? `started on ${st.host} and not finished (running, or killed)`
          : st?.state === "finished"
          ? `finished with another config (expand the sweep again and rerun it)`
          : "not run yet") +
        (st?.logs.length ? ` [log ${st.logs.join(", ")}]` : ""),
    );
  }
  if (missing.length > 0) {
    const saved = await readJson(`${opts.sweepDir}/spec.json`);
    const hint = saved === undefined
      ? `; ${opts.sweepDir} holds no sweep yet (no spec.json): run the tasks first`
      : canonicalJson(saved) !== canonicalJson(spec)
      ? `; note: ${opts.sweepDir}/spec.json is another spec than this experiment's (other ` +
        `seeds, variants, steps or data?)`
      : "";
    throw new RunFolderError(
      `${missing.length} of ${variants.length * seeds.length} run(s) of the sweep in ` +
        `${opts.sweepDir} have not finished: ${missing.join("; ")}${hint}`,
    );
  }
  const out = aggregateExperiment(variants, {
    seeds,
    data: opts.data,
    metrics: (name, seed) => metrics.get(`${name}/${seed}`)!,
  });
  await Deno.mkdir(opts.outDir, { recursive: true });
  await writeJsonAtomic(`${opts.outDir}/experiment.json`, out);
  return out;
}

/**
 * Format experiment results as a Markdown table (mean ± sd over seeds).
 *
 * @example
 * ```ts
 * import { experimentTable } from "@hest/hest";
 * console.log(experimentTable([]));
 * ```
 */
export function experimentTable(results: readonly VariantResult[]): string {
  const pm = (s: Stat, d = 4) =>
    Number.isNaN(s.mean)
      ? "-"
      : s.values.length > 1
      ? `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}`
      : s.mean.toFixed(d);
  const lines = [
    "| variant | mode | co-bps | co-bps / oracle | energy µJ/trial | firing rate | train s | params |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    lines.push(
      `| ${r.label} | ${r.mode} | ${pm(r.coBps)} | ${pm(r.coBpsRatio, 3)} | ${
        pm(r.energyUj, 2)
      } | ${pm(r.firingRate, 3)} | ${pm(r.trainSeconds, 0)} | ${r.params} |`,
    );
  }
  return lines.join("\n");
}
