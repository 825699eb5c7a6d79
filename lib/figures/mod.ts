/**
 * Vega-Lite figures, PNG rendering, notebook display and HTML reports.
 *
 * @module
 */
export * from "./plot.ts";
export * from "./report.ts";
