/**
 * Streaming (bin-by-bin) inference of causal models.
 *
 * @module
 */
export * from "./stream.ts";
export * from "./stream_setup.ts";
