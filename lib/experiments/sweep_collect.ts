/**
 * Gathering a sweep: {@linkcode collectSweep} reads every task's run folder into
 * `<out>/results.json` (one row per finished task and mode: swept values, validation and test
 * co-bps, energy, times, run folder), lists the failed and unfinished tasks with their logs,
 * scores the ensemble the spec asks for (the mean predicted rates of the top-k runs by
 * validation co-bps, per mode) and draws co-bps against each swept parameter.
 *
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "../core/io.ts";
import type { Array3D, RatePredictions, SpikeDataset } from "../data/dataset.ts";
import { type EvalResult, type EvalSplit, evaluate } from "../eval/evaluate.ts";
import type { ChartSpec } from "../figures/charts.ts";
import { saveFigure } from "../figures/render.ts";
import { canonicalJson } from "../train/train_state.ts";
import { loadData, type MetricsFile, RunFolderError } from "./run.ts";
import {
  parseSweepSpec,
  readSweepTasks,
  sha256Hex,
  sweepRunDir,
  type SweepSpec,
  type SweepTask,
  sweptPaths,
} from "./sweep.ts";
import {
  predictionsFile,
  readPredictions,
  readSweepStatus,
  sweepTaskFinished,
  writeValMetrics,
} from "./sweep_task.ts";

/** One row of a sweep's `results.json`: a finished task in one mode, or an ensemble. */
export interface SweepRow {
  /** `"run"` (one task) or `"ensemble"`. */
  kind: "run" | "ensemble";
  /** Task id, or `ensemble-top<k>-<mode>`. */
  id: string;
  /** Task index (runs). */
  index?: number;
  /** The task's case (sweeps with `cases`). */
  case?: string;
  /** Swept config path → value (empty for an ensemble). */
  params: Record<string, unknown>;
  /** Mode the row was evaluated in. */
  mode: string;
  /** co-bps on the validation split (`null`: no validation trials or no held-out neurons). */
  valCoBps: number | null;
  /** co-bps on `split` (the run's `metrics.json` split: test, or val without test counts). */
  testCoBps: number | null;
  /** Split of `testCoBps` and the other test metrics. */
  split: EvalSplit;
  /** co-bps of the true rates on `split` (synthetic data). */
  oracleCoBps: number | null;
  /** fp-bps on `split`. */
  fpBps: number | null;
  /** PSTH R² on `split`. */
  psthR2: number | null;
  /** Behaviour R² on `split`. */
  velR2: number | null;
  /** Inference energy per trial, µJ (an ensemble: the sum over its members). */
  energyUj: number | null;
  /** Trainable parameters (an ensemble: the sum over its members). */
  nParams: number;
  /** Training seconds (runs). */
  trainSeconds?: number;
  /** Seconds the task took, training and scoring (runs; `null` when not recorded). */
  wallSeconds?: number | null;
  /** The run folder (an ensemble: its predictions file), relative to the sweep folder. */
  path: string;
  /** Ensemble members, best first. */
  members?: string[];
}

/** A task that has not finished: failed, still running (or killed), or not started. */
export interface SweepProblem {
  /** Task index. */
  index: number;
  /** Task id. */
  id: string;
  /** Swept values. */
  params: Record<string, unknown>;
  /** What its status file says (`"not run"`: there is none). */
  state: "failed" | "running" | "not run";
  /** The error of a failed attempt. */
  error?: string;
  /** Log files of its latest attempt. */
  logs: string[];
  /** Host and Slurm job of its latest attempt. */
  where?: string;
}

/** Contents of a sweep's `results.json`. */
export interface SweepResults {
  /** The spec (as `spec.json` holds it). */
  spec: SweepSpec;
  /** Swept config paths. */
  swept: string[];
  /** Number of tasks. */
  tasks: number;
  /** Number of finished tasks. */
  finished: number;
  /** One row per finished task and mode (task order), then the ensemble rows. */
  rows: SweepRow[];
  /** Tasks that failed. */
  failed: SweepProblem[];
  /** Tasks not finished and not failed (running, killed, or never started). */
  pending: SweepProblem[];
  /** Figures written (relative to the sweep folder). */
  figures: string[];
}

