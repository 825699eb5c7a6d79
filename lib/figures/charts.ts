/**
 * Vega-Lite chart builders for ablation results and training runs. Each takes plain arrays of
 * records (not a results file), validates them (empty lists, NaN or infinite values are refused
 * with the field and index named) and returns a Vega-Lite spec ({@linkcode ChartSpec}), which is
 * plain JSON:
 *
 * | chart | shows |
 * |---|---|
 * | {@linkcode waterfallChart} | ablation waterfall: co-bps (and energy per sample) as components are added |
 * | {@linkcode accuracyEnergyChart} | co-bps against energy per sample (log axis), error bars both ways |
 * | {@linkcode trainingCurvesChart} | training loss / validation score against step, one panel per metric |
 *
 * Spike rasters and firing rates are in `activity_charts.ts`; rendering to SVG/PNG is in
 * `render.ts`, notebook display in `notebook.ts`; the colour of each model and the number
 * labels (no "−0.000") in `style.ts`.
 *
 * @module
 */
import type * as vl from "vega-lite";
import { describe, finite, nonEmpty, optionalSd, size, text, uniques } from "./chart_checks.ts";
import { formatChange, formatFixed, modelColorScale } from "./style.ts";

/** A Vega-Lite specification (plain JSON), as every chart function returns it. */
export type ChartSpec = vl.TopLevelSpec;

/** Options every chart takes. */
export interface ChartOptions {
  /** Chart title. */
  title?: string;
  /** Width of one panel in pixels. */
  width?: number;
  /** Height of one panel in pixels. */
  height?: number;
}

/**
 * Bar colours of {@linkcode waterfallChart}, by effect of the step.
 *
 * @example
 * ```ts
 * import { WATERFALL_COLORS } from "@hest/hest";
 * WATERFALL_COLORS.worse; // "#d62728": a component that hurts
 * ```
 */
export const WATERFALL_COLORS: Readonly<Record<WaterfallEffect, string>> = {
  baseline: "#7f7f7f",
  better: "#2ca02c",
  worse: "#d62728",
  unchanged: "#bcbd22",
};

// ---------------------------------------------------------------------------------------------
// waterfall

/** One step of an ablation: the score (and energy) after adding one component. */
export interface WaterfallStep {
  /** Bar label, e.g. `"+ conv attention"` (unique). */
  label: string;
  /** co-bps after this step (or its change, with `values: "delta"`). */
  coBps: number;
  /** Standard deviation of `coBps` over seeds (error bar). */
  coBpsSd?: number;
  /** Energy per sample in µJ after this step (or its change); give it for every step or none. */
  energyUj?: number;
  /** Standard deviation of `energyUj` over seeds. */
  energyUjSd?: number;
}

/** How a waterfall step changed the metric, judged by whether higher is better. */
export type WaterfallEffect = "baseline" | "better" | "worse" | "unchanged";

/** One computed waterfall bar: floats from `start` to `end`. */
export interface WaterfallBar {
  /** Position (0 = the baseline). */
  index: number;
  /** Label of the step. */
  label: string;
  /** Where the bar starts: 0 for the baseline, else the previous cumulative value. */
  start: number;
  /** Cumulative value after this step. */
  end: number;
  /** `end − start` (for the baseline: its value). */
  delta: number;
  /** Standard deviation (error bar half-length, drawn around `end`). */
  sd: number;
  /** `"up"`, `"down"` or `"flat"` (direction of the change), `"baseline"` for the first bar. */
  direction: "baseline" | "up" | "down" | "flat";
  /** Effect, from the direction and `higherIsBetter`. */
  effect: WaterfallEffect;
}

/** Input of {@linkcode waterfallBars}. */
export interface WaterfallValue {
  /** Label of the step. */
  label: string;
  /** Value after the step (or its change with `values: "delta"`). */
  value: number;
  /** Standard deviation. */
  sd?: number;
}

/** Options of {@linkcode waterfallBars}. */
export interface WaterfallBarsOptions {
  /**
   * `"absolute"` (default): each value is the metric measured after the step; `"delta"`: the
   * first value is the baseline and each next one the change it brings.
   */
  values?: "absolute" | "delta";
  /** Whether an increase is an improvement (default true; false for energy). */
  higherIsBetter?: boolean;
}

