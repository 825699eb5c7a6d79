/**
 * Options of {@linkcode train}: the {@linkcode TrainOptions} it takes, the {@linkcode StepInfo}
 * its `onStep` callback receives, {@linkcode resolveTrainOptions}, which validates them (unknown
 * keys, `null`, non-finite and out-of-range values throw, naming the option) and fills in the
 * defaults, and {@linkcode checkTrainOverrides}, the stricter check for options read from a JSON
 * run config (no code-only options).
 *
 * @module
 */
import type { Key } from "../core/random.ts";
import type { Params } from "../core/tree.ts";
import type { Mode } from "../nn/types.ts";
import { checkDropoutRates, type DropoutRates } from "../model/config.ts";
import { type MaskingOptions, resolveMasking } from "./masking.ts";
import type { TrainState } from "./train_state.ts";
import { choiceOption, describe } from "../core/validation.ts";
import {
  type DiagnosticsOptions,
  type DiagnosticsRecord,
  resolveDiagnosticsOptions,
} from "./diagnostics.ts";

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** Optimiser steps (default 2000; at most {@linkcode MAX_STEPS}). */
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
   * Standard-mode runs per spiking-mode run in the alternating schedule (default 1): each cycle
   * trains `switchEvery · standardPerSpiking` standard steps, then `switchEvery` spiking steps.
   * A standard step costs about a quarter of a spiking one (T = 4), so a ratio above 1 spends
   * more of a fixed wall time on the cheap mode, which the spiking mode shares through the common
   * parameters (and, with `distill`, through its target).
   */
  standardPerSpiking?: number;
  /**
   * Fraction of the steps trained in standard mode before the mode schedule (default 0): the
   * first `round(standardFirstFraction · steps)` steps train the standard mode alone, then the rest
   * follow `modeSchedule` (`"alternate"` or `"spiking"`) from the parameters reached. The
   * learning-rate schedule (warm-up, then cosine decay) runs once over each part, and the best
   * checkpoint and early stopping start afresh with the second part, whose validation scores every
   * trained mode. `patience` validations without a gain end the first part (not the run), and the
   * second part starts from the first part's best parameters with the steps left, so a recording
   * on which the standard mode alone soon overfits does not carry that into the second part.
   * Standard steps cost a quarter of spiking ones (T = 4), and the spiking mode then starts from
   * weights that already predict.
   */
  standardFirstFraction?: number;
  /**
   * Where the second part starts when `patience` ended the standard-first part (before its planned
   * length or at it), i.e. the standard mode alone stopped improving on the validation trials (default
   * `"best"`): `"best"` continues from that part's best parameters and optimiser moments;
   * `"restart"` discards the part and starts the second from the run's initial parameters with
   * fresh moments, so a recording on which the standard mode alone overfits trains the plain
   * schedule over the steps left. A part still improving within its last `patience` validations
   * continues either way.
   */
  standardFirstEarlyEnd?: "best" | "restart";
  /**
   * Dropout rates for a run that starts over (default: none; absent from a run's options when not
   * given). When `standardFirstEarlyEnd: "restart"` discards the standard-first part (the standard
   * mode alone stopped improving on the validation trials: the model overfits the training
   * trials), the run begins its planned schedule again from the initial parameters with these
   * rates: a standard-first part, then the second part, `steps` in all, the discarded steps not
   * counted. If the regularised first part stops improving too, the second part continues from its
   * best. E.g. `{ dropout: 0.1, embedDropout: 0.2, rateDropout: 0.2 }` (NDT's rates). A run whose
   * first part keeps improving never uses them. Needs `standardFirstEarlyEnd: "restart"`.
   */
  restartDropout?: DropoutRates;
  /**
   * Peak learning rate of the second part (after `standardFirstFraction`'s standard steps) as a
   * fraction of `lr` (default 1: the second part warms up to `lr` again). A lower peak keeps the
   * standard mode nearer where the first part left it, but the spiking mode, which starts below
   * it, then learns too slowly through the shared weights: in the 4-block long recipe on Lorenz,
   * 0.25 and 0.5 left the spiking mode behind and 1.5 gave both modes a little more than 1
   * (docs/ndt_comparison.md). Needs `standardFirstFraction` > 0.
   */
  secondPartLrScale?: number;
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
   * Weight λ_f of feature distillation between the modes in spiking-mode steps (default 0 = off;
   * absent from a run's options when not given). With λ_f > 0, a spiking step also adds λ_f ·
   * the mean over blocks of mean((ŝ − t̂)²), where t̂ is the standard-mode stream after that
   * block and ŝ the spiking mode's (its mean over the T timesteps), each standardised over the
   * channels at every bin (zero mean, unit variance, as the final layer norm reads them), with the
   * standard mode's streams constants as in `distill`. It asks every block, not only the output,
   * to carry what the standard mode's block carries. Needs a hybrid model that runs in both modes.
   */
  distillFeatures?: number;
  /**
   * Decay d of an exponential moving average of the parameters (Polyak averaging; default off,
   * and absent from a run's options when not given). With d in (0, 1), after every step the
   * average moves by (1 − d_n) towards the parameters, d_n = min(d, (1 + n)/(10 + n)) after n
   * updates (`emaDecayAt`); validation, early stopping, the best checkpoint and the returned
   * parameters use the average, while AdamW keeps stepping the raw parameters. Where a second
   * part starts (`standardFirstFraction`) the average starts again from its parameters. 0.999
   * averages over about the last thousand steps.
   */
  emaDecay?: number;
  /**
   * SNN timesteps T of the spiking mode once training is over (default: the model's `timesteps`;
   * absent from a run's options when not given). Training and its validation run at the model's
   * T; a run folder's scoring (`metrics.json`, the predictions files), `evaluateRun` and `loadRun`
   * run the spiking mode at this T. No weight depends on T, and more timesteps average more spikes
   * per bin, at proportionally more operations (energy): on the Lorenz long recipe, trained at
   * T = 4, T = 8 was the best of 4, 6 and 8 on the validation trials (docs/ndt_comparison.md).
   * Choose it on the validation split (`evaluateRun(dir, { split: "val", timesteps })`). Needs a
   * model with a spiking mode; `train` itself only checks that.
   */
  inferenceTimesteps?: number;
  /**
   * Multiply the scored rates by per-neuron gains fitted on the training trials' counts once
   * training is over (`fitRateGains`, Poisson maximum likelihood; default false; absent from a
   * run's options when not given): a masked model's rates can be a few per cent off per neuron at
   * the bins it is scored on, which it reads but was never trained on. A run folder's scoring
   * (`metrics.json`, the predictions files) and `evaluateRun` fit the gains of each mode and record
   * them in the metrics rows (`rateGains`); the parameters, the training and its validation are
   * unchanged. On the Lorenz long recipe it raised rate R² by 0.002–0.005 in both modes on three
   * seeds (docs/ndt_comparison.md, "Calibrated rates").
   */
  calibrateRates?: boolean;
  /**
   * Recompute each block's activations in the backward pass instead of storing them (gradient
   * checkpointing, `lib/core/remat.ts`; default false): a train step's peak memory drops to about one
   * block's activations plus every block's input, for one more forward pass per block. The
   * values and gradients are the same. Hybrid models only (the NDT transformer ignores it).
   */
  remat?: boolean;
  /**
   * The WASM kernel build for this run (`kernels/precision.ts`): `"exact"` (bit-reproducible
   * float32 products) or `"fast"` (relaxed-SIMD multiply-add in the dense products, within 1e-5
   * of exact, faster on FMA machines; falls back to exact where the engine lacks relaxed SIMD).
   * Absent: the process's setting (`HEST_KERNEL_PRECISION`, default exact). Recorded in the
   * run's config.
   */
  kernels?: "exact" | "fast";
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
   * passes to `train` once the check passes; `log.jsonl` keeps the records up to the resumed
   * step, then a `{"kind":"resume","step":N}` line, then the new records.
   */
  resumeFrom?: TrainState;
  /**
   * Gradient-flow diagnostics (default off): `{ every: N }` adds a `"diagnostics"` record to
   * the log every N steps of each mode — per-block gradient norms, and in spiking-mode steps
   * per-block firing rates and the fraction of dead (never firing) channels on a validation
   * batch (see `lib/train/diagnostics.ts`). They cost one spiking forward pass on `batchSize`
   * validation trials per spiking record and change nothing in the run.
   */
  diagnostics?: DiagnosticsOptions;
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
  /** The step's diagnostics record, when the `diagnostics` option made one this step. */
  diagnostics?: DiagnosticsRecord;
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
  "standardPerSpiking",
  "standardFirstFraction",
  "standardFirstEarlyEnd",
  "restartDropout",
  "secondPartLrScale",
  "distill",
  "distillFeatures",
  "emaDecay",
  "inferenceTimesteps",
  "calibrateRates",
  "remat",
  "kernels",
  "checkpointEvery",
  "resumeFrom",
  "diagnostics",
];

