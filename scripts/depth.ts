/**
 * Depth experiment: does the hybrid train at 100+ blocks, in both modes, and which spiking
 * residual form stops working first? It trains the hybrid's five components
 * (`HYBRID_COMPONENTS`, without the preset's local context) made narrow (width 32) and deep (4,
 * 16, 48, 100 blocks) on the Lorenz data, in the standard, spiking and
 * alternating schedules, for each spiking residual form, over several seeds, all with the same
 * step budget and learning rate; records gradient-flow diagnostics during training; measures the
 * time and memory of one train step at the largest depth with and without `remat`; and writes
 * `results.json` and the figures into `--out`. See docs/depth.md.
 *
 *     deno task depth [--quick] [--depths 4,16,48,100] [--forms add,membrane] [--seeds 0,1] …
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import type { TfWasmBackend } from "../lib/core/backend.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/core/io.ts";
import { key } from "../lib/core/random.ts";
import { type ExperimentVariant, runExperiment } from "../lib/experiments/experiment.ts";
import { HYBRID_COMPONENTS, type ModelPreset, transformerFor } from "../lib/experiments/presets.ts";
import { type DataSpec, loadData } from "../lib/experiments/run.ts";
import {
  depthBlockChart,
  depthCoBpsChart,
  parseDepthResults,
} from "../lib/figures/depth_charts.ts";
import { saveFigure } from "../lib/figures/render.ts";
import { resolveHybridConfig } from "../lib/model/config.ts";
import type { Mode } from "../lib/nn/types.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { adamw } from "../lib/train/optim.ts";
import { trainStep } from "../lib/train/train.ts";
import { floatFlag, intFlag, parseFlags, runMain, selectBackend, UsageError } from "./_cli.ts";

/** A spiking residual form the experiment compares: its label and model settings. */
export interface ResidualForm {
  /** Label in tables and figures. */
  label: string;
  /** Model config fields that select it. */
  model: ModelPreset;
}

/**
 * The residual forms by flag name. `add` and `membrane` start each block near the identity with
 * the initial branch gains (config `branchGain`) that keep the spiking-mode gradient from
 * growing block by block at 16–100 blocks (0.1 and 0.003, measured: docs/depth.md);
 * `add-unit` and `membrane-unit` are the same forms at gain 1, hest's default, to show what
 * that buys. `plain` is the non-SEW spiking residual (`residual: "plain"`: LIF of the input spikes
 * plus the branch), the baseline SEW was designed to beat at depth.
 */
export const FORMS: Readonly<Record<string, ResidualForm>> = {
  add: { label: "SEW ADD", model: { residual: "add", branchGain: 0.1 } },
  membrane: { label: "membrane shortcut", model: { residual: "membrane", branchGain: 0.003 } },
  plain: { label: "plain spiking residual", model: { residual: "plain" } },
  "add-unit": { label: "SEW ADD, gain 1", model: { residual: "add" } },
  "membrane-unit": { label: "membrane shortcut, gain 1", model: { residual: "membrane" } },
  // AND passes the stream only where the branch fires: a silent branch would cut it, so gain 1
  and: { label: "SEW AND", model: { residual: "and" } },
  iand: { label: "SEW IAND", model: { residual: "iand", branchGain: 0.1 } },
};

/** Training schedules: which mode(s) each step trains. */
export const SCHEDULES = ["standard", "spiking", "alternate"] as const;
type Schedule = (typeof SCHEDULES)[number];

/** Whether this hest's model accepts a form's settings (`plain` may not exist yet). */
export function formAvailable(name: string): boolean {
  try {
    resolveHybridConfig({ nInputs: 1, nOutputs: 1, bins: 1, ...FORMS[name].model });
    return true;
  } catch {
    return false;
  }
}

/** Settings of a depth run (flags, after defaults). */
export interface DepthSettings {
  depths: number[];
  forms: string[];
  schedules: Schedule[];
  seeds: number[];
  steps: number;
  width: number;
  /** Peak learning rate up to {@linkcode LR_REFERENCE_DEPTH} blocks. */
  lr: number;
  /** How the peak learning rate shrinks with depth past the reference depth. */
  lrScaling: "sqrt" | "none";
  batchSize: number;
  remat: "auto" | "on" | "off";
  data: DataSpec;
  timesteps?: number;
}

