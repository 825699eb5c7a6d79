/**
 * # hest — Hybrid Enhanced Spiking Transformer
 *
 * A Deno + TypeScript toolkit, on TensorFlow.js (wasm by default, webgpu, cpu), for predicting
 * neural spiking activity: binned spike counts `[trials, bins, neurons]` in, log-rates of every
 * neuron at every bin (and a forward window) out, trained by NDT-style masked modeling and
 * scored exactly as the Neural Latents Benchmark (co-bps, fp-bps, PSTH R², velocity R²).
 *
 * This module is the one public entry point. It re-exports `tf` (the TF.js namespace hest
 * uses), so scripts and notebooks need no import map of their own.
 *
 * @example Train the standard transformer on synthetic Lorenz data and score it
 * ```ts
 * import { evaluate, lorenzDataset, predict, train, transformerFor, useBackend } from "./mod.ts";
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

export { type BackendName, BACKENDS, readTensor, tf, useBackend } from "./lib/core/backend.ts";
export {
  foldIn,
  type Key,
  key,
  logFactorial,
  normal,
  permutation,
  randint,
  type RandintOptions,
  RandomStream,
  split,
  stream,
  tfSeed,
  uniform,
} from "./lib/core/random.ts";
export {
  type Array3D,
  array3d,
  DatasetError,
  type SpikeDataset,
  spikeDataset,
  type SpikeDatasetInit,
  type SpikeDatasetOptions,
  take3d,
  type TrialSplit,
} from "./lib/data/dataset.ts";
export * from "./lib/data/lorenz.ts";
export {
  countParams,
  disposeTree,
  flatten,
  getLeaf,
  type Leaf,
  mapTree,
  type Params,
  unflatten,
} from "./lib/core/tree.ts";
export {
  applyAttention,
  type ApplyContext,
  applyLayerNorm,
  applyLinear,
  type AttentionOptions,
  type AttentionParams,
  contextMask,
  dropout,
  gelu,
  glorotUniform,
  initAttention,
  initLayerNorm,
  initLinear,
  type LayerNormParams,
  type LinearParams,
  matMul2d,
  type Mode,
  normalInit,
  sinusoidalEncoding,
} from "./lib/model/layers.ts";
export * from "./lib/snn/surrogates.ts";
export * from "./lib/snn/neurons.ts";
export * from "./lib/snn/spike_ops.ts";
export * from "./lib/snn/spike_norm.ts";
export * from "./lib/snn/cpg.ts";
export * from "./lib/model/conv.ts";
export * from "./lib/snn/tim.ts";
export * from "./lib/model/hybrid.ts";
export * from "./lib/eval/energy.ts";
export * from "./lib/experiments/experiment.ts";
export {
  type Model,
  type ModelBatch,
  type ResolvedTransformerConfig,
  resolveTransformerConfig,
  transformer,
  type TransformerConfig,
} from "./lib/model/transformer.ts";
export {
  disposeBatch,
  maskCounts,
  maskedBatch,
  type MaskedCounts,
  type MaskingOptions,
  type ResolvedMaskingOptions,
  resolveMasking,
  type TrainingBatch,
} from "./lib/train/masking.ts";
export * from "./lib/train/losses.ts";
export * from "./lib/train/optim.ts";
export * from "./lib/train/checkpoint.ts";
export * from "./lib/eval/metrics.ts";
export {
  predict,
  type PredictOptions,
  resolveTrainOptions,
  type StepInfo,
  train,
  type TrainOptions,
  type TrainResult,
  trainStep,
  type TrainStepResult,
  validationScore,
  type ValRecord,
} from "./lib/train/train.ts";
export { type ModelPreset, type Preset, preset, PRESETS, transformerFor } from "./lib/model/presets.ts";
export { loadDatasetJson, writeJsonAtomic } from "./lib/core/io.ts";
export {
  datasetSummary,
  type DataSpec,
  evaluateRun,
  formatResults,
  loadData,
  type MetricsFile,
  type ResultRow,
  type RunConfig,
  type RunEnergy,
  type TrainOverrides,
  trainRun,
  type TrainRunOptions,
  writePredictions,
} from "./lib/experiments/run.ts";
export {
  canonicalJson,
  decodeTrainState,
  disposeTrainState,
  encodeTrainState,
  HEST_VERSION,
  loadTrainState,
  saveTrainState,
  TRAIN_STATE_FORMAT,
  type TrainState,
  versionMetadata,
} from "./lib/train/train_state.ts";
export {
  fitPoissonGlm,
  gaussianWindow,
  type PoissonGlm,
  type PoissonGlmOptions,
  rawCountRidge,
  type RawCountRidgeOptions,
  type RawCountRidgeResult,
  smoothingBaseline,
  type SmoothingBaselineOptions,
  type SmoothingBaselineResult,
  type SmoothingCandidate,
  type SmoothingPredictions,
  smoothingPredictions,
  type SmoothOptions,
  smoothSpikes,
} from "./lib/eval/baselines.ts";
export {
  type ArrayOrigin,
  type ArraySource,
  checkCounts,
  checkFiniteOrNaN,
  expectShape,
  loadError,
  memorySource,
  type NdArray,
  ndarray,
  type NumericArray,
  reverseAxes,
  shapeSize,
  toArray3D,
  transpose2d,
  unravel,
} from "./lib/data/ndarray.ts";
export {
  HDF5_SIGNATURE,
  type Hdf5Dataset,
  hdf5Dataset,
  type Hdf5File,
  hdf5Ready,
  hdf5SignatureOffset,
  type Hdf5Tree,
  openHdf5,
  writeHdf5,
  type WriteHdf5Options,
} from "./lib/data/hdf5.ts";
export { encodeNpy, encodeNpz, NPY_MAGIC, parseNpy, parseNpz, writeNpy } from "./lib/data/npy.ts";
export { MAT_HEADER_PREFIX, matVersion, openMat, openMat73, parseMat5 } from "./lib/data/mat.ts";
export {
  binSpikeTimes,
  windowDataset,
  type WindowOptions,
  type WindowSplit,
} from "./lib/data/windows.ts";
export {
  hasNlbKeys,
  loadNlb,
  NLB_REQUIRED_KEYS,
  nlbDataset,
  type NlbMeta,
  type NlbOptions,
  nlbSubmission,
  type NlbSubmissionOptions,
  unknownTestTargets,
  writeNlbSubmission,
} from "./lib/data/nlb.ts";
export { loadNwb, type NwbOptions } from "./lib/data/nwb.ts";
export {
  arraysDataset,
  type DataFormat,
  loadDataset,
  type LoadOptions,
  sniffFormat,
  validateLoadOptions,
} from "./lib/data/load.ts";
export { type EvaluateRunOptions, type RunExports, writeRunExports } from "./lib/experiments/run.ts";
export { bmm, type BmmOptions, spikeMatMul } from "./kernels/bmm.ts";
export { lifKernel, type LifKernelArgs, lifKernelArgs } from "./kernels/lif.ts";
export {
  type KernelCall,
  kernelCall,
  type KernelExports,
  kernelsActive,
  kernelsShareMemory,
  newKernelInstance,
  setKernelsEnabled,
  withKernelCall,
} from "./kernels/wasm.ts";

// Figures, reports and results files (lib/plot.ts, lib/report.ts).
export {
  accuracyEnergyChart,
  type AccuracyEnergyOptions,
  type AccuracyEnergyPoint,
  type ChartOptions,
  type ChartSpec,
  type CurveRecord,
  DEFAULT_FONT_FILES,
  type Figure,
  figure,
  type FigureFormat,
  type FigureOptions,
  firingRateChart,
  type FiringRateOptions,
  type FiringRateRow,
  JUPYTER_DISPLAY,
  type MimeBundle,
  type PngOptions,
  RASTER_COLORS,
  rasterChart,
  type RasterInput,
  type RasterOptions,
  renderPng,
  renderSvg,
  saveFigure,
  type SaveFigureOptions,
  show,
  type ShowOptions,
  svgToPng,
  trainingCurvesChart,
  type TrainingCurvesOptions,
  trialMatrix,
  WATERFALL_COLORS,
  type WaterfallBar,
  waterfallBars,
  type WaterfallBarsOptions,
  waterfallChart,
  type WaterfallEffect,
  type WaterfallOptions,
  type WaterfallStep,
  type WaterfallValue,
} from "./lib/figures/plot.ts";
export {
  type AblationResults,
  type AblationStep,
  ablationWaterfallSteps,
  compareAccuracyEnergyPoints,
  type CompareResults,
  type CompareRow,
  escapeHtml,
  type HtmlReport,
  htmlReport,
  loadAblationResults,
  loadCompareResults,
  parseAblationResults,
  parseCompareResults,
  type ReportBlock,
  type ReportCell,
  type ReportFigure,
  type ReportHeading,
  type ReportTable,
  type ReportText,
  type StatSummary,
  writeHtmlReport,
} from "./lib/figures/report.ts";
// Rematerialisation (gradient checkpointing) of a block.
export { remat, type RematInputs, type RematOptions } from "./lib/train/remat.ts";
// Streaming (bin-by-bin) inference of causal hybrid models.
export {
  causalSpikeNorm,
  disposeStreamState,
  streamBlocker,
  type Streamer,
  streamer,
  type StreamOptions,
  type StreamState,
  type StreamStepOptions,
  type StreamStepResult,
  type StreamTables,
  streamTables,
} from "./lib/infer/stream.ts";
// The WASM streaming engine: the same stream with no TF.js op per bin (real-time decoding).
export {
  type StreamEngine,
  streamEngine,
  type StreamEngineOptions,
} from "./kernels/stream_engine.ts";
