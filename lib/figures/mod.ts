/**
 * Vega-Lite figures, PNG rendering, notebook display and HTML reports, with one colour per model
 * across every chart (`style.ts`).
 *
 * @module
 */
export * from "./activity_charts.ts";
export * from "./charts.ts";
export * from "./depth_charts.ts";
export * from "./notebook.ts";
export * from "./render.ts";
export * from "./report.ts";
export * from "./style.ts";
export * from "./time_charts.ts";
