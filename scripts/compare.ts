/**
 * Comparison: the standard NDT-style transformer, the basic spiking transformer and the hybrid
 * (both modes) — co-bps, energy per trial, training time, stability across seeds, parameters —
 * and the accuracy-vs-energy figure.
 *
 *     deno task compare [--quick] [--seeds 0,1,2] [--steps N] [--out DIR]
 *     deno task compare [...] --sweep-out DIR (--local --jobs K | --slurm [sbatch flags] | --collect)
 *
 * @module
 */
import type { ExperimentVariant } from "../lib/experiments/experiment.ts";
import { compareFigure, compareJson } from "./_figures.ts";
import { experimentMain } from "./_experiment.ts";
import { SPIKING_BUDGET } from "./ablation.ts";

/** The three models compared. */
export const COMPARE: ExperimentVariant[] = [
  { name: "standard", label: "standard transformer", preset: "standard" },
  // the same names as the ablation's steps, so a shared --runs folder reuses those runs
  {
    name: "basic",
    label: "basic spiking transformer",
    preset: "spikformer",
    train: SPIKING_BUDGET,
  },
  { name: "hybrid", label: "hybrid", preset: "hybrid" },
];

if (import.meta.main) {
  await experimentMain({
    name: "compare",
    description: "Standard transformer vs basic spiking transformer vs hybrid (both modes): " +
      "co-bps, energy per trial, training time, stability across seeds and parameters.",
    variants: COMPARE,
    async report(result, ctx) {
      const json = compareJson(result);
      return { json, markdown: await compareFigure(json, ctx.outDir) };
    },
  });
}
