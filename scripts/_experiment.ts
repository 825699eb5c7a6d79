/**
 * Shared command line of the experiment scripts (phase1–3, ablation, compare): flags, quick
 * mode, running the variants and writing `results.json`, `report.md` and figures.
 *
 * The variants run in this process (the default), or as a sweep (`--sweep-out DIR` with
 * `--local --jobs K` or `--slurm`, docs/sweeps.md): the variants become the sweep's cases and
 * the seeds its grid, the tasks run through `scripts/sweep.ts`, and `--collect` (or the same
 * command once every task has finished) aggregates the sweep's run folders. Both paths then
 * write the report through the same code.
 *
 * @module
 */
import { resolve } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../lib/core/io.ts";
import { BACKENDS } from "../lib/core/backend.ts";
import {
  collectExperimentSweep,
  type ExperimentResult,
  experimentSweepSpec,
  experimentTable,
  type ExperimentVariant,
  runExperiment,
} from "../lib/experiments/experiment.ts";
import type { DataSpec, TrainOverrides } from "../lib/experiments/run.ts";
import { type ModelPreset, preset } from "../lib/experiments/presets.ts";
import { shellQuote } from "../lib/experiments/sweep_slurm.ts";
import {
  checkDataFile,
  dataSpecFromFlag,
  intFlag,
  parseFlags,
  runMain,
  selectBackend,
  UsageError,
} from "./_cli.ts";
import {
  checkSweepRunFlags,
  expandSpec,
  failedTasksMessage,
  runLocal,
  submitSlurm,
  SWEEP_RUN_FLAGS,
  type SweepRunFlags,
} from "./sweep.ts";

/** What an experiment script supplies. */
export interface ExperimentScript {
  /** Script name (`deno task <name>`). */
  name: string;
  /** One paragraph for `--help` and the report. */
  description: string;
  /** The variants to run. */
  variants: ExperimentVariant[];
  /** Turn the aggregated result into the script's `results.json` and extra report text. */
  report(result: ExperimentResult, ctx: ReportContext): Promise<ScriptReport>;
  /** The script's own string flags (name → help line), passed to `report` in `ctx.flags`. */
  flags?: Record<string, string>;
}

/** Context passed to {@linkcode ExperimentScript.report}. */
export interface ReportContext {
  /** Output folder. */
  outDir: string;
  /** The exact command that produced the results. */
  command: string;
  /** Whether this was a `--quick` run. */
  quick: boolean;
  /** Values of the script's own flags ({@linkcode ExperimentScript.flags}) as given. */
  flags: Record<string, string | undefined>;
}

/** What a script's report step returns. */
export interface ScriptReport {
  /** Contents of `results.json`. */
  json: Record<string, unknown>;
  /** Markdown written after the results table in `report.md`. */
  markdown?: string;
}

/** Sizes and budget of `--quick` runs (CI smoke runs: seconds, not results). */
export const QUICK = {
  data: { kind: "lorenz", options: { conditions: 3, trialsPerCondition: 8, bins: 16 } } as DataSpec,
  model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, timesteps: 2 } as ModelPreset,
  train: { steps: 6, evalEvery: 3, patience: 0, batchSize: 8 } as TrainOverrides,
};

