/**
 * The depth experiment's results (`deno task depth`, `results/depth/results.json`): a validating
 * loader and its figures — co-bps against depth per schedule and residual form, and per-block
 * gradient norms and firing at initialisation and after training.
 *
 * @module
 */
import type { ChartSpec } from "./charts.ts";
import { Reader, readJson } from "./_results_reader.ts";
import type { StatSummary } from "./report.ts";

const MODES = ["standard", "spiking"] as const;

/** One trained configuration of the depth experiment, scored in one mode (test split). */
export interface DepthSummaryRow {
  /** Blocks. */
  depth: number;
  /** Training schedule: `standard`, `spiking` or `alternate`. */
  schedule: string;
  /** Spiking residual form (`add`, `membrane`, `plain`, …), or `standard` for the standard schedule. */
  form: string;
  /** The mode the model was evaluated in. */
  mode: "standard" | "spiking";
  /** Test co-bps over seeds. */
  coBps: StatSummary;
}

/** Per-block diagnostics of one run and trained mode, at initialisation or at the end. */
export interface DepthBlockRecord {
  depth: number;
  schedule: string;
  form: string;
  seed: number;
  /** The mode of the training steps the record was taken in. */
  mode: "standard" | "spiking";
  /** `init`: step 0; `final`: the last diagnostics record of the run. */
  when: "init" | "final";
  /** Global gradient norm per block (NaN: not finite). */
  gradNorms: number[];
  /** Spiking steps: spikes per neuron per timestep, per block. */
  firingRates?: number[];
  /** Spiking steps: fraction of each block's channels that never fired on the batch. */
  deadFraction?: number[];
}

/** The validated content of a depth results file (the fields the figures use). */
export interface DepthResults {
  kind: "depth";
  /** The command that wrote the file. */
  command: string;
  /** Depths trained. */
  depths: number[];
  /** Seeds trained. */
  seeds: number[];
  /** Optimiser steps of every run. */
  steps: number;
  /** Model width. */
  width: number;
  /** Label of each residual form in figures (the form's name where the file has none). */
  formLabels: Record<string, string>;
  /** co-bps per configuration and evaluated mode. */
  summary: DepthSummaryRow[];
  /** Per-block diagnostics per run. */
  gradients: DepthBlockRecord[];
}

/**
 * Validate parsed JSON as {@linkcode DepthResults}; errors name `source` and the field.
 *
 * @example
 * ```ts
 * import { parseDepthResults } from "@hest/hest";
 * const r = parseDepthResults({
 *   kind: "depth", command: "deno task depth",
 *   settings: { depths: [4], seeds: [0], steps: 10, width: 32 },
 *   summary: [{ depth: 4, schedule: "standard", form: "standard", mode: "standard",
 *     coBps: { mean: 0.3, sd: 0, values: [0.3] } }],
 *   gradients: [],
 * });
 * r.summary[0].coBps.mean; // 0.3
 * ```
 */
export function parseDepthResults(json: unknown, source = "depth results"): DepthResults {
  const r = new Reader(source);
  const o = r.object("the file", json);
  r.oneOf("kind", r.field("", o, "kind"), ["depth"]);
  const s = r.object("settings", r.field("", o, "settings"));
  const numbers = (path: string, v: unknown) =>
    r.array(path, v).map((x, i) => r.number(`${path}[${i}]`, x));
  const formLabels: Record<string, string> = {};
  if (s.formLabels !== undefined) {
    for (const [k, v] of Object.entries(r.object("settings.formLabels", s.formLabels))) {
      formLabels[k] = r.string(`settings.formLabels.${k}`, v);
    }
  }
  const summary = r.array("summary", r.field("", o, "summary")).map((x, i) => {
    const p = `summary[${i}]`;
    const ro = r.object(p, x);
    return {
      depth: r.number(`${p}.depth`, r.field(p, ro, "depth")),
      schedule: r.string(`${p}.schedule`, r.field(p, ro, "schedule")),
      form: r.string(`${p}.form`, r.field(p, ro, "form")),
      mode: r.oneOf(`${p}.mode`, r.field(p, ro, "mode"), MODES),
      coBps: r.stat(`${p}.coBps`, r.field(p, ro, "coBps")),
    };
  });
  const gradients = r.array("gradients", r.field("", o, "gradients")).map((x, i) => {
    const p = `gradients[${i}]`;
    const g = r.object(p, x);
    const when = r.oneOf(`${p}.when`, r.field(p, g, "when"), ["init", "final"]);
    const rec: DepthBlockRecord = {
      depth: r.number(`${p}.depth`, r.field(p, g, "depth")),
      schedule: r.string(`${p}.schedule`, r.field(p, g, "schedule")),
      form: r.string(`${p}.form`, r.field(p, g, "form")),
      seed: r.number(`${p}.seed`, r.field(p, g, "seed")),
      mode: r.oneOf(`${p}.mode`, r.field(p, g, "mode"), MODES),
      when,
      gradNorms: numbers(`${p}.gradNorms`, r.field(p, g, "gradNorms")),
    };
    if (g.firingRates !== undefined) {
      rec.firingRates = numbers(`${p}.firingRates`, g.firingRates);
    }
    if (g.deadFraction !== undefined) {
      rec.deadFraction = numbers(`${p}.deadFraction`, g.deadFraction);
    }
    return rec;
  });
  return {
    kind: "depth",
    command: r.string("command", r.field("", o, "command")),
    depths: numbers("settings.depths", r.field("settings", s, "depths")),
    seeds: numbers("settings.seeds", r.field("settings", s, "seeds")),
    steps: r.number("settings.steps", r.field("settings", s, "steps")),
    width: r.number("settings.width", r.field("settings", s, "width")),
    formLabels,
    summary,
    gradients,
  };
}

