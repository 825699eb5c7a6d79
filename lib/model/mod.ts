/**
 * Models: the hybrid enhanced spiking transformer (configuration, typed parameters, block
 * functions and their composition) and the NDT-style standard transformer, which is the hybrid
 * in standard mode with the enhancements off.
 *
 * @module
 */
export * from "./blocks.ts";
export * from "./config.ts";
export * from "./hybrid.ts";
export * from "./params.ts";
export * from "./transformer.ts";
export * from "./bin_cursor.ts";
export * from "./embedding.ts";