/** Options of {@linkcode collectSweep}. */
export interface CollectSweepOptions {
  /** Write the figures (default true). */
  figures?: boolean;
  /** Receives progress lines (default `console.error`). */
  log?: (line: string) => void;
}

function num(v: number | undefined | null): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

/**
 * Gather a sweep folder into `<outDir>/results.json` (see {@linkcode SweepResults}) and
 * `<outDir>/figures/coBps_vs_<path>.{svg,png}`: every finished task's rows, the failed and
 * unfinished tasks (with their logs), and, when the spec has `ensemble: {top: k}`, one row per
 * mode (and per data spec, when the sweep varies the data) scoring the average predicted rates
 * of the top-k runs by validation co-bps; its predictions go to `<outDir>/ensemble/`.
 *
 * @example
 * ```ts ignore
 * import { collectSweep } from "@hest/hest";
 * const res = await collectSweep("runs/sweep");
 * console.log(res.rows.map((r) => [r.id, r.mode, r.testCoBps]));
 * ```
 */
export async function collectSweep(
  outDir: string,
  opts: CollectSweepOptions = {},
): Promise<SweepResults> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const rawSpec = await readJson(`${outDir}/spec.json`);
  if (rawSpec === undefined) {
    throw new RunFolderError(
      `${outDir}/spec.json: missing or unreadable; expected a sweep folder (written by ` +
        `\`deno task sweep --spec SPEC --out ${outDir}\`)`,
    );
  }
  const spec = parseSweepSpec(rawSpec, { source: `${outDir}/spec.json` });
  const tasks = await readSweepTasks(`${outDir}/tasks.jsonl`);
  const rows: SweepRow[] = [];
  const failed: SweepProblem[] = [];
  const pending: SweepProblem[] = [];
  const finished: { task: SweepTask; metrics: MetricsFile }[] = [];
  for (const task of tasks) {
    const dir = sweepRunDir(outDir, task.id);
    const status = await readSweepStatus(outDir, task.id);
    if (!(await sweepTaskFinished(dir, task.config))) {
      const problem: SweepProblem = {
        index: task.index,
        id: task.id,
        params: task.params,
        state: status?.state === "failed" ? "failed" : status ? "running" : "not run",
        logs: status?.logs ?? [],
        ...(status?.error ? { error: status.error } : {}),
        ...(status
          ? { where: `${status.host}${status.slurmJob ? ` job ${status.slurmJob}` : ""}` }
          : {}),
      };
      (problem.state === "failed" ? failed : pending).push(problem);
      continue;
    }
    const metrics = await readJson(`${dir}/metrics.json`) as MetricsFile;
    const saved = await readJson(`${dir}/metrics_val.json`) as MetricsFile | undefined;
    // a run finished by something else than runSweepTask: score its validation split now
    const val = saved?.results ? saved : await writeValMetrics(dir);
    finished.push({ task, metrics });
    for (const r of metrics.results) {
      const v = val.results.find((x) => x.mode === r.mode);
      rows.push({
        kind: "run",
        id: task.id,
        index: task.index,
        ...(task.case !== undefined ? { case: task.case } : {}),
        params: task.params,
        mode: r.mode,
        valCoBps: num(v?.coBps),
        testCoBps: num(r.coBps),
        split: r.split,
        oracleCoBps: num(r.oracleCoBps),
        fpBps: num(r.fpBps),
        psthR2: num(r.psthR2),
        velR2: num(r.velR2),
        energyUj: num(r.energy?.perSampleUj),
        nParams: r.params,
        trainSeconds: r.trainSeconds,
        wallSeconds: status?.state === "finished" ? num(status.wallSeconds) : null,
        path: `runs/${task.id}`,
      });
    }
  }
  if (spec.ensemble) {
    rows.push(...await ensembleRows(outDir, finished, rows, spec.ensemble.top, log));
  }
  const result: SweepResults = {
    spec,
    swept: sweptPaths(spec),
    tasks: tasks.length,
    finished: finished.length,
    rows,
    failed,
    pending,
    figures: [],
  };
  if ((opts.figures ?? true) && rows.some((r) => r.kind === "run")) {
    result.figures = await sweepFigures(outDir, result, log);
  }
  await writeJsonAtomic(`${outDir}/results.json`, result);
  return result;
}

