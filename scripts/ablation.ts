/**
 * Ablation: the basic spiking transformer, then each enhancement added in turn, then the hybrid
 * (alternating) training, all scored in spiking mode over several seeds; writes the waterfall.
 *
 *     deno task ablation [--quick] [--seeds 0,1,2] [--steps N] [--out DIR]
 *     deno task ablation [...] --sweep-out DIR (--local --jobs K | --slurm [sbatch flags] | --collect)
 *
 * @module
 */
import type { ExperimentVariant } from "../lib/experiments/experiment.ts";
import type { TrainOverrides } from "../lib/experiments/run.ts";
import { ablationJson, waterfallFigure } from "./_figures.ts";
import { experimentMain } from "./_experiment.ts";
import { HYBRID_COMPONENTS } from "../lib/experiments/presets.ts";

/**
 * Training budget of every spiking-only step: the hybrid's 1200 alternating steps hold 600
 * spiking-mode steps, so each step before it gets those 600 spiking steps at the hybrid's lr. The
 * only differences along the waterfall are then the components (and, last, the 600 extra
 * standard-mode steps that alternating training adds).
 */
export const SPIKING_BUDGET: TrainOverrides = { steps: 600, lr: 8e-3 };

/** Each step adds one component to the previous one (configs on top of the `spikformer` preset). */
const STEPS: ExperimentVariant[] = [
  { name: "basic", label: "basic spiking transformer", preset: "spikformer" },
  { name: "conv", label: "+ conv attention", preset: "spikformer", model: { attention: "conv" } },
  {
    name: "cpg",
    label: "+ CPG-PE",
    preset: "spikformer",
    model: { attention: "conv", cpg: { dims: 16 } },
  },
  {
    name: "tim",
    label: "+ TIM",
    preset: "spikformer",
    model: { attention: "conv", cpg: { dims: 16 }, tim: {} },
  },
  {
    name: "sew",
    label: "+ membrane-shortcut residual",
    preset: "spikformer",
    model: { attention: "conv", cpg: { dims: 16 }, tim: {}, residual: "membrane" },
  },
  {
    name: "rsm",
    label: "+ RSM",
    preset: "spikformer",
    model: {
      attention: "conv",
      cpg: { dims: 16 },
      tim: {},
      residual: "membrane",
      rsm: { ratio: 0.25 },
    },
  },
  {
    // the same ratio, but the least significant (lowest firing-rate) Q/K channels are masked
    // instead of random spikes
    name: "rsm_spatial",
    label: "RSM by significance (spatial), not random",
    preset: "spikformer",
    model: {
      attention: "conv",
      cpg: { dims: 16 },
      tim: {},
      residual: "membrane",
      rsm: { ratio: 0.25, mode: "spatial" },
    },
  },
  {
    // the RSM step's model trained alternately (600 standard and 600 spiking steps), as the
    // hybrid preset trained before it took NDT's local context: this step adds the schedule only
    name: "alternating",
    label: "+ alternating training (hybrid)",
    preset: "spikformer",
    model: { ...HYBRID_COMPONENTS },
    train: { steps: 1200, lr: 8e-3, modeSchedule: "alternate" },
  },
];

/** The ablation steps, each scored in spiking mode. */
export const ABLATION: ExperimentVariant[] = STEPS.map((v) => ({
  ...v,
  ...(v.train ? {} : { train: SPIKING_BUDGET }),
  modes: ["spiking"],
}));

if (import.meta.main) {
  await experimentMain({
    name: "ablation",
    description:
      "Ablation in spiking mode: the basic spiking transformer (Spikformer SSA, SEW-ADD, LIF), " +
      "then convolutional attention, CPG-PE, TIM, the membrane-shortcut residual and RSM added " +
      "in turn, RSM with significance-based (spatial) instead of random masking, then " +
      "alternating standard/spiking training (the hybrid preset).",
    variants: ABLATION,
    async report(result, ctx) {
      const json = ablationJson(result);
      const md = await waterfallFigure(json, ctx.outDir);
      return { json, markdown: md };
    },
  });
}
