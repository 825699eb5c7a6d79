/**
 * Spiking building blocks: LIF neurons, surrogate gradients, spike operations, the spike norm, TIM and CPG-PE.
 *
 * @module
 */
export * from "./cpg.ts";
export * from "./neurons.ts";
export * from "./spike_norm.ts";
export * from "./spike_ops.ts";
export * from "./surrogates.ts";
export * from "./tim.ts";