/**
 * Per mode (and data spec): average the predicted rates of the top-k finished runs by
 * validation co-bps and score the average on the validation and the runs' test split.
 */
async function ensembleRows(
  outDir: string,
  finished: readonly { task: SweepTask; metrics: MetricsFile }[],
  runRows: readonly SweepRow[],
  top: number,
  log: (line: string) => void,
): Promise<SweepRow[]> {
  const groups = new Map<string, { data: string; mode: string; rows: SweepRow[] }>();
  for (const r of runRows) {
    if (r.kind !== "run" || r.valCoBps === null) continue;
    const task = finished.find((f) => f.task.id === r.id)!.task;
    const data = canonicalJson(task.config.data);
    const key = `${data}\n${r.mode}`;
    if (!groups.has(key)) groups.set(key, { data, mode: r.mode, rows: [] });
    groups.get(key)!.rows.push(r);
  }
  const nData = new Set([...groups.values()].map((g) => g.data)).size;
  const datasets = new Map<string, SpikeDataset>();
  const out: SweepRow[] = [];
  for (const g of groups.values()) {
    const members = [...g.rows].sort((a, b) => (b.valCoBps! - a.valCoBps!) || (a.index! - b.index!))
      .slice(0, top);
    const first = finished.find((f) => f.task.id === members[0].id)!;
    let ds = datasets.get(g.data);
    if (!ds) {
      ds = await loadData(first.task.config.data);
      datasets.set(g.data, ds);
    }
    const preds: RatePredictions[] = [];
    for (const m of members) {
      const f = finished.find((x) => x.task.id === m.id)!;
      preds.push(
        await readPredictions(
          predictionsFile(`${outDir}/runs/${m.id}`, g.mode, { metrics: f.metrics }),
        ),
      );
    }
    const mean = meanPredictions(preds);
    const split = members[0].split;
    const test = await evaluate(mean, ds, { split, onWarning: () => {} });
    const val: EvalResult | undefined = ds.split.val.length > 0
      ? await evaluate(mean, ds, { split: "val", onWarning: () => {} })
      : undefined;
    const suffix = nData > 1 ? `-data${(await sha256Hex(g.data)).slice(0, 8)}` : "";
    const id = `ensemble-top${top}-${g.mode}${suffix}`;
    const path = `ensemble/${id}.safetensors`;
    await Deno.mkdir(`${outDir}/ensemble`, { recursive: true });
    await writeFileAtomic(`${outDir}/${path}`, encodePredictions(mean, members.map((m) => m.id)));
    const energies = members.map((m) => m.energyUj);
    log(
      `ensemble of ${members.length} (${g.mode}): ${split} co-bps ${test.coBps.toFixed(4)} ` +
        `(best member ${members[0].testCoBps?.toFixed(4)})`,
    );
    out.push({
      kind: "ensemble",
      id,
      params: {},
      mode: g.mode,
      valCoBps: num(val?.coBps),
      testCoBps: num(test.coBps),
      split,
      oracleCoBps: num(test.oracleCoBps),
      fpBps: num(test.fpBps),
      psthR2: num(test.psthR2),
      velR2: num(test.velR2),
      // running k models costs k times: the members' energies add up
      energyUj: energies.every((e) => e !== null) ? energies.reduce((a, b) => a! + b!, 0) : null,
      nParams: members.reduce((a, m) => a + m.nParams, 0),
      path,
      members: members.map((m) => m.id),
    });
  }
  return out;
}