/**
 * The bars of a waterfall: the first is the baseline (from 0), each next one floats from the
 * previous cumulative value to the new one. Labels must be unique.
 *
 * @example
 * ```ts
 * import { waterfallBars } from "@hest/hest";
 * const bars = waterfallBars([
 *   { label: "base", value: 0.5 },
 *   { label: "+A", value: 0.1 },
 *   { label: "+B", value: -0.05 },
 * ], { values: "delta" });
 * bars.map((b) => [b.start, b.end]); // [[0, 0.5], [0.5, 0.6], [0.6, 0.55]] (up to rounding)
 * ```
 */
export function waterfallBars(
  values: readonly WaterfallValue[],
  opts: WaterfallBarsOptions = {},
): WaterfallBar[] {
  const fn = "waterfallBars";
  nonEmpty(fn, "values", values);
  const mode = opts.values ?? "absolute";
  if (mode !== "absolute" && mode !== "delta") {
    throw new Error(`${fn}: option values must be "absolute" or "delta", found ${describe(mode)}`);
  }
  const higher = opts.higherIsBetter ?? true;
  const seen = new Set<string>();
  const bars: WaterfallBar[] = [];
  let prev = 0;
  values.forEach((v, i) => {
    const where = `${fn}: values[${i}]`;
    const label = text(fn, `values[${i}].label`, v.label);
    if (seen.has(label)) {
      throw new Error(`${where}: label ${JSON.stringify(label)} is used twice; labels must differ`);
    }
    seen.add(label);
    const value = finite(fn, `values[${i}].value`, v.value);
    const sd = optionalSd(fn, `values[${i}].sd`, v.sd);
    const end = i === 0 ? value : mode === "absolute" ? value : prev + value;
    const start = i === 0 ? 0 : prev;
    const delta = end - start;
    const direction = i === 0 ? "baseline" : delta > 0 ? "up" : delta < 0 ? "down" : "flat";
    const effect: WaterfallEffect = direction === "baseline"
      ? "baseline"
      : direction === "flat"
      ? "unchanged"
      : (direction === "up") === higher
      ? "better"
      : "worse";
    bars.push({ index: i, label, start, end, delta, sd, direction, effect });
    prev = end;
  });
  return bars;
}

/** Options of {@linkcode waterfallChart}. */
export interface WaterfallOptions extends ChartOptions {
  /** See {@linkcode WaterfallBarsOptions.values} (default `"absolute"`). */
  values?: "absolute" | "delta";
  /** Y-axis title of the co-bps panel. */
  coBpsTitle?: string;
  /** Y-axis title of the energy panel. */
  energyTitle?: string;
  /** Decimals of the co-bps labels (default 3; energy labels get 3 significant digits). */
  digits?: number;
  /**
   * Zoom the y axes onto the changes (default false): the axes no longer start at 0 and the
   * baseline bar starts just below the smallest value, so small steps are visible. The axis
   * break is not drawn; say so in the caption.
   */
  zoom?: boolean;
}

const EFFECT_ORDER: readonly WaterfallEffect[] = ["baseline", "better", "worse", "unchanged"];

