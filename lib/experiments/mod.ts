/**
 * Presets, run folders and multi-seed experiments.
 *
 * @module
 */
export * from "./experiment.ts";
export * from "./presets.ts";
export * from "./run.ts";
