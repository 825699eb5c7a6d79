/**
 * Vega-Lite charts of neural activity: {@linkcode rasterChart} (spike counts of a few neurons
 * with true and predicted rates, unknown neurons refused) and {@linkcode firingRateChart} (firing
 * rate per LIF site), plus {@linkcode trialMatrix} to cut one trial out of a `[trials, bins, n]`
 * array.
 *
 * @module
 */
import type { ChartOptions, ChartSpec } from "./charts.ts";
import { describe, finite, nonEmpty, size, text, uniques } from "./chart_checks.ts";
import { modelColor, modelColorScale } from "./style.ts";

/**
 * Line and point colours of {@linkcode rasterChart}.
 *
 * @example
 * ```ts
 * import { RASTER_COLORS } from "@hest/hest";
 * RASTER_COLORS.predRate; // "#e6550d"
 * ```
 */
export const RASTER_COLORS: Readonly<Record<"spikes" | "trueRate" | "predRate", string>> = {
  spikes: "#9e9e9e",
  trueRate: "#000000",
  predRate: "#e6550d",
};

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
 * import { trialMatrix } from "@hest/hest";
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
 * import { rasterChart } from "@hest/hest";
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
 * model/mode series), sites in first-appearance order. Grouped bars are coloured by model (the
 * model's colour in every chart, see `modelColor`) and, when the rows carry several modes,
 * shaded by mode (opacity), since colour stands for the model alone.
 *
 * @example
 * ```ts
 * import { firingRateChart } from "@hest/hest";
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
    return { site, rate, series, model: r.model ?? "–", mode: r.mode ?? "–" };
  });
  const sites = uniques(data.map((r) => r.site));
  const series = uniques(data.map((r) => r.series));
  const models = uniques(data.map((r) => r.model));
  const modes = uniques(data.map((r) => r.mode));
  const grouped = series.length > 1;
  const byModel = models.length > 1 || models[0] !== "–";
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
      // one model: its colour; several: one colour each; none named: a neutral blue
      color: models.length > 1
        ? {
          field: "model",
          type: "nominal",
          title: "model",
          sort: models,
          scale: modelColorScale(models),
        }
        : { value: byModel ? modelColor(models[0]) : "#4c78a8" },
      ...(grouped && modes.length > 1
        ? {
          opacity: {
            field: "mode",
            type: "nominal",
            title: "mode",
            sort: modes,
            scale: { domain: modes, range: modes.map((_, i) => 1 - 0.55 * i / (modes.length - 1)) },
          },
        }
        : {}),
      ...(grouped ? { xOffset: { field: "series", type: "nominal", sort: series } } : {}),
      tooltip: [
        { field: "site", type: "nominal" },
        { field: "model", type: "nominal" },
        { field: "mode", type: "nominal" },
        { field: "rate", type: "quantitative", format: ".4f" },
      ],
    },
  } as unknown as ChartSpec;
}