function waterfallPanel(
  bars: WaterfallBar[],
  o: {
    title: string;
    yTitle: string;
    width: number;
    height: number;
    fmt: (x: number) => string;
    fmtChange: (x: number) => string;
    zoom: boolean;
  },
  effects: WaterfallEffect[],
): Record<string, unknown> {
  let floor = 0;
  if (o.zoom) {
    const lo = Math.min(...bars.map((b) => Math.min(b.end - b.sd, b.index ? b.start : b.end)));
    const hi = Math.max(...bars.map((b) => Math.max(b.end + b.sd, b.start)));
    floor = lo - 0.25 * (hi - lo || Math.abs(hi) || 1);
  }
  const rows = bars.map((b) => ({
    ...b,
    start: b.direction === "baseline" ? floor : b.start,
    lo: b.end - b.sd,
    hi: b.end + b.sd,
    top: Math.max(b.direction === "baseline" ? floor : b.start, b.end, b.end + b.sd),
    // a step that changes nothing visible prints "0.000", not "+0.000" or "−0.000"
    text: b.direction === "baseline" ? o.fmt(b.end) : o.fmtChange(b.delta),
    // the tooltip's "+.4f" keeps the sign of a change that rounds to zero: round it first
    change: Math.round(b.delta * 1e4) / 1e4 || 0,
  }));
  const labels = bars.map((b) => b.label);
  return {
    title: o.title,
    width: o.width,
    height: o.height,
    data: { values: rows },
    encoding: {
      x: {
        field: "label",
        type: "nominal",
        sort: labels,
        title: null,
        axis: { labelAngle: -30, labelLimit: 220 },
      },
    },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y: {
            field: "start",
            type: "quantitative",
            title: o.yTitle,
            ...(o.zoom ? { scale: { zero: false } } : {}),
          },
          y2: { field: "end" },
          color: {
            field: "effect",
            type: "nominal",
            title: "step",
            scale: { domain: effects, range: effects.map((e) => WATERFALL_COLORS[e]) },
          },
          tooltip: [
            { field: "label", type: "nominal" },
            { field: "end", type: "quantitative", title: "value", format: ".4f" },
            { field: "change", type: "quantitative", title: "change", format: "+.4f" },
            { field: "sd", type: "quantitative", title: "sd", format: ".4f" },
          ],
        },
      },
      {
        transform: [{ filter: "datum.sd > 0" }],
        mark: { type: "rule", color: "#222", strokeWidth: 1.2 },
        encoding: { y: { field: "lo", type: "quantitative" }, y2: { field: "hi" } },
      },
      {
        transform: [{ filter: "datum.sd > 0" }],
        mark: { type: "tick", color: "#222", thickness: 1.2, size: 8 },
        encoding: { y: { field: "lo", type: "quantitative" } },
      },
      {
        transform: [{ filter: "datum.sd > 0" }],
        mark: { type: "tick", color: "#222", thickness: 1.2, size: 8 },
        encoding: { y: { field: "hi", type: "quantitative" } },
      },
      {
        mark: { type: "text", baseline: "bottom", dy: -3, fontSize: 10 },
        encoding: {
          y: { field: "top", type: "quantitative" },
          text: { field: "text", type: "nominal" },
        },
      },
    ],
  };
}

/** The decimals that give 3 significant digits to the largest |value|. */
function decimalsFor(values: readonly number[]): number {
  const top = Math.max(...values.map(Math.abs));
  return top > 0 ? Math.min(10, Math.max(0, 2 - Math.floor(Math.log10(top)))) : 3;
}

/**
 * Ablation waterfall: the first step is the baseline bar, each next bar floats from the previous
 * cumulative value to the new one, coloured by effect (green: better, red: worse; for co-bps
 * better is up, so a component that hurts is a red down step), with ± sd error bars at its top.
 * When the steps carry `energyUj`, a second panel shows energy per sample the same way (there a
 * decrease is better).
 *
 * @example
 * ```ts
 * import { renderSvg, waterfallChart } from "@hest/hest";
 * const spec = waterfallChart([
 *   { label: "basic", coBps: 0.40, coBpsSd: 0.01, energyUj: 2.0 },
 *   { label: "+ conv attention", coBps: 0.45, coBpsSd: 0.02, energyUj: 2.2 },
 *   { label: "+ RSM", coBps: 0.44, coBpsSd: 0.01, energyUj: 1.6 },
 * ]);
 * const svg = await renderSvg(spec);
 * ```
 */