/**
 * The most optimiser steps a run may ask for: 10 million, far beyond any preset (the longest
 * takes 3000) but small enough that a typo such as `1e300` is refused rather than accepted as a
 * run that never ends.
 */
export const MAX_STEPS = 10_000_000;

/**
 * Options that only code can pass to {@linkcode train} (callbacks, tensors, keys, paths and
 * settings the run folder's own config decides): a JSON run config refusing them names the key.
 */
export const CODE_ONLY_TRAIN_OPTIONS: readonly string[] = [
  "onStep",
  "initialParams",
  "progress",
  "resumeFrom",
  "outDir",
  "key",
  "metadata",
  "seed",
];

/** The `restartDropout` option checked: at least one rate, each in [0, 1). */
function checkRestartDropout(v: unknown): DropoutRates {
  const where = 'train option "restartDropout"';
  const out = checkDropoutRates(v as DropoutRates, { where });
  if (Object.keys(out).length === 0) {
    throw new RangeError(`${where} must set at least one of dropout, embedDropout, rateDropout`);
  }
  return out;
}

/** `value` if it is one of `choices` (or undefined); otherwise a TypeError naming the option. */
function checkChoice<T extends string>(
  name: string,
  value: unknown,
  choices: readonly T[],
): T | undefined {
  return value === undefined ? undefined : choiceOption(`train option "${name}"`, value, choices);
}

