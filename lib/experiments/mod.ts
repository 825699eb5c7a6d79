/**
 * Presets, run folders, multi-seed experiments and sweeps.
 *
 * @module
 */
export * from "./experiment.ts";
export * from "./presets.ts";
export * from "./run.ts";
export * from "./run_energy.ts";
export * from "./sweep.ts";
export * from "./sweep_collect.ts";
export * from "./sweep_slurm.ts";
export * from "./sweep_task.ts";
export * from "./ndt_peer.ts";
