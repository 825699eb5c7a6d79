/**
 * Vega-Lite figures, PNG rendering, notebook display and HTML reports.
 *
 * @module
 */
export * from "./activity_charts.ts";
export * from "./charts.ts";
export * from "./notebook.ts";
export * from "./render.ts";
export * from "./report.ts";