export function waterfallChart(
  steps: readonly WaterfallStep[],
  opts: WaterfallOptions = {},
): ChartSpec {
  const fn = "waterfallChart";
  nonEmpty(fn, "steps", steps);
  const width = size(fn, "width", opts.width, Math.max(220, 46 * steps.length));
  const height = size(fn, "height", opts.height, 260);
  const digits = opts.digits ?? 3;
  const withEnergy = steps.filter((s) => s.energyUj !== undefined).length;
  if (withEnergy !== 0 && withEnergy !== steps.length) {
    const missing = steps.findIndex((s) => s.energyUj === undefined);
    throw new Error(
      `${fn}: energyUj must be given for every step or none; steps[${missing}] has none but ${withEnergy} of ${steps.length} do`,
    );
  }
  steps.forEach((s, i) => {
    if (s === null || typeof s !== "object") {
      throw new Error(`${fn}: steps[${i}] must be an object, found ${describe(s)}`);
    }
    finite(fn, `steps[${i}].coBps`, s.coBps);
    if (s.energyUj !== undefined) finite(fn, `steps[${i}].energyUj`, s.energyUj);
  });
  const co = waterfallBars(
    steps.map((s) => ({ label: s.label, value: s.coBps, sd: s.coBpsSd })),
    { values: opts.values, higherIsBetter: true },
  );
  const en = withEnergy
    ? waterfallBars(
      steps.map((s) => ({ label: s.label, value: s.energyUj!, sd: s.energyUjSd })),
      { values: opts.values, higherIsBetter: false },
    )
    : null;
  const present = new Set([...co, ...(en ?? [])].map((b) => b.effect));
  const effects = EFFECT_ORDER.filter((e) => present.has(e));
  const coPanel = waterfallPanel(co, {
    title: "co-bps (higher is better)",
    yTitle: opts.coBpsTitle ?? "co-bps (bits/spike)",
    width,
    height,
    fmt: (x) => formatFixed(x, digits),
    fmtChange: (x) => formatChange(x, digits),
    zoom: opts.zoom ?? false,
  }, effects);
  const base = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: opts.title } : {}),
    background: "white",
    padding: 10,
  };
  if (!en) {
    return { ...base, ...coPanel, title: opts.title ?? coPanel.title } as unknown as ChartSpec;
  }
  const enDigits = decimalsFor(en.map((b) => b.end));
  const enPanel = waterfallPanel(en, {
    title: "energy per sample (lower is better)",
    yTitle: opts.energyTitle ?? "energy per sample (µJ)",
    width,
    height,
    fmt: (x) => formatFixed(x, enDigits),
    fmtChange: (x) => formatChange(x, enDigits),
    zoom: opts.zoom ?? false,
  }, effects);
  return { ...base, hconcat: [coPanel, enPanel], spacing: 40 } as unknown as ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// accuracy vs energy

/** One model/mode of {@linkcode accuracyEnergyChart}. */
export interface AccuracyEnergyPoint {
  /** Model name (colour). */
  model: string;
  /** Mode, e.g. `"standard"` or `"spiking"` (shape). */
  mode: string;
  /** Mean co-bps. */
  coBps: number;
  /** Standard deviation of co-bps over seeds. */
  coBpsSd?: number;
  /** Mean energy per sample in µJ (> 0: log axis). */
  energyUj: number;
  /** Standard deviation of the energy over seeds. */
  energyUjSd?: number;
}

/** Options of {@linkcode accuracyEnergyChart}. */
export interface AccuracyEnergyOptions extends ChartOptions {
  /** Show a text label (model · mode) next to each point (default true). */
  labels?: boolean;
}

/**
 * The span of a log axis around data from `lo` to `hi` (> 0): padded by 8% of the data's span
 * in log space (at least 0.05 decade) each side, and at least half a decade wide, so no point
 * sits on the edge and the axis does not run on over empty decades (as rounding out to powers
 * of ten would).
 */
function logDomain(lo: number, hi: number): [number, number] {
  let a = Math.log10(lo), b = Math.log10(hi);
  const pad = Math.max(0.08 * (b - a), 0.05);
  a -= pad;
  b += pad;
  const short = 0.5 - (b - a);
  if (short > 0) {
    a -= short / 2;
    b += short / 2;
  }
  return [10 ** a, 10 ** b];
}

/** The span of a linear axis around `lo`..`hi`, padded by 8% of the span (or of |value|). */
function paddedDomain(lo: number, hi: number): [number, number] {
  const pad = 0.08 * (hi - lo || Math.abs(hi) || 1);
  return [lo - pad, hi + pad];
}

