/**
 * Real-data benchmark: the `standard` and `hybrid` presets (both modes) against the two
 * baselines — Gaussian smoothing + Poisson GLM to the held-out neurons (`nlb_tools`' smoothing
 * baseline) and ridge decoding of hand velocity from the raw counts — on the two macaque
 * reaching recordings (`REAL_DATASETS`), which ship in data/real/ (MIT, each with its README and
 * license); `--data-root DIR` or `HEST_REAL_DATA` points elsewhere.
 *
 * Each continuous recording is cut into 1-s windows (20 bins of 50 ms), 25 % of the neurons are
 * held out (seeded, seed 0, as NLB's fraction), and windows are split chronologically 70/10/20
 * into train / val / test. Every score is on the test windows: co-bps of the held-out neurons
 * and velocity R² (a cross-validated ridge fitted on the train windows, from the rates of every
 * neuron — the models' predicted rates, the baseline's smoothed + GLM rates, or the raw counts).
 * Both presets train 2400 steps here; the hybrid with cross-mode distillation
 * ({@linkcode HYBRID_REAL_TRAIN}).
 *
 *     deno task real [--data-root DIR] [--quick] [--datasets s1,m1] [--seeds 0] [--steps N]
 *                    [--hybrid-steps N] [--hybrid-distill L] [--hybrid-timesteps T]
 *
 * Writes `<out>/<dataset>/results.json`, `report.md` and figures (`scores.{svg,png}`,
 * `accuracy_energy.{svg,png}`); run folders go to `<runs>/<dataset>/runs/` and finished ones are
 * reused.
 *
 * @module
 */
import { writeFileAtomic } from "../lib/core/io.ts";
import type { SpikeDataset } from "../lib/data/dataset.ts";
import {
  type ExperimentVariant,
  runExperiment,
  type Stat,
  stat,
} from "../lib/experiments/experiment.ts";
import { writeJsonAtomic } from "../lib/core/io.ts";
import { loadDataset, type LoadOptions } from "../lib/data/load.ts";
import {
  rawCountRidge,
  type RawCountRidgeResult,
  smoothingBaseline,
  type SmoothingBaselineResult,
} from "../lib/eval/baselines.ts";
import { accuracyEnergyChart } from "../lib/figures/charts.ts";
import { saveFigure } from "../lib/figures/render.ts";
import { preset } from "../lib/experiments/presets.ts";
import { datasetSummary, type MetricsFile, type TrainOverrides } from "../lib/experiments/run.ts";
import { floatFlag, intFlag, parseFlags, runMain, selectBackend, UsageError } from "./_cli.ts";
import { QUICK } from "./_experiment.ts";
import { markdownTable, scoresChart } from "./_real_data_report.ts";

/** One of the real recordings the benchmark runs on. */
export interface RealDataset {
  /** Short name for `--datasets`. */
  key: string;
  /** Folder in the data root (and the result folder's name). */
  folder: string;
  /** File inside the folder. */
  file: string;
  /** One-line description. */
  title: string;
  /** Loader options specific to the file (behaviour key and dims, bin width). */
  options: LoadOptions;
  /** What the behaviour is (the loader's `behaviorKey` must equal `options.behaviorKey`). */
  behavior: string;
  /** How to cite the data (as the dataset's README asks). */
  citation: string;
}

/**
 * The two recordings, by `--datasets` key.
 *
 * @example
 * ```ts
 * import { REAL_DATASETS } from "./scripts/real_data.ts";
 * REAL_DATASETS.s1.folder; // "spykesml_s1_reaching"
 * ```
 */
