/**
 * The rows, targets, tables and figures of the real-data benchmark (scripts/real_data.ts): runs
 * of every cell aggregated per window length and model/mode, the issue's targets checked on
 * them, and the Markdown and Vega-Lite views.
 *
 * @module
 */
import { type Stat, stat } from "../lib/experiments/experiment.ts";
import { preset } from "../lib/experiments/presets.ts";
import type { ChartSpec } from "../lib/figures/charts.ts";
import { formatFixed, modelColorScale } from "../lib/figures/style.ts";
import { MODELS, type RealRow, type RealTarget } from "./real_data.ts";
import type { RealRun } from "./_real_data_cell.ts";

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

/** Aggregate a dataset's runs into rows: one per window length and model/mode, baselines first. */
export function aggregate(runs: readonly RealRun[], windows: readonly number[], models: string[]) {
  const rows: RealRow[] = [];
  const values = (rs: RealRun[], f: (r: RealRun) => number | null) => {
    const xs = rs.map(f).filter((x): x is number => x !== null && Number.isFinite(x));
    return xs.length ? stat(xs) : null;
  };
  for (const w of windows) {
    const at = runs.filter((r) => r.windowMs === w);
    const smooth = at.filter((r) => r.model === "smoothing");
    const ridge = at.filter((r) => r.model === "ridge");
    const smoothCo = values(smooth, (r) => r.coBps)?.mean ?? NaN;
    const ridgeVel = values(ridge, (r) => r.velR2)?.mean ?? NaN;
    const baseline = (model: string, label: string, rs: RealRun[]): RealRow => ({
      windowMs: w,
      model,
      label,
      kind: "baseline",
      mode: null,
      preset: null,
      steps: null,
      lr: null,
      coBps: values(rs, (r) => r.coBps),
      valCoBps: values(rs, (r) => r.valCoBps),
      velR2: values(rs, (r) => r.velR2),
      heldInBps: values(rs, (r) => r.heldInBps),
      energyUj: null,
      firingRate: null,
      seconds: values(rs, (r) => r.seconds),
      bestStep: null,
      beatsSmoothingCoBps: null,
      beatsRidgeVelR2: null,
    });
    rows.push(baseline("smoothing", "smoothing + Poisson GLM", smooth));
    rows.push(baseline("ridge", "raw-count ridge", ridge));
    for (const m of models) {
      for (const mode of ["standard", "spiking"] as const) {
        const rs = at.filter((r) => r.model === m && r.mode === mode);
        if (rs.length === 0) continue;
        const sites = new Map<string, number[]>();
        for (const r of rs) {
          for (const [k, x] of Object.entries(r.firingRates ?? {})) {
            sites.set(k, [...(sites.get(k) ?? []), x]);
          }
        }
        const site = [...sites].map(([k, xs]) => [k, stat(xs).mean] as const);
        const coBps = values(rs, (r) => r.coBps);
        const velR2 = values(rs, (r) => r.velR2);
        const p = preset(MODELS[m].preset).train;
        rows.push({
          windowMs: w,
          model: m,
          label: MODELS[m].label,
          kind: "model",
          mode,
          preset: MODELS[m].preset,
          steps: p.steps ?? null,
          lr: p.lr ?? null,
          coBps,
          valCoBps: values(rs, (r) => r.valCoBps),
          velR2,
          heldInBps: values(rs, (r) => r.heldInBps),
          energyUj: values(rs, (r) => r.energyUj),
          firingRate: site.length
            ? stat(rs.map((r) => {
              const xs = Object.values(r.firingRates ?? {});
              return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
            }))
            : null,
          ...(site.length ? { firingRates: Object.fromEntries(site) } : {}),
          seconds: values(rs, (r) => r.seconds),
          bestStep: rs.map((r) => r.bestStep ?? NaN),
          beatsSmoothingCoBps: coBps ? coBps.mean > smoothCo : null,
          beatsRidgeVelR2: velR2 ? velR2.mean > ridgeVel : null,
        });
      }
    }
  }
  return rows;
}

/**
 * The issue's targets per window length: the hybrid's spiking mode ≥ 0.9 × its standard mode,
 * both modes ≥ 2 × the smoothing baseline's co-bps, and both modes' vel R² ≥ the smoothing
 * baseline's (all on test means over draws × seeds).
 */