/** Run an experiment script's command line. */
export async function experimentMain(script: ExperimentScript): Promise<void> {
  const usage = `usage: deno task ${script.name} [options]
       deno task ${script.name} [options] --sweep-out DIR [--local [--jobs K] | --slurm ... | --collect]

${script.description}

  --quick              tiny data, model and budget: a smoke run of the whole pipeline (seconds)
  --seeds LIST         comma-separated seeds (default 0,1,2; --quick: 0)
  --steps N            optimiser steps of every run (default: each preset's full budget)
  --variants LIST      comma-separated subset of the variants (default: all)
  --data lorenz|PATH   dataset (default: the built-in Lorenz set)
  --backend B          wasm | webgpu | cpu (default wasm)
  --out DIR            output folder (default runs/${script.name})
  --runs DIR           folder of the run folders (default DIR/runs); scripts sharing it reuse
                       each other's finished runs of the same variant, config and seed
  --quiet              no progress bars
${
    Object.entries(script.flags ?? {}).map(([k, h]) => `  --${k.padEnd(19)}${h}\n`).join("")
  }  -h, --help           this text

Finished run folders are reused, so an interrupted run continues where it stopped, and seeds can
be run by separate processes into the same --out (the last one to finish aggregates).

As a sweep (docs/sweeps.md): one task per variant and seed, the run folders in DIR/runs/
  --sweep-out DIR      write the sweep (DIR/spec.json, DIR/tasks.jsonl: variants as cases, a grid
                       over seed) and, with one of these, run it:
  --local              run the unfinished tasks here (--jobs K processes at once), then collect
  --slurm              submit them as a Slurm job array (DIR/sweep.sbatch; --dry-run writes it
                       only); the sbatch flags of deno task sweep apply (--jobs, --partition,
                       --cpus-per-task, --mem, --time, --job-name, --sbatch-option, --deno);
                       with every task finished it collects instead
  --collect            when the tasks are done: aggregate DIR/runs/ into --out (give the same
                       --quick/--seeds/--steps/--variants/--data/--backend as for the sweep)`;
  await runMain(usage, async () => {
    const f = parseFlags({
      quick: { type: "boolean" },
      seeds: { type: "string" },
      steps: { type: "string" },
      variants: { type: "string" },
      data: { type: "string" },
      backend: { type: "string" },
      out: { type: "string" },
      runs: { type: "string" },
      quiet: { type: "boolean" },
      "sweep-out": { type: "string" },
      collect: { type: "boolean" },
      ...SWEEP_RUN_FLAGS,
      ...Object.fromEntries(
        Object.keys(script.flags ?? {}).map((k) => [k, { type: "string" as const }]),
      ),
      help: { type: "boolean", short: "h" },
    });
    const own = Object.fromEntries(
      Object.keys(script.flags ?? {}).map((k) => [k, (f as Record<string, unknown>)[k] as string]),
    );
    if (f.help) {
      console.log(usage);
      return;
    }
    const quick = !!f.quick;
    const seeds = f.seeds === undefined ? (quick ? [0] : [0, 1, 2]) : f.seeds.split(",").map(
      (s) => {
        const n = Number(s.trim());
        if (s.trim() === "" || !Number.isSafeInteger(n)) {
          throw new UsageError(`--seeds must be comma-separated integers, found "${f.seeds}"`);
        }
        return n;
      },
    );
    const steps = intFlag("steps", f.steps, 1);
    const outDir = f.out ?? `runs/${script.name}`;
    const sweepOut = f["sweep-out"]?.replace(/\/+$/, "") || undefined;
    const jobs = checkSweepFlags(f, { sweepOut, outDir });
    const data = f.data !== undefined ? dataSpecFromFlag(f.data) : quick ? QUICK.data : undefined;
    const train: TrainOverrides = { ...(quick ? QUICK.train : {}) };
    if (steps !== undefined) train.steps = steps;
    let chosen = script.variants;
    if (f.variants !== undefined) {
      const names = f.variants.split(",").map((n) => n.trim());
      const known = script.variants.map((v) => v.name);
      const bad = names.filter((n) => !known.includes(n));
      if (bad.length || names.length === 0) {
        throw new UsageError(
          `--variants must name some of ${known.join(", ")}, found "${f.variants}"`,
        );
      }
      chosen = script.variants.filter((v) => names.includes(v.name));
    }
    // flags win over a variant's own training overrides (a --quick or --steps run is short)
    const variants = chosen.map((v) => {
      if (Object.keys(train).length) v = { ...v, train: { ...(v.train ?? {}), ...train } };
      if (!quick) return v;
      // SNN timesteps only exist in hybrid models
      const { timesteps, ...sizes } = QUICK.model;
      const quickModel = preset(v.preset).kind === "hybrid" ? { ...sizes, timesteps } : sizes;
      return { ...v, model: { ...(v.model ?? {}), ...quickModel } };
    });
    const command = `deno task ${script.name} ${Deno.args.join(" ")}`.trim();
    let result: ExperimentResult;
    let backend: string;
    if (sweepOut === undefined) {
      backend = await selectBackend(f.backend);
      console.error(
        `hest ${script.name}: ${variants.length} variants × seeds ${seeds} -> ${outDir}`,
      );
      result = await runExperiment(variants, {
        seeds,
        data,
        outDir,
        runsDir: f.runs,
        backend,
        progress: !f.quiet,
        onRun: ({ variant, seed, index, total }) =>
          console.error(`[${index + 1}/${total}] ${variant}, seed ${seed}`),
      });
    } else {
      // the tasks start their own backend: here the name only goes into the run configs
      backend = f.backend ?? "wasm";
      if (!(BACKENDS as readonly string[]).includes(backend)) {
        throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, found "${backend}"`);
      }
      const collect = `deno task ${script.name} ${
        experimentArgs(f).map(shellQuote).join(" ")
      } --collect`;
      const opts = { seeds, data, backend, sweepDir: sweepOut, outDir };
      if (!f.collect) {
        if (data) await checkDataFile(data, "--data");
        const n = await expandSpec(experimentSweepSpec(variants, opts), sweepOut, {
          source: `the ${script.name} sweep`,
        });
        console.error(
          `hest ${script.name}: ${variants.length} variants × seeds ${seeds} = ${n} task(s) ` +
            `-> ${sweepOut}`,
        );
        if (f.local) {
          const report = await runLocal(sweepOut, jobs ?? 1);
          if (report.failed.length > 0) {
            throw new Error(failedTasksMessage(report, variants.length * seeds.length));
          }
        } else if (f.slurm) {
          const done = await submitSlurm(sweepOut, { ...f, jobsAtOnce: jobs, collect });
          if (done !== "finished") return;
        } else {
          console.error(
            `hest ${script.name}: run the tasks with --local [--jobs K] or --slurm (or ` +
              `deno task sweep --out ${sweepOut} --task-index N each), then: ${collect}`,
          );
          return;
        }
      }
      // phase3's report times the model on this machine's backend
      await selectBackend(f.backend);
      result = await collectExperimentSweep(variants, opts);
    }
    await writeReport(script, result, {
      outDir,
      command,
      quick,
      backend,
      seeds,
      sweepOut,
      flags: own,
    });
  });
}

/** The flags that define the experiment (not how it runs): what `--collect` must repeat. */
function experimentArgs(f: Record<string, unknown>): string[] {
  const args: string[] = [];
  if (f.quick) args.push("--quick");
  for (const k of ["seeds", "steps", "variants", "data", "backend", "out", "sweep-out"]) {
    if (f[k] !== undefined) args.push(`--${k}`, String(f[k]));
  }
  return args;
}

/** Refuse sweep flags without --sweep-out and combinations that make no sense; the --jobs value. */
function checkSweepFlags(
  f: SweepRunFlags & { collect?: boolean; runs?: string },
  ctx: { sweepOut?: string; outDir: string },
): number | undefined {
  const run = ["local", "slurm", "collect", "jobs"].filter((k) =>
    (f as Record<string, unknown>)[k] !== undefined
  );
  if (ctx.sweepOut === undefined) {
    if (run.length) throw new UsageError(`--${run[0]} needs --sweep-out DIR (the sweep folder)`);
    return checkSweepRunFlags(f);
  }
  if (f.runs !== undefined) {
    throw new UsageError(
      `--runs does not go with --sweep-out: the sweep's run folders are ${ctx.sweepOut}/runs/`,
    );
  }
  if (resolve(ctx.sweepOut) === resolve(ctx.outDir)) {
    throw new UsageError(
      `--out and --sweep-out must be different folders (both get a results.json), found ` +
        `"${ctx.outDir}" for both`,
    );
  }
  if (f.collect && (f.local || f.slurm)) {
    throw new UsageError(`--collect and --${f.local ? "local" : "slurm"} exclude each other`);
  }
  return checkSweepRunFlags(f);
}

/** Write results.json and report.md (and the script's figures) of an aggregated experiment. */
async function writeReport(
  script: ExperimentScript,
  result: ExperimentResult,
  ctx: {
    outDir: string;
    command: string;
    quick: boolean;
    backend: string;
    seeds: number[];
    sweepOut?: string;
    flags: Record<string, string | undefined>;
  },
): Promise<void> {
  const { outDir, command, quick, backend, seeds } = ctx;
  const rep = await script.report(result, { outDir, command, quick, flags: ctx.flags });
  await writeJsonAtomic(`${outDir}/results.json`, {
    kind: script.name,
    command,
    quick,
    dataset: result.dataset,
    seeds,
    ...rep.json,
  });
  const table = experimentTable(result.results);
  const md = [
    `# hest ${script.name}`,
    "",
    script.description,
    "",
    `Command: \`${command}\` (backend ${backend}, seeds ${seeds.join(", ")}${
      quick ? ", quick smoke run: not results" : ""
    }). Test split; mean ± sd over seeds.`,
    ...(ctx.sweepOut ? ["", `Run folders: the sweep's, in \`${ctx.sweepOut}/runs/\`.`] : []),
    "",
    table,
    "",
    rep.markdown ?? "",
  ].join("\n");
  await writeFileAtomic(`${outDir}/report.md`, md);
  console.log(table);
  console.log(
    `\nwrote ${outDir}/{results.json, report.md, experiment.json` +
      (ctx.sweepOut ? `} from the runs in ${ctx.sweepOut}/runs/` : `, runs/}`),
  );
}
