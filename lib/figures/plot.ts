/**
 * Figures: Vega-Lite specs built from plain typed inputs, rendered headless to SVG (vega +
 * vega-lite, no canvas, no browser) and to PNG (resvg compiled to WASM), written atomically, and
 * shown inline in Jupyter.
 *
 * Every chart function takes plain arrays of records (not a results file), validates them (empty
 * lists, NaN or infinite values and unknown neurons are refused with the field and index named)
 * and returns a Vega-Lite spec ({@linkcode ChartSpec}), which is plain JSON:
 *
 * | chart | shows |
 * |---|---|
 * | {@linkcode waterfallChart} | ablation waterfall: co-bps (and energy per sample) as components are added |
 * | {@linkcode accuracyEnergyChart} | co-bps against energy per sample (log axis), error bars both ways |
 * | {@linkcode trainingCurvesChart} | training loss / validation score against step, one panel per metric |
 * | {@linkcode rasterChart} | spike counts of a few neurons with true and predicted rates |
 * | {@linkcode firingRateChart} | firing rate per LIF site (layer) |
 *
 * Then {@linkcode renderSvg} / {@linkcode renderPng} / {@linkcode saveFigure} render it, and
 * `await figure(spec)` as the last expression of a notebook cell displays it (the
 * `Symbol.for("Jupyter.display")` protocol, which needs no `Deno.jupyter`).
 *
 * PNG text needs a font file: DejaVu Sans (Debian `fonts-dejavu-core`) is found at its usual
 * paths, or pass `fontFiles`. Without a font the rasteriser would silently drop every label, so
 * a missing font is an error.
 *
 * @module
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { createRequire } from "node:module";
import { writeFileAtomic } from "../core/io.ts";

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
 * import { WATERFALL_COLORS } from "./mod.ts";
 * WATERFALL_COLORS.worse; // "#d62728": a component that hurts
 * ```
 */
export const WATERFALL_COLORS: Readonly<Record<WaterfallEffect, string>> = {
  baseline: "#7f7f7f",
  better: "#2ca02c",
  worse: "#d62728",
  unchanged: "#bcbd22",
};

/**
 * Line and point colours of {@linkcode rasterChart}.
 *
 * @example
 * ```ts
 * import { RASTER_COLORS } from "./mod.ts";
 * RASTER_COLORS.predRate; // "#e6550d"
 * ```
 */
export const RASTER_COLORS: Readonly<Record<"spikes" | "trueRate" | "predRate", string>> = {
  spikes: "#9e9e9e",
  trueRate: "#000000",
  predRate: "#e6550d",
};

// ---------------------------------------------------------------------------------------------
// validation helpers

function describe(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v;
}