/**
 * Read and validate a depth results file. A missing file throws `Deno.errors.NotFound`.
 *
 * @example
 * ```ts
 * import { loadDepthResults } from "@hest/hest";
 * const results = await loadDepthResults("results/depth/results.json");
 * ```
 */
export async function loadDepthResults(path: string): Promise<DepthResults> {
  return parseDepthResults(await readJson(path), path);
}

/** Legend label of a schedule and residual form. */
function seriesLabel(results: DepthResults, schedule: string, form: string): string {
  return schedule === "standard" ? "standard" : `${schedule} · ${results.formLabels[form] ?? form}`;
}

/**
 * A Vega-Lite chart of `rows`, one panel per facet value, each with its own y scale (gradient
 * norms differ by orders of magnitude between runs).
 */
function faceted(title: string, rows: unknown[], facet: object, spec: object): ChartSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    padding: 10,
    title,
    data: { values: rows },
    facet,
    spec,
    resolve: { scale: { y: "independent" } },
  } as never;
}

/**
 * co-bps on the test split (mean ± sd over seeds) against depth, one line per schedule and
 * residual form, one panel per evaluated mode; `null` when no configuration has a finite score.
 *
 * @example
 * ```ts
 * import { depthCoBpsChart, loadDepthResults, show } from "@hest/hest";
 * const spec = depthCoBpsChart(await loadDepthResults("results/depth/results.json"));
 * if (spec) await show(spec);
 * ```
 */
export function depthCoBpsChart(results: DepthResults): ChartSpec | null {
  const rows = results.summary.filter((r) => Number.isFinite(r.coBps.mean)).map((r) => {
    const sd = Number.isFinite(r.coBps.sd) ? r.coBps.sd : 0;
    return {
      depth: r.depth,
      mode: r.mode,
      series: seriesLabel(results, r.schedule, r.form),
      mean: r.coBps.mean,
      lo: r.coBps.mean - sd,
      hi: r.coBps.mean + sd,
    };
  });
  if (rows.length === 0) return null;
  const axis = { values: [...results.depths].sort((a, b) => a - b), format: "d" };
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

/** Which per-block quantity {@linkcode depthBlockChart} draws. */
export type DepthBlockQuantity = "gradNorms" | "firing";

/** Options of {@linkcode depthBlockChart}. */
export interface DepthBlockChartOptions {
  /** Blocks of the runs drawn (default: the deepest depth trained). */
  depth?: number;
  /** Seed of the runs drawn (default: the first seed). */
  seed?: number;
}

/**
 * A per-block quantity at initialisation and after training, for every run of one depth and
 * seed: a row of panels per schedule and residual form. `gradNorms`: the gradient norm per block
 * (log scale), a column per trained mode; `firing`: the firing rate and dead-channel fraction
 * per block in spiking steps. `null` when the results hold no such values.
 *
 * @example
 * ```ts
 * import { depthBlockChart, loadDepthResults, show } from "@hest/hest";
 * const results = await loadDepthResults("results/depth/results.json");
 * const spec = depthBlockChart(results, "gradNorms");
 * if (spec) await show(spec);
 * ```
 */
export function depthBlockChart(
  results: DepthResults,
  quantity: DepthBlockQuantity,
  opts: DepthBlockChartOptions = {},
): ChartSpec | null {
  const depth = opts.depth ?? Math.max(...results.depths);
  const seed = opts.seed ?? results.seeds[0];
  const recs = results.gradients.filter((g) => g.depth === depth && g.seed === seed);
  const rowsOf = (field: "gradNorms" | "firingRates" | "deadFraction", metric: string) =>
    recs.flatMap((g) =>
      (g[field] ?? []).flatMap((value, block) =>
        Number.isFinite(value) && (field !== "gradNorms" || value > 0)
          ? [{
            block,
            value,
            when: g.when === "init" ? "at init" : "after training",
            mode: `${g.mode} steps`,
            metric,
            series: seriesLabel(results, g.schedule, g.form),
          }]
          : []
      )
    );
  const log = quantity === "gradNorms";
  const rows = log
    ? rowsOf("gradNorms", "gradient norm")
    : [...rowsOf("firingRates", "firing rate"), ...rowsOf("deadFraction", "dead fraction")];
  if (rows.length === 0) return null;
  const title = log
    ? `per-block gradient norm, ${depth} blocks (seed ${seed})`
    : `per-block firing, spiking steps, ${depth} blocks (seed ${seed})`;
  const y = {
    field: "value",
    type: "quantitative",
    title: log ? "gradient norm" : "rate / fraction",
  };
  return faceted(title, rows, {
    row: { field: "series", type: "nominal", title: null },
    column: { field: log ? "mode" : "metric", type: "nominal", title: null },
  }, {
    width: 260,
    height: 140,
    mark: { type: "line", point: { size: 12 } },
    encoding: {
      x: { field: "block", type: "quantitative", title: "block", axis: { tickMinStep: 1 } },
      y: log ? { ...y, scale: { type: "log" } } : y,
      color: { field: "when", type: "nominal", title: null, sort: ["at init", "after training"] },
    },
  });
}
