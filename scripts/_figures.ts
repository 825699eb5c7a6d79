/**
 * Results JSON and figures of the experiment scripts (schemas read by the notebooks and
 * `lib/figures/report.ts`'s loaders).
 *
 * Rendering imports vega, vega-lite and resvg statically (no dynamic import, no subprocess), so
 * the figures add no output of their own; the `Download https://registry.npmjs.org/…` lines of a
 * script's first run on a machine are Deno's one-time npm cache fill (see `lib/figures/render.ts`).
 *
 * @module
 */
import type { ExperimentResult } from "../lib/experiments/experiment.ts";
import { accuracyEnergyChart, waterfallChart } from "../lib/figures/charts.ts";
import { saveFigure } from "../lib/figures/render.ts";

/** `results.json` body of the ablation and phase scripts: one step per variant. */
export function ablationJson(result: ExperimentResult): { steps: Record<string, unknown>[] } {
  return {
    steps: result.results.map((r) => ({
      name: r.name,
      label: r.label,
      mode: r.mode,
      config: r.config,
      coBps: r.coBps,
      oracleCoBps: r.oracleCoBps,
      coBpsRatio: r.coBpsRatio,
      energyUj: r.energyUj,
      firingRate: r.firingRate,
      firingRates: r.firingRates,
      trainSeconds: r.trainSeconds,
      params: r.params,
    })),
  };
}

/** `results.json` body of the compare script: one row per model and mode. */
export function compareJson(result: ExperimentResult): { rows: Record<string, unknown>[] } {
  return {
    rows: result.results.map((r) => ({
      model: r.label,
      name: r.name,
      mode: r.mode,
      coBps: r.coBps,
      oracleCoBps: r.oracleCoBps,
      coBpsRatio: r.coBpsRatio,
      energyUj: r.energyUj,
      firingRate: r.firingRate,
      trainSeconds: r.trainSeconds,
      params: r.params,
    })),
  };
}

type S = { mean: number; sd: number };

/** Write the waterfall (co-bps and energy) as SVG + PNG; returns Markdown linking them. */
export async function waterfallFigure(
  json: { steps: Record<string, unknown>[] },
  outDir: string,
): Promise<string> {
  const spec = waterfallChart(json.steps.map((s) => ({
    label: `${s.label}${s.mode === "standard" ? "" : ""}`,
    coBps: (s.coBps as S).mean,
    coBpsSd: (s.coBps as S).sd,
    energyUj: (s.energyUj as S).mean,
    energyUjSd: (s.energyUj as S).sd,
  })));
  await saveFigure(spec, `${outDir}/waterfall`, { formats: ["svg", "png"] });
  return "![waterfall](waterfall.png)";
}

/** Write the accuracy-vs-energy scatter as SVG + PNG; returns Markdown linking it. */
export async function compareFigure(
  json: { rows: Record<string, unknown>[] },
  outDir: string,
): Promise<string> {
  const spec = accuracyEnergyChart(json.rows.map((r) => ({
    model: r.model as string,
    mode: r.mode as string,
    coBps: (r.coBps as S).mean,
    coBpsSd: (r.coBps as S).sd,
    energyUj: (r.energyUj as S).mean,
    energyUjSd: (r.energyUj as S).sd,
  })));
  await saveFigure(spec, `${outDir}/accuracy_energy`, { formats: ["svg", "png"] });
  return "![accuracy vs energy](accuracy_energy.png)";
}
