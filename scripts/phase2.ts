/**
 * Roadmap phase 2 (spiking mode): phase 1's model in spiking mode, then TIM, the
 * membrane-shortcut residual and RSM added in turn.
 *
 *     deno task phase2 [--quick] [--seeds 0,1,2] [--steps N] [--out DIR]
 *     deno task phase2 [...] --sweep-out DIR (--local --jobs K | --slurm [sbatch flags] | --collect)
 *
 * @module
 */
import type { ExperimentVariant } from "../lib/experiments/experiment.ts";
import { ABLATION } from "./ablation.ts";
import { ablationJson, waterfallFigure } from "./_figures.ts";
import { experimentMain } from "./_experiment.ts";

/** Phase-2 steps: the ablation's steps from CPG-PE to RSM. */
export const PHASE2: ExperimentVariant[] = ABLATION.filter((v) =>
  ["cpg", "tim", "sew", "rsm"].includes(v.name)
).map((v) => v.name === "cpg" ? { ...v, label: "phase 1 model (conv + CPG-PE), spiking" } : v);

if (import.meta.main) {
  await experimentMain({
    name: "phase2",
    description: "Phase 2, spiking mode: phase 1's model (conv attention + CPG-PE) in spiking " +
      "mode, then TIM, the membrane-shortcut residual and RSM added in turn.",
    variants: PHASE2,
    async report(result, ctx) {
      const json = ablationJson(result);
      return { json, markdown: await waterfallFigure(json, ctx.outDir) };
    },
  });
}