/**
 * Accuracy against energy: co-bps on y, energy per sample on a log x-axis, error bars both ways
 * (± sd; the lower x end is clipped at a tenth of the value when sd reaches below zero), colour
 * by model (`modelColor`: the same colour as in every other chart), shape by mode, and
 * a label at each point. Both axes span the data with a margin (the energy axis over the decades
 * the data covers, not out to the next powers of ten), error bars included.
 *
 * @example
 * ```ts
 * import { accuracyEnergyChart } from "@hest/hest";
 * const spec = accuracyEnergyChart([
 *   { model: "standard", mode: "standard", coBps: 0.72, coBpsSd: 0.01, energyUj: 30 },
 *   { model: "hybrid", mode: "spiking", coBps: 0.60, coBpsSd: 0.02, energyUj: 4, energyUjSd: 0.3 },
 * ]);
 * ```
 */
export function accuracyEnergyChart(
  points: readonly AccuracyEnergyPoint[],
  opts: AccuracyEnergyOptions = {},
): ChartSpec {
  const fn = "accuracyEnergyChart";
  nonEmpty(fn, "points", points);
  const rows = points.map((p, i) => {
    const model = text(fn, `points[${i}].model`, p.model);
    const mode = text(fn, `points[${i}].mode`, p.mode);
    const coBps = finite(fn, `points[${i}].coBps`, p.coBps);
    const energyUj = finite(fn, `points[${i}].energyUj`, p.energyUj);
    if (energyUj <= 0) {
      throw new Error(
        `${fn}: points[${i}].energyUj must be > 0 (the energy axis is logarithmic), found ${energyUj}`,
      );
    }
    const cs = optionalSd(fn, `points[${i}].coBpsSd`, p.coBpsSd);
    const es = optionalSd(fn, `points[${i}].energyUjSd`, p.energyUjSd);
    return {
      model,
      mode,
      coBps,
      energyUj,
      coBpsSd: cs,
      energyUjSd: es,
      coLo: coBps - cs,
      coHi: coBps + cs,
      enLo: Math.max(energyUj - es, energyUj / 10),
      enHi: energyUj + es,
      label: `${model} · ${mode}`,
    };
  });
  const models = uniques(rows.map((r) => r.model));
  const modes = uniques(rows.map((r) => r.mode));
  const color = {
    field: "model",
    type: "nominal",
    title: "model",
    sort: models,
    scale: modelColorScale(models),
  } as const;
  const xDomain = logDomain(
    Math.min(...rows.map((r) => r.enLo)),
    Math.max(...rows.map((r) => r.enHi)),
  );
  const yDomain = paddedDomain(
    Math.min(...rows.map((r) => r.coLo)),
    Math.max(...rows.map((r) => r.coHi)),
  );
  const layer: Record<string, unknown>[] = [
    {
      transform: [{ filter: "datum.energyUjSd > 0" }],
      mark: { type: "rule", strokeWidth: 1.2 },
      encoding: {
        x: { field: "enLo", type: "quantitative" },
        x2: { field: "enHi" },
        y: { field: "coBps", type: "quantitative" },
        color,
      },
    },
    {
      transform: [{ filter: "datum.coBpsSd > 0" }],
      mark: { type: "rule", strokeWidth: 1.2 },
      encoding: {
        x: { field: "energyUj", type: "quantitative" },
        y: { field: "coLo", type: "quantitative" },
        y2: { field: "coHi" },
        color,
      },
    },
    {
      mark: { type: "point", filled: true, size: 90, opacity: 1 },
      encoding: {
        x: {
          field: "energyUj",
          type: "quantitative",
          // nice: false, or vega would round the domain out to powers of ten again
          scale: { type: "log", domain: xDomain, nice: false },
          title: "energy per sample (µJ, log scale)",
        },
        y: {
          field: "coBps",
          type: "quantitative",
          scale: { zero: false, domain: yDomain, nice: true },
          title: "co-bps",
        },
        color,
        shape: { field: "mode", type: "nominal", title: "mode", sort: modes },
        tooltip: [
          { field: "model", type: "nominal" },
          { field: "mode", type: "nominal" },
          { field: "coBps", type: "quantitative", format: ".4f" },
          { field: "coBpsSd", type: "quantitative", format: ".4f" },
          { field: "energyUj", type: "quantitative", format: ".4g" },
          { field: "energyUjSd", type: "quantitative", format: ".3g" },
        ],
      },
    },
  ];
  if (opts.labels ?? true) {
    layer.push({
      mark: { type: "text", align: "left", dx: 8, dy: -8, fontSize: 10 },
      encoding: {
        x: { field: "energyUj", type: "quantitative" },
        y: { field: "coBps", type: "quantitative" },
        text: { field: "label", type: "nominal" },
      },
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title ?? "accuracy vs energy",
    background: "white",
    padding: 10,
    // legends below the plot, so the point labels have the right-hand margin to themselves
    config: { legend: { orient: "bottom", direction: "horizontal" } },
    width: size(fn, "width", opts.width, 420),
    height: size(fn, "height", opts.height, 300),
    data: { values: rows },
    layer,
  } as unknown as ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// training curves

/** One logged value of {@linkcode trainingCurvesChart}. */
export interface CurveRecord {
  /** Optimiser step. */
  step: number;
  /** Mode the value belongs to (e.g. the mode trained at this step, or validated in). */
  mode?: string;
  /** Metric name, e.g. `"train loss"` or `"val co-bps"` (one panel each). */
  metric: string;
  /** The value. */
  value: number;
  /** Run name (e.g. a seed or variant). */
  run?: string;
}

/** Options of {@linkcode trainingCurvesChart}. */
export interface TrainingCurvesOptions extends ChartOptions {
  /** Panels per row (default: all metrics in one row). */
  columns?: number;
  /** Panels whose series have at most this many values also get points (default 40). */
  pointsUpTo?: number;
}

/**
 * Training curves: one line per run/mode (colour), one panel per metric (each with its own
 * y-axis), step on x. Sparse metrics (validation every N steps) also get points.
 *
 * @example
 * ```ts
 * import { trainingCurvesChart } from "@hest/hest";
 * const spec = trainingCurvesChart([
 *   { step: 1, metric: "train loss", value: 0.9 },
 *   { step: 2, metric: "train loss", value: 0.7 },
 *   { step: 2, metric: "val co-bps", value: 0.1 },
 * ]);
 * ```
 */
export function trainingCurvesChart(
  records: readonly CurveRecord[],
  opts: TrainingCurvesOptions = {},
): ChartSpec {
  const fn = "trainingCurvesChart";
  nonEmpty(fn, "records", records);
  const rows = records.map((r, i) => {
    const metric = text(fn, `records[${i}].metric`, r.metric);
    const step = finite(fn, `records[${i}].step`, r.step);
    const value = finite(fn, `records[${i}].value`, r.value);
    if (r.mode !== undefined) text(fn, `records[${i}].mode`, r.mode);
    if (r.run !== undefined) text(fn, `records[${i}].run`, r.run);
    const series = [r.run, r.mode].filter((x) => x !== undefined).join(" · ") || "run";
    return { step, value, metric, series, sparse: false };
  });
  const metrics = uniques(rows.map((r) => r.metric));
  const limit = opts.pointsUpTo ?? 40;
  const counts = new Map<string, number>();
  for (const r of rows) {
    const k = `${r.metric}\u0000${r.series}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  for (const r of rows) r.sparse = counts.get(`${r.metric}\u0000${r.series}`)! <= limit;
  rows.sort((a, b) => a.step - b.step);
  const series = uniques(rows.map((r) => r.series));
  const color = {
    field: "series",
    type: "nominal",
    title: "run / mode",
    sort: series,
    ...(series.length === 1 ? { legend: null } : {}),
  } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title ?? "training curves",
    background: "white",
    padding: 10,
    data: { values: rows },
    facet: { field: "metric", type: "nominal", sort: metrics, header: { title: null } },
    columns: opts.columns ?? metrics.length,
    spec: {
      width: size(fn, "width", opts.width, 300),
      height: size(fn, "height", opts.height, 200),
      layer: [
        {
          mark: { type: "line", strokeWidth: 1.5 },
          encoding: {
            x: { field: "step", type: "quantitative", title: "step" },
            y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
            color,
          },
        },
        {
          transform: [{ filter: "datum.sparse" }],
          mark: { type: "point", filled: true, size: 25 },
          encoding: {
            x: { field: "step", type: "quantitative" },
            y: { field: "value", type: "quantitative" },
            color,
          },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  } as unknown as ChartSpec;
}
