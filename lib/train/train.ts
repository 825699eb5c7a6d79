/**
 * Training for masked-modeling models.
 *
 * `train(model, dataset, opts)` runs AdamW with linear warm-up + cosine decay and global-norm
 * clipping on masked-modeling batches, validates every `evalEvery` steps on the validation trials
 * (co-bps of held-out neurons), keeps the best parameters (and writes them atomically as a
 * safetensors checkpoint when `outDir` is set), stops early after `patience` validations without
 * improvement, and appends one JSON object per line to `log.jsonl` (a resumed run first cuts
 * the log back to the resumed step and marks it with `{"kind":"resume","step":N}`, so no record
 * appears twice). It never leaks tensors: `tf.memory().numTensors` is the same after every
 * step. Its options are in `train_options.ts`, the resume checks and log cut in `resume.ts`,
 * prediction and validation scoring in `predict.ts`, the gradient-flow diagnostics of the `diagnostics` option (`"diagnostics"` log records) in
 * `diagnostics.ts`.
 *
 * @module
 */
// @ts-types="@types/cli-progress"
import cliProgress from "cli-progress";
import { kernelPrecision, setKernelPrecision } from "../../kernels/precision.ts";
import process from "node:process";
import { tf } from "../core/backend.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import type { SpikeDataset } from "../data/dataset.ts";
import { negBinomialNll, poissonNll, streamDistillLoss } from "./losses.ts";
import type { Mode } from "../nn/types.ts";
import { disposeBatch, maskedBatch, type TrainingBatch } from "./masking.ts";
import { adamw, clipByGlobalNorm, cosineWarmup, type Optimizer, type OptState } from "./optim.ts";
import { emaUpdate } from "./ema.ts";
import { foldIn, type Key, key as makeKey, permutation, split } from "../core/random.ts";
import type { Model } from "../model/hybrid.ts";
import type { DropoutRates } from "../model/config.ts";
import { saveTrainState, versionMetadata } from "./train_state.ts";
import { disposeTree, flatten, type Params, unflatten } from "../core/tree.ts";
import type { ValRecord } from "./train_state.ts";
import { validationScore } from "./predict.ts";
import {
  type DiagnosticsRecord,
  groupGradNorms,
  modeOfStep,
  type ScheduleShape,
  spikeDiagnostics,
  stepOfMode,
} from "./diagnostics.ts";
import { resolveTrainOptions, type TrainOptions } from "./train_options.ts";
import { checkResume, trainConfigJson, truncateLogForResume } from "./resume.ts";

/** Result of {@linkcode train}. */
export interface TrainResult {
  /** Best parameters (by validation score); owned by the caller. */
  params: Params;
  /** Step at which the best parameters were recorded. */
  bestStep: number;
  /** Best validation score. */
  bestScore: number;
  /** Steps actually taken (with a `restartDropout` restart, the discarded ones included). */
  stepsTaken: number;
  /** Whether early stopping ended the run. */
  stoppedEarly: boolean;
  /**
   * Steps of the standard-mode first part (`standardFirstFraction`; 0 without one): the planned
   * count, or fewer where the part's validation stopped improving for `patience` validations.
   */
  standardFirst: number;
  /** Every validation. */
  history: ValRecord[];
  /** Wall-clock seconds. */
  seconds: number;
}

/** What {@linkcode trainStep} returns. */
export interface TrainStepResult {
  /** Parameters after the update (the previous ones are disposed unless the step was skipped). */
  params: Params;
  /** Optimiser state after the update. */
  state: OptState;
  /** Loss before the update. */
  loss: number;
  /** Pre-clip global gradient norm. */
  gradNorm: number;
  /** True when the gradient or loss was not finite and nothing was updated. */
  skipped: boolean;
  /** Pre-clip gradient norm of each block and other group (with `groupNorms`). */
  groupNorms?: Record<string, number>;
}