export const REAL_DATASETS: Readonly<Record<string, RealDataset>> = {
  s1: {
    key: "s1",
    folder: "spykesml_s1_reaching",
    file: "s1_data.mat",
    title: "macaque S1 (area 2) reaching: 52 neurons, 35,129 bins of 50 ms (~29 min)",
    // the file stores no bin width: d(pos)/vel gives 50 ms (the dataset's README)
    options: { binSizeMs: 50, behaviorKey: "vel", behaviorDims: [0, 1] },
    behavior: "hand velocity x, y in cm/s (`vel`)",
    citation: "Benjamin et al. 2018, “Modern machine learning as a benchmark for fitting neural " +
      "responses”, Front. Comput. Neurosci. 12:56; data file `data/s1_data.mat` of the " +
      "KordingLab/spykesML repository (MIT licence). The upstream recording (probably the " +
      "Miller lab's S1 reaching set) is not documented there.",
  },
  m1: {
    key: "m1",
    folder: "stevenson2011_m1_reaching",
    file: "m1_stevenson_2011.mat",
    title: "macaque M1 reaching: 171 neurons, 15,536 bins of 50 ms (~777 s)",
    // the bin width comes from the file's `time` vector; handVel's third row is all zeros
    options: { behaviorKey: "handVel", behaviorDims: [0, 1] },
    behavior: "hand velocity x, y in m/s (`handVel` rows 0 and 1)",
    citation: "Stevenson et al. 2011, “Statistical assessment of the stability of neural " +
      "movement representations”, J Neurophysiol 106:764, via the CRCNS DREAM database " +
      "(Walker & Kording 2013, PLoS ONE 8:e78747); file `data/m1_stevenson_2011.mat` of the " +
      "KordingLab/spykesML repository (MIT licence; the CRCNS terms may also apply).",
  },
};

/** A model or baseline row of `results.json` (per-seed values in each {@linkcode Stat}). */
export interface RealRow {
  /** `"smoothing"`, `"ridge"`, or the variant name (`"standard"`, `"hybrid"`). */
  model: string;
  /** Label for tables and figures. */
  label: string;
  /** Baseline or trained model. */
  kind: "baseline" | "model";
  /** Mode the model was evaluated in (null for baselines). */
  mode: "standard" | "spiking" | null;
  /** Preset (null for baselines). */
  preset: string | null;
  /** Optimiser steps the runs were trained with (null for baselines). */
  steps: number | null;
  /** Peak learning rate the runs were trained with (null for baselines). */
  lr: number | null;
  /** co-bps of the held-out neurons on the test windows (null: not a rate model). */
  coBps: Stat | null;
  /** Velocity-decoding R² on the test windows. */
  velR2: Stat | null;
  /** Bits per spike of the held-in neurons on the test windows. */
  heldInBps: Stat | null;
  /** Inference energy per window, µJ (models only). */
  energyUj: Stat | null;
  /** Mean LIF firing rate (spiking mode only). */
  firingRate: Stat | null;
  /** Training (models) or fitting (baselines) wall-clock seconds. */
  seconds: Stat | null;
  /** Step of the kept checkpoint, per seed (models). */
  bestStep: number[] | null;
  /** Trainable parameters (models). */
  params: number | null;
  /** Whether the mean co-bps is above the smoothing baseline's. */
  beatsSmoothingCoBps: boolean | null;
  /** Whether the mean velocity R² is above the raw-count ridge's. */
  beatsRidgeVelR2: boolean | null;
  /** Baseline choices (kernel SD, GLM penalty, selection grid). */
  details?: Record<string, unknown>;
}

const MODELS: Record<string, { label: string; preset: string }> = {
  standard: { label: "standard transformer", preset: "standard" },
  hybrid: { label: "hybrid", preset: "hybrid" },
};

/**
 * How the hybrid trains on the real recordings: the standard preset's 2400 steps (the hybrid
 * preset's own 1200 were tuned on the Lorenz data) and cross-mode distillation λ = 1: with the
 * preset as it is, the spiking mode scores below both baselines on both recordings; distillation
 * and the longer schedule together lift it above both (the scores are in docs/design.md).
 * `--hybrid-steps` and `--hybrid-distill` override it.
 */
