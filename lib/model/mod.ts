/**
 * Models: the hybrid enhanced spiking transformer and the NDT-style standard transformer.
 *
 * @module
 */
export * from "./hybrid.ts";
export * from "./transformer.ts";
