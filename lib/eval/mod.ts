/**
 * Evaluation: NLB metrics (co-bps, fp-bps, PSTH R², velocity R²), baselines and energy accounting.
 *
 * @module
 */
export * from "./baselines.ts";
export * from "./bits_per_spike.ts";
export * from "./energy.ts";
export * from "./energy_constants.ts";
export * from "./evaluate.ts";
export * from "./regression.ts";