export function targets(rows: readonly RealRow[], windows: readonly number[]): RealTarget[] {
  const out: RealTarget[] = [];
  for (const w of windows) {
    const get = (model: string, mode: string | null) =>
      rows.find((r) => r.windowMs === w && r.model === model && r.mode === mode);
    const smooth = get("smoothing", null);
    const std = get("hybrid", "standard");
    const spk = get("hybrid", "spiking");
    if (!smooth?.coBps || !std?.coBps || !spk?.coBps) continue;
    const push = (target: string, value: number, threshold: number) =>
      out.push({ windowMs: w, target, value, threshold, met: value >= threshold });
    push("hybrid spiking / standard co-bps", spk.coBps.mean / std.coBps.mean, 0.9);
    push("hybrid standard co-bps / smoothing", std.coBps.mean / smooth.coBps.mean, 2);
    push("hybrid spiking co-bps / smoothing", spk.coBps.mean / smooth.coBps.mean, 2);
    if (smooth.velR2 && std.velR2 && spk.velR2) {
      push("hybrid standard vel R² − smoothing", std.velR2.mean - smooth.velR2.mean, 0);
      push("hybrid spiking vel R² − smoothing", spk.velR2.mean - smooth.velR2.mean, 0);
    }
  }
  return out;
}

/** The Markdown table of a dataset's rows (all window lengths), with each row's × smoothing. */
export function markdownTable(rows: readonly RealRow[]): string {
  const lines = [
    "| window | model | mode | co-bps | × smoothing | vel R² | > ridge vel R² | best step | µJ/window | seconds |",
    "|--:|---|---|--:|--:|--:|:-:|--:|--:|--:|",
  ];
  for (const r of rows) {
    const smooth = rows.find((x) => x.windowMs === r.windowMs && x.model === "smoothing");
    const ratio = r.coBps && smooth?.coBps ? (r.coBps.mean / smooth.coBps.mean).toFixed(2) : "–";
    const best = r.bestStep?.length ? `${Math.min(...r.bestStep)}–${Math.max(...r.bestStep)}` : "–";
    lines.push(
      `| ${r.windowMs} ms | ${r.label} | ${r.mode ?? "–"} | ${fmt(r.coBps)} | ${ratio} | ${
        fmt(r.velR2)
      } | ${yesNo(r.beatsRidgeVelR2)} | ${best} | ${fmt(r.energyUj, 2)} | ${fmt(r.seconds, 0)} |`,
    );
  }
  return lines.join("\n");
}

/** The issue's targets, met or not. */
export function targetsTable(checks: readonly RealTarget[]): string {
  const lines = ["| window | target | measured | needed | met |", "|--:|---|--:|--:|:-:|"];
  for (const c of checks) {
    lines.push(
      `| ${c.windowMs} ms | ${c.target} | ${c.value.toFixed(3)} | ≥ ${c.threshold} | ${
        c.met ? "yes" : "**no**"
      } |`,
    );
  }
  return lines.join("\n");
}

/** Val against test co-bps per row: the drift from the windows that chose to those scored. */
export function driftTable(rows: readonly RealRow[]): string {
  const lines = [
    "| window | model | mode | val co-bps | test co-bps | test − val |",
    "|--:|---|---|--:|--:|--:|",
  ];
  for (const r of rows) {
    if (!r.coBps || !r.valCoBps) continue;
    lines.push(
      `| ${r.windowMs} ms | ${r.label} | ${r.mode ?? "–"} | ${fmt(r.valCoBps)} | ${
        fmt(r.coBps)
      } | ${(r.coBps.mean - r.valCoBps.mean).toFixed(4)} |`,
    );
  }
  return lines.join("\n");
}

/** Per-site firing rates of the spiking rows (sites as columns would not fit: one row each). */
export function firingTable(rows: readonly RealRow[]): string {
  const spiking = rows.filter((r) => r.firingRates);
  if (spiking.length === 0) return "(no spiking-mode rows)";
  const sites = Object.keys(spiking[0].firingRates!);
  const lines = [
    `| site | ${spiking.map((r) => `${r.label}, ${r.windowMs} ms`).join(" | ")} |`,
    `|---|${spiking.map(() => "--:").join("|")}|`,
  ];
  for (const s of sites) {
    lines.push(
      `| ${s} | ${spiking.map((r) => (r.firingRates![s] ?? NaN).toFixed(4)).join(" | ")} |`,
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
