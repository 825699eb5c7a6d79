/**
 * Roadmap phase 3 (hybrid): the hybrid preset trained with the alternating schedule, scored in
 * both modes, with a speed profile (median train-step and inference times per mode, timed
 * side by side in this process) and the energy per trial of each mode.
 *
 *     deno task phase3 [--quick] [--seeds 0,1,2] [--steps N] [--out DIR]
 *     deno task phase3 [...] --sweep-out DIR (--local --jobs K | --slurm [sbatch flags] | --collect)
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import type { ExperimentVariant } from "../lib/experiments/experiment.ts";
import { loadData } from "../lib/experiments/run.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { adamw } from "../lib/train/optim.ts";
import { preset, transformerFor } from "../lib/experiments/presets.ts";
import { key } from "../lib/core/random.ts";
import { trainStep } from "../lib/train/train.ts";
import { disposeTree } from "../lib/core/tree.ts";
import { ablationJson } from "./_figures.ts";
import { experimentMain, QUICK } from "./_experiment.ts";

/** The single phase-3 variant. */
export const PHASE3: ExperimentVariant[] = [
  { name: "hybrid", label: "hybrid (alternating)", preset: "hybrid" },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

if (import.meta.main) {
  await experimentMain({
    name: "phase3",
    description: "Phase 3, hybrid: alternating standard/spiking training of one parameter set, " +
      "both modes scored, with per-mode speed (median of 5 timed train steps and batch-32 " +
      "inference passes after 1 warm-up) and energy per trial.",
    variants: PHASE3,
    async report(result, ctx) {
      const ds = await loadData(ctx.quick ? QUICK.data : result.data);
      const p = preset("hybrid");
      const model = transformerFor(ds, { ...p.model, ...(ctx.quick ? QUICK.model : {}) }, {
        kind: "hybrid",
      });
      const trials = Int32Array.from(ds.split.train.slice(0, 32));
      const speed: Record<string, { trainStepMs: number; inferMs: number }> = {};
      for (const mode of ["standard", "spiking"] as const) {
        let params = model.init(key(0));
        const opt = adamw({ lr: 1e-4 });
        let state = opt.init(params);
        const stepMs: number[] = [];
        const inferMs: number[] = [];
        for (let i = 0; i < 6; i++) {
          const batch = maskedBatch(ds, trials, { key: key(i) });
          let t0 = performance.now();
          const r = await trainStep(model, { params, state }, batch, {
            optimizer: opt,
            key: key(100 + i),
            mode,
          });
          if (i > 0) stepMs.push(performance.now() - t0);
          params = r.params;
          state = r.state;
          t0 = performance.now();
          const y = model.apply(params, { input: batch.input }, {
            training: false,
            mode,
            key: key(0),
          });
          await y.data();
          if (i > 0) inferMs.push(performance.now() - t0);
          y.dispose();
          disposeBatch(batch);
        }
        speed[mode] = { trainStepMs: median(stepMs), inferMs: median(inferMs) };
        disposeTree(params);
        disposeTree(state.mu);
        disposeTree(state.nu);
      }
      const json = { ...ablationJson(result), speed, backend: tf.getBackend() };
      const lines = [
        "| mode | train step (ms, median) | batch-32 inference (ms, median) |",
        "|---|---|---|",
        ...Object.entries(speed).map(([m, s]) =>
          `| ${m} | ${s.trainStepMs.toFixed(0)} | ${s.inferMs.toFixed(0)} |`
        ),
      ];
      return { json, markdown: lines.join("\n") };
    },
  });
}
