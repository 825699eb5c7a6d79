/**
 * # hest — Hybrid Enhanced Spiking Transformer
 *
 * A Deno + TypeScript toolkit, on TensorFlow.js (wasm by default, webgpu, cpu), for predicting
 * neural spiking activity: binned spike counts `[trials, bins, neurons]` in, log-rates of every
 * neuron at every bin (and a forward window) out, trained by NDT-style masked modeling and
 * scored exactly as the Neural Latents Benchmark (co-bps, fp-bps, PSTH R², velocity R²).
 *
 * This module is the one public entry point: it re-exports every folder of `lib/` and the WASM
 * kernels. Each folder is also a subpath export of its own (`@hest/hest/core`, `/data`, `/nn`,
 * `/snn`, `/model`, `/train`, `/eval`, `/infer`, `/experiments`, `/figures`, `/kernels`). It
 * re-exports `tf` (the TF.js namespace hest uses), so scripts and notebooks need no import map
 * of their own.
 *
 * @example Train the standard transformer on synthetic Lorenz data and score it
 * ```ts
 * import { evaluate, lorenzDataset, predict, train, transformerFor, useBackend } from "@hest/hest";
 *
 * await useBackend("wasm");
 * const ds = lorenzDataset({ seed: 0 });
 * const model = transformerFor(ds, { dModel: 64, nLayers: 2 });
 * const { params } = await train(model, ds, { steps: 2000, lr: 2e-3 });
 * const result = await evaluate(await predict(model, params, ds), ds);
 * console.log(result.coBps, result.oracleCoBps, result.rateR2);
 * ```
 *
 * @module
 */

export * from "./lib/core/mod.ts";
export * from "./lib/data/mod.ts";
export * from "./lib/nn/mod.ts";
export * from "./lib/snn/mod.ts";
export * from "./lib/model/mod.ts";
export * from "./lib/train/mod.ts";
export * from "./lib/eval/mod.ts";
export * from "./lib/infer/mod.ts";
export * from "./lib/experiments/mod.ts";
export * from "./lib/figures/mod.ts";
export * from "./kernels/mod.ts";
