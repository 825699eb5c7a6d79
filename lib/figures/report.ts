/**
 * Reports and results files: typed, validated loaders for the ablation and comparison results
 * (`results/ablation/results.json`, `results/compare/results.json`), their conversion to chart
 * inputs, and a standalone HTML report writer (one self-contained `.html` file: SVG figures
 * inline, tables and text, no scripts, no external files).
 *
 * Numbers that were NaN when a results file was written are `null` in JSON; the loaders accept
 * `null` wherever a number is expected and return `NaN` for it.
 *
 * @module
 */
import { writeFileAtomic } from "../core/io.ts";
import type { AccuracyEnergyPoint, ChartSpec, WaterfallStep } from "./charts.ts";
import { renderSvg } from "./render.ts";
import { kindOf, Reader, readJson } from "./_results_reader.ts";

/** Mean, standard deviation over seeds and the per-seed values (NaN allowed). */
export interface StatSummary {
  /** Mean over seeds. */
  mean: number;
  /** Standard deviation over seeds. */
  sd: number;
  /** One value per seed. */
  values: number[];
}

/** One step of an ablation (`results/ablation/results.json` → `steps[i]`). */
export interface AblationStep {
  /** Short identifier, e.g. `"conv"`. */
  name: string;
  /** Label for figures, e.g. `"+ conv attention"`. */
  label: string;
  /** Model/training overrides of the step. */
  config: Record<string, unknown>;
  /** Held-out co-bps over seeds. */
  coBps: StatSummary;
  /** Inference energy per sample (µJ) over seeds. */
  energyUj: StatSummary;
  /** Mean firing rate over seeds. */
  firingRate: StatSummary;
  /** Mode the step was scored in. */
  mode: string;
}

/** The ablation results file. */
export interface AblationResults {
  /** Always `"ablation"`. */
  kind: "ablation";
  /** The command that produced the file. */
  command: string;
  /** Dataset description. */
  dataset: Record<string, unknown>;
  /** Seeds. */
  seeds: number[];
  /** Steps in order: the baseline first, each next one adding a component. */
  steps: AblationStep[];
}

/** One model/mode of the comparison (`results/compare/results.json` → `rows[i]`). */
export interface CompareRow {
  /** Model name. */
  model: string;
  /** `"standard"` or `"spiking"`. */
  mode: "standard" | "spiking";
  /** Held-out co-bps over seeds. */
  coBps: StatSummary;
  /** Oracle co-bps of the true rates (NaN when unknown). */
  oracleCoBps: number;
  /** Inference energy per sample (µJ) over seeds. */
  energyUj: StatSummary;
  /** Training wall-clock seconds over seeds. */
  trainSeconds: StatSummary;
  /** Trainable parameters. */
  params: number;
}

/** The comparison results file. */
export interface CompareResults {
  /** Always `"compare"`. */
  kind: "compare";
  /** The command that produced the file. */
  command: string;
  /** One row per model and mode. */
  rows: CompareRow[];
}

/**
 * Validate parsed JSON as {@linkcode AblationResults}; errors name `source` and the field.
 *
 * @example
 * ```ts
 * import { parseAblationResults } from "@hest/hest";
 * const stat = { mean: 0.5, sd: 0, values: [0.5] };
 * const r = parseAblationResults({
 *   kind: "ablation", command: "deno task ablation", dataset: {}, seeds: [0],
 *   steps: [{ name: "basic", label: "basic", config: {}, coBps: stat, energyUj: stat,
 *     firingRate: stat, mode: "spiking" }],
 * });
 * r.steps[0].coBps.mean; // 0.5
 * ```
 */