/** Options of {@linkcode trainStep}. */
export interface TrainStepOptions {
  /** The optimiser that updates the parameters. */
  optimizer: Optimizer;
  /** Global-norm clipping threshold (default 1). */
  clipNorm?: number;
  /** Dropout key of the step. */
  key: Key;
  /** Mode to train (default: the model's first mode). */
  mode?: Mode;
  /** Weight of the cross-mode distillation term (see {@linkcode TrainOptions.distill}). */
  distill?: number;
  /** Weight of feature distillation (see {@linkcode TrainOptions.distillFeatures}). */
  distillFeatures?: number;
  /** Recompute block activations in the backward pass (see {@linkcode TrainOptions.remat}). */
  remat?: boolean;
  /** Dropout rates of the step in place of the model's (see {@linkcode TrainOptions.restartDropout}). */
  dropout?: DropoutRates;
  /** Also return the gradient norm of each block (see `groupGradNorms`; default false). */
  groupNorms?: boolean;
}

/**
 * One optimisation step on a prepared batch: masked Poisson loss, gradients, global-norm
 * clipping, optimiser update. Consumes `current` (its tensors are disposed when replaced); the
 * batch stays owned by the caller.
 *
 * @example
 * ```ts
 * import { adamw, key, lorenzDataset, maskedBatch, trainStep, transformerFor } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2, trialsPerCondition: 4 });
 * const model = transformerFor(ds, { dModel: 16, nLayers: 1 });
 * const optimizer = adamw({ lr: 1e-3 });
 * const params = model.init(key(0));
 * const batch = maskedBatch(ds, ds.split.train, { key: key(1) });
 * const r = await trainStep(model, { params, state: optimizer.init(params) }, batch, {
 *   optimizer,
 *   key: key(2),
 * });
 * ```
 */
export async function trainStep(
  model: Model,
  current: { params: Params; state: OptState },
  batch: TrainingBatch,
  opts: TrainStepOptions,
): Promise<TrainStepResult> {
  const { params, state } = current;
  const mode = opts.mode ?? model.modes?.[0] ?? "standard";
  const all = flatten(params);
  // Parameters the mode does not touch get no gradient and no update (as PyTorch skips
  // parameters whose .grad is None); their moments and step counts are kept as they are.
  const leaves = model.usesParam ? all.filter((l) => model.usesParam!(l.path, mode)) : all;
  const distill = opts.distill ?? 0;
  const distillFeatures = opts.distillFeatures ?? 0;
  let teacher: tf.Tensor | undefined;
  // the streams after every block, kept past the applies' scopes (disposed below)
  const teacherStreams: Record<string, tf.Tensor> = {};
  const studentStreams: Record<string, tf.Tensor> = {};
  const tapInto = (into: Record<string, tf.Tensor>) => ({
    record(name: string, x: tf.Tensor) {
      into[name] = tf.keep(x);
    },
  });
  const features = distillFeatures > 0 && mode === "spiking";
  if ((distill > 0 || features) && mode === "spiking") {
    if (!model.modes?.includes("standard")) {
      throw new Error(
        `distillation needs a model that also runs in standard mode; this one runs in ${
          model.modes?.join(", ")
        }`,
      );
    }
    teacher = model.apply(params, { input: batch.input, inputMask: batch.mask }, {
      training: false,
      mode: "standard",
      taps: features ? tapInto(teacherStreams) : undefined,
    });
  }
  const { value, grads } = tf.tidy(() =>
    tf.valueAndGrads((...xs: tf.Tensor[]) => {
      const byPath = new Map(leaves.map((l, i) => [l.path, xs[i]]));
      const p = unflatten(
        all.map((l) => ({ path: l.path, tensor: byPath.get(l.path) ?? l.tensor })),
      );
      const logRates = model.apply(p, { input: batch.input, inputMask: batch.mask }, {
        training: true,
        key: opts.key,
        mode,
        remat: opts.remat,
        taps: features ? tapInto(studentStreams) : undefined,
        dropout: opts.dropout,
      });
      let loss: tf.Tensor = countLoss(p, logRates, batch);
      if (teacher && distill > 0) {
        loss = tf.add(loss, tf.mul(poissonKl(teacher, logRates), distill));
      }
      if (features) {
        loss = tf.add(
          loss,
          tf.mul(streamDistillLoss(studentStreams, teacherStreams), distillFeatures),
        );
      }
      return loss as tf.Scalar;
    })(leaves.map((l) => l.tensor))
  );
  teacher?.dispose();
  tf.dispose([...Object.values(teacherStreams), ...Object.values(studentStreams)]);
  const gradTree = unflatten(leaves.map((l, i) => ({ path: l.path, tensor: grads[i] })));
  const clipped = await clipByGlobalNorm(gradTree, opts.clipNorm ?? 1);
  const groupNorms = opts.groupNorms ? await groupGradNorms(gradTree) : undefined;
  const loss = (await value.data())[0];
  value.dispose();
  const skipped = !Number.isFinite(clipped.norm) || !Number.isFinite(loss);
  let out = { params, state };
  if (!skipped) {
    // the gradient tree holds only the used parameters: adamw leaves the others (and their
    // per-parameter step counts) as they are
    out = opts.optimizer.update(clipped.grads, state, params);
    disposeTree(params);
    disposeTree(state.mu);
    disposeTree(state.nu);
  }
  if (clipped.grads !== gradTree) disposeTree(clipped.grads);
  disposeTree(gradTree);
  const result = { params: out.params, state: out.state, loss, gradNorm: clipped.norm, skipped };
  return groupNorms ? { ...result, groupNorms } : result;
}

