/**
 * One cell of the real-data protocol (scripts/real_data.ts): one recording cut into windows of
 * one length, with one draw of held-out neurons. The cell fits the two baselines (cached in
 * its folder) and trains every model preset for every seed (finished run folders are reused),
 * and returns one {@linkcode RealRun} per baseline, and per model run and evaluated mode.
 *
 * @module
 */
import type { SpikeDataset } from "../lib/data/dataset.ts";
import { loadDataset, type LoadOptions } from "../lib/data/load.ts";
import { writeJsonAtomic } from "../lib/core/io.ts";
import {
  rawCountRidge,
  type RawCountRidgeResult,
  smoothingBaseline,
  type SmoothingBaselineResult,
} from "../lib/eval/baselines.ts";
import { type ExperimentVariant, runExperiment } from "../lib/experiments/experiment.ts";
import { datasetSummary, type MetricsFile, type TrainOverrides } from "../lib/experiments/run.ts";

/** One baseline fit, or one trained run scored in one mode, of one protocol cell. */
export interface RealRun {
  /** Window length of the cell, ms. */
  windowMs: number;
  /** Seed of the held-out neuron draw. */
  draw: number;
  /** Training seed (null for baselines, which are deterministic). */
  seed: number | null;
  /** `"smoothing"`, `"ridge"`, or the model preset (`"standard"`, `"hybrid"`). */
  model: string;
  /** Mode the model was evaluated in (null for baselines). */
  mode: "standard" | "spiking" | null;
  /** co-bps of the held-out neurons on the **test** windows (null: not a rate model). */
  coBps: number | null;
  /** co-bps on the **val** windows that chose the checkpoint (the baseline's kernel and alpha). */
  valCoBps: number | null;
  /** Velocity R² on the test windows (ridge fitted on the train windows). */
  velR2: number | null;
  /** Bits/spike of the held-in neurons on the test windows (the input: not a prediction). */
  heldInBps: number | null;
  /** Inference energy per window, µJ (models). */
  energyUj: number | null;
  /** LIF firing rate per site on the test windows (spiking mode). */
  firingRates: Record<string, number> | null;
  /** Optimiser steps of the kept checkpoint (models). */
  bestStep: number | null;
  /** Steps taken before the run stopped (early stopping or the budget; models). */
  stepsTaken: number | null;
  /** Training or fitting wall-clock seconds. */
  seconds: number;
}

/** What one cell needs. */
export interface CellJob {
  /** Path of the recording. */
  path: string;
  /** Loader options (the window length and the held-out draw included). */
  options: LoadOptions;
  /** Model presets to train. */
  models: string[];
  /** Training seeds. */
  seeds: number[];
  /** Training overrides per preset (e.g. `--steps`, `--quick`). */
  trainOverrides: Record<string, TrainOverrides>;
  /** Model overrides per preset (`--quick`). */
  modelOverrides: Record<string, Record<string, unknown> | undefined>;
  /** Folder of the cell: `baselines.json` and `runs/`. */
  dir: string;
  /** Smoothing baseline's grid. */
  smoothingGrid: { kernSdMs: number[]; alphas: number[] };
  /** Backend name. */
  backend: string;
  /** Progress bars. */
  progress: boolean;
  /** Prefix of progress lines. */
  label: string;
}

/** A cell's runs, with its dataset's summary and held-out neurons. */
export interface CellResult {
  /** Window length, ms. */
  windowMs: number;
  /** Held-out draw. */
  draw: number;
  /** `datasetSummary` of the cell's dataset (windows, bins, split sizes). */
  summary: Record<string, unknown>;
  /** Held-out neuron indices. */
  heldOut: number[];
  /** Baseline choices: smoothing kernel SD and GLM alpha; raw-count ridge features. */
  baselineDetails: Record<string, unknown>;
  /** The runs. */
  runs: RealRun[];
}

/** The two baselines' results (and fitting times) of one cell. */
interface Baselines {
  smooth: SmoothingBaselineResult;
  smoothSeconds: number;
  ridge: RawCountRidgeResult;
  ridgeSeconds: number;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

/** Reuse `path` when its `key` matches (the M1 smoothing grid takes minutes), else fit and save. */
async function cachedBaselines(
  path: string,
  key: string,
  fit: () => Promise<Baselines>,
): Promise<Baselines> {
  const c = await readJson(path) as { key?: string; baselines?: Baselines } | undefined;
  if (c?.key === key && c.baselines) return c.baselines;
  const b = await fit();
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await writeJsonAtomic(path, { key, baselines: b });
  return b;
}

/** A run's validation records (`kind: "val"` lines of its `log.jsonl`), in step order. */
async function validations(
  dir: string,
): Promise<{ step: number; byMode: Record<string, number> }[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/log.jsonl`);
  } catch (err) {
    throw new Error(`${dir}/log.jsonl: expected the run's log, ${(err as Error).message}`);
  }
  return text.split("\n").filter((line) => line.includes('"kind":"val"')).map((line) =>
    JSON.parse(line)
  );
}