export function parseAblationResults(
  json: unknown,
  source = "ablation results",
): AblationResults {
  const r = new Reader(source);
  const o = r.object("the file", json);
  const kind = r.field("", o, "kind");
  r.oneOf("kind", kind, ["ablation"]);
  const steps = r.array("steps", r.field("", o, "steps")).map((s, i) => {
    const p = `steps[${i}]`;
    const so = r.object(p, s);
    return {
      name: r.string(`${p}.name`, r.field(p, so, "name")),
      label: r.string(`${p}.label`, r.field(p, so, "label")),
      config: r.object(`${p}.config`, r.field(p, so, "config")),
      coBps: r.stat(`${p}.coBps`, r.field(p, so, "coBps")),
      energyUj: r.stat(`${p}.energyUj`, r.field(p, so, "energyUj")),
      firingRate: r.stat(`${p}.firingRate`, r.field(p, so, "firingRate")),
      mode: r.string(`${p}.mode`, r.field(p, so, "mode")),
    };
  });
  if (steps.length === 0) r.fail("steps", "a non-empty array", []);
  return {
    kind: "ablation",
    command: r.string("command", r.field("", o, "command")),
    dataset: r.object("dataset", r.field("", o, "dataset")),
    seeds: r.array("seeds", r.field("", o, "seeds")).map((x, i) => {
      const v = r.number(`seeds[${i}]`, x);
      if (!Number.isInteger(v)) r.fail(`seeds[${i}]`, "an integer", x);
      return v;
    }),
    steps,
  };
}

/**
 * Validate parsed JSON as {@linkcode CompareResults}; errors name `source` and the field.
 *
 * @example
 * ```ts
 * import { parseCompareResults } from "@hest/hest";
 * const s = { mean: 1, sd: 0, values: [1] };
 * const r = parseCompareResults({ kind: "compare", command: "deno task compare", rows: [
 *   { model: "standard", mode: "standard", coBps: s, oracleCoBps: 0.8, energyUj: s,
 *     trainSeconds: s, params: 1000 },
 * ] });
 * r.rows[0].params; // 1000
 * ```
 */
export function parseCompareResults(json: unknown, source = "compare results"): CompareResults {
  const r = new Reader(source);
  const o = r.object("the file", json);
  const kind = r.field("", o, "kind");
  r.oneOf("kind", kind, ["compare"]);
  const rows = r.array("rows", r.field("", o, "rows")).map((x, i) => {
    const p = `rows[${i}]`;
    const ro = r.object(p, x);
    const mode = r.oneOf(`${p}.mode`, r.field(p, ro, "mode"), ["standard", "spiking"]);
    return {
      model: r.string(`${p}.model`, r.field(p, ro, "model")),
      mode,
      coBps: r.stat(`${p}.coBps`, r.field(p, ro, "coBps")),
      oracleCoBps: r.number(`${p}.oracleCoBps`, r.field(p, ro, "oracleCoBps")),
      energyUj: r.stat(`${p}.energyUj`, r.field(p, ro, "energyUj")),
      trainSeconds: r.stat(`${p}.trainSeconds`, r.field(p, ro, "trainSeconds")),
      params: r.number(`${p}.params`, r.field(p, ro, "params")),
    };
  });
  if (rows.length === 0) r.fail("rows", "a non-empty array", []);
  return { kind: "compare", command: r.string("command", r.field("", o, "command")), rows };
}

/**
 * Read and validate an ablation results file. A missing file throws `Deno.errors.NotFound`.
 *
 * @example
 * ```ts
 * import { loadAblationResults } from "@hest/hest";
 * const results = await loadAblationResults("results/ablation/results.json");
 * ```
 */
export async function loadAblationResults(path: string): Promise<AblationResults> {
  return parseAblationResults(await readJson(path), path);
}

/**
 * Read and validate a comparison results file. A missing file throws `Deno.errors.NotFound`.
 *
 * @example
 * ```ts
 * import { loadCompareResults } from "@hest/hest";
 * const results = await loadCompareResults("results/compare/results.json");
 * ```
 */
export async function loadCompareResults(path: string): Promise<CompareResults> {
  return parseCompareResults(await readJson(path), path);
}

/**
 * The ablation as {@linkcode waterfallChart} input: mean co-bps and energy per sample, with the
 * standard deviations over seeds. Steps whose mean co-bps or energy is NaN are refused (the
 * chart needs every value).
 *
 * @example
 * ```ts
 * import { ablationWaterfallSteps, loadAblationResults, waterfallChart } from "@hest/hest";
 * const spec = waterfallChart(ablationWaterfallSteps(await loadAblationResults("results/ablation/results.json")));
 * ```
 */
