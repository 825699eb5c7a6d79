/**
 * Training: masked modeling, losses, AdamW with cosine warm-up, checkpoints, resumable training state
 * and gradient-flow diagnostics.
 *
 * @module
 */
export * from "./calibrate.ts";
export * from "./checkpoint.ts";
export * from "./diagnostics.ts";
export * from "./ema.ts";
export * from "./losses.ts";
export * from "./masking.ts";
export * from "./optim.ts";
export * from "./predict.ts";
export * from "./resume.ts";
export * from "./train.ts";
export * from "./train_options.ts";
export * from "./train_state.ts";