function finite(where: string, field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${where}: ${field} must be a finite number, found ${describe(v)}`);
  }
  return v;
}

function optionalSd(where: string, field: string, v: unknown): number {
  if (v === undefined) return 0;
  const x = finite(where, field, v);
  if (x < 0) throw new Error(`${where}: ${field} must be >= 0, found ${x}`);
  return x;
}

function nonEmpty<T>(fn: string, what: string, list: readonly T[]): void {
  if (!Array.isArray(list)) {
    throw new Error(`${fn}: ${what} must be an array, found ${describe(list)}`);
  }
  if (list.length === 0) throw new Error(`${fn}: ${what} must not be empty, found 0 entries`);
}

function text(where: string, field: string, v: unknown): string {
  if (typeof v !== "string" || v.length === 0) {
    throw new Error(`${where}: ${field} must be a non-empty string, found ${describe(v)}`);
  }
  return v;
}

function size(fn: string, field: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) {
    throw new Error(`${fn}: option ${field} must be a positive number, found ${describe(v)}`);
  }
  return v;
}

/** Unique values in first-appearance order. */
function uniques(values: readonly string[]): string[] {
  return [...new Set(values)];
}

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
 * import { waterfallBars } from "./mod.ts";
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
    text: b.direction === "baseline"
      ? o.fmt(b.end)
      : `${b.delta < 0 ? "−" : "+"}${o.fmt(Math.abs(b.delta))}`,
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
            { field: "delta", type: "quantitative", title: "change", format: "+.4f" },
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

/** A formatter with the decimals that give 3 significant digits to the largest |value|. */
function fixedFor(values: readonly number[]): (x: number) => string {
  const top = Math.max(...values.map(Math.abs));
  const decimals = top > 0 ? Math.min(10, Math.max(0, 2 - Math.floor(Math.log10(top)))) : 3;
  return (x) => x.toFixed(decimals);
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
 * import { renderSvg, waterfallChart } from "./mod.ts";
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
    fmt: (x) => x.toFixed(digits),
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
  const enPanel = waterfallPanel(en, {
    title: "energy per sample (lower is better)",
    yTitle: opts.energyTitle ?? "energy per sample (µJ)",
    width,
    height,
    fmt: fixedFor(en.map((b) => b.end)),
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
 * Accuracy against energy: co-bps on y, energy per sample on a log x-axis, error bars both ways
 * (± sd; the lower x end is clipped at a tenth of the value when sd reaches below zero), colour
 * by model, shape by mode, and a label at each point.
 *
 * @example
 * ```ts
 * import { accuracyEnergyChart } from "./mod.ts";
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
  const color = { field: "model", type: "nominal", title: "model", sort: models } as const;
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
          scale: { type: "log" },
          title: "energy per sample (µJ, log scale)",
        },
        y: { field: "coBps", type: "quantitative", scale: { zero: false }, title: "co-bps" },
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
 * import { trainingCurvesChart } from "./mod.ts";
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

// ---------------------------------------------------------------------------------------------
// raster

/** Input of {@linkcode rasterChart}: one trial. */
export interface RasterInput {
  /** Observed spike counts `[bins][neurons]`. */
  counts: readonly (readonly number[])[];
  /** True rates (expected counts per bin) `[bins][neurons]`, when known. */
  trueRates?: readonly (readonly number[])[];
  /** Predicted rates (expected counts per bin) `[bins][neurons]`. */
  predRates: readonly (readonly number[])[];
  /** Bin width in ms (x axis in ms). */
  binMs: number;
  /** Neuron indices to show (default the first 4). */
  neurons?: readonly number[];
  /** Neuron names by index (default `"neuron i"`); e.g. mark held-out neurons. */
  neuronNames?: readonly string[];
}

function matrix(
  fn: string,
  field: string,
  m: readonly (readonly number[])[],
  shape?: [number, number],
): [number, number] {
  if (!Array.isArray(m)) throw new Error(`${fn}: ${field} must be a [bins][neurons] array`);
  if (m.length === 0) throw new Error(`${fn}: ${field} must not be empty, found 0 bins`);
  const n = Array.isArray(m[0]) ? m[0].length : -1;
  if (n <= 0) {
    throw new Error(
      `${fn}: ${field}[0] must be a non-empty array of neurons, found ${describe(m[0])}`,
    );
  }
  if (shape && (m.length !== shape[0] || n !== shape[1])) {
    throw new Error(
      `${fn}: ${field} must have the shape of counts [${shape[0]}][${
        shape[1]
      }], found [${m.length}][${n}]`,
    );
  }
  m.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== n) {
      throw new Error(
        `${fn}: ${field}[${b}] must have ${n} neurons, found ${describe(row)}`,
      );
    }
    row.forEach((x, j) => {
      if (typeof x !== "number" || !Number.isFinite(x) || x < 0) {
        throw new Error(
          `${fn}: ${field}[${b}][${j}] must be a finite number >= 0, found ${describe(x)}`,
        );
      }
    });
  });
  return [m.length, n];
}

/** Options of {@linkcode rasterChart}. */
export type RasterOptions = ChartOptions;