/**
 * Activation memory one train step keeps per block without `remat`, in bytes, measured at width
 * 32, batch 32 and 60 positions on the Lorenz data (tf.profile peak): a spiking step (T = 4
 * timesteps, every LIF's input and spikes) about 160 MB, a standard one about 40 MB. The TF.js
 * wasm heap stops at 4 GB, so a 16-block spiking step already needs 2.6 GB.
 */
const BLOCK_BYTES = { spiking: 160e6, standard: 40e6 };

/** `remat` for a run: on, off, or (auto) when its estimated activations exceed 1 GB. */
export function rematFor(s: DepthSettings, depth: number, schedule: Schedule): boolean {
  if (s.remat !== "auto") return s.remat === "on";
  const perBlock = BLOCK_BYTES[schedule === "standard" ? "standard" : "spiking"];
  return depth * perBlock * (s.width / 32) * (s.batchSize / 32) > 1e9;
}

/** Depth up to which every run gets the `--lr` peak learning rate unchanged. */
export const LR_REFERENCE_DEPTH = 4;

/**
 * Peak learning rate of a `depth`-block run: `lr · min(1, √(4 / depth))` with `sqrt` scaling,
 * `lr` with `none`. One AdamW step moves every block's weights by about the learning rate
 * whatever its gradient, and a pre-norm residual stream sums all blocks' changes, so at one rate
 * for all depths a 100-block model's function moves up to 25× as far per step as a 4-block one's: at 3e-3
 * a 100-block standard model stayed at 0.04 test co-bps after 120 steps of 16 trials, and at
 * 6e-4 (this rule) reached 0.51 (docs/depth.md).
 */
export function lrForDepth(s: Pick<DepthSettings, "lr" | "lrScaling">, depth: number): number {
  if (s.lrScaling === "none") return s.lr;
  return s.lr * Math.min(1, Math.sqrt(LR_REFERENCE_DEPTH / depth));
}

/** The model of a run: the hybrid's components, narrow and `depth` blocks deep. */
function depthModel(s: DepthSettings, depth: number, form?: string): ModelPreset {
  return {
    dModel: s.width,
    dFF: 2 * s.width,
    nLayers: depth,
    ...(s.timesteps ? { timesteps: s.timesteps } : {}),
    ...(form ? FORMS[form].model : {}),
  };
}

/** One trained configuration of the experiment. */
export interface DepthVariant {
  variant: ExperimentVariant;
  depth: number;
  schedule: Schedule;
  form?: string;
}

/**
 * Every trained configuration: depth × schedule × residual form (none for the standard
 * schedule, which never runs a spiking residual).
 */