export function ablationWaterfallSteps(results: AblationResults): WaterfallStep[] {
  return results.steps.map((s, i) => {
    if (!Number.isFinite(s.coBps.mean) || !Number.isFinite(s.energyUj.mean)) {
      throw new Error(
        `ablation steps[${i}] (${s.name}): coBps.mean and energyUj.mean must be finite, found ${s.coBps.mean} and ${s.energyUj.mean}`,
      );
    }
    return {
      label: s.label,
      coBps: s.coBps.mean,
      coBpsSd: Number.isFinite(s.coBps.sd) ? s.coBps.sd : undefined,
      energyUj: s.energyUj.mean,
      energyUjSd: Number.isFinite(s.energyUj.sd) ? s.energyUj.sd : undefined,
    };
  });
}

/**
 * The comparison as {@linkcode accuracyEnergyChart} input (one point per model and mode).
 *
 * @example
 * ```ts
 * import { accuracyEnergyChart, compareAccuracyEnergyPoints, loadCompareResults } from "@hest/hest";
 * const spec = accuracyEnergyChart(compareAccuracyEnergyPoints(await loadCompareResults("results/compare/results.json")));
 * ```
 */
export function compareAccuracyEnergyPoints(results: CompareResults): AccuracyEnergyPoint[] {
  return results.rows.map((r, i) => {
    if (!Number.isFinite(r.coBps.mean) || !Number.isFinite(r.energyUj.mean)) {
      throw new Error(
        `compare rows[${i}] (${r.model}, ${r.mode}): coBps.mean and energyUj.mean must be finite, found ${r.coBps.mean} and ${r.energyUj.mean}`,
      );
    }
    return {
      model: r.model,
      mode: r.mode,
      coBps: r.coBps.mean,
      coBpsSd: Number.isFinite(r.coBps.sd) ? r.coBps.sd : undefined,
      energyUj: r.energyUj.mean,
      energyUjSd: Number.isFinite(r.energyUj.sd) ? r.energyUj.sd : undefined,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// HTML report

/** A section heading of an {@linkcode HtmlReport}. */
export interface ReportHeading {
  /** Block kind. */
  kind: "heading";
  /** Heading text. */
  text: string;
  /** `2` (default) or `3`. */
  level?: 2 | 3;
}

/** Paragraphs (separated by blank lines) or preformatted text of an {@linkcode HtmlReport}. */
export interface ReportText {
  /** `"text"`: paragraphs; `"pre"`: preformatted (monospace, kept as is). */
  kind: "text" | "pre";
  /** The text (escaped on output). */
  text: string;
}

/** A cell of a {@linkcode ReportTable}: numbers are formatted, `null` and NaN show as a dash. */
export type ReportCell = string | number | null;

/** A table of an {@linkcode HtmlReport}. */
export interface ReportTable {
  /** Block kind. */
  kind: "table";
  /** Column headings. */
  columns: readonly string[];
  /** Rows, one cell per column. */
  rows: readonly (readonly ReportCell[])[];
  /** Caption under the table. */
  caption?: string;
}

/** A figure of an {@linkcode HtmlReport}: a chart spec (rendered) or an SVG string. */
export interface ReportFigure {
  /** Block kind. */
  kind: "figure";
  /** Chart to render. */
  spec?: ChartSpec;
  /** Already rendered SVG (instead of `spec`). */
  svg?: string;
  /** Caption. */
  caption?: string;
}

/** One block of an {@linkcode HtmlReport}. */
export type ReportBlock = ReportHeading | ReportText | ReportTable | ReportFigure;

/** A standalone report: a title and blocks in order. */
export interface HtmlReport {
  /** Page title (and first heading). */
  title: string;
  /** Content. */
  blocks: readonly ReportBlock[];
  /** Footer text (e.g. the command that produced the report). */
  footer?: string;
}

/**
 * Escape `&`, `<`, `>`, `"` and `'` for HTML text and attributes.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "@hest/hest";
 * escapeHtml("a < b & c"); // "a &lt; b &amp; c"
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) =>
      c === "&"
        ? "&amp;"
        : c === "<"
        ? "&lt;"
        : c === ">"
        ? "&gt;"
        : c === '"'
        ? "&quot;"
        : "&#39;",
  );
}

function cell(v: ReportCell): string {
  if (v === null) return "—";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "—";
    return Number.isInteger(v)
      ? String(v)
      : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 && v !== 0
      ? v.toExponential(3)
      : v.toFixed(4);
  }
  return escapeHtml(v);
}

const STYLE =
  `body{font-family:"DejaVu Sans",system-ui,sans-serif;max-width:1100px;margin:2em auto;` +
  `padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{font-size:1.3em;margin-top:1.6em}` +
  `table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;` +
  `padding:.3em .6em;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}` +
  `caption{caption-side:bottom;font-size:.9em;color:#555;padding-top:.4em}figure{margin:1.5em 0}` +
  `figure svg{max-width:100%;height:auto}figcaption{font-size:.9em;color:#555}pre{background:#f6f6f6;` +
  `padding:.8em;overflow-x:auto;font-size:.85em}footer{margin-top:3em;font-size:.85em;color:#666}`;

/**
 * Build a self-contained HTML page: figures (specs are rendered here) as inline SVG, tables,
 * paragraphs (blank lines separate them) and preformatted text, all escaped.
 *
 * @example
 * ```ts
 * import { firingRateChart, htmlReport } from "@hest/hest";
 * const html = await htmlReport({
 *   title: "rates",
 *   blocks: [
 *     { kind: "text", text: "Firing rate per site." },
 *     { kind: "figure", spec: firingRateChart([{ site: "a", rate: 0.1 }]) },
 *     { kind: "table", columns: ["site", "rate"], rows: [["a", 0.1]] },
 *   ],
 * });
 * ```
 */
export async function htmlReport(report: HtmlReport): Promise<string> {
  if (typeof report?.title !== "string") {
    throw new TypeError(`htmlReport: title must be a string, found ${kindOf(report?.title)}`);
  }
  if (!Array.isArray(report.blocks)) {
    throw new Error(`htmlReport: blocks must be an array, found ${kindOf(report.blocks)}`);
  }
  const parts: string[] = [];
  for (const [i, b] of report.blocks.entries()) {
    switch (b.kind) {
      case "heading": {
        const h = b.level === 3 ? "h3" : "h2";
        parts.push(`<${h}>${escapeHtml(b.text)}</${h}>`);
        break;
      }
      case "text":
        for (const para of b.text.split(/\n\s*\n/)) {
          if (para.trim()) parts.push(`<p>${escapeHtml(para.trim())}</p>`);
        }
        break;
      case "pre":
        parts.push(`<pre>${escapeHtml(b.text)}</pre>`);
        break;
      case "table": {
        b.rows.forEach((row: readonly ReportCell[], r: number) => {
          if (row.length !== b.columns.length) {
            throw new Error(
              `htmlReport: blocks[${i}] table row ${r} has ${row.length} cells, expected ${b.columns.length} (one per column)`,
            );
          }
        });
        const head = b.columns.map((c: string) => `<th>${escapeHtml(c)}</th>`).join("");
        const body = b.rows
          .map((row: readonly ReportCell[]) =>
            `<tr>${row.map((v: ReportCell) => `<td>${cell(v)}</td>`).join("")}</tr>`
          )
          .join("\n");
        const cap = b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : "";
        parts.push(
          `<table>${cap}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`,
        );
        break;
      }
      case "figure": {
        if ((b.spec === undefined) === (b.svg === undefined)) {
          throw new Error(`htmlReport: blocks[${i}] figure needs exactly one of spec or svg`);
        }
        const svg = b.svg ?? await renderSvg(b.spec!);
        if (!/^\s*<svg[\s>]/.test(svg) || /<script/i.test(svg)) {
          throw new Error(
            `htmlReport: blocks[${i}] svg must be a plain <svg> element without scripts`,
          );
        }
        const cap = b.caption ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : "";
        parts.push(`<figure>${svg}${cap}</figure>`);
        break;
      }
      default:
        throw new Error(
          `htmlReport: blocks[${i}].kind must be heading, text, pre, table or figure, found ${
            kindOf((b as { kind: unknown }).kind)
          }`,
        );
    }
  }
  const footer = report.footer ? `<footer>${escapeHtml(report.footer)}</footer>` : "";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(report.title)}</h1>
${parts.join("\n")}
${footer}
</body>
</html>
`;
}

/**
 * Write {@linkcode htmlReport}'s page to `path` atomically, creating the folder.
 *
 * @example
 * ```ts
 * import { writeHtmlReport } from "@hest/hest";
 * await writeHtmlReport("/tmp/report.html", { title: "empty", blocks: [] });
 * ```
 */
export async function writeHtmlReport(path: string, report: HtmlReport): Promise<void> {
  const html = await htmlReport(report);
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  await writeFileAtomic(path, html);
}