/**
 * One trial of a `[trials, bins, n]` array (a dataset's counts or true rates, or predicted
 * rates) as the `[bins][n]` nested array {@linkcode rasterChart} takes.
 *
 * @example
 * ```ts
 * import { trialMatrix } from "./mod.ts";
 * const a = { data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), shape: [2, 2, 2] as const };
 * trialMatrix(a, 1); // [[4, 5], [6, 7]]
 * ```
 */
export function trialMatrix(
  array: { readonly data: ArrayLike<number>; readonly shape: readonly number[] },
  trial: number,
): number[][] {
  const [trials, bins, n] = array.shape;
  if (array.shape.length !== 3 || array.data.length !== trials * bins * n) {
    throw new Error(
      `trialMatrix: array must be [trials, bins, n] with trials·bins·n values, found shape [${
        array.shape.join(", ")
      }] and ${array.data.length} values`,
    );
  }
  if (!Number.isInteger(trial) || trial < 0 || trial >= trials) {
    throw new Error(`trialMatrix: trial must be an integer in [0, ${trials - 1}], found ${trial}`);
  }
  return Array.from({ length: bins }, (_, b) => {
    const row = new Array<number>(n);
    for (let j = 0; j < n; j++) row[j] = array.data[(trial * bins + b) * n + j];
    return row;
  });
}

/**
 * Spikes with true and predicted rates for a few neurons (one small panel per neuron): counts
 * per bin as grey points, the true rate as a black line, the predicted rate as an orange line,
 * all in expected counts per bin, time in ms on x.
 *
 * @example
 * ```ts
 * import { rasterChart } from "./mod.ts";
 * const spec = rasterChart({
 *   counts: [[0, 1], [2, 0], [1, 1]],
 *   predRates: [[0.5, 0.8], [1.2, 0.3], [0.9, 0.7]],
 *   binMs: 20,
 * });
 * ```
 */
