/**
 * Shared command line of the experiment scripts (phase1–3, ablation, compare): flags, quick
 * mode, running the variants and writing `results.json`, `report.md` and figures.
 *
 * @module
 */
import { writeJsonAtomic } from "../lib/core/io.ts";
import { writeFileAtomic } from "../lib/core/io.ts";
import {
  type ExperimentResult,
  experimentTable,
  type ExperimentVariant,
  runExperiment,
} from "../lib/experiments/experiment.ts";
import type { DataSpec, TrainOverrides } from "../lib/experiments/run.ts";
import { type ModelPreset, preset } from "../lib/experiments/presets.ts";
import {
  dataSpecFromFlag,
  intFlag,
  parseFlags,
  runMain,
  selectBackend,
  UsageError,
} from "./_cli.ts";

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
}

/** Context passed to {@linkcode ExperimentScript.report}. */
export interface ReportContext {
  /** Output folder. */
  outDir: string;
  /** The exact command that produced the results. */
  command: string;
  /** Whether this was a `--quick` run. */
  quick: boolean;
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
  -h, --help           this text

Finished run folders are reused, so an interrupted run continues where it stopped, and seeds can
be run by separate processes into the same --out (the last one to finish aggregates).`;
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
      help: { type: "boolean", short: "h" },
    });
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
    const backend = await selectBackend(f.backend);
    const outDir = f.out ?? `runs/${script.name}`;
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
    console.error(`hest ${script.name}: ${variants.length} variants × seeds ${seeds} -> ${outDir}`);
    const result = await runExperiment(variants, {
      seeds,
      data,
      outDir,
      runsDir: f.runs,
      backend,
      progress: !f.quiet,
      onRun: ({ variant, seed, index, total }) =>
        console.error(`[${index + 1}/${total}] ${variant}, seed ${seed}`),
    });
    const rep = await script.report(result, { outDir, command, quick });
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
      "",
      table,
      "",
      rep.markdown ?? "",
    ].join("\n");
    await writeFileAtomic(`${outDir}/report.md`, md);
    console.log(table);
    console.log(`\nwrote ${outDir}/{results.json, report.md, experiment.json, runs/}`);
  });
}
