/**
 * The fixed-width text table of a run's results that `deno task train`, `eval` and `demo` print.
 *
 * @module
 */
import type { ResultRow } from "./run.ts";

/**
 * Format result rows as a fixed-width text table.
 *
 * @example
 * ```ts
 * import { formatResults } from "@hest/hest";
 * console.log(formatResults([]));
 * ```
 */
export function formatResults(rows: readonly ResultRow[]): string {
  const cols: [string, (r: ResultRow) => string][] = [
    ["model", (r) => r.model],
    ["mode", (r) => r.mode],
    ["co-bps", (r) => fmt(r.coBps)],
    ["oracle co-bps", (r) => fmt(r.oracleCoBps)],
    ["co-bps/oracle", (r) => r.oracleCoBps ? fmt(r.coBps / r.oracleCoBps, 3) : "-"],
    ["fp-bps", (r) => fmt(r.fpBps)],
    ["rate R²", (r) => fmt(r.rateR2)],
    ["PSTH R²", (r) => fmt(r.psthR2)],
    ["vel R²", (r) => fmt(r.velR2)],
    ["µJ/trial", (r) => fmt(r.energy?.perSampleUj, 3)],
    ["params", (r) => String(r.params)],
  ];
  const cells = [cols.map((c) => c[0]), ...rows.map((r) => cols.map((c) => c[1](r)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((c, i) => c.padStart(widths[i])).join("  ")).join("\n");
}

function fmt(v: number | undefined, digits = 4): string {
  return v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits);
}
