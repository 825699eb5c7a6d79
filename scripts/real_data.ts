/**
 * Real-data benchmark: the `standard` and `hybrid` presets at their defaults (both modes of the
 * hybrid) against two baselines — Gaussian smoothing + Poisson GLM to the held-out neurons
 * (`nlb_tools`' smoothing baseline) and ridge decoding of hand velocity from the raw counts — on
 * the two macaque reaching recordings (`REAL_DATASETS`), which ship in data/real/ (MIT, each with
 * its README and license); `--data-root DIR` or `HEST_REAL_DATA` points elsewhere.
 *
 * The protocol: each continuous recording is cut into windows of each `--windows` length (default
 * 500 and 1000 ms, 50-ms bins); for each `--draws` seed (default 0, 1, 2) a different 25 % of the
 * neurons is held out; the windows are split chronologically 70/10/20 into train / val / test
 * (the test windows are the last fifth of the session); every preset trains once per `--seeds`
 * seed (default 0, 1) per cell. Scores are on the **test** windows: co-bps of the held-out neurons
 * and velocity R² (a cross-validated ridge fitted on the train windows, from the rates of every
 * neuron — the models' predicted rates, the baseline's smoothed + GLM rates, or the raw counts);
 * the val co-bps that chose each checkpoint is reported beside it, so the session's drift shows.
 * Tables give mean ± sd over draws × seeds (baselines: over draws).
 *
 *     deno task real [--quick] [--datasets s1,m1] [--windows 500,1000] [--draws 0,1,2]
 *                    [--seeds 0,1] [--jobs N] [--steps N]
 *
 * Writes `<out>/<dataset>/results.json`, `report.md` and figures (`scores_<w>ms.{svg,png}`,
 * `accuracy_energy.{svg,png}`); each cell's baselines and run folders go to
 * `<runs>/<dataset>/w<ms>_d<draw>/` and finished ones are reused.
 *
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "../lib/core/io.ts";
import type { Stat } from "../lib/experiments/experiment.ts";
import type { LoadOptions } from "../lib/data/load.ts";
import { accuracyEnergyChart } from "../lib/figures/charts.ts";
import { saveFigure } from "../lib/figures/render.ts";
import { preset } from "../lib/experiments/presets.ts";
import type { TrainOverrides } from "../lib/experiments/run.ts";
import { intFlag, parseFlags, runMain, selectBackend, UsageError } from "./_cli.ts";
import { QUICK } from "./_experiment.ts";
import { type CellJob, type CellResult, runCell } from "./_real_data_cell.ts";
import {
  aggregate,
  driftTable,
  firingTable,
  markdownTable,
  scoresChart,
  targets,
  targetsTable,
} from "./_real_data_report.ts";

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
 * import { REAL_DATASETS } from "./real_data.ts";
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

/**
 * A model or baseline row of `results.json`: one window length, statistics over every run of it
 * (draws × seeds for models, draws for the deterministic baselines).
 */
export interface RealRow {
  /** Window length, ms. */
  windowMs: number;
  /** `"smoothing"`, `"ridge"`, or the preset (`"standard"`, `"hybrid"`). */
  model: string;
  /** Label for tables and figures. */
  label: string;
  /** Baseline or trained model. */
  kind: "baseline" | "model";
  /** Mode the model was evaluated in (null for baselines). */
  mode: "standard" | "spiking" | null;
  /** Preset (null for baselines). */
  preset: string | null;
  /** The preset's step budget (null for baselines); early stopping may end a run sooner. */
  steps: number | null;
  /** Peak learning rate of the preset (null for baselines). */
  lr: number | null;
  /** co-bps of the held-out neurons on the **test** windows (null: not a rate model). */
  coBps: Stat | null;
  /** co-bps on the **val** windows (where the checkpoint or the kernel was chosen). */
  valCoBps: Stat | null;
  /** Velocity R² on the test windows. */
  velR2: Stat | null;
  /** Bits per spike of the held-in neurons on the test windows. */
  heldInBps: Stat | null;
  /** Inference energy per window, µJ (models only). */
  energyUj: Stat | null;
  /** Mean LIF firing rate over the sites (spiking mode only). */
  firingRate: Stat | null;
  /** Per-site firing rates, averaged over the runs (spiking mode only). */
  firingRates?: Record<string, number>;
  /** Training (models) or fitting (baselines) wall-clock seconds. */
  seconds: Stat | null;
  /** Step of the kept checkpoint, per run (models). */
  bestStep: number[] | null;
  /** Whether the mean co-bps is above the smoothing baseline's. */
  beatsSmoothingCoBps: boolean | null;
  /** Whether the mean velocity R² is above the raw-count ridge's. */
  beatsRidgeVelR2: boolean | null;
  /** Baseline choices (kernel SD, GLM penalty per draw). */
  details?: Record<string, unknown>;
}

