/**
 * Accuracy against training wall time: {@linkcode coBpsTimeChart} draws co-bps over the seconds
 * a model trained, so models that train at different speeds are compared at equal time (a peer's
 * snapshots as a line per run, each finished run as a point, the oracle as a dashed rule).
 *
 * @module
 */
import type { ChartOptions, ChartSpec } from "./charts.ts";
import { finite, nonEmpty, size, text, uniques } from "./chart_checks.ts";
import { modelColorScale } from "./style.ts";

/** One point of {@linkcode coBpsTimeChart}. */
export interface TimePoint {
  /** Model name (colour, the house colour of a named model). */
  model: string;
  /** Mode (point shape). */
  mode: string;
  /** Training wall time, seconds. */
  seconds: number;
  /** co-bps (test split). */
  coBps: number;
  /**
   * Run the point belongs to: points of one model and series are joined by a line in time order
   * (a run scored at several times). Without it the point stands alone.
   */
  series?: string;
}

/** Options of {@linkcode coBpsTimeChart}. */
export interface TimeChartOptions extends ChartOptions {
  /** Oracle co-bps (the true rates' score), drawn as a dashed horizontal rule. */
  oracle?: number;
}

/**
 * co-bps against training wall time: colour by model, shape by mode; points that share a
 * `series` are joined in time order (a peer scored every two minutes), others stand alone (a
 * finished run with its budget); an optional dashed rule marks the oracle.
 *
 * @example
 * ```ts
 * import { coBpsTimeChart } from "@hest/hest";
 * const spec = coBpsTimeChart([
 *   { model: "NDT reference code", mode: "standard", seconds: 120, coBps: 0.55, series: "seed 100" },
 *   { model: "NDT reference code", mode: "standard", seconds: 240, coBps: 0.71, series: "seed 100" },
 *   { model: "hybrid", mode: "spiking", seconds: 400, coBps: 0.72 },
 * ], { oracle: 0.824 });
 * ```
 */
export function coBpsTimeChart(
  points: readonly TimePoint[],
  opts: TimeChartOptions = {},
): ChartSpec {
  const fn = "coBpsTimeChart";
  nonEmpty(fn, "points", points);
  const rows = points.map((p, i) => {
    const seconds = finite(fn, `points[${i}].seconds`, p.seconds);
    if (seconds < 0) throw new Error(`${fn}: points[${i}].seconds must be >= 0, found ${seconds}`);
    const model = text(fn, `points[${i}].model`, p.model);
    return {
      model,
      mode: text(fn, `points[${i}].mode`, p.mode),
      seconds,
      coBps: finite(fn, `points[${i}].coBps`, p.coBps),
      line: p.series === undefined
        ? null
        : `${model} · ${text(fn, `points[${i}].series`, p.series)}`,
    };
  });
  const oracle = opts.oracle === undefined ? undefined : finite(fn, "oracle", opts.oracle);
  const models = uniques(rows.map((r) => r.model));
  const color = {
    field: "model",
    type: "nominal",
    title: "model",
    sort: models,
    scale: modelColorScale(models),
  } as const;
  const x = { field: "seconds", type: "quantitative", title: "training wall time (s)" } as const;
  const y = {
    field: "coBps",
    type: "quantitative",
    title: "co-bps (test split)",
    scale: { zero: false },
  } as const;
  const layer: Record<string, unknown>[] = [
    {
      transform: [{ filter: "datum.line !== null" }],
      mark: { type: "line", strokeWidth: 1.5, opacity: 0.8 },
      encoding: {
        x,
        y,
        color,
        detail: { field: "line", type: "nominal" },
        order: { field: "seconds" },
      },
    },
    {
      mark: { type: "point", filled: true, size: 70, opacity: 1 },
      encoding: {
        x,
        y,
        color,
        shape: {
          field: "mode",
          type: "nominal",
          title: "mode",
          sort: uniques(rows.map((r) => r.mode)),
        },
        tooltip: [
          { field: "model", type: "nominal" },
          { field: "mode", type: "nominal" },
          { field: "seconds", type: "quantitative", format: ".0f" },
          { field: "coBps", type: "quantitative", format: ".4f" },
        ],
      },
    },
  ];
  if (oracle !== undefined) {
    layer.push({
      data: { values: [{ oracle, label: `oracle ${oracle.toFixed(3)}` }] },
      layer: [
        {
          mark: { type: "rule", strokeDash: [5, 4], color: "#444" },
          encoding: { y: { field: "oracle", type: "quantitative" } },
        },
        {
          mark: { type: "text", align: "left", dx: 4, dy: -6, color: "#444", fontSize: 10 },
          encoding: {
            y: { field: "oracle", type: "quantitative" },
            x: { value: 0 },
            text: { field: "label", type: "nominal" },
          },
        },
      ],
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: opts.title ?? "co-bps against training time",
    background: "white",
    padding: 10,
    config: { legend: { orient: "bottom", direction: "horizontal" } },
    width: size(fn, "width", opts.width, 460),
    height: size(fn, "height", opts.height, 300),
    data: { values: rows },
    layer,
  } as unknown as ChartSpec;
}