export const HYBRID_REAL_TRAIN: TrainOverrides = { steps: 2400, distill: 1 };

/**
 * Kernel SDs (ms) and GLM penalties the smoothing baseline chooses from by validation co-bps.
 * Reduced from the library default (6 SDs × 4 alphas) because every grid point is one GLM fit
 * per held-out neuron, which is slow on the M1 recording (43 held-out neurons × 128 held-in
 * features).
 */
const SMOOTHING_GRID = { kernSdMs: [25, 50, 100], alphas: [1e-2, 1e-1] };
const QUICK_SMOOTHING = { kernSdMs: [50], alphas: [1e-2] };

/** The recordings shipped with the repository (data/real/, MIT, with their READMEs). */
export const SHIPPED_REAL_DATA = new URL("../data/real", import.meta.url).pathname;

const USAGE = `usage: deno task real [options]

Real-data benchmark on the two macaque reaching recordings (in --data-root): 1-s windows,
25 % held-out neurons (seed 0), chronological 70/10/20 train/val/test split; co-bps and velocity
R² of the standard and hybrid presets (both modes) against the smoothing + Poisson GLM and the
raw-count ridge baselines, on the test windows.

  --quick              tiny model, 6 steps, one smoothing kernel: a smoke run (under a minute)
  --datasets LIST      comma-separated: s1, m1 (default both)
  --models LIST        comma-separated: standard, hybrid (default both)
  --seeds LIST         comma-separated training seeds (default 0)
  --steps N            optimiser steps of every model (default: standard 2400, its preset's;
                       hybrid 2400 here, see HYBRID_REAL_TRAIN)
  --hybrid-steps N     steps of the hybrid preset only (overrides --steps for it)
  --hybrid-distill L   the hybrid's cross-mode distillation weight (train option "distill";
                       default 1 here); other settings retrain into the same run folders
                       unless given their own --runs
  --hybrid-timesteps T the hybrid's SNN timesteps (default: the preset's, 4)
  --lag-ms L           behaviour lag in ms, a multiple of 50 (default 0: same bin)
  --data-root DIR      folder holding the dataset folders (default $HEST_REAL_DATA, else the
                       repository's data/real)
  --out DIR            results (default results/real_data; --quick: runs/real_data_quick)
  --runs DIR           run folders (default runs/real_data; --quick: <out>/runs)
  --backend B          wasm | webgpu | cpu (default wasm)
  --no-figures         skip the figures
  --quiet              no progress bars
  -h, --help           this text`;

function listFlag(name: string, v: string | undefined, allowed: readonly string[]): string[] {
  if (v === undefined) return [...allowed];
  const items = v.split(",").map((s) => s.trim());
  for (const s of items) {
    if (!allowed.includes(s)) {
      throw new UsageError(`--${name} must list ${allowed.join(", ")}, found "${s}" in "${v}"`);
    }
  }
  return [...new Set(items)];
}

function seedsFlag(v: string | undefined): number[] {
  if (v === undefined) return [0];
  return v.split(",").map((s) => {
    const n = Number(s.trim());
    if (s.trim() === "" || !Number.isSafeInteger(n)) {
      throw new UsageError(`--seeds must be comma-separated integers, found "${v}"`);
    }
    return n;
  });
}

/** The two baselines' results (and fitting times) of one dataset. */
interface Baselines {
  smooth: SmoothingBaselineResult;
  smoothSeconds: number;
  ridge: RawCountRidgeResult;
  ridgeSeconds: number;
}

/** Reuse `path` when its `key` matches (the M1 smoothing grid takes minutes), else fit and save. */
async function cachedBaselines(
  path: string,
  key: string,
  fit: () => Promise<Baselines>,
): Promise<Baselines> {
  try {
    const c = JSON.parse(await Deno.readTextFile(path));
    if (c.key === key) return c.baselines as Baselines;
  } catch {
    // no cache yet: fit
  }
  const b = await fit();
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await writeJsonAtomic(path, { key, baselines: b });
  return b;
}