/** `opts[name]` checked by `ok`, or `dflt` when it is absent; `null` is not absent. */
function checkNum(
  opts: TrainOptions,
  name: keyof TrainOptions,
  dflt: number,
  ok: (x: number) => boolean,
  what: string,
): number {
  const v = opts[name] as unknown;
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !ok(v)) {
    const E = typeof v === "number" ? RangeError : TypeError;
    throw new E(`train option "${name}" must be ${what}, found ${describe(v)}`);
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
      | "outDir"
      | "onStep"
      | "key"
      | "metadata"
      | "initialParams"
      | "modeSchedule"
      | "resumeFrom"
      | "diagnostics"
      | "standardPerSpiking"
      | "standardFirstFraction"
      | "standardFirstEarlyEnd"
      | "restartDropout"
      | "secondPartLrScale"
      | "distillFeatures"
      | "emaDecay"
      | "inferenceTimesteps"
      | "calibrateRates"
      | "kernels"
    >
  >
  & TrainOptions;

/** Options of {@linkcode resolveTrainOptions}. */
export interface ResolveTrainOptionsOptions {
  /**
   * The options are overrides still to be merged with a preset's (default false): check each
   * option alone and skip the checks between options, which the merged options get.
   */
  partial?: boolean;
}

/**
 * Validate train options and fill defaults. Unknown keys throw, naming the key.
 *
 * @example
 * ```ts
 * import { resolveTrainOptions } from "@hest/hest";
 * resolveTrainOptions({ steps: 10 }).batchSize; // 32
 * ```
 */
export function resolveTrainOptions(
  opts: TrainOptions = {},
  how: ResolveTrainOptionsOptions = {},
): ResolvedTrainOptions {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    throw new TypeError(`train options must be an object, found ${describe(opts)}`);
  }
  for (const k of Object.keys(opts)) {
    if (!TRAIN_KEYS.includes(k)) {
      throw new TypeError(
        `unknown train option "${k}"; expected one of: ${TRAIN_KEYS.join(", ")}`,
      );
    }
  }
  const posInt = (x: number) => Number.isSafeInteger(x) && x >= 1;
  const int = "an integer >= 1";
  const schedule = checkChoice("modeSchedule", opts.modeSchedule, [
    "standard",
    "spiking",
    "alternate",
  ]);
  if (opts.masking === null) {
    throw new TypeError(`train option "masking" must be an object, found null`);
  }
  for (const [k, v] of Object.entries(opts.masking ?? {})) {
    // resolveMasking would read a null as "use the default"
    if (v === null) {
      throw new TypeError(`masking option "${k}" must be set or left out, found null`);
    }
  }
  const resolved: ResolvedTrainOptions = {
    ...opts,
    steps: checkNum(
      opts,
      "steps",
      2000,
      (x) => posInt(x) && x <= MAX_STEPS,
      `an integer in [1, ${MAX_STEPS}]`,
    ),
    batchSize: checkNum(opts, "batchSize", 32, posInt, int),
    lr: checkNum(opts, "lr", 1e-4, (x) => x > 0 && x < 1, "in (0, 1)"),
    minLr: checkNum(opts, "minLr", 0, (x) => x >= 0 && x < 1, "in [0, 1)"),
    warmupFraction: checkNum(opts, "warmupFraction", 0.03, (x) => x >= 0 && x < 1, "in [0, 1)"),
    weightDecay: checkNum(opts, "weightDecay", 0.01, (x) => x >= 0 && x < 1e6, "in [0, 1e6)"),
    clipNorm: checkNum(opts, "clipNorm", 1, (x) => x > 0 && Number.isFinite(x), "finite and > 0"),
    masking: resolveMasking(opts.masking),
    evalEvery: checkNum(opts, "evalEvery", 100, posInt, int),
    patience: checkNum(
      opts,
      "patience",
      10,
      (x) => Number.isSafeInteger(x) && x >= 0,
      "an integer >= 0",
    ),
    seed: checkNum(opts, "seed", 0, Number.isSafeInteger, "a safe integer"),
    progress: (() => {
      if (opts.progress !== undefined && typeof opts.progress !== "boolean") {
        throw new TypeError(
          `train option "progress" must be true or false, found ${describe(opts.progress)}`,
        );
      }
      return opts.progress ?? false;
    })(),
    switchEvery: checkNum(opts, "switchEvery", 1, posInt, int),
    // left out when absent, so the trajectory fingerprint of runs from before the option (their
    // saved states and configs) stays the same
    ...(opts.standardPerSpiking === undefined ? {} : {
      standardPerSpiking: checkNum(opts, "standardPerSpiking", 1, posInt, int),
    }),
    // left out when absent, like standardPerSpiking
    ...(opts.standardFirstFraction === undefined ? {} : {
      standardFirstFraction: checkNum(
        opts,
        "standardFirstFraction",
        0,
        (x) => x >= 0 && x < 1,
        "in [0, 1)",
      ),
    }),
    // left out when absent, like standardPerSpiking
    ...(opts.standardFirstEarlyEnd === undefined ? {} : {
      standardFirstEarlyEnd: checkChoice("standardFirstEarlyEnd", opts.standardFirstEarlyEnd, [
        "best",
        "restart",
      ]),
    }),
    // left out when absent, like standardPerSpiking
    ...(opts.restartDropout === undefined ? {} : {
      restartDropout: checkRestartDropout(opts.restartDropout),
    }),
    // left out when absent, like standardPerSpiking
    ...(opts.secondPartLrScale === undefined ? {} : {
      secondPartLrScale: checkNum(
        opts,
        "secondPartLrScale",
        1,
        (x) => x > 0 && x <= 10,
        "in (0, 10]",
      ),
    }),
    distill: checkNum(opts, "distill", 0, (x) => x >= 0 && x < 1e6, ">= 0 (and < 1e6)"),
    // left out when absent, so the runs from before it keep their identity (and resume)
    ...(opts.distillFeatures === undefined ? {} : {
      distillFeatures: checkNum(
        opts,
        "distillFeatures",
        0,
        (x) => x >= 0 && x < 1e6,
        ">= 0 (and < 1e6)",
      ),
    }),
    // left out when absent, like distillFeatures
    ...(opts.emaDecay === undefined ? {} : {
      emaDecay: checkNum(opts, "emaDecay", 0, (x) => x >= 0 && x < 1, "in [0, 1)"),
    }),
    // left out when absent, like distillFeatures
    ...(opts.inferenceTimesteps === undefined ? {} : {
      inferenceTimesteps: checkNum(
        opts,
        "inferenceTimesteps",
        1,
        posInt,
        int,
      ),
    }),
    // left out when absent, like distillFeatures
    ...(opts.calibrateRates === undefined ? {} : {
      calibrateRates: (() => {
        if (typeof opts.calibrateRates !== "boolean") {
          throw new TypeError(
            `train option "calibrateRates" must be true or false, found ${
              describe(opts.calibrateRates)
            }`,
          );
        }
        return opts.calibrateRates;
      })(),
    }),
    remat: (() => {
      if (opts.remat !== undefined && typeof opts.remat !== "boolean") {
        throw new TypeError(
          `train option "remat" must be true or false, found ${describe(opts.remat)}`,
        );
      }
      return opts.remat ?? false;
    })(),
    // left out when absent, like standardPerSpiking: older runs' fingerprints stay the same
    ...(opts.kernels === undefined ? {} : {
      kernels: checkChoice("kernels", opts.kernels, ["exact", "fast"]),
    }),
    checkpointEvery: checkNum(
      opts,
      "checkpointEvery",
      typeof opts.evalEvery === "number" ? opts.evalEvery : 100,
      posInt,
      int,
    ),
    modeSchedule: schedule,
    ...(opts.diagnostics === undefined
      ? {}
      : { diagnostics: resolveDiagnosticsOptions(opts.diagnostics) }),
  };
  if (how.partial) return resolved;
  if (resolved.restartDropout !== undefined && resolved.standardFirstEarlyEnd !== "restart") {
    throw new RangeError(
      `train option "restartDropout" needs standardFirstEarlyEnd "restart" (the rates apply after ` +
        `a restart), found standardFirstEarlyEnd ${
          JSON.stringify(resolved.standardFirstEarlyEnd ?? "unset")
        }`,
    );
  }
  // after the options' own checks, so a bad standardFirstFraction is reported as such; a scale
  // with no second part would be silently ignored
  if (resolved.secondPartLrScale !== undefined && !((resolved.standardFirstFraction ?? 0) > 0)) {
    throw new RangeError(
      `train option "secondPartLrScale" needs "standardFirstFraction" > 0 (a second part), found ` +
        `standardFirstFraction ${resolved.standardFirstFraction ?? "unset"}`,
    );
  }
  return resolved;
}

