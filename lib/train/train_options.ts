/**
 * Options of {@linkcode train}: the {@linkcode TrainOptions} it takes, the {@linkcode StepInfo}
 * its `onStep` callback receives, and {@linkcode resolveTrainOptions}, which validates them
 * (unknown keys and out-of-range values throw, naming the option) and fills in the defaults.
 *
 * @module
 */
import type { Key } from "../core/random.ts";
import type { Params } from "../core/tree.ts";
import type { Mode } from "../nn/types.ts";
import { type MaskingOptions, resolveMasking } from "./masking.ts";
import type { TrainState } from "./train_state.ts";

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** Optimiser steps (default 2000). */
  steps?: number;
  /** Trials per batch (default 32). */
  batchSize?: number;
  /** Peak learning rate (default 1e-4). */
  lr?: number;
  /** Final learning rate of the cosine decay (default 0). */
  minLr?: number;
  /** Warm-up length as a fraction of `steps` (default 0.03, i.e. 3 %). */
  warmupFraction?: number;
  /** Decoupled weight decay (default 0.01) applied to matrices only. */
  weightDecay?: number;
  /** Global-norm clipping threshold (default 1.0). */
  clipNorm?: number;
  /** Masked-modeling options. */
  masking?: MaskingOptions;
  /** Validate every this many steps (default 100). */
  evalEvery?: number;
  /** Stop after this many validations without improvement (default 10; 0 disables). */
  patience?: number;
  /** Seed of the run (default 0); ignored when `key` is given. */
  seed?: number;
  /** Key of the run (parameter init uses `split(key)[0]`, batches and dropout the rest). */
  key?: Key;
  /** Folder for `checkpoint.safetensors` (best params) and `log.jsonl`. */
  outDir?: string;
  /** Show a progress bar on stderr (works when piped; default false). */
  progress?: boolean;
  /** Extra metadata stored in the checkpoint. */
  metadata?: Record<string, string>;
  /** Called after every step (for tests and custom logging). */
  onStep?: (info: StepInfo) => void;
  /** Parameters to start from instead of `model.init` (ownership passes to `train`). */
  initialParams?: Params;
  /**
   * Which mode each step trains: `"standard"`, `"spiking"` or `"alternate"` (switch every
   * `switchEvery` steps, starting with standard) so one parameter set serves both modes.
   * Default: the model's first mode.
   */
  modeSchedule?: "standard" | "spiking" | "alternate";
  /** Steps per mode in the alternating schedule (default 1). */
  switchEvery?: number;
  /**
   * Weight λ of the cross-mode distillation term in spiking-mode steps (default 0 = off). With
   * λ > 0, a spiking step adds λ · mean over all bins and neurons of the Poisson KL divergence
   * KL(Poisson(r_std) ‖ Poisson(r_spk)) = r_std·(log r_std − log r_spk) − r_std + r_spk, where
   * r_std are the standard-mode rates of the same parameters on the same masked input, treated
   * as constants (no gradient). The masked NLL only scores masked and held-out entries; the KL
   * term gives the spiking mode a dense target at every bin and neuron. Needs a model that runs
   * in both modes.
   */
  distill?: number;
  /**
   * Recompute each block's activations in the backward pass instead of storing them (gradient
   * checkpointing, `lib/core/remat.ts`; default false): a train step's peak memory drops to about one
   * block's activations plus every block's input, for one more forward pass per block. The
   * values and gradients are the same. Hybrid models only (the NDT transformer ignores it).
   */
  remat?: boolean;
  /**
   * Write the resumable `state.safetensors` (see `lib/train/train_state.ts`) into `outDir` every this
   * many steps and at the end (default: `evalEvery`).
   */
  checkpointEvery?: number;
  /**
   * Continue a run from a saved {@linkcode TrainState} (e.g. `loadTrainState(dir +
   * "/state.safetensors")`): with the same options, model, data, seed and backend the run ends
   * with exactly the parameters of an uninterrupted run. Options that change the trajectory must
   * equal the saved ones (an error names those that differ). Ownership of the state's tensors
   * passes to `train` once the check passes; `log.jsonl` is appended to, not truncated.
   */
  resumeFrom?: TrainState;
}

/** What {@linkcode TrainOptions.onStep} receives. */
export interface StepInfo {
  /** 0-based step just taken. */
  step: number;
  /** Training loss of the step. */
  loss: number;
  /** Learning rate used. */
  lr: number;
  /** Pre-clip global gradient norm. */
  gradNorm: number;
  /** Whether the update was skipped (non-finite gradient). */
  skipped: boolean;
  /** Mode the step trained. */
  mode: Mode;
}

