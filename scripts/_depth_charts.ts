/**
 * The depth experiment's figures (`scripts/depth.ts`): co-bps against depth, and per-block
 * quantities (gradient norms, firing rates) at initialisation and after training.
 *
 * @module
 */
import type { ChartSpec } from "../lib/figures/charts.ts";

/**
 * A Vega-Lite chart of `rows`, one panel per facet value, each with its own y scale (gradient
 * norms differ by orders of magnitude between runs).
 */
function faceted(title: string, rows: unknown[], facet: object, spec: object): ChartSpec {
  const schema = "https://vega.github.io/schema/vega-lite/v6.json";
  const [data, resolve] = [{ values: rows }, { scale: { y: "independent" } }];
  return {
    $schema: schema,
    background: "white",
    padding: 10,
    title,
    data,
    facet,
    spec,
    resolve,
  } as never;
}

/** co-bps (test split, mean ± sd over seeds) against depth: one panel per evaluated mode. */
export function coBpsChart(rows: Record<string, unknown>[], depths: number[]): ChartSpec {
  const axis = { values: depths, format: "d" };
  const x = { field: "depth", type: "quantitative", title: "blocks", scale: { type: "log" }, axis };
  const color = { field: "series", type: "nominal", title: "schedule · residual" };
  const y = { field: "mean", type: "quantitative", title: "co-bps" };
  return faceted("co-bps (test) against depth", rows, {
    column: { field: "mode", type: "nominal", title: "evaluated in" },
  }, {
    width: 280,
    height: 220,
    layer: [
      { mark: { type: "line", point: true }, encoding: { x, y, color } },
      {
        mark: "rule",
        encoding: { x, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" }, color },
      },
    ],
  });
}

/** A per-block quantity at init and after training: rows by run, columns by `column`. */
export function perBlockChart(
  rows: Record<string, unknown>[],
  opts: { title: string; column: string; yTitle: string; log: boolean },
): ChartSpec {
  const y = { field: "value", type: "quantitative", title: opts.yTitle };
  return faceted(opts.title, rows, {
    row: { field: "series", type: "nominal", title: null },
    column: { field: opts.column, type: "nominal", title: null },
  }, {
    width: 260,
    height: 140,
    mark: { type: "line", point: { size: 12 } },
    encoding: {
      x: { field: "block", type: "quantitative", title: "block", axis: { tickMinStep: 1 } },
      y: opts.log ? { ...y, scale: { type: "log" } } : y,
      color: { field: "when", type: "nominal", title: null, sort: ["at init", "after training"] },
    },
  });
}
