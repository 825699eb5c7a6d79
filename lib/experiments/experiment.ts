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
  type TrainOverrides,
  trainRun,
} from "./run.ts";

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
  const seeds = [...(opts.seeds ?? [0])];
  const data = opts.data ?? { kind: "lorenz" };
  const names = new Set<string>();
  for (const v of variants) {
    if (!/^[A-Za-z0-9_.-]+$/.test(v.name)) {
      throw new Error(`variant name must be letters, digits, "_", "." or "-", found "${v.name}"`);
    }
    if (names.has(v.name)) throw new Error(`duplicate variant name "${v.name}"`);
    names.add(v.name);
  }
  if (seeds.length === 0 || seeds.some((s) => !Number.isSafeInteger(s))) {
    throw new Error(`seeds must be a non-empty list of integers, found ${JSON.stringify(seeds)}`);
  }
  const metrics = new Map<string, MetricsFile>();
  let index = 0;
  const total = variants.length * seeds.length;
  for (const v of variants) {
    for (const seed of seeds) {
      const dir = `${opts.runsDir ?? `${opts.outDir}/runs`}/${v.name}_s${seed}`;
      const cfg: RunConfig = {
        data,
        preset: v.preset,
        model: v.model,
        train: { ...(opts.train ?? {}), ...(v.train ?? {}) },
        seed,
        backend: opts.backend ?? "wasm",
      };
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
  const results: VariantResult[] = [];
  for (const v of variants) {
    const runs = seeds.map((s) => metrics.get(`${v.name}/${s}`)!);
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
  const first = metrics.get(`${variants[0].name}/${seeds[0]}`)!;
  const out: ExperimentResult = { seeds, data, dataset: first.dataset, results };
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
