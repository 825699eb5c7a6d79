/**
 * Generic functional layers: linear, layer norm, attention, dropout, causal convolution over bins, and the types every layer shares.
 *
 * @module
 */
export * from "./conv.ts";
export * from "./layers.ts";
export * from "./types.ts";