/**
 * Check training overrides read from a JSON run config (`"train"` of a `config.json` or a
 * `--config` file): a plain object, no code-only option ({@linkcode CODE_ONLY_TRAIN_OPTIONS};
 * the run's seed is its top-level `"seed"`), no `null` anywhere, and every value valid for
 * {@linkcode resolveTrainOptions}. Throws a `TypeError`/`RangeError` naming the key
 * (`<where>.<key>`, or `train option "<key>"` for a bad value).
 *
 * @example
 * ```ts
 * import { checkTrainOverrides } from "@hest/hest";
 * checkTrainOverrides({ steps: 100, lr: 1e-3 }); // passes
 * try {
 *   checkTrainOverrides({ lr: null });
 * } catch (err) {
 *   console.log((err as Error).message); // train.lr must be set or left out, found null
 * }
 * ```
 */
export function checkTrainOverrides(
  overrides: unknown,
  opts: { where?: string } = {},
): void {
  const where = opts.where ?? "train";
  if (overrides === null || typeof overrides !== "object" || Array.isArray(overrides)) {
    throw new TypeError(`${where} must be a JSON object, found ${describe(overrides)}`);
  }
  for (const k of Object.keys(overrides)) {
    if (CODE_ONLY_TRAIN_OPTIONS.includes(k)) {
      throw new TypeError(
        k === "seed"
          ? `${where}.seed is not a train override: set the run's top-level "seed"`
          : `${where}.${k} can only be given in code, not in a run config; remove it`,
      );
    }
  }
  const findNull = (v: unknown, path: string): void => {
    if (v === null) throw new TypeError(`${path} must be set or left out, found null`);
    if (typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v as object)) findNull(x, `${path}.${k}`);
    }
  };
  findNull(overrides, where);
  // the checks between options wait for the merged options (scripts/_cli.ts, train)
  resolveTrainOptions(overrides as TrainOptions, { partial: true });
}