export function depthVariants(s: DepthSettings): DepthVariant[] {
  const out: DepthVariant[] = [];
  for (const depth of s.depths) {
    for (const schedule of s.schedules) {
      for (const form of schedule === "standard" ? [undefined] : s.forms) {
        // each mode gets about 5 diagnostics records, the first at initialisation
        const ownSteps = schedule === "alternate" ? Math.floor(s.steps / 2) : s.steps;
        const train = {
          steps: s.steps,
          lr: lrForDepth(s, depth),
          batchSize: s.batchSize,
          evalEvery: Math.max(1, Math.round(s.steps / 4)),
          patience: 0,
          modeSchedule: schedule,
          remat: rematFor(s, depth, schedule),
          diagnostics: { every: Math.max(1, Math.floor((ownSteps - 1) / 4)) },
        };
        const name = `d${depth}_${schedule}${form ? `_${form}` : ""}`;
        const label = `${depth} blocks, ${schedule}${form ? `, ${FORMS[form].label}` : ""}`;
        out.push({
          // the hybrid's five components without its local context (the depth runs predate it)
          variant: {
            name,
            label,
            preset: "spikformer",
            model: { ...HYBRID_COMPONENTS, ...depthModel(s, depth, form) },
            train,
          },
          depth,
          schedule,
          form,
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// logs

type LogRecord = Record<string, unknown>;

async function readLog(path: string): Promise<LogRecord[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((l) => l.trim()).flatMap((l) => {
    try {
      return [JSON.parse(l) as LogRecord];
    } catch {
      return [];
    }
  });
}

/** Values of `rec[field]` for block0 … block(depth − 1) (null where missing or not finite). */
function perBlock(rec: LogRecord, field: string, depth: number): (number | null)[] {
  const m = (rec[field] ?? {}) as Record<string, number | null>;
  return Array.from({ length: depth }, (_, i) => {
    const v = m[`block${i}`];
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  });
}

/** What a run's log says: loss at the start and end, skipped steps, diagnostics at both ends. */
function summariseLog(log: LogRecord[], depth: number) {
  const losses = log.filter((r) => r.kind === "train" && r.skipped !== true)
    .map((r) => r.loss as number);
  const mean = (xs: number[]) => xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
  const diagnostics: Record<string, unknown>[] = [];
  for (const mode of ["standard", "spiking"] as Mode[]) {
    const recs = log.filter((r) => r.kind === "diagnostics" && r.mode === mode);
    if (recs.length === 0) continue;
    for (const [when, rec] of [["init", recs[0]], ["final", recs[recs.length - 1]]] as const) {
      diagnostics.push({
        mode,
        when,
        step: rec.step,
        gradNorms: perBlock(rec, "gradNorms", depth),
        ...(mode === "spiking"
          ? {
            firingRates: perBlock(rec, "firingRates", depth),
            deadFraction: perBlock(rec, "deadFraction", depth),
          }
          : {}),
      });
    }
  }
  return {
    // the first logged loss (step 0) and the mean of the last three logged ones
    lossFirst: losses.length ? losses[0] : NaN,
    lossLast: mean(losses.slice(-3)),
    skippedSteps: log.filter((r) => r.kind === "train" && r.skipped === true).length,
    diagnostics,
  };
}

// ---------------------------------------------------------------------------------------------
// cost of one step (time, memory), measured in a child process

/** What the child process measures: one configuration's train step, or its inference. */
interface ProbeSpec {
  data: DataSpec;
  backend: string;
  model: ModelPreset;
  mode: Mode;
  /** A train step (with or without remat), or an inference forward pass. */
  kind: "train" | "inference";
  remat: boolean;
  batchSize: number;
  timedSteps: number;
}

/**
 * Peak tensor memory of one train step or inference forward pass (tf.profile), the median wall
 * time of the next `timedSteps`, and the wasm heap's size afterwards (it only grows: the
 * process's peak).
 */
async function probe(spec: ProbeSpec): Promise<Record<string, unknown>> {
  const ds = await loadData(spec.data);
  const model = transformerFor(ds, { ...HYBRID_COMPONENTS, ...spec.model }, {
    kind: "hybrid",
  });
  const optimizer = adamw({ lr: 1e-4 });
  let params = model.init(key(0));
  let state = optimizer.init(params);
  const split = spec.kind === "train" ? ds.split.train : ds.split.val;
  const trials = split.subarray(0, Math.min(spec.batchSize, split.length));
  const step = async (i: number) => {
    const batch = maskedBatch(ds, trials, { key: key(i), unmasked: spec.kind === "inference" });
    const { mode, remat } = spec;
    if (spec.kind === "inference") {
      const y = model.apply(params, { input: batch.input }, { training: false, mode, key: key(0) });
      await y.data();
      y.dispose();
    } else {
      const opts = { optimizer, key: key(1000 + i), mode, remat };
      ({ params, state } = await trainStep(model, { params, state }, batch, opts));
    }
    disposeBatch(batch);
  };
  const heap = () =>
    (tf.backend() as unknown as TfWasmBackend).wasm?.asm?.memory?.buffer.byteLength;
  try {
    // the profiled step also warms up (kernel compilation, heap growth)
    const { peakBytes } = await tf.profile(() => step(0));
    const times: number[] = [];
    for (let i = 1; i <= spec.timedSteps; i++) {
      const t0 = performance.now();
      await step(i);
      times.push((performance.now() - t0) / 1000);
    }
    times.sort((a, b) => a - b);
    return { secondsPerStep: times[Math.floor(times.length / 2)], peakBytes, heapBytes: heap() };
  } catch (err) {
    // a full wasm heap surfaces as whichever kernel failed to allocate: say so
    const full = (heap() ?? 0) > 3e9
      ? `out of memory (wasm heap ${(heap()! / 1e9).toFixed(1)} GB): `
      : "";
    return { error: `${full}${(err as Error).message}`, heapBytes: heap() ?? null };
  }
}

/** Run {@linkcode probe} in a child process: a heap that runs out cannot take this one down. */
async function probeInChild(spec: ProbeSpec): Promise<Record<string, unknown>> {
  const config = new URL("../deno.json", import.meta.url).pathname;
  const script = new URL(import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", "--config", config, script, "--probe", JSON.stringify(spec)],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(r.stdout).trim().split("\n").pop() ?? "";
  try {
    const res = JSON.parse(out) as Record<string, unknown>;
    if (res && typeof res === "object") return res; // the probe's own line, even if it crashed after
  } catch {
    // fall through: report the child's error
  }
  const err = new TextDecoder().decode(r.stderr);
  const line = err.split("\n").find((l) => /error/i.test(l)) ?? `exit code ${r.code}`;
  const abort = /Aborted\(\)/.test(err) ? "the wasm runtime aborted (out of memory): " : "";
  return { error: abort + line.replace(/^error: (Uncaught )?(\(in promise\) )?/, "").trim() };
}

// ---------------------------------------------------------------------------------------------
// figures

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const pick = <T>(o: Record<string, T>, ks: string[]) =>
  Object.fromEntries(ks.map((k) => [k, o[k]]));

/** A Markdown table. */
function mdTable(head: string[], rows: unknown[][]): string {
  const line = (cells: unknown[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------
// command line

const QUICK: Partial<DepthSettings> = {
  depths: [1, 2],
  seeds: [0],
  steps: 4,
  width: 16,
  batchSize: 8,
  timesteps: 2,
  data: { kind: "lorenz", options: { conditions: 3, trialsPerCondition: 8, bins: 16 } },
};

const usage = `usage: deno task depth [options]

Trains the hybrid at several depths, in the standard, spiking and alternating schedules, for each
spiking residual form, over several seeds with one step budget; writes results.json and figures
(co-bps against depth, per-block gradient norms and firing at init and after training). See
docs/depth.md.

  --depths LIST      blocks, comma-separated (default 4,16,48,100)
  --forms LIST       residual forms: ${Object.keys(FORMS).join(", ")}
                     (default add,membrane,plain)
  --schedules LIST   standard, spiking, alternate (default all three)
  --seeds LIST       seeds (default 0,1)
  --steps N          optimiser steps of every run (default 500)
  --width D          model width (default 32; the MLP is 2·D wide)
  --lr X             peak learning rate up to 4 blocks (default 3e-3)
  --lr-scaling S     sqrt (default: deeper runs get lr·√(4/blocks)) or none (one rate for all)
  --batch N          trials per batch (default 32)
  --remat MODE       auto (default: when a step's activations would pass 1 GB), on or off
  --backend B        wasm | webgpu | cpu (default wasm)
  --out DIR          results folder (default results/depth; --quick: runs/depth-quick)
  --runs DIR         run folders (default runs/depth; --quick: OUT/runs); finished runs are reused
  --quick            tiny data, depths 1,2, width 16, 4 steps, one seed: a smoke run (seconds)
  --quiet            no progress bars
  -h, --help         this text`;

/** A comma-separated flag: integers >= `min`, or (with `known`) names from that list. */
function listFlag<T>(name: string, v: string | undefined, dflt: T[], known?: readonly T[]): T[] {
  if (v === undefined) return dflt;
  const xs = v.split(",").map((x) => x.trim());
  if (!known) return xs.map((x) => intFlag(name, x, name === "seeds" ? 0 : 1)! as T);
  if (xs.some((x) => !known.includes(x as T))) {
    throw new UsageError(`--${name} must name some of ${known.join(", ")}, found "${v}"`);
  }
  return xs as T[];
}

async function main(): Promise<void> {
  const f = parseFlags({
    depths: { type: "string" },
    forms: { type: "string" },
    schedules: { type: "string" },
    seeds: { type: "string" },
    steps: { type: "string" },
    width: { type: "string" },
    lr: { type: "string" },
    "lr-scaling": { type: "string" },
    batch: { type: "string" },
    remat: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    runs: { type: "string" },
    quick: { type: "boolean" },
    quiet: { type: "boolean" },
    probe: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(usage);
    return;
  }
  if (f.probe !== undefined) {
    // the child process of probeInChild: one measurement, one JSON line
    const spec = JSON.parse(f.probe) as ProbeSpec;
    await selectBackend(spec.backend);
    console.log(JSON.stringify(await probe(spec)));
    Deno.exit(0); // before a heap left broken by a failed step reports anything else
  }
  const quick = !!f.quick;
  const q = quick ? QUICK : {};
  const available = Object.keys(FORMS).filter(formAvailable);
  const defaultForms = ["add", "membrane", "plain"].filter((x) => available.includes(x));
  const forms = listFlag("forms", f.forms, defaultForms, Object.keys(FORMS));
  for (const x of forms) {
    if (!available.includes(x)) {
      throw new UsageError(
        `residual form "${x}" is not in this hest's model yet (model config "residual" ` +
          `refuses ${JSON.stringify(FORMS[x].model.residual)}); available: ${available.join(", ")}`,
      );
    }
  }
  if (!available.includes("plain") && !f.forms) console.error("hest depth: no plain residual yet");
  const remat = f.remat ?? "auto";
  if (remat !== "auto" && remat !== "on" && remat !== "off") {
    throw new UsageError(`--remat must be auto, on or off, found "${remat}"`);
  }
  const lr = floatFlag("lr", f.lr) ?? 3e-3;
  if (!(lr > 0 && lr < 1)) throw new UsageError(`--lr must be in (0, 1), found "${f.lr}"`);
  const lrScaling = f["lr-scaling"] ?? "sqrt";
  if (lrScaling !== "sqrt" && lrScaling !== "none") {
    throw new UsageError(`--lr-scaling must be sqrt or none, found "${lrScaling}"`);
  }
  const s: DepthSettings = {
    depths: listFlag("depths", f.depths, q.depths ?? [4, 16, 48, 100]),
    forms,
    schedules: listFlag("schedules", f.schedules, [...SCHEDULES], SCHEDULES),
    seeds: listFlag("seeds", f.seeds, q.seeds ?? [0, 1]),
    steps: intFlag("steps", f.steps, 1) ?? q.steps ?? 500,
    width: intFlag("width", f.width, 2) ?? q.width ?? 32,
    lr,
    lrScaling,
    batchSize: intFlag("batch", f.batch, 1) ?? q.batchSize ?? 32,
    remat,
    data: q.data ?? { kind: "lorenz" },
    ...(q.timesteps ? { timesteps: q.timesteps } : {}),
  };
  if (s.schedules.some((x) => x !== "standard") && s.forms.length === 0) {
    throw new UsageError(`--forms must name at least one form for the spiking schedules`);
  }
  // refuse a bad width (e.g. odd: two heads) before any run starts
  try {
    resolveHybridConfig({ nInputs: 1, nOutputs: 1, bins: 1, ...depthModel(s, 1) });
  } catch (err) {
    throw new UsageError(`--width ${s.width}: ${(err as Error).message}`);
  }
  const backend = await selectBackend(f.backend);
  const outDir = f.out ?? (quick ? "runs/depth-quick" : "results/depth");
  const runsDir = f.runs ?? (quick ? `${outDir}/runs` : "runs/depth");
  const command = `deno task depth ${Deno.args.join(" ")}`.trim();
  const variants = depthVariants(s);

  // First the cost of one step at the largest depth, each mode: a train step with and without
  // remat, and an inference pass over 64 trials (predict's batch, as validation and evaluation
  // run it). Each in a child process, so one that runs out of memory is a result, not a crash;
  // an inference that fails would fail every run at this depth, so it stops the script here.
  // The probe's rows are kept in the runs folder and reused by a later invocation with the same
  // probe settings, so seeds run as separate processes (and the final aggregation) measure once.
  const costDepth = Math.max(...s.depths);
  let cost: Record<string, unknown>[] = [];
  const costModes = (["standard", "spiking"] as Mode[])
    .filter((m) => s.schedules.some((x) => x === m || x === "alternate"));
  const costKey = JSON.stringify({
    depth: costDepth,
    width: s.width,
    batchSize: s.batchSize,
    form: s.forms[0] ?? null,
    modes: costModes,
    backend,
    data: s.data,
    timesteps: s.timesteps ?? null,
  });
  const costFile = `${runsDir}/cost_d${costDepth}.json`;
  const cached = await Deno.readTextFile(costFile).then(JSON.parse).catch(() => null) as
    | { key: string; rows: Record<string, unknown>[] }
    | null;
  if (cached?.key === costKey && !quick) {
    console.error(`cost: reusing ${costFile}`);
    cost = cached.rows;
  }
  for (const mode of cost.length ? [] : costModes) {
    const form = mode === "spiking" ? s.forms[0] : undefined;
    const probes = [
      { kind: "train", remat: false, batchSize: s.batchSize },
      { kind: "train", remat: true, batchSize: s.batchSize },
      { kind: "inference", remat: false, batchSize: 64 },
    ] as const;
    for (const p of probes) {
      const what = p.kind === "train" ? `train step, remat ${p.remat ? "on" : "off"}` : p.kind;
      console.error(`cost: ${costDepth} blocks, ${mode}, ${what}`);
      const m = await probeInChild({
        data: s.data,
        backend,
        model: depthModel(s, costDepth, form),
        mode,
        ...p,
        timedSteps: quick ? 1 : 3,
      });
      cost.push({ depth: costDepth, mode, form: form ?? "standard", ...p, ...m });
      if (p.kind === "inference" && m.error !== undefined) {
        throw new Error(
          `${mode}-mode inference of the ${costDepth}-block model on 64 trials (the batch of ` +
            `predict, which validation and evaluation use) failed: ${m.error}. Every run at ` +
            `this depth would fail the same way; leave out the largest depths (--depths)`,
        );
      }
    }
  }
  if (!quick) {
    await Deno.mkdir(runsDir, { recursive: true });
    await writeJsonAtomic(costFile, { key: costKey, rows: cost });
  }
  console.error(
    `hest depth: ${variants.length} configurations × seeds ${s.seeds.join(",")} -> ${outDir}`,
  );
  const result = await runExperiment(variants.map((v) => v.variant), {
    seeds: s.seeds,
    data: s.data,
    outDir,
    runsDir,
    backend,
    progress: !f.quiet,
    onRun: ({ variant, seed, index, total }) =>
      console.error(`[${index + 1}/${total}] ${variant}, seed ${seed}`),
  });

  // per run: co-bps per evaluated mode, time, and what its log says
  const runs: Record<string, unknown>[] = [];
  const gradients: Record<string, unknown>[] = [];
  for (const v of variants) {
    const rows = result.results.filter((r) => r.name === v.variant.name);
    for (const [i, seed] of s.seeds.entries()) {
      const log = summariseLog(
        await readLog(`${runsDir}/${v.variant.name}_s${seed}/log.jsonl`),
        v.depth,
      );
      const id = { depth: v.depth, schedule: v.schedule, form: v.form ?? "standard", seed };
      for (const r of rows) {
        const seconds = r.trainSeconds.values[i];
        runs.push({
          ...id,
          mode: r.mode,
          coBps: r.coBps.values[i],
          coBpsRatio: r.coBpsRatio.values[i],
          firingRate: r.firingRate.values[i],
          trainSeconds: seconds,
          // includes the validations and diagnostics: the cost section has the bare step
          secondsPerStep: seconds / s.steps,
          lr: lrForDepth(s, v.depth),
          remat: v.variant.train!.remat,
          lossFirst: log.lossFirst,
          lossLast: log.lossLast,
          skippedSteps: log.skippedSteps,
        });
      }
      for (const d of log.diagnostics) gradients.push({ ...id, ...d });
    }
  }
  const summary = result.results.map((r) => {
    const v = variants.find((x) => x.variant.name === r.name)!;
    return {
      depth: v.depth,
      schedule: v.schedule,
      form: v.form ?? "standard",
      mode: r.mode,
      coBps: r.coBps,
    };
  });

  const resultsJson = {
    kind: "depth",
    command,
    quick,
    backend,
    dataset: result.dataset,
    settings: {
      ...s,
      components: "HYBRID_COMPONENTS",
      dFF: 2 * s.width,
      formModels: pick(FORMS, s.forms),
      formLabels: Object.fromEntries(s.forms.map((x) => [x, FORMS[x].label])),
    },
    runs,
    summary,
    gradients,
    cost: { depth: costDepth, batchSize: s.batchSize, width: s.width, rows: cost },
  };
  await writeJsonAtomic(`${outDir}/results.json`, resultsJson);

  // figures, drawn the way the notebook draws them: from the results as a file holds them
  const parsed = parseDepthResults(JSON.parse(JSON.stringify(resultsJson)), "depth results");
  const figures = [
    ["co_bps_depth", depthCoBpsChart(parsed)],
    ["grad_norms", depthBlockChart(parsed, "gradNorms")],
    ["firing", depthBlockChart(parsed, "firing")],
  ] as const;
  const written: string[] = [];
  for (const [name, spec] of figures) {
    if (spec) written.push(...await saveFigure(spec, `${outDir}/${name}`));
  }
  const fmt = (x: unknown, d: number) => (finite(x) ? x.toFixed(d) : "—");
  const table = mdTable(
    ["blocks", "schedule", "residual", "mode", "co-bps (test)", "sd"],
    summary.map((
      r,
    ) => [r.depth, r.schedule, r.form, r.mode, fmt(r.coBps.mean, 4), fmt(r.coBps.sd, 4)]),
  );
  const costTable = mdTable(
    ["mode", "pass", "batch", "remat", "s / step", "peak tensor MB", "error"],
    cost.map((
      c,
    ) => [
      c.mode,
      c.kind,
      c.batchSize,
      c.remat ? "on" : "off",
      fmt(c.secondsPerStep, 2),
      fmt(finite(c.peakBytes) ? c.peakBytes / 1e6 : NaN, 0),
      c.error ?? "",
    ]),
  );
  const pngs = written.filter((p) => p.endsWith(".png")).map((p) =>
    p.slice(p.lastIndexOf("/") + 1)
  );
  const what = `backend ${backend}, seeds ${
    s.seeds.join(", ")
  }, ${s.steps} steps of ${s.batchSize} trials, width ${s.width}, peak lr ${s.lr}${
    s.lrScaling === "sqrt" ? ` · min(1, √(${LR_REFERENCE_DEPTH} / blocks))` : ""
  }`;
  await writeFileAtomic(
    `${outDir}/report.md`,
    `# hest depth\n\nCommand: \`${command}\` (${what}${
      quick ? "; quick smoke run: not results" : ""
    }).` +
      ` Test split; mean and sd over seeds.\n\n${table}\n\nOne step at ${costDepth} blocks:\n\n` +
      `${costTable}\n\n${pngs.map((n) => `![${n}](${n})`).join("\n")}\n`,
  );
  console.log(table);
  console.log(`\n${costTable}`);
  console.log(`\nwrote ${outDir}/{results.json, report.md, ${written.length} figure files}`);
}

if (import.meta.main) await runMain(usage, main);
