/**
 * Foundations: the TF.js backend, explicit random keys, parameter trees, atomic file writes and rematerialisation.
 *
 * @module
 */
export * from "./backend.ts";
export * from "./io.ts";
export * from "./random.ts";
export * from "./remat.ts";
export * from "./tape.ts";
export * from "./tree.ts";
export * from "./wasm_shared_memory.ts";