const TRAIN_KEYS = [
  "steps",
  "batchSize",
  "lr",
  "minLr",
  "warmupFraction",
  "weightDecay",
  "clipNorm",
  "masking",
  "evalEvery",
  "patience",
  "seed",
  "key",
  "outDir",
  "progress",
  "metadata",
  "onStep",
  "initialParams",
  "modeSchedule",
  "switchEvery",
  "distill",
  "remat",
  "checkpointEvery",
  "resumeFrom",
];

function checkNum(name: string, v: number, ok: (x: number) => boolean, what: string): number {
  if (typeof v !== "number" || !ok(v)) {
    throw new Error(`train option "${name}" must be ${what}, found ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * {@linkcode TrainOptions} with every default filled in, as {@linkcode resolveTrainOptions}
 * returns them.
 */
export type ResolvedTrainOptions =
  & Required<
    Omit<
      TrainOptions,
      "outDir" | "onStep" | "key" | "metadata" | "initialParams" | "modeSchedule" | "resumeFrom"
    >
  >
  & TrainOptions;

/**
 * Validate train options and fill defaults. Unknown keys throw, naming the key.
 *
 * @example
 * ```ts
 * import { resolveTrainOptions } from "@hest/hest";
 * resolveTrainOptions({ steps: 10 }).batchSize; // 32
 * ```
 */
export function resolveTrainOptions(opts: TrainOptions = {}): ResolvedTrainOptions {
  for (const k of Object.keys(opts)) {
    if (!TRAIN_KEYS.includes(k)) {
      throw new Error(`unknown train option "${k}"; expected one of: ${TRAIN_KEYS.join(", ")}`);
    }
  }
  const isPosInt = (x: number) => Number.isInteger(x) && x >= 1;
  return {
    ...opts,
    steps: checkNum("steps", opts.steps ?? 2000, isPosInt, "an integer >= 1"),
    batchSize: checkNum("batchSize", opts.batchSize ?? 32, isPosInt, "an integer >= 1"),
    lr: checkNum("lr", opts.lr ?? 1e-4, (x) => x > 0 && x < 1, "in (0, 1)"),
    minLr: checkNum("minLr", opts.minLr ?? 0, (x) => x >= 0, ">= 0"),
    warmupFraction: checkNum(
      "warmupFraction",
      opts.warmupFraction ?? 0.03,
      (x) => x >= 0 && x < 1,
      "in [0, 1)",
    ),
    weightDecay: checkNum("weightDecay", opts.weightDecay ?? 0.01, (x) => x >= 0, ">= 0"),
    clipNorm: checkNum("clipNorm", opts.clipNorm ?? 1, (x) => x > 0, "> 0"),
    masking: resolveMasking(opts.masking),
    evalEvery: checkNum("evalEvery", opts.evalEvery ?? 100, isPosInt, "an integer >= 1"),
    patience: checkNum(
      "patience",
      opts.patience ?? 10,
      (x) => Number.isInteger(x) && x >= 0,
      "an integer >= 0",
    ),
    seed: checkNum("seed", opts.seed ?? 0, Number.isSafeInteger, "an integer"),
    progress: opts.progress ?? false,
    switchEvery: checkNum("switchEvery", opts.switchEvery ?? 1, isPosInt, "an integer >= 1"),
    distill: checkNum("distill", opts.distill ?? 0, (x) => x >= 0 && x < 1e6, ">= 0"),
    remat: (() => {
      if (opts.remat !== undefined && typeof opts.remat !== "boolean") {
        throw new Error(
          `train option "remat" must be true or false, found ${JSON.stringify(opts.remat)}`,
        );
      }
      return opts.remat ?? false;
    })(),
    checkpointEvery: checkNum(
      "checkpointEvery",
      opts.checkpointEvery ?? opts.evalEvery ?? 100,
      isPosInt,
      "an integer >= 1",
    ),
    modeSchedule: (() => {
      const m = opts.modeSchedule;
      if (m !== undefined && !["standard", "spiking", "alternate"].includes(m)) {
        throw new Error(
          `train option "modeSchedule" must be "standard", "spiking" or "alternate", found ${
            JSON.stringify(m)
          }`,
        );
      }
      return m;
    })(),
  };
}
