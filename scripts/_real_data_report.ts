/**
 * The tables and figures of the real-data benchmark (scripts/real_data.ts).
 *
 * @module
 */
import type { Stat } from "../lib/experiments/experiment.ts";
import type { ChartSpec } from "../lib/figures/charts.ts";
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

/** Bars of co-bps and velocity R² per model (two panels), baselines in grey. */
export function scoresChart(rows: readonly RealRow[], title: string): ChartSpec {
  const values: Record<string, unknown>[] = [];
  for (const r of rows) {
    const name = r.mode && r.model === "hybrid" ? `${r.label} (${r.mode})` : r.label;
    for (const [metric, s] of [["co-bps (held-out neurons)", r.coBps], ["velocity R²", r.velR2]]) {
      const st = s as Stat | null;
      if (!st || !Number.isFinite(st.mean)) continue;
      values.push({
        model: name,
        kind: r.kind,
        metric,
        value: st.mean,
        lo: st.mean - st.sd,
        hi: st.mean + st.sd,
        text: st.mean.toFixed(3),
      });
    }
  }
  const order = rows.map((r) =>
    r.mode && r.model === "hybrid" ? `${r.label} (${r.mode})` : r.label
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values },
    facet: { column: { field: "metric", type: "nominal", title: null } },
    spec: {
      width: 260,
      height: 200,
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x: {
              field: "model",
              type: "nominal",
              sort: order,
              title: null,
              axis: { labelAngle: -35 },
            },
            y: { field: "value", type: "quantitative", title: null },
            color: {
              field: "kind",
              type: "nominal",
              scale: { domain: ["baseline", "model"], range: ["#9e9e9e", "#1f77b4"] },
              title: null,
            },
          },
        },
        {
          mark: { type: "rule" },
          encoding: {
            x: { field: "model", type: "nominal", sort: order },
            y: { field: "lo", type: "quantitative" },
            y2: { field: "hi" },
          },
        },
        {
          mark: { type: "text", dy: -6 },
          encoding: {
            x: { field: "model", type: "nominal", sort: order },
            y: { field: "value", type: "quantitative" },
            text: { field: "text" },
          },
        },
      ],
    },
    resolve: { scale: { y: "independent", x: "independent" } },
  } as unknown as ChartSpec;
}