async function runTrainSettings(path: string): Promise<{ steps?: number; lr?: number }> {
  try {
    return JSON.parse(await Deno.readTextFile(path)).resolvedTrain ?? {};
  } catch (err) {
    throw new Error(`${path}: expected a run's config.json, ${(err as Error).message}`);
  }
}

async function readMetrics(path: string): Promise<MetricsFile> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as MetricsFile;
  } catch (err) {
    throw new Error(`${path}: expected a run's metrics.json, ${(err as Error).message}`);
  }
}

/** What one dataset's benchmark needs besides the dataset itself. */
interface DatasetJob {
  data: RealDataset;
  path: string;
  options: LoadOptions;
  models: string[];
  seeds: number[];
  trainOverrides: Record<string, TrainOverrides>;
  modelOverrides: Record<string, Record<string, unknown> | undefined>;
  quick: boolean;
  backend: string;
  outDir: string;
  runsDir: string;
  figures: boolean;
  progress: boolean;
  command: string;
  lagMs: number;
  smoothingGrid: { kernSdMs: number[]; alphas: number[] };
}

async function runDataset(job: DatasetJob): Promise<RealRow[]> {
  const t0 = performance.now();
  const { data } = job;
  const ds: SpikeDataset = await loadDataset(job.path, job.options);
  if (ds.meta.behaviorKey !== data.options.behaviorKey || !ds.behavior) {
    throw new Error(
      `${job.path}: expected the loader to return "${data.options.behaviorKey}" as the ` +
        `behaviour, found ${JSON.stringify(ds.meta.behaviorKey)}`,
    );
  }
  const summary = datasetSummary(ds);
  console.error(
    `${data.folder}: ${summary.trials} windows × ${summary.bins} bins × ${summary.neurons} ` +
      `neurons (${summary.heldOut} held out); split ${JSON.stringify(summary.split)}`,
  );

  // baselines: deterministic, so a finished fit with the same data and grid is reused
  const expDir = `${job.runsDir}/${data.folder}`;
  const cacheKey = JSON.stringify({
    path: job.path,
    options: job.options,
    grid: job.smoothingGrid,
  });
  const { smooth, smoothSeconds, ridge, ridgeSeconds } = await cachedBaselines(
    `${expDir}/baselines.json`,
    cacheKey,
    async () => {
      let t = performance.now();
      const smooth = await smoothingBaseline(ds, { ...job.smoothingGrid, onWarning: () => {} });
      const smoothSeconds = (performance.now() - t) / 1000;
      t = performance.now();
      const ridge = await rawCountRidge(ds);
      return { smooth, smoothSeconds, ridge, ridgeSeconds: (performance.now() - t) / 1000 };
    },
  );
  console.error(
    `  smoothing + GLM: co-bps ${smooth.coBps.toFixed(4)}, vel R² ${smooth.velR2?.toFixed(4)} ` +
      `(${smoothSeconds.toFixed(1)} s); raw-count ridge: vel R² ${ridge.velR2.toFixed(4)}`,
  );
  const rows: RealRow[] = [
    {
      model: "smoothing",
      label: "smoothing + Poisson GLM",
      kind: "baseline",
      mode: null,
      preset: null,
      steps: null,
      lr: null,
      coBps: stat([smooth.coBps]),
      velR2: smooth.velR2 === undefined ? null : stat([smooth.velR2]),
      heldInBps: stat([smooth.heldInBps]),
      energyUj: null,
      firingRate: null,
      seconds: stat([smoothSeconds]),
      bestStep: null,
      params: null,
      beatsSmoothingCoBps: null,
      beatsRidgeVelR2: null,
      details: { kernSdMs: smooth.kernSdMs, alpha: smooth.alpha, selection: smooth.selection },
    },
    {
      model: "ridge",
      label: "raw-count ridge",
      kind: "baseline",
      mode: null,
      preset: null,
      steps: null,
      lr: null,
      coBps: null,
      velR2: stat([ridge.velR2]),
      heldInBps: null,
      energyUj: null,
      firingRate: null,
      seconds: stat([ridgeSeconds]),
      bestStep: null,
      params: null,
      beatsSmoothingCoBps: null,
      beatsRidgeVelR2: null,
      details: { features: ridge.nFeatures, lagBins: ridge.lagBins },
    },
  ];

  // models
  if (job.models.length > 0) {
    const variants: ExperimentVariant[] = job.models.map((m) => ({
      name: m,
      label: MODELS[m].label,
      preset: MODELS[m].preset,
      model: job.modelOverrides[m],
      train: job.trainOverrides[m],
    }));
    const exp = await runExperiment(variants, {
      seeds: job.seeds,
      data: { kind: "file", path: job.path, options: job.options },
      outDir: expDir,
      backend: job.backend,
      progress: job.progress,
      onRun: ({ variant, seed, index, total }) =>
        console.error(`  [${index + 1}/${total}] ${variant}, seed ${seed}`),
    });
    for (const r of exp.results) {
      const metrics = await Promise.all(
        job.seeds.map((s) => readMetrics(`${expDir}/runs/${r.name}_s${s}/metrics.json`)),
      );
      const mrows = metrics.map((m) => m.results.find((x) => x.mode === r.mode)!);
      // what the runs were trained with (a reused run folder keeps its own settings)
      const trained = await Promise.all(
        job.seeds.map((s) => runTrainSettings(`${expDir}/runs/${r.name}_s${s}/config.json`)),
      );
      const current = JSON.stringify({
        ...preset(r.preset).train,
        ...(job.trainOverrides[r.name] ?? {}),
      });
      if (r.mode === "standard" && trained.some((t) => JSON.stringify(t) !== current)) {
        console.error(
          `  warning: ${expDir}/runs/${r.name}_s* was trained with other settings than the ` +
            `preset now gives (${JSON.stringify(trained[0])} vs ${current}); its scores are ` +
            `reported with its own settings; delete the folder to retrain`,
        );
      }
      rows.push({
        model: r.name,
        label: r.label,
        kind: "model",
        mode: r.mode,
        preset: r.preset,
        steps: trained[0].steps ?? null,
        lr: trained[0].lr ?? null,
        coBps: r.coBps,
        velR2: stat(mrows.map((x) => x.velR2 ?? NaN)),
        heldInBps: stat(mrows.map((x) => x.heldInBps)),
        energyUj: r.energyUj,
        firingRate: r.mode === "spiking" ? r.firingRate : null,
        seconds: r.trainSeconds,
        bestStep: mrows.map((x) => x.bestStep ?? NaN),
        params: r.params,
        beatsSmoothingCoBps: r.coBps.mean > smooth.coBps,
        beatsRidgeVelR2: stat(mrows.map((x) => x.velR2 ?? NaN)).mean > ridge.velR2,
      });
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  // outputs
  const outDir = `${job.outDir}/${data.folder}`;
  await Deno.mkdir(outDir, { recursive: true });
  const figureLinks: string[] = [];
  if (job.figures) {
    const title = `${data.folder}: test windows${job.quick ? " (quick smoke run)" : ""}`;
    await saveFigure(scoresChart(rows, title), `${outDir}/scores`);
    figureLinks.push("![co-bps and velocity R²](scores.png)");
    const points = rows.filter((r) => r.kind === "model" && r.energyUj && r.energyUj.mean > 0);
    if (points.length > 0) {
      await saveFigure(
        accuracyEnergyChart(
          points.map((r) => ({
            model: r.label,
            mode: r.mode!,
            coBps: r.coBps!.mean,
            coBpsSd: r.coBps!.sd,
            energyUj: r.energyUj!.mean,
            energyUjSd: r.energyUj!.sd,
          })),
          { title: `${data.folder}: co-bps vs inference energy per 1-s window` },
        ),
        `${outDir}/accuracy_energy`,
      );
      figureLinks.push("![accuracy vs energy](accuracy_energy.png)");
    }
  }
  const json = {
    kind: "real_data",
    command: job.command,
    quick: job.quick,
    backend: job.backend,
    seeds: job.seeds,
    dataset: {
      key: data.key,
      folder: data.folder,
      file: job.path,
      title: data.title,
      citation: data.citation,
      behavior: data.behavior,
      behaviorKey: ds.meta.behaviorKey,
      behaviorNames: ds.behaviorNames ?? null,
      loadOptions: job.options,
      windows: ds.meta.windows,
      ...summary,
    },
    protocol: {
      windowMs: job.options.windowMs,
      lagMs: job.lagMs,
      heldOutFraction: job.options.heldOutFraction,
      heldOutSeed: job.options.seed,
      heldOut: Array.from(ds.heldOut),
      split: "chronological 70/10/20 (train/val/test); scores on test",
      velR2: "cross-validated ridge (5-fold, alpha in logspace(-4, 0, 9)) fitted on the train " +
        "windows from the rates of every neuron, R² (uniform over x, y) on the test windows",
    },
    rows,
    wallSeconds: seconds,
  };
  await writeJsonAtomic(`${outDir}/results.json`, json);
  const md = [
    `# Real data: ${data.folder}`,
    "",
    `${data.title}. Behaviour decoded: ${data.behavior}.`,
    "",
    `Data: ${data.citation}`,
    "",
    `Protocol: ${summary.trials} windows of ${job.options.windowMs} ms (${summary.bins} bins of ` +
    `${summary.binSizeMs} ms), split chronologically into ${ds.split.train.length} train / ` +
    `${ds.split.val.length} val / ${ds.split.test.length} test windows; ${summary.heldOut} of ` +
    `${summary.neurons} neurons held out (seeded random 25 %, seed ${job.options.seed}); ` +
    `behaviour lag ${job.lagMs} ms. Scores on the test windows. co-bps: bits/spike of the ` +
    `held-out neurons (nlb_tools' definition). vel R²: ${json.protocol.velR2} — the models' ` +
    `predicted rates, the smoothing baseline's rates (smoothed held-in + GLM held-out), or the ` +
    `raw counts. held-in bps scores the neurons whose counts are the input (the smoothed ` +
    `counts include each bin's own spikes), so it is not a prediction score.`,
    "",
    `Command: \`${job.command}\` (backend ${job.backend}, seeds ${job.seeds.join(", ")}${
      job.quick ? "; quick smoke run: not results" : ""
    }); ${
      seconds.toFixed(0)
    } s for this dataset in this invocation (finished run folders and baseline fits are ` +
    `reused; each row's own fitting or training time is its "seconds"). Smoothing baseline: ` +
    `kernel SD ` +
    `${smooth.kernSdMs} ms, GLM alpha ${smooth.alpha} (chosen by validation co-bps).`,
    "",
    markdownTable(rows),
    "",
    job.figures ? figureLinks.join("\n\n") : "(figures skipped: --no-figures)",
    "",
  ].join("\n");
  await writeFileAtomic(`${outDir}/report.md`, md);
  console.log(`\n${data.folder}\n${markdownTable(rows)}`);
  console.log(`wrote ${outDir}/{results.json, report.md${job.figures ? ", figures" : ""}}`);
  return rows;
}

async function main(): Promise<void> {
  const f = parseFlags({
    quick: { type: "boolean" },
    datasets: { type: "string" },
    models: { type: "string" },
    seeds: { type: "string" },
    steps: { type: "string" },
    "hybrid-steps": { type: "string" },
    "hybrid-distill": { type: "string" },
    "hybrid-timesteps": { type: "string" },
    "lag-ms": { type: "string" },
    "data-root": { type: "string" },
    out: { type: "string" },
    runs: { type: "string" },
    backend: { type: "string" },
    "no-figures": { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  const quick = !!f.quick;
  const datasets = listFlag("datasets", f.datasets, Object.keys(REAL_DATASETS));
  const models = f.models === "" ? [] : listFlag("models", f.models, Object.keys(MODELS));
  const seeds = seedsFlag(f.seeds);
  const steps = intFlag("steps", f.steps, 1);
  const hybridSteps = intFlag("hybrid-steps", f["hybrid-steps"], 1);
  const hybridDistill = floatFlag("hybrid-distill", f["hybrid-distill"]);
  if (hybridDistill !== undefined && !(hybridDistill >= 0)) {
    throw new UsageError(`--hybrid-distill must be a number >= 0, found "${f["hybrid-distill"]}"`);
  }
  const hybridTimesteps = intFlag("hybrid-timesteps", f["hybrid-timesteps"], 1);
  const lagMs = floatFlag("lag-ms", f["lag-ms"]) ?? 0;
  const expected = Object.values(REAL_DATASETS).map((d) => `${d.folder}/${d.file}`).join(" and ");
  const root = (f["data-root"] ?? Deno.env.get("HEST_REAL_DATA") ?? SHIPPED_REAL_DATA)
    .replace(/\/$/, "");
  try {
    await Deno.stat(root);
  } catch (err) {
    throw new Error(
      `the real datasets are not there: expected the folder ${root} (with ${expected}); ` +
        `pass --data-root DIR`,
      { cause: err },
    );
  }
  const backend = await selectBackend(f.backend);
  const outDir = f.out ?? (quick ? "runs/real_data_quick" : "results/real_data");
  const runsDir = f.runs ?? (quick ? `${outDir}/runs` : "runs/real_data");
  const command = `deno task real ${Deno.args.join(" ")}`.trim();
  const trainOverrides: Record<string, TrainOverrides> = {};
  const modelOverrides: Record<string, Record<string, unknown> | undefined> = {};
  for (const m of models) {
    const s = m === "hybrid" && hybridSteps !== undefined ? hybridSteps : steps;
    const tr: TrainOverrides = {
      ...(m === "hybrid" ? HYBRID_REAL_TRAIN : {}),
      ...(quick ? QUICK.train : {}),
    };
    if (s !== undefined) tr.steps = s;
    if (m === "hybrid" && hybridDistill !== undefined) tr.distill = hybridDistill;
    trainOverrides[m] = tr;
    // the standard transformer has no `timesteps`: the quick sizes without it
    const { timesteps, ...sizes } = QUICK.model;
    const hybridKind = preset(MODELS[m].preset).kind === "hybrid";
    const mo: Record<string, unknown> | undefined = quick
      ? (hybridKind ? { ...sizes, timesteps } : sizes)
      : undefined;
    modelOverrides[m] = m === "hybrid" && hybridTimesteps !== undefined
      ? { ...(mo ?? {}), timesteps: hybridTimesteps }
      : mo;
  }
  const t0 = performance.now();
  for (const key of datasets) {
    const data = REAL_DATASETS[key];
    await runDataset({
      data,
      path: `${root}/${data.folder}/${data.file}`,
      options: {
        ...data.options,
        windowMs: 1000,
        lagMs,
        heldOutFraction: 0.25,
        seed: 0,
        split: "chronological",
      },
      models,
      seeds,
      trainOverrides,
      modelOverrides,
      quick,
      backend,
      outDir,
      runsDir,
      figures: !f["no-figures"],
      progress: !f.quiet,
      command,
      lagMs,
      smoothingGrid: quick ? QUICK_SMOOTHING : SMOOTHING_GRID,
    });
  }
  console.error(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

if (import.meta.main) await runMain(USAGE, main);