/**
 * The element-wise mean of predictions of the same trials (rates, and forward rates when every
 * member has them); shapes must agree.
 *
 * @example
 * ```ts
 * import { array3d, meanPredictions } from "@hest/hest";
 * const a = { rates: array3d([1, 3], [1, 1, 2]) }, b = { rates: array3d([3, 5], [1, 1, 2]) };
 * meanPredictions([a, b]).rates.data; // Float32Array [2, 4]
 * ```
 */
export function meanPredictions(preds: readonly RatePredictions[]): RatePredictions {
  if (preds.length === 0) throw new RangeError(`meanPredictions: expected predictions, found none`);
  const mean = (arrays: Array3D[], what: string): Array3D => {
    const shape = arrays[0].shape;
    const acc = new Float64Array(arrays[0].data.length);
    arrays.forEach((a, i) => {
      if (a.shape.join() !== shape.join()) {
        throw new RangeError(
          `meanPredictions: ${what} of member ${i} is [${a.shape}], expected [${shape}] like member 0`,
        );
      }
      for (let j = 0; j < acc.length; j++) acc[j] += a.data[j];
    });
    const out = new Float32Array(acc.length);
    for (let j = 0; j < acc.length; j++) out[j] = acc[j] / arrays.length;
    return { data: out, shape };
  };
  const rates = mean(preds.map((p) => p.rates), "rates");
  const fwd = preds.map((p) => p.forwardRates);
  if (fwd.every((f) => f !== undefined && f.shape[1] > 0)) {
    return { rates, forwardRates: mean(fwd as Array3D[], "forwardRates") };
  }
  return { rates };
}

/** Safetensors bytes of predictions (the layout `writePredictions` uses), without TF.js. */
function encodePredictions(p: RatePredictions, members: string[]): Uint8Array {
  const tensors: [string, Array3D][] = [["rates", p.rates]];
  if (p.forwardRates) tensors.push(["forwardRates", p.forwardRates]);
  const header: Record<string, unknown> = {
    __metadata__: {
      units: "expected counts per bin",
      layout: "[trials, bins, neurons]",
      ensemble: members.join(","),
    },
  };
  let off = 0;
  for (const [name, a] of tensors) {
    header[name] = {
      dtype: "F32",
      shape: [...a.shape],
      data_offsets: [off, off + a.data.byteLength],
    };
    off += a.data.byteLength;
  }
  let json = JSON.stringify(header);
  // the data section starts 8-byte aligned, as the safetensors format recommends
  json += " ".repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + head.length + off);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(head.length), true);
  bytes.set(head, 8);
  let at = 8 + head.length;
  for (const [, a] of tensors) {
    bytes.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), at);
    at += a.data.byteLength;
  }
  return bytes;
}

/** A value as a chart label: numbers as numbers, file paths by base name, the rest as JSON. */
function chartValue(v: unknown): number | string {
  if (typeof v === "number") return v;
  if (typeof v === "string") return v.includes("/") ? v.split("/").pop()! : v;
  return JSON.stringify(v);
}

/** A row's value on a chart's x axis: its case for `"case"`, else its swept value of `path`. */
function rowValue(r: SweepRow, path: string): unknown {
  return path === "case" ? r.case : r.params[path];
}

/**
 * A Vega-Lite chart of co-bps against one swept parameter (or `"case"`: against the task's case
 * names): a point per finished run, mode and split (validation hollow, test filled), colour by
 * mode; ensemble rows as dashed horizontal lines at their test co-bps. Numeric values get a
 * quantitative axis (logarithmic when they are positive and span a factor of 20 or more),
 * others a nominal one.
 *
 * @example
 * ```ts
 * import { sweepChart } from "@hest/hest";
 * const row = { kind: "run" as const, id: "lr0.001-0a1b2c3d", params: { "train.lr": 0.001 },
 *   mode: "standard", valCoBps: 0.2, testCoBps: 0.21, split: "test" as const, oracleCoBps: null,
 *   fpBps: null, psthR2: null, velR2: null, energyUj: 1, nParams: 100, path: "runs/x" };
 * const spec = sweepChart([row], "train.lr");
 * ```
 */