/** One of the targets, checked on one window length. */
export interface RealTarget {
  /** Window length, ms. */
  windowMs: number;
  /** What is compared. */
  target: string;
  /** The measured ratio or value. */
  value: number;
  /** The threshold it must reach. */
  threshold: number;
  /** Whether it does. */
  met: boolean;
}

/** The models the benchmark trains: their labels and presets. */
export const MODELS: Readonly<Record<string, { label: string; preset: string }>> = {
  standard: { label: "standard transformer", preset: "standard" },
  hybrid: { label: "hybrid", preset: "hybrid" },
};

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

Real-data benchmark on the two macaque reaching recordings (in --data-root): the standard and
hybrid presets at their defaults (the hybrid in both modes) against the smoothing + Poisson GLM
and the raw-count ridge baselines. Per recording, window length and held-out draw, the windows
are split chronologically 70/10/20 into train/val/test; co-bps and velocity R² on the test
windows, mean ± sd over draws × seeds, with the val co-bps beside them.

  --quick              tiny model, 6 steps, one smoothing kernel, one window, draw and seed:
                       a smoke run (under a minute)
  --datasets LIST      comma-separated: s1, m1 (default both)
  --models LIST        comma-separated: standard, hybrid (default both; "" for baselines only)
  --windows LIST       window lengths in ms, multiples of 50 (default 500,1000)
  --draws LIST         seeds of the held-out neuron draws (default 0,1,2)
  --seeds LIST         training seeds (default 0,1)
  --held-out-fraction F  fraction of neurons held out per draw (default 0.25)
  --steps N            optimiser steps of every model (default: each preset's)
  --jobs N             cells trained at once, each in its own process (default 1)
  --only-cell K:W:D    train one cell (dataset key, window ms, draw) and write nothing else:
                       what each --jobs child runs
  --lag-ms L           behaviour lag in ms, a multiple of 50 (default 0: same bin)
  --data-root DIR      folder holding the dataset folders (default $HEST_REAL_DATA, else the
                       repository's data/real)
  --out DIR            results (default results/real_data; --quick: runs/real_data_quick)
  --runs DIR           cell folders (default runs/real_data; --quick: <out>/runs)
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

function intListFlag(
  name: string,
  v: string | undefined,
  fallback: number[],
  ok: (n: number) => boolean = () => true,
  what = "integers",
): number[] {
  if (v === undefined) return fallback;
  const items = v.split(",").map((s) => {
    const n = Number(s.trim());
    if (s.trim() === "" || !Number.isSafeInteger(n) || !ok(n)) {
      throw new UsageError(`--${name} must be comma-separated ${what}, found "${v}"`);
    }
    return n;
  });
  return [...new Set(items)];
}

/** What a dataset's protocol needs besides the dataset itself. */
interface DatasetJob extends
  Pick<
    CellJob,
    | "models"
    | "seeds"
    | "trainOverrides"
    | "modelOverrides"
    | "smoothingGrid"
    | "backend"
    | "progress"
  > {
  data: RealDataset;
  path: string;
  windows: number[];
  draws: number[];
  heldOutFraction: number;
  quick: boolean;
  outDir: string;
  runsDir: string;
  figures: boolean;
  command: string;
  lagMs: number;
}

function cellOptions(job: DatasetJob, windowMs: number, draw: number): LoadOptions {
  return {
    ...job.data.options,
    windowMs,
    lagMs: job.lagMs,
    heldOutFraction: job.heldOutFraction,
    seed: draw,
    split: "chronological",
  };
}

function runDatasetCell(job: DatasetJob, windowMs: number, draw: number): Promise<CellResult> {
  return runCell({
    path: job.path,
    options: cellOptions(job, windowMs, draw),
    models: job.models,
    seeds: job.seeds,
    trainOverrides: job.trainOverrides,
    modelOverrides: job.modelOverrides,
    dir: `${job.runsDir}/${job.data.folder}/w${windowMs}_d${draw}`,
    smoothingGrid: job.smoothingGrid,
    backend: job.backend,
    progress: job.progress,
    label: `${job.data.key} ${windowMs} ms, draw ${draw}`,
  });
}

/** Every cell of a dataset, aggregated, with the report, `results.json` and figures written. */
async function runDataset(job: DatasetJob): Promise<RealRow[]> {
  const t0 = performance.now();
  const { data } = job;
  const cells: CellResult[] = [];
  for (const w of job.windows) {
    for (const d of job.draws) cells.push(await runDatasetCell(job, w, d));
  }
  const runs = cells.flatMap((c) => c.runs);
  const rows = aggregate(runs, job.windows, job.models);
  for (const r of rows.filter((r) => r.model === "smoothing")) {
    r.details = {
      kernSdMs: cells.filter((c) => c.windowMs === r.windowMs).map((c) =>
        c.baselineDetails.kernSdMs
      ),
      alpha: cells.filter((c) => c.windowMs === r.windowMs).map((c) => c.baselineDetails.alpha),
    };
  }
  const checks = targets(rows, job.windows);
  const seconds = (performance.now() - t0) / 1000;

  const outDir = `${job.outDir}/${data.folder}`;
  await Deno.mkdir(outDir, { recursive: true });
  const figureLinks: string[] = [];
  if (job.figures) {
    for (const w of job.windows) {
      const title = `${data.key.toUpperCase()}, ${w}-ms windows: test split, mean ± sd over ` +
        `${job.draws.length} draws × ${job.seeds.length} seeds${
          job.quick ? " (quick smoke run)" : ""
        }`;
      await saveFigure(
        scoresChart(rows.filter((r) => r.windowMs === w), title),
        `${outDir}/scores_${w}ms`,
      );
      figureLinks.push(`![co-bps and velocity R², ${w}-ms windows](scores_${w}ms.png)`);
    }
    const w = Math.max(...job.windows);
    const points = rows.filter((r) =>
      r.windowMs === w && r.kind === "model" && r.energyUj && r.energyUj.mean > 0
    );
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
          {
            title: `${data.key.toUpperCase()}: test co-bps vs inference energy per ${w}-ms window`,
          },
        ),
        `${outDir}/accuracy_energy`,
      );
      figureLinks.push("![accuracy vs energy](accuracy_energy.png)");
    }
  }
  const first = cells[0];
  const json = {
    kind: "real_data",
    command: job.command,
    quick: job.quick,
    backend: job.backend,
    seeds: job.seeds,
    draws: job.draws,
    windows: job.windows,
    dataset: {
      key: data.key,
      folder: data.folder,
      file: job.path,
      title: data.title,
      citation: data.citation,
      behavior: data.behavior,
      behaviorKey: data.options.behaviorKey,
      neurons: first.summary.neurons,
      binSizeMs: first.summary.binSizeMs,
    },
    protocol: {
      windowsMs: job.windows,
      lagMs: job.lagMs,
      heldOutFraction: job.heldOutFraction,
      draws: job.draws,
      seeds: job.seeds,
      split: "chronological 70/10/20 (train/val/test) per window length; scores on test, " +
        "valCoBps on val",
      velR2: "cross-validated ridge (5-fold, alpha in logspace(-4, 0, 9)) fitted on the train " +
        "windows from the rates of every neuron, R² (uniform over x, y) on the test windows",
    },
    cells: cells.map((c) => ({
      windowMs: c.windowMs,
      draw: c.draw,
      summary: c.summary,
      heldOut: c.heldOut,
      baselines: c.baselineDetails,
    })),
    rows,
    targets: checks,
    runs,
    wallSeconds: seconds,
  };
  await writeJsonAtomic(`${outDir}/results.json`, json);
  const cellLines = job.windows.map((w) => {
    const c = cells.find((x) => x.windowMs === w)!;
    const sp = c.summary.split as Record<string, number>;
    return `- ${w}-ms windows: ${c.summary.trials} windows of ${c.summary.bins} bins of ` +
      `${c.summary.binSizeMs} ms, ${sp.train} train / ${sp.val} val / ${sp.test} test, in time ` +
      `order; ${c.summary.heldOut} of ${c.summary.neurons} neurons held out per draw.`;
  });
  const md = [
    `# Real data: ${data.folder}`,
    "",
    `${data.title}. Behaviour decoded: ${data.behavior}.`,
    "",
    `Data: ${data.citation}`,
    "",
    `Protocol: the presets at their defaults; ${job.draws.length} held-out draws (seeds ` +
    `${job.draws.join(", ")}, ${job.heldOutFraction * 100} % of the neurons each) × ` +
    `${job.seeds.length} training seeds (${job.seeds.join(", ")}) per window length; baselines ` +
    `are deterministic (one fit per draw). Behaviour lag ${job.lagMs} ms. Every score is on the ` +
    `**test** windows (the last fifth of the session) except "val co-bps", on the val windows ` +
    `just before them, which chose each checkpoint (the baseline's kernel and alpha): the gap ` +
    `between the two is the session's drift. co-bps: bits/spike of the held-out neurons ` +
    `(nlb_tools' definition). vel R²: ${json.protocol.velR2}.`,
    "",
    ...cellLines,
    "",
    `Command: \`${job.command}\` (backend ${job.backend}${
      job.quick ? "; quick smoke run: not results" : ""
    }); ${seconds.toFixed(0)} s for this dataset in this invocation (finished run folders and ` +
    `baseline fits are reused; each row's own fitting or training time is its "seconds").`,
    "",
    "## Scores (test windows)",
    "",
    markdownTable(rows),
    "",
    "## Targets (issue 15)",
    "",
    targetsTable(checks),
    "",
    "## Drift: val against test",
    "",
    driftTable(rows),
    "",
    "## Spiking mode: firing rate per site (test windows, mean over runs)",
    "",
    firingTable(rows),
    "",
    job.figures ? figureLinks.join("\n\n") : "(figures skipped: --no-figures)",
    "",
  ].join("\n");
  await writeFileAtomic(`${outDir}/report.md`, md);
  console.log(`\n${data.folder}\n${markdownTable(rows)}\n\n${targetsTable(checks)}`);
  console.log(`wrote ${outDir}/{results.json, report.md${job.figures ? ", figures" : ""}}`);
  return rows;
}