export function rasterChart(input: RasterInput, opts: RasterOptions = {}): ChartSpec {
  const fn = "rasterChart";
  if (input === null || typeof input !== "object") {
    throw new Error(`${fn}: input must be an object, found ${describe(input)}`);
  }
  const shape = matrix(fn, "counts", input.counts);
  matrix(fn, "predRates", input.predRates, shape);
  if (input.trueRates !== undefined) matrix(fn, "trueRates", input.trueRates, shape);
  const binMs = finite(fn, "binMs", input.binMs);
  if (binMs <= 0) throw new Error(`${fn}: binMs must be > 0, found ${binMs}`);
  const [bins, n] = shape;
  const neurons = input.neurons ?? Array.from({ length: Math.min(4, n) }, (_, i) => i);
  nonEmpty(fn, "neurons", neurons);
  neurons.forEach((j, i) => {
    if (!Number.isInteger(j) || j < 0 || j >= n) {
      throw new Error(
        `${fn}: neurons[${i}] must be an integer neuron index in [0, ${n - 1}], found ${
          describe(j)
        }`,
      );
    }
  });
  if (input.neuronNames !== undefined && input.neuronNames.length !== n) {
    throw new Error(
      `${fn}: neuronNames must name all ${n} neurons, found ${input.neuronNames.length}`,
    );
  }
  const name = (j: number) => input.neuronNames?.[j] ?? `neuron ${j}`;
  const S = "spike count", T = "true rate", P = "predicted rate";
  const rows: { neuron: string; t: number; value: number; series: string }[] = [];
  for (const j of neurons) {
    for (let b = 0; b < bins; b++) {
      const t = (b + 0.5) * binMs;
      rows.push({ neuron: name(j), t, value: input.counts[b][j], series: S });
      if (input.trueRates) {
        rows.push({ neuron: name(j), t, value: input.trueRates[b][j], series: T });
      }
      rows.push({ neuron: name(j), t, value: input.predRates[b][j], series: P });
    }
  }
  const domain = input.trueRates ? [S, T, P] : [S, P];
  const range = input.trueRates
    ? [RASTER_COLORS.spikes, RASTER_COLORS.trueRate, RASTER_COLORS.predRate]
    : [RASTER_COLORS.spikes, RASTER_COLORS.predRate];
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    scale: { domain, range },
  } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title ?? "spikes, true and predicted rates",
    background: "white",
    padding: 10,
    data: { values: rows },
    facet: {
      row: {
        field: "neuron",
        type: "nominal",
        sort: uniques(neurons.map(name)),
        header: { title: null, labelAngle: 0, labelAlign: "left" },
      },
    },
    spec: {
      width: size(fn, "width", opts.width, 420),
      height: size(fn, "height", opts.height, 70),
      layer: [
        {
          transform: [{ filter: `datum.series === "${S}"` }],
          mark: { type: "point", filled: true, size: 18, opacity: 0.8 },
          encoding: {
            x: {
              field: "t",
              type: "quantitative",
              title: "time (ms)",
              scale: { domain: [0, bins * binMs] },
            },
            y: { field: "value", type: "quantitative", title: "spikes / bin" },
            color,
          },
        },
        {
          transform: [{ filter: `datum.series !== "${S}"` }],
          mark: { type: "line", strokeWidth: 1.6 },
          encoding: {
            x: { field: "t", type: "quantitative" },
            y: { field: "value", type: "quantitative" },
            color,
            detail: { field: "series", type: "nominal" },
          },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  } as unknown as ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// firing rates

/** One bar of {@linkcode firingRateChart}. */
export interface FiringRateRow {
  /** LIF site, e.g. `"layer0.attn.q"` (x axis, in first-appearance order). */
  site: string;
  /** Firing rate: spikes per neuron per timestep, in [0, 1]. */
  rate: number;
  /** Mode (grouping, with `model`). */
  mode?: string;
  /** Model (grouping, with `mode`). */
  model?: string;
}

/** Options of {@linkcode firingRateChart}. */
export type FiringRateOptions = ChartOptions;

/**
 * Firing rate per LIF site: one bar per site (grouped side by side when rows carry several
 * model/mode series), sites in first-appearance order.
 *
 * @example
 * ```ts
 * import { firingRateChart } from "./mod.ts";
 * const spec = firingRateChart([
 *   { site: "layer0.attn", rate: 0.12 },
 *   { site: "layer0.mlp", rate: 0.08 },
 * ]);
 * ```
 */
export function firingRateChart(
  rows: readonly FiringRateRow[],
  opts: FiringRateOptions = {},
): ChartSpec {
  const fn = "firingRateChart";
  nonEmpty(fn, "rows", rows);
  const data = rows.map((r, i) => {
    const site = text(fn, `rows[${i}].site`, r.site);
    const rate = finite(fn, `rows[${i}].rate`, r.rate);
    if (rate < 0 || rate > 1) {
      throw new Error(
        `${fn}: rows[${i}].rate must be in [0, 1] (spikes per neuron per step), found ${rate}`,
      );
    }
    if (r.model !== undefined) text(fn, `rows[${i}].model`, r.model);
    if (r.mode !== undefined) text(fn, `rows[${i}].mode`, r.mode);
    const series = [r.model, r.mode].filter((x) => x !== undefined).join(" · ") || "rate";
    return { site, rate, series };
  });
  const sites = uniques(data.map((r) => r.site));
  const series = uniques(data.map((r) => r.series));
  const grouped = series.length > 1;
  const width = size(
    fn,
    "width",
    opts.width,
    Math.max(240, sites.length * (grouped ? 22 * series.length : 26)),
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title ?? "firing rate per site",
    background: "white",
    padding: 10,
    width,
    height: size(fn, "height", opts.height, 240),
    data: { values: data },
    mark: { type: "bar" },
    encoding: {
      x: {
        field: "site",
        type: "nominal",
        sort: sites,
        title: "site",
        axis: { labelAngle: -45, labelLimit: 200 },
      },
      y: { field: "rate", type: "quantitative", title: "firing rate (spikes / neuron / step)" },
      ...(grouped
        ? {
          color: { field: "series", type: "nominal", title: null, sort: series },
          xOffset: { field: "series", type: "nominal", sort: series },
        }
        : { color: { value: "#4c78a8" } }),
      tooltip: [
        { field: "site", type: "nominal" },
        { field: "series", type: "nominal" },
        { field: "rate", type: "quantitative", format: ".4f" },
      ],
    },
  } as unknown as ChartSpec;
}

// ---------------------------------------------------------------------------------------------
// text metrics
//
// Headless vega has no canvas to measure text, and its fallback estimate (0.8 em per character)
// is far too wide: long axis titles then push the plot away from its title and axis. vega lets a
// user-defined `textMetrics.width` replace it (as vl-convert does); we measure with the advance
// widths of the font the PNG is drawn with (DejaVu Sans, read from its TTF `cmap`/`hmtx`), or, when
// the font file is missing, 0.6 em per character (DejaVu's average).

interface FontWidths {
  /** Advance width in em of a UTF-16 code unit (NaN: not in the font). */
  em(code: number): number;
}

function parseTtfWidths(bytes: Uint8Array): FontWidths {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tables = new Map<string, number>();
  const n = v.getUint16(4);
  for (let i = 0; i < n; i++) {
    const rec = 12 + 16 * i;
    const tag = String.fromCharCode(...bytes.subarray(rec, rec + 4));
    tables.set(tag, v.getUint32(rec + 8));
  }
  const head = tables.get("head"), hhea = tables.get("hhea");
  const hmtx = tables.get("hmtx"), cmap = tables.get("cmap");
  if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined) {
    throw new Error("not a TrueType font with head, hhea, hmtx and cmap tables");
  }
  const unitsPerEm = v.getUint16(head + 18);
  const nMetrics = v.getUint16(hhea + 34);
  let sub = -1;
  for (let i = 0, m = v.getUint16(cmap + 2); i < m; i++) {
    const rec = cmap + 4 + 8 * i;
    const platform = v.getUint16(rec), encoding = v.getUint16(rec + 2);
    const off = cmap + v.getUint32(rec + 4);
    if (v.getUint16(off) === 4 && (platform === 3 && encoding === 1 || platform === 0)) sub = off;
  }
  if (sub < 0) throw new Error("no Unicode BMP (format 4) cmap subtable");
  const segs = v.getUint16(sub + 6) / 2;
  const ends = sub + 14, starts = ends + 2 * segs + 2;
  const deltas = starts + 2 * segs, ranges = deltas + 2 * segs;
  const glyph = (c: number): number => {
    for (let s = 0; s < segs; s++) {
      if (v.getUint16(ends + 2 * s) < c) continue;
      const start = v.getUint16(starts + 2 * s);
      if (start > c) return 0;
      const delta = v.getInt16(deltas + 2 * s);
      const ro = v.getUint16(ranges + 2 * s);
      if (ro === 0) return (c + delta) & 0xffff;
      const g = v.getUint16(ranges + 2 * s + ro + 2 * (c - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };
  const cache = new Map<number, number>();
  return {
    em(code: number): number {
      let w = cache.get(code);
      if (w === undefined) {
        const g = glyph(code);
        w = g === 0 ? NaN : v.getUint16(hmtx + 4 * Math.min(g, nMetrics - 1)) / unitsPerEm;
        cache.set(code, w);
      }
      return w;
    },
  };
}

const ESTIMATE_EM = 0.6;
let metricsReady: Promise<void> | undefined;

function isBold(weight: unknown): boolean {
  return weight === "bold" || weight === "bolder" ||
    (typeof weight === "number" && weight >= 600) ||
    (typeof weight === "string" && Number(weight) >= 600);
}

function installTextMetrics(): Promise<void> {
  metricsReady ??= (async () => {
    const load = async (path: string) => {
      try {
        return parseTtfWidths(await Deno.readFile(path));
      } catch {
        return undefined;
      }
    };
    const [regular, bold] = await Promise.all(DEFAULT_FONT_FILES.map(load));
    const measure = (text: string, size: number, heavy: boolean): number => {
      const font = heavy ? bold ?? regular : regular;
      let em = 0;
      for (let i = 0; i < text.length; i++) {
        const w = font ? font.em(text.charCodeAt(i)) : NaN;
        em += Number.isNaN(w) ? ESTIMATE_EM : w;
      }
      return em * size;
    };
    type TextItem = { fontSize?: number; fontWeight?: unknown; limit?: number };
    const metrics = (vega as unknown as {
      textMetrics: { width: (item: TextItem, text: unknown) => number };
    }).textMetrics;
    metrics.width = (item: TextItem, text: unknown): number => {
      const size = item.fontSize != null ? +item.fontSize || 0 : 11;
      const t = text == null ? "" : String(text).trim();
      return size <= 0 ? 0 : measure(t, size, isBold(item.fontWeight));
    };
  })();
  return metricsReady;
}

// ---------------------------------------------------------------------------------------------
// rendering

/**
 * Compile a Vega-Lite spec and render it to an SVG string, headless (no canvas, no browser).
 * A spec that does not compile throws, with Vega-Lite's message.
 *
 * @example
 * ```ts
 * import { firingRateChart, renderSvg } from "./mod.ts";
 * const svg = await renderSvg(firingRateChart([{ site: "a", rate: 0.1 }]));
 * svg.startsWith("<svg"); // true
 * ```
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  await installTextMetrics();
  let compiled: vega.Spec;
  try {
    // vega tags inline data rows in place (Symbol(vega_id)): render a copy, keep the spec clean
    compiled = vl.compile(structuredClone(spec)).spec;
  } catch (err) {
    throw new Error(`renderSvg: the Vega-Lite spec does not compile: ${(err as Error).message}`);
  }
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Options of {@linkcode renderPng} and {@linkcode svgToPng}. */
export interface PngOptions {
  /** Zoom factor: the PNG is `scale ×` the SVG's size (default 2). */
  scale?: number;
  /** Font files (TTF/OTF) to draw text with (default DejaVu Sans at its Debian paths). */
  fontFiles?: readonly string[];
}

/**
 * Where {@linkcode svgToPng} looks for fonts when `fontFiles` is not given (Debian's
 * `fonts-dejavu-core`); text layout uses the same files' glyph widths.
 *
 * @example
 * ```ts
 * import { DEFAULT_FONT_FILES } from "./mod.ts";
 * DEFAULT_FONT_FILES[0]; // "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
 * ```
 */
export const DEFAULT_FONT_FILES: readonly string[] = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
];

let wasmReady: Promise<void> | undefined;
const fontCache = new Map<string, Uint8Array>();

function resvgReady(): Promise<void> {
  if (!wasmReady) {
    wasmReady = (async () => {
      const path = createRequire(import.meta.url).resolve("@resvg/resvg-wasm/index_bg.wasm");
      await initWasm(await Deno.readFile(path));
    })();
    wasmReady.catch(() => (wasmReady = undefined));
  }
  return wasmReady;
}

async function loadFonts(files: readonly string[] | undefined): Promise<Uint8Array[]> {
  const explicit = files !== undefined;
  const list = files ?? DEFAULT_FONT_FILES;
  const out: Uint8Array[] = [];
  for (const f of list) {
    let bytes = fontCache.get(f);
    if (!bytes) {
      try {
        bytes = await Deno.readFile(f);
      } catch (err) {
        if (explicit) {
          throw new Error(`svgToPng: cannot read font file ${f}: ${(err as Error).message}`);
        }
        continue;
      }
      fontCache.set(f, bytes);
    }
    out.push(bytes);
  }
  if (out.length === 0) {
    throw new Error(
      `svgToPng: no font file found (looked for ${list.join(", ")}); without one every label ` +
        `would silently vanish from the PNG. Install the Debian package fonts-dejavu-core or pass fontFiles`,
    );
  }
  return out;
}

/**
 * Rasterise an SVG string to PNG bytes with resvg (WASM), `scale ×` its size, on white.
 *
 * @example
 * ```ts
 * import { svgToPng } from "./mod.ts";
 * const png = await svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
 * ```
 */
export async function svgToPng(svg: string, opts: PngOptions = {}): Promise<Uint8Array> {
  const scale = opts.scale ?? 2;
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new Error(`svgToPng: option scale must be a positive number, found ${describe(scale)}`);
  }
  const [fontBuffers] = await Promise.all([loadFonts(opts.fontFiles), resvgReady()]);
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    font: {
      fontBuffers,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
  try {
    const img = r.render();
    try {
      return img.asPng();
    } finally {
      img.free();
    }
  } finally {
    r.free();
  }
}

/**
 * Render a Vega-Lite spec to PNG bytes (via {@linkcode renderSvg} and {@linkcode svgToPng}).
 *
 * @example
 * ```ts
 * import { firingRateChart, renderPng } from "./mod.ts";
 * const png = await renderPng(firingRateChart([{ site: "a", rate: 0.1 }]), { scale: 2 });
 * ```
 */
export async function renderPng(spec: ChartSpec, opts: PngOptions = {}): Promise<Uint8Array> {
  return await svgToPng(await renderSvg(spec), opts);
}

/** File formats {@linkcode saveFigure} writes: `"json"` is the Vega-Lite spec (`.vl.json`). */
export type FigureFormat = "svg" | "png" | "json";

/** Options of {@linkcode saveFigure}. */
export interface SaveFigureOptions extends PngOptions {
  /** Formats to write (default `["svg", "png"]`). */
  formats?: readonly FigureFormat[];
}

/**
 * Render `spec` and write `<path>.svg`, `<path>.png` and/or `<path>.vl.json` atomically,
 * creating the folder. Returns the paths written.
 *
 * @example
 * ```ts
 * import { firingRateChart, saveFigure } from "./mod.ts";
 * const files = await saveFigure(firingRateChart([{ site: "a", rate: 0.1 }]), "/tmp/rates");
 * // ["/tmp/rates.svg", "/tmp/rates.png"]
 * ```
 */
export async function saveFigure(
  spec: ChartSpec,
  path: string,
  opts: SaveFigureOptions = {},
): Promise<string[]> {
  const formats = opts.formats ?? ["svg", "png"];
  for (const f of formats) {
    if (f !== "svg" && f !== "png" && f !== "json") {
      throw new Error(`saveFigure: formats must be "svg", "png" or "json", found ${describe(f)}`);
    }
  }
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  const svg = formats.some((f) => f !== "json") ? await renderSvg(spec) : "";
  const written: string[] = [];
  for (const f of formats) {
    if (f === "svg") {
      await writeFileAtomic(`${path}.svg`, svg);
      written.push(`${path}.svg`);
    } else if (f === "png") {
      await writeFileAtomic(`${path}.png`, await svgToPng(svg, opts));
      written.push(`${path}.png`);
    } else {
      await writeFileAtomic(`${path}.vl.json`, JSON.stringify(spec, null, 2) + "\n");
      written.push(`${path}.vl.json`);
    }
  }
  return written;
}

// ---------------------------------------------------------------------------------------------
// Jupyter

/**
 * The symbol Deno's Jupyter kernel looks for on a cell's result (`Symbol.for("Jupyter.display")`).
 *
 * @example
 * ```ts
 * import { figure, firingRateChart, JUPYTER_DISPLAY } from "./mod.ts";
 * const fig = await figure(firingRateChart([{ site: "a", rate: 0.1 }]));
 * Object.keys(fig[JUPYTER_DISPLAY]()); // ["image/svg+xml", "text/plain"]
 * ```
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A MIME bundle, e.g. `{ "image/svg+xml": svg, "text/plain": title }`. */
export type MimeBundle = Record<string, string>;

/** A rendered chart that displays itself inline when it is a notebook cell's result. */
export interface Figure {
  /** The Vega-Lite spec. */
  readonly spec: ChartSpec;
  /** Rendered SVG. */
  readonly svg: string;
  /** Rendered PNG, when asked for. */
  readonly png?: Uint8Array;
  /** The MIME bundle Deno's Jupyter kernel displays. */
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** Options of {@linkcode figure}. */
export interface FigureOptions extends PngOptions {
  /** Also render a PNG and put it in the bundle as `image/png` (default false). */
  png?: boolean;
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * Render a chart for a notebook: `await figure(spec)` as the last expression of a Deno Jupyter
 * cell shows the SVG inline (MIME bundle `image/svg+xml` + `text/plain`, and `image/png` with
 * `png: true`). Outside Jupyter it is a plain object holding the spec and the SVG.
 *
 * @example
 * ```ts
 * import { figure, firingRateChart } from "./mod.ts";
 * const fig = await figure(firingRateChart([{ site: "a", rate: 0.1 }]));
 * fig.svg.length > 0; // true
 * ```
 */
export async function figure(spec: ChartSpec, opts: FigureOptions = {}): Promise<Figure> {
  const svg = await renderSvg(spec);
  const png = opts.png ? await svgToPng(svg, opts) : undefined;
  const title = typeof spec.title === "string" ? spec.title : "chart";
  return {
    spec,
    svg,
    png,
    [JUPYTER_DISPLAY](): MimeBundle {
      const bundle: MimeBundle = { "image/svg+xml": svg, "text/plain": `[figure: ${title}]` };
      if (png) bundle["image/png"] = base64(png);
      return bundle;
    },
  };
}

/** Options of {@linkcode show}. */
export interface ShowOptions extends FigureOptions {
  /**
   * Milliseconds to wait after the output is sent (default 100). Deno's kernel (2.9) can publish
   * a cell's outputs after it reports the cell finished, and headless runners (nbconvert) then
   * drop them; waiting a moment before the cell ends keeps them (measured: 0 of 60 lost with 50
   * ms, versus up to a third lost without).
   */
  settleMs?: number;
}

interface JupyterApi {
  display(obj: unknown, opts?: { raw?: boolean }): Promise<void>;
}

function jupyterApi(): JupyterApi | undefined {
  try {
    // Deno.jupyter exists only under `deno jupyter`; elsewhere even reading it throws.
    return (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
  } catch {
    return undefined;
  }
}

function isFigure(x: unknown): x is Figure {
  return typeof x === "object" && x !== null &&
    typeof (x as Figure)[JUPYTER_DISPLAY] === "function";
}

/**
 * Show a chart (spec or {@linkcode Figure}) or a Markdown string in a Deno Jupyter notebook, and
 * wait until the output is safely out (see {@linkcode ShowOptions.settleMs}): `await show(spec)`
 * is the reliable way for notebooks that are executed headlessly. Outside Jupyter it prints the
 * text (a Markdown string, or `[figure: title]`) to stdout.
 *
 * @example
 * ```ts
 * import { firingRateChart, show } from "./mod.ts";
 * await show("**firing rates**");
 * await show(firingRateChart([{ site: "a", rate: 0.1 }]));
 * ```
 */
export async function show(
  content: ChartSpec | Figure | string,
  opts: ShowOptions = {},
): Promise<void> {
  let bundle: MimeBundle;
  if (typeof content === "string") {
    bundle = { "text/markdown": content, "text/plain": content };
  } else if (isFigure(content)) {
    bundle = content[JUPYTER_DISPLAY]();
  } else if (typeof content === "object" && content !== null) {
    bundle = (await figure(content, opts))[JUPYTER_DISPLAY]();
  } else {
    throw new Error(
      `show: content must be a chart spec, a figure or a string, found ${describe(content)}`,
    );
  }
  const jupyter = jupyterApi();
  if (!jupyter) {
    console.log(bundle["text/plain"]);
    return;
  }
  await jupyter.display(bundle, { raw: true });
  const ms = opts.settleMs ?? 100;
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}