export function sweepChart(rows: readonly SweepRow[], path: string): ChartSpec {
  const runs = rows.filter((r) => r.kind === "run" && rowValue(r, path) !== undefined);
  const points = runs.flatMap((r) =>
    [["val", r.valCoBps], [r.split, r.testCoBps]].filter(([, y]) => y !== null).map((
      [split, y],
    ) => ({ x: chartValue(rowValue(r, path)), coBps: y, mode: r.mode, split, id: r.id }))
  );
  if (points.length === 0) {
    throw new RangeError(`sweepChart: no finished run has a value for "${path}"`);
  }
  const xs = points.map((p) => p.x);
  const numeric = xs.every((x) => typeof x === "number");
  const nums = xs as number[];
  const log = numeric && Math.min(...nums) > 0 && Math.max(...nums) / Math.min(...nums) >= 20;
  const x = numeric
    ? {
      field: "x",
      type: "quantitative",
      title: path,
      scale: log ? { type: "log" } : { zero: false },
    }
    : { field: "x", type: "nominal", title: path };
  const ensembles = rows.filter((r) => r.kind === "ensemble" && r.testCoBps !== null)
    .map((r) => ({ coBps: r.testCoBps, mode: r.mode, label: r.id }));
  const color = { field: "mode", type: "nominal", title: "mode" };
  const layer: Record<string, unknown>[] = [{
    data: { values: points },
    mark: { type: "point", size: 70, strokeWidth: 2 },
    encoding: {
      x,
      y: { field: "coBps", type: "quantitative", title: "co-bps", scale: { zero: false } },
      color,
      fill: {
        condition: { test: "datum.split !== 'val'", field: "mode", type: "nominal" },
        value: "transparent",
      },
      shape: { field: "split", type: "nominal", title: "split" },
      tooltip: [
        { field: "id", type: "nominal" },
        { field: "split", type: "nominal" },
        { field: "coBps", type: "quantitative", format: ".4f" },
      ],
    },
  }];
  if (ensembles.length > 0) {
    layer.push({
      data: { values: ensembles },
      mark: { type: "rule", strokeDash: [6, 4], strokeWidth: 1.5 },
      encoding: { y: { field: "coBps", type: "quantitative" }, color },
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `co-bps vs ${path}${ensembles.length ? " (dashed: ensemble, test)" : ""}`,
    background: "white",
    padding: 10,
    width: 360,
    height: 240,
    layer,
  } as unknown as ChartSpec;
}

/**
 * Write one co-bps chart per swept path (and one against the case names when the spec has
 * cases); PNG needs fonts, so without them only SVG.
 */
async function sweepFigures(
  outDir: string,
  res: SweepResults,
  log: (line: string) => void,
): Promise<string[]> {
  const written: string[] = [];
  for (const path of [...(res.spec.cases ? ["case"] : []), ...res.swept]) {
    if (!res.rows.some((r) => r.kind === "run" && rowValue(r, path) !== undefined)) continue;
    const spec = sweepChart(res.rows, path);
    const base = `figures/coBps_vs_${path.replace(/[^A-Za-z0-9_.-]+/g, "_")}`;
    let files: string[];
    try {
      files = await saveFigure(spec, `${outDir}/${base}`, { formats: ["svg", "png"] });
    } catch (err) {
      log(`warning: ${base}.png not written (${(err as Error).message}); writing SVG only`);
      files = await saveFigure(spec, `${outDir}/${base}`, { formats: ["svg"] });
    }
    written.push(...files.map((f) => f.slice(outDir.length + 1)));
  }
  return written;
}