/**
 * Train the cells in `jobs` child processes (one cell each: `--only-cell`), so the parent's
 * in-process pass finds every run finished. A failed cell stops the benchmark, naming it.
 */
async function runCellsInParallel(
  cells: { dataset: string; windowMs: number; draw: number }[],
  jobs: number,
  passArgs: string[],
): Promise<void> {
  const script = new URL(import.meta.url).pathname;
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const c = cells[next++];
      const args = [
        "run",
        "-A",
        "--frozen",
        script,
        ...passArgs,
        "--only-cell",
        `${c.dataset}:${c.windowMs}:${c.draw}`,
      ];
      const p = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "inherit" });
      const { code } = await p.output();
      if (code !== 0) {
        throw new Error(
          `cell ${c.dataset}, ${c.windowMs}-ms windows, draw ${c.draw} failed (exit ${code})`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, cells.length) }, worker));
}

async function main(): Promise<void> {
  const f = parseFlags({
    quick: { type: "boolean" },
    datasets: { type: "string" },
    models: { type: "string" },
    windows: { type: "string" },
    draws: { type: "string" },
    seeds: { type: "string" },
    "held-out-fraction": { type: "string" },
    steps: { type: "string" },
    jobs: { type: "string" },
    "only-cell": { type: "string" },
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
  const windows = intListFlag(
    "windows",
    f.windows,
    quick ? [1000] : [500, 1000],
    (n) => n >= 50 && n % 50 === 0,
    "window lengths in ms, multiples of 50",
  );
  const draws = intListFlag("draws", f.draws, quick ? [0] : [0, 1, 2]);
  const seeds = intListFlag("seeds", f.seeds, quick ? [0] : [0, 1]);
  const fractionText = f["held-out-fraction"];
  const heldOutFraction = fractionText === undefined ? 0.25 : Number(fractionText);
  if (!(heldOutFraction > 0 && heldOutFraction < 1) || fractionText?.trim() === "") {
    throw new UsageError(
      `--held-out-fraction must be a number between 0 and 1, found "${fractionText}"`,
    );
  }
  const steps = intFlag("steps", f.steps, 1);
  const jobs = intFlag("jobs", f.jobs, 1) ?? 1;
  const lagText = f["lag-ms"];
  const lagMs = lagText === undefined ? 0 : Number(lagText);
  if (!Number.isFinite(lagMs) || lagText?.trim() === "") {
    throw new UsageError(`--lag-ms must be a number, found "${lagText}"`);
  }
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
    const tr: TrainOverrides = quick ? { ...QUICK.train } : {};
    if (steps !== undefined) tr.steps = steps;
    trainOverrides[m] = tr;
    // the standard transformer has no `timesteps`: the quick sizes without it
    const { timesteps, ...sizes } = QUICK.model;
    const hybridKind = preset(MODELS[m].preset).kind === "hybrid";
    modelOverrides[m] = quick ? (hybridKind ? { ...sizes, timesteps } : sizes) : undefined;
  }
  const jobOf = (key: string): DatasetJob => {
    const data = REAL_DATASETS[key];
    return {
      data,
      path: `${root}/${data.folder}/${data.file}`,
      windows,
      draws,
      heldOutFraction,
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
    };
  };
  const only = f["only-cell"];
  if (only !== undefined) {
    // one cell in a child process of --jobs: train it, write nothing else
    const [key, w, d] = only.split(":");
    if (
      !REAL_DATASETS[key] || !Number.isSafeInteger(Number(w)) || !Number.isSafeInteger(Number(d))
    ) {
      throw new UsageError(`--only-cell must be DATASET:WINDOW_MS:DRAW, found "${only}"`);
    }
    await runDatasetCell(jobOf(key), Number(w), Number(d));
    return;
  }
  const t0 = performance.now();
  if (jobs > 1) {
    // the parent's own flags minus --jobs, --out and the figures, for every child
    const pass = Deno.args.filter((a, i, all) =>
      !a.startsWith("--jobs") && all[i - 1] !== "--jobs"
    );
    const cells = datasets.flatMap((dataset) =>
      windows.flatMap((windowMs) => draws.map((draw) => ({ dataset, windowMs, draw })))
    );
    await runCellsInParallel(cells, jobs, [...pass, "--quiet"]);
  }
  for (const key of datasets) await runDataset(jobOf(key));
  console.error(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

if (import.meta.main) await runMain(USAGE, main);
