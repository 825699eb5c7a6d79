/**
 * Training: masked modeling, losses, AdamW with cosine warm-up, checkpoints and resumable training state.
 *
 * @module
 */
export * from "./checkpoint.ts";
export * from "./losses.ts";
export * from "./masking.ts";
export * from "./optim.ts";
export * from "./predict.ts";
export * from "./train.ts";
export * from "./train_options.ts";
export * from "./train_state.ts";