/**
 * Run (or reuse) one cell: fit the baselines, train the presets, read every run's test and
 * validation scores.
 */
export async function runCell(job: CellJob): Promise<CellResult> {
  const ds: SpikeDataset = await loadDataset(job.path, job.options);
  if (ds.meta.behaviorKey !== job.options.behaviorKey || !ds.behavior) {
    throw new Error(
      `${job.path}: expected the loader to return "${job.options.behaviorKey}" as the ` +
        `behaviour, found ${JSON.stringify(ds.meta.behaviorKey)}`,
    );
  }
  const windowMs = job.options.windowMs!;
  const draw = job.options.seed!;
  const summary = datasetSummary(ds);
  const cacheKey = JSON.stringify({
    path: job.path,
    options: job.options,
    grid: job.smoothingGrid,
  });
  const { smooth, smoothSeconds, ridge, ridgeSeconds } = await cachedBaselines(
    `${job.dir}/baselines.json`,
    cacheKey,
    async () => {
      console.error(`${job.label}: smoothing + GLM, raw-count ridge`);
      let t = performance.now();
      const smooth = await smoothingBaseline(ds, { ...job.smoothingGrid, onWarning: () => {} });
      const smoothSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      const ridge = await rawCountRidge(ds);
      return { smooth, smoothSeconds, ridge, ridgeSeconds: (performance.now() - t) / 1000 };
    },
  );
  const chosen = smooth.selection.find((s) =>
    s.kernSdMs === smooth.kernSdMs && s.alpha === smooth.alpha
  );
  const base = { windowMs, draw, seed: null, mode: null, energyUj: null, firingRates: null };
  const runs: RealRun[] = [
    {
      ...base,
      model: "smoothing",
      coBps: smooth.coBps,
      valCoBps: chosen?.valCoBps ?? null,
      velR2: smooth.velR2 ?? null,
      heldInBps: smooth.heldInBps,
      bestStep: null,
      stepsTaken: null,
      seconds: smoothSeconds,
    },
    {
      ...base,
      model: "ridge",
      coBps: null,
      valCoBps: null,
      velR2: ridge.velR2,
      heldInBps: null,
      bestStep: null,
      stepsTaken: null,
      seconds: ridgeSeconds,
    },
  ];
  if (job.models.length > 0) {
    const variants: ExperimentVariant[] = job.models.map((m) => ({
      name: m,
      label: m,
      preset: m,
      model: job.modelOverrides[m],
      train: job.trainOverrides[m],
    }));
    await runExperiment(variants, {
      seeds: job.seeds,
      data: { kind: "file", path: job.path, options: job.options },
      outDir: job.dir,
      backend: job.backend,
      progress: job.progress,
      onRun: ({ variant, seed, index, total }) =>
        console.error(`${job.label}: [${index + 1}/${total}] ${variant}, seed ${seed}`),
    });
    for (const m of job.models) {
      for (const seed of job.seeds) {
        const dir = `${job.dir}/runs/${m}_s${seed}`;
        const metrics = await readJson(`${dir}/metrics.json`) as MetricsFile | undefined;
        if (!metrics) throw new Error(`${dir}/metrics.json: expected the run's metrics`);
        // a run validates at its last step, early stop or not; the kept checkpoint's record
        // holds the val score per mode
        const vals = await validations(dir);
        const taken = vals.length ? vals[vals.length - 1].step : null;
        for (const r of metrics.results) {
          const val = vals.find((v) => v.step === r.bestStep)?.byMode ?? {};
          runs.push({
            windowMs,
            draw,
            seed,
            model: m,
            mode: r.mode as "standard" | "spiking",
            coBps: r.coBps,
            valCoBps: val[r.mode] ?? null,
            velR2: r.velR2 ?? null,
            heldInBps: r.heldInBps,
            energyUj: r.energy?.perSampleUj ?? null,
            firingRates: r.firingRates ?? null,
            bestStep: r.bestStep ?? null,
            stepsTaken: taken,
            seconds: r.trainSeconds ?? NaN,
          });
        }
      }
    }
  }
  return {
    windowMs,
    draw,
    summary,
    heldOut: Array.from(ds.heldOut),
    baselineDetails: {
      kernSdMs: smooth.kernSdMs,
      alpha: smooth.alpha,
      ridgeFeatures: ridge.nFeatures,
    },
    runs,
  };
}
