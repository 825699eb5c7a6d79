/**
 * WASM SIMD kernels (C source in `hest_kernels.c`, built by `deno task kernels`) and their
 * TF.js bindings, plus the streaming engine that runs a causal model bin by bin without TF.js.
 *
 * @module
 */
export * from "./adamw.ts";
export * from "./bmm.ts";
export * from "./conv.ts";
export * from "./dropout.ts";
export * from "./gelu.ts";
export * from "./layer_norm.ts";
export * from "./lif.ts";
export * from "./linear.ts";
export * from "./softmax.ts";
export * from "./stream_engine.ts";
export * from "./tim.ts";
export * from "./wasm.ts";
export type {
  LifNeuronArgs,
  LifSurrogateArgs,
  NormBackwardKernel,
  NormForwardKernel,
  NormLifForwardKernel,
} from "./kernel_exports.ts";
export * from "./profile.ts";
export * from "./precision.ts";
export * from "./threads.ts";