/**
 * The masked count loss of a batch: negative binomial when the parameters carry a learned
 * per-neuron `logTheta` (models built with `likelihood: "negbinomial"`), else Poisson.
 */
function countLoss(p: Params, logRates: tf.Tensor, batch: TrainingBatch): tf.Scalar {
  const logTheta = p.logTheta as tf.Tensor | undefined;
  return logTheta
    ? negBinomialNll(logRates, logTheta, batch.target, { mask: batch.weight })
    : poissonNll(logRates, batch.target, { mask: batch.weight });
}

/**
 * Mean Poisson KL divergence KL(Poisson(e^t) ‖ Poisson(e^s)) = e^t·(t − s) − e^t + e^s over all
 * elements, for teacher log-rates `t` (constants) and student log-rates `s`.
 */
function poissonKl(t: tf.Tensor, s: tf.Tensor): tf.Scalar {
  const rt = tf.exp(t);
  return tf.mean(tf.add(tf.sub(tf.mul(rt, tf.sub(t, s)), rt), tf.exp(s)));
}

async function appendLine(path: string, obj: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(obj) + "\n", { append: true });
}

function cloneTree(p: Params): Params {
  return unflatten(
    flatten(p).map(({ path, tensor }) => ({ path, tensor: tf.keep(tensor.clone()) })),
  );
}

/**
 * Train `model` on the training trials of `ds` by masked modeling (see the module docs).
 *
 * @example
 * ```ts
 * import { lorenzDataset, train, transformerFor } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 4, trialsPerCondition: 4 });
 * const model = transformerFor(ds, { dModel: 16, nLayers: 1 });
 * const result = await train(model, ds, { steps: 20, lr: 1e-3, evalEvery: 10 });
 * console.log(result.bestScore);
 * ```
 */
export async function train(
  model: Model,
  ds: SpikeDataset,
  opts: TrainOptions = {},
): Promise<TrainResult> {
  const o = resolveTrainOptions(opts);
  if (o.kernels === undefined) return await trainResolved(model, ds, o);
  // the kernel build for this run only (kernels/precision.ts), then the caller's again
  const before = kernelPrecision();
  setKernelPrecision(o.kernels);
  try {
    return await trainResolved(model, ds, o);
  } finally {
    setKernelPrecision(before);
  }
}

