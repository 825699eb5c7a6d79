/**
 * Roadmap phase 1 (standard mode): the standard base, then convolutional self-attention, then
 * CPG-PE, trained and scored in standard mode.
 *
 *     deno task phase1 [--quick] [--seeds 0,1,2] [--steps N] [--out DIR]
 *     deno task phase1 [...] --sweep-out DIR (--local --jobs K | --slurm [sbatch flags] | --collect)
 *
 * @module
 */
import type { ExperimentVariant } from "../lib/experiments/experiment.ts";
import { ablationJson, waterfallFigure } from "./_figures.ts";
import { experimentMain } from "./_experiment.ts";

const standard = { modeSchedule: "standard" as const, lr: 1.2e-2 };

/** Phase-1 steps (hybrid model, standard mode). */
export const PHASE1: ExperimentVariant[] = [
  { name: "base", label: "standard base", preset: "spikformer", train: standard },
  {
    name: "conv",
    label: "+ conv attention",
    preset: "spikformer",
    model: { attention: "conv" },
    train: standard,
  },
  {
    name: "cpg",
    label: "+ CPG-PE",
    preset: "spikformer",
    model: { attention: "conv", cpg: { dims: 16 } },
    train: standard,
  },
];

if (import.meta.main) {
  await experimentMain({
    name: "phase1",
    description: "Phase 1, standard mode: the standard base (dot-product attention, learned " +
      "positions), + convolutional self-attention, + CPG-PE; every step trained and scored in " +
      "standard mode (lr 1.2e-2, the standard preset's).",
    variants: PHASE1,
    async report(result, ctx) {
      const json = ablationJson(result);
      return { json, markdown: await waterfallFigure(json, ctx.outDir) };
    },
  });
}
