/**
 * The tables and figures of the real-data benchmark (scripts/real_data.ts).
 *
 * @module
 */
import type { Stat } from "../lib/experiments/experiment.ts";
import type { ChartSpec } from "../lib/figures/charts.ts";
import { formatFixed, modelColorScale } from "../lib/figures/style.ts";
import type { RealRow } from "./real_data.ts";

/** A statistic as "mean ± sd" (or the mean of one value); "–" when absent. */
export function fmt(s: Stat | null, digits = 4): string {
  if (!s || !Number.isFinite(s.mean)) return "–";
  return s.values.length > 1
    ? `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`
    : s.mean.toFixed(digits);
}

function yesNo(b: boolean | null): string {
  return b === null ? "–" : b ? "yes" : "no";
}

/** The Markdown table of a dataset's rows. */
export function markdownTable(rows: readonly RealRow[]): string {
  const lines = [
    "| model | mode | steps | co-bps | vel R² | held-in bps | > smoothing co-bps | > ridge vel R² | µJ/window | seconds |",
    "|---|---|--:|--:|--:|--:|:-:|:-:|--:|--:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.mode ?? "–"} | ${r.steps ?? "–"} | ${fmt(r.coBps)} | ${fmt(r.velR2)} | ${
        fmt(r.heldInBps)
      } | ${yesNo(r.beatsSmoothingCoBps)} | ${yesNo(r.beatsRidgeVelR2)} | ${fmt(r.energyUj, 2)} | ${
        fmt(r.seconds, 0)
      } |`,
    );
  }
  return lines.join("\n");
}

/** The two panels of {@linkcode scoresChart}: the statistic, its panel title and y-axis title. */
const SCORE_PANELS = [
  { key: "coBps", title: "co-bps (held-out neurons)", yTitle: "co-bps (bits/spike)" },
  { key: "velR2", title: "velocity R²", yTitle: "velocity R²" },
] as const;

/**
 * Bars of co-bps and velocity R² per model (two panels, each with its own y-axis title), ± sd
 * error bars and the mean printed on each bar. Each model has its colour of every other chart
 * (`modelColorScale`, baselines in greys); a model shown in two modes gets one bar per mode,
 * named by its label with the mode, in the model's colour.
 */
export function scoresChart(rows: readonly RealRow[], title: string): ChartSpec {
  const labels = rows.map((r) => r.label);
  const twice = new Set(labels.filter((l, i) => labels.indexOf(l) !== i));
  // the mode names the bar only where a model is shown in more than one mode
  const barName = (r: RealRow) => r.mode && twice.has(r.label) ? `${r.label} (${r.mode})` : r.label;
  const colors = modelColorScale(labels);
  const panels = SCORE_PANELS.map((p) => {
    const values = rows.flatMap((r) => {
      const s = r[p.key];
      if (!s || !Number.isFinite(s.mean)) return [];
      const sd = Number.isFinite(s.sd) ? s.sd : 0;
      return [{
        bar: barName(r),
        model: r.label,
        value: s.mean,
        lo: s.mean - sd,
        hi: s.mean + sd,
        text: formatFixed(s.mean, 3),
      }];
    });
    const order = values.map((v) => v.bar);
    const x = { field: "bar", type: "nominal", sort: order };
    return {
      title: p.title,
      // one bar step wide enough that the slanted model names never overlap
      width: Math.max(200, 44 * values.length),
      height: 200,
      data: { values },
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x: { ...x, title: null, axis: { labelAngle: -35, labelLimit: 220 } },
            y: { field: "value", type: "quantitative", title: p.yTitle },
            color: { field: "model", type: "nominal", scale: colors, legend: null },
          },
        },
        {
          mark: { type: "rule" },
          encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
        },
        {
          mark: { type: "text", dy: -6 },
          encoding: {
            x,
            y: { field: "value", type: "quantitative" },
            text: { field: "text" },
          },
        },
      ],
    };
  });
  // a metric no row has (no velocity in the recording) gets no empty panel
  const shown = panels.filter((p) => p.data.values.length > 0);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    background: "white",
    padding: 10,
    hconcat: shown.length > 0 ? shown : panels,
    spacing: 40,
  } as unknown as ChartSpec;
}