async function trainResolved(
  model: Model,
  ds: SpikeDataset,
  o: ReturnType<typeof resolveTrainOptions>,
): Promise<TrainResult> {
  if (ds.heldIn.length !== model.config.nInputs || ds.counts.shape[2] !== model.config.nOutputs) {
    throw new Error(
      `model expects ${model.config.nInputs} held-in of ${model.config.nOutputs} neurons, dataset has ` +
        `${ds.heldIn.length} held-in of ${ds.counts.shape[2]}`,
    );
  }
  if (
    ds.counts.shape[1] !== model.config.bins ||
    ds.forwardCounts.shape[1] !== model.config.forwardBins
  ) {
    throw new Error(
      `model expects ${model.config.bins} bins + ${model.config.forwardBins} forward bins, dataset has ` +
        `${ds.counts.shape[1]} + ${ds.forwardCounts.shape[1]}`,
    );
  }
  const valTrials = ds.split.val.length > 0 ? ds.split.val : ds.split.train;
  const modes = model.modes ?? ["standard"];
  const schedule0 = o.modeSchedule ?? modes[0];
  const trainedModes: Mode[] = schedule0 === "alternate" ? ["standard", "spiking"] : [schedule0];
  for (const m of trainedModes) {
    if (!modes.includes(m)) {
      throw new Error(
        `modeSchedule "${schedule0}" needs mode "${m}", but the model runs in ${modes.join(", ")}`,
      );
    }
  }
  if (o.inferenceTimesteps !== undefined && !modes.includes("spiking")) {
    throw new Error(
      `train option "inferenceTimesteps" sets the spiking mode's timesteps after training, but the ` +
        `model runs in ${modes.join(", ")} mode only`,
    );
  }
  // the standard steps first (standardFirstFraction), at least one step left for the schedule;
  // the part ends sooner when its validation stops improving (below), so `first` can move
  const plannedFirst = Math.min(
    Math.round((o.standardFirstFraction ?? 0) * o.steps),
    o.steps - 1,
  );
  if ((o.standardFirstFraction ?? 0) > 0 && schedule0 === "standard") {
    throw new Error(
      `train option "standardFirstFraction" needs modeSchedule "alternate" or "spiking" after ` +
        `its standard steps, found "standard"`,
    );
  }
  const runKey = o.key ?? makeKey(o.seed);
  const [kInit, kTrain] = split(runKey);
  const trainConfig = trainConfigJson(o, model, ds);
  const resume = o.resumeFrom;
  if (resume) {
    if (o.initialParams) {
      throw new Error(`train options "resumeFrom" and "initialParams" exclude each other`);
    }
    checkResume(resume, trainConfig);
  }
  let params = resume ? resume.params : o.initialParams ?? model.init(kInit);
  // standardFirstEarlyEnd "restart" goes back to the initial parameters: model.init(kInit)
  // again, or a copy of the caller's (which the steps dispose)
  const restart = o.standardFirstEarlyEnd === "restart" && plannedFirst > 0;
  let initialCopy = restart && o.initialParams ? cloneTree(o.initialParams) : undefined;
  // with restartDropout a restart runs the planned schedule again from the step it happened at
  // (`offset`, > 0 once it has: a part ends after at least one step); the discarded steps do not
  // count against `steps`
  let offset = resume?.restartedAt ?? 0;
  let total = o.steps + offset;
  let first = resume?.standardFirst ?? plannedFirst;
  const shape: ScheduleShape = {
    schedule: schedule0,
    switchEvery: o.switchEvery,
    standardPerSpiking: o.standardPerSpiking,
    standardFirst: first,
  };
  // one warm-up and cosine decay over each part of the run (standardFirstFraction splits it); the
  // first part's is planned over its full length, the second's over the steps it actually has
  const part = (n: number, scale = 1) => ({
    totalSteps: n,
    warmupSteps: Math.round(o.warmupFraction * n),
    peakLr: o.lr * scale,
    minLr: o.minLr,
  });
  const part1 = part(plannedFirst);
  let part2 = part(total - first, o.secondPartLrScale);
  // the second part starts at step `f`: the mode schedule and its lr plan (over the steps left)
  const secondPartAt = (f: number) => {
    first = f;
    shape.standardFirst = f;
    part2 = part(total - f, o.secondPartLrScale);
  };
  const schedule = (step: number) =>
    step < first ? cosineWarmup(step - offset, part1) : cosineWarmup(step - first, part2);
  const opt = adamw({ lr: schedule, weightDecay: o.weightDecay });
  let state = resume ? resume.opt : opt.init(params);
  // the emaDecay average: what validation scores and the checkpoint keeps (starts as params)
  let ema = o.emaDecay ? resume?.ema ?? cloneTree(params) : undefined;
  let emaUpdates = resume?.emaUpdates ?? 0;
  const emaRestart = () => {
    if (!ema) return;
    disposeTree(ema);
    ema = cloneTree(params);
    emaUpdates = 0;
  };
  const logPath = o.outDir ? `${o.outDir}/log.jsonl` : undefined;
  if (o.outDir) {
    await Deno.mkdir(o.outDir, { recursive: true });
    if (resume) await truncateLogForResume(logPath!, resume.step);
    else await Deno.writeTextFile(logPath!, "");
  }
  const bar = o.progress
    ? new cliProgress.SingleBar({
      format:
        "train [{bar}] {percentage}% | {value}/{total} | loss {loss} | val {val} | eta {eta}s",
      noTTYOutput: true,
      notTTYSchedule: 2000,
      stream: process.stderr,
      hideCursor: false,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(total, resume?.step ?? 0, { loss: "-", val: "-" });

  const t0 = performance.now();
  const secondsBefore = resume?.seconds ?? 0;
  const elapsed = () => secondsBefore + (performance.now() - t0) / 1000;
  const history: ValRecord[] = resume ? [...resume.history] : [];
  let best: Params | undefined = resume?.best;
  let bestScore = resume?.bestScore ?? -Infinity;
  let bestStep = resume?.bestStep ?? 0;
  let sinceBest = resume?.sinceBest ?? 0;
  let lossSum = resume?.lossSum ?? 0;
  let lossN = resume?.lossN ?? 0;
  let stoppedEarly = resume?.stoppedEarly ?? false;
  let step = resume?.step ?? 0;
  const versions = versionMetadata();
  const saveState = async (stepsTaken: number) => {
    if (!o.outDir) return;
    await saveTrainState(`${o.outDir}/state.safetensors`, {
      step: stepsTaken,
      params,
      opt: state,
      best,
      bestScore,
      bestStep,
      sinceBest,
      history,
      lossSum,
      lossN,
      stoppedEarly,
      standardFirst: first,
      ...(offset > 0 ? { restartedAt: offset } : {}),
      ...(ema ? { ema, emaUpdates } : {}),
      seconds: elapsed(),
      trainConfig,
      metadata: { ...(o.metadata ?? {}), modelConfig: JSON.stringify(model.config) },
    });
  };
  const nTrain = ds.split.train.length;
  const bs = Math.min(o.batchSize, nTrain);
  // diagnostics: the spike statistics' batch (the first validation trials, unmasked)
  const diag = o.diagnostics;
  const diagBatch = diag && trainedModes.includes("spiking")
    ? maskedBatch(ds, valTrials.subarray(0, Math.min(bs, valTrials.length)), {
      key: makeKey(0),
      unmasked: true,
    })
    : undefined;
  for (; step < total && !stoppedEarly; step++) {
    if (first > 0 && step === first) {
      // the second part starts from the first part's best parameters (on a small recording the
      // standard mode alone overfits well before the planned end), and its validation scores
      // other modes, so its best starts afresh; with standardFirstEarlyEnd "restart", a part
      // that patience ended (before or at its planned end: its best is `patience` validations
      // behind) is discarded and the second starts where the first did, or, with
      // restartDropout, the whole plan starts again there, once, with those dropout rates
      if (restart && offset === 0 && o.patience > 0 && sinceBest >= o.patience) {
        disposeTree(params);
        disposeTree(state.mu);
        disposeTree(state.nu);
        if (best) disposeTree(best);
        params = initialCopy ?? model.init(kInit);
        initialCopy = undefined;
        // zero moments and per-parameter counts; the global step keeps the lr schedule's place
        state = { ...opt.init(params), step: state.step };
        if (o.restartDropout) {
          // the whole planned schedule again, regularised: its first part starts here
          offset = step;
          total = o.steps + offset;
          secondPartAt(offset + plannedFirst);
          bar?.setTotal(total);
        }
      } else if (best) {
        disposeTree(params);
        params = best;
      }
      emaRestart();
      best = undefined;
      bestScore = -Infinity;
      bestStep = 0;
      sinceBest = 0;
    }
    const [kBatch, kMask, kDrop] = split(foldIn(kTrain, step), 3);
    const perm = permutation(kBatch, nTrain).subarray(0, bs);
    const trials = Int32Array.from(perm, (i) => ds.split.train[i]);
    const batch = maskedBatch(ds, trials, { key: kMask, masking: o.masking });
    const mode: Mode = modeOfStep(step, shape);
    const diagDue = diag !== undefined &&
      stepOfMode(step, shape) % diag.every === 0;
    // spike statistics of the parameters this step starts from (step 0: the initialisation)
    const spikes = diagDue && mode === "spiking"
      ? await spikeDiagnostics(model, params, { input: diagBatch!.input })
      : undefined;
    const res = await trainStep(model, { params, state }, batch, {
      optimizer: opt,
      clipNorm: o.clipNorm,
      key: kDrop,
      mode,
      distill: o.distill,
      distillFeatures: o.distillFeatures,
      remat: o.remat,
      dropout: offset > 0 ? o.restartDropout : undefined,
      groupNorms: diagDue,
    });
    disposeBatch(batch);
    params = res.params;
    state = res.state;
    const { loss, skipped } = res;
    const clipped = { norm: res.gradNorm };
    const lr = schedule(step);
    if (!skipped) {
      lossSum += loss;
      lossN++;
      if (ema) {
        const next = emaUpdate(ema, params, { decay: o.emaDecay!, updates: emaUpdates++ });
        disposeTree(ema);
        ema = next;
      }
    }
    let diagnostics: DiagnosticsRecord | undefined;
    if (diagDue) {
      diagnostics = { kind: "diagnostics", step, mode, gradNorms: res.groupNorms! };
      if (spikes) {
        diagnostics.firingRates = spikes.firingRates;
        diagnostics.deadFraction = spikes.deadFraction;
      }
      if (logPath) await appendLine(logPath, diagnostics);
    }
    const info = { step, loss, lr, gradNorm: clipped.norm, skipped, mode };
    o.onStep?.(diagnostics ? { ...info, diagnostics } : info);
    if (logPath && (step % 10 === 0 || skipped)) {
      await appendLine(logPath, {
        kind: "train",
        step,
        mode,
        loss,
        lr,
        gradNorm: clipped.norm,
        skipped,
      });
    }
    bar?.update(step + 1, { loss: loss.toFixed(4) });

    const last = step === total - 1;
    // the first part's last step is validated too: the second part starts from its best
    if ((step + 1) % o.evalEvery === 0 || last || step + 1 === first) {
      const byMode: Partial<Record<Mode, number>> = {};
      let metric = "";
      const scored: Mode[] = step < first ? ["standard"] : trainedModes;
      const scoredParams = ema ?? params;
      for (const m of scored) {
        const v = await validationScore(model, scoredParams, ds, { trials: valTrials, mode: m });
        byMode[m] = v.score;
        metric = v.metric;
      }
      const score = scored.reduce((a, m) => a + byMode[m]!, 0) / scored.length;
      const rec: ValRecord = {
        step: step + 1,
        score,
        metric,
        byMode,
        trainLoss: lossN ? lossSum / lossN : NaN,
      };
      history.push(rec);
      lossSum = 0;
      lossN = 0;
      bar?.update(step + 1, { val: `${metric} ${score.toFixed(4)}` });
      if (logPath) {
        await appendLine(logPath, {
          kind: "val",
          ...rec,
          seconds: elapsed(),
        });
      }
      if (score > bestScore) {
        bestScore = score;
        bestStep = step + 1;
        sinceBest = 0;
        if (best) disposeTree(best);
        best = cloneTree(scoredParams);
        if (o.outDir) {
          await saveCheckpoint(`${o.outDir}/checkpoint.safetensors`, best, {
            metadata: {
              ...(o.metadata ?? {}),
              ...versions,
              step: String(bestStep),
              [metric]: String(score),
              modelConfig: JSON.stringify(model.config),
              trainConfig,
            },
          });
        }
      } else if (o.patience > 0 && ++sinceBest >= o.patience) {
        if (step >= first) stoppedEarly = true;
        else {
          // the standard mode has stopped improving: the first part ends here, and the second
          // part has the steps left (its schedule is planned over them)
          secondPartAt(step + 1);
        }
      }
    }
    if (stoppedEarly || last || (step + 1) % o.checkpointEvery === 0) await saveState(step + 1);
    if (stoppedEarly) {
      step++;
      break;
    }
  }
  bar?.stop();
  if (diagBatch) disposeBatch(diagBatch);
  if (!best) {
    // No finite validation score was ever seen: hand back the last parameters.
    best = cloneTree(ema ?? params);
    bestStep = Math.min(step, total);
  }
  disposeTree(params);
  if (ema) disposeTree(ema);
  disposeTree(state.mu);
  disposeTree(state.nu);
  if (initialCopy) disposeTree(initialCopy);
  return {
    params: best,
    bestStep,
    bestScore,
    stepsTaken: Math.min(step, total),
    stoppedEarly,
    standardFirst: first,
    history,
    seconds: elapsed(),
  };
}
