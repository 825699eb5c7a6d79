/**
 * Resuming a training run: what identifies a run's trajectory (options, model, data, seed) as the
 * JSON a saved training state keeps, the check that refuses a state made with other settings
 * (naming every difference), and cutting `log.jsonl` back to the resumed step.
 *
 * @module
 */
import type { SpikeDataset } from "../data/dataset.ts";
import type { Model } from "../model/hybrid.ts";
import { writeFileAtomic } from "../core/io.ts";
import { key as makeKey } from "../core/random.ts";
import { canonicalJson, type TrainState } from "./train_state.ts";
import {
  type ResolvedTrainOptions,
  resolveTrainOptions,
  type TrainOptions,
} from "./train_options.ts";

/**
 * Cut `log.jsonl` back to what a run resumed from the state after `step` steps has already done
 * (train records of step indices < `step`, val and resume records up to `step`; a line torn by
 * the interruption goes too) and mark the resumption, atomically: the resumed run writes the
 * later records again, and a plot must not draw them twice.
 */
export async function truncateLogForResume(path: string, step: number): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new Error(`cannot read ${path} to resume it: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const kept: string[] = [];
  for (const line of text.split("\n")) {
    let rec: { kind?: unknown; step?: unknown };
    try {
      rec = JSON.parse(line);
    } catch {
      continue;
    }
    if (rec === null || typeof rec !== "object" || typeof rec.step !== "number") continue;
    // train and diagnostics records carry the step index, the others the steps taken
    const index = rec.kind === "train" || rec.kind === "diagnostics";
    if (index ? rec.step < step : rec.step <= step) kept.push(line);
  }
  kept.push(JSON.stringify({ kind: "resume", step }));
  await writeFileAtomic(path, kept.join("\n") + "\n");
}

/** FNV-1a over 32-bit words. */
function fnv1a(h: number, words: Uint32Array | Int32Array): number {
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 16777619) >>> 0;
  return h;
}

/** What identifies a dataset for resuming: sizes, splits and a hash of the counts. */
function dataFingerprint(ds: SpikeDataset): Record<string, unknown> {
  const c = ds.counts.data;
  let h = fnv1a(2166136261, new Uint32Array(c.buffer, c.byteOffset, c.length));
  for (const s of [ds.heldIn, ds.heldOut, ds.split.train, ds.split.val]) h = fnv1a(h, s);
  return {
    name: ds.name,
    shape: ds.counts.shape,
    forwardBins: ds.forwardCounts.shape[1],
    heldOut: ds.heldOut.length,
    split: [ds.split.train.length, ds.split.val.length, ds.split.test.length],
    hash: h.toString(16),
  };
}

/** Everything that decides a run's trajectory, as canonical JSON (stored in the state). */
export function trainConfigJson(
  o: ResolvedTrainOptions,
  model: Model,
  ds: SpikeDataset,
): string {
  const notTrajectory = [
    "outDir",
    "progress",
    "metadata",
    "onStep",
    "initialParams",
    "resumeFrom",
    "checkpointEvery",
    "key",
    "seed",
    "diagnostics",
    // how the run is scored after training, not its trajectory
    "inferenceTimesteps",
    "calibrateRates",
  ];
  const options = Object.fromEntries(
    Object.entries(o).filter(([k]) => !notTrajectory.includes(k)),
  );
  return canonicalJson({
    options,
    runKey: [...(o.key ?? makeKey(o.seed))],
    model: model.config,
    data: dataFingerprint(ds),
  });
}

function describeDiffs(saved: unknown, now: unknown, path: string, out: string[]): void {
  const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(saved) && isObj(now)) {
    const a = saved as Record<string, unknown>, b = now as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      describeDiffs(a[k], b[k], path ? `${path}.${k}` : k, out);
    }
  } else if (JSON.stringify(saved) !== JSON.stringify(now)) {
    const name = path === "runKey" ? "seed/key" : path;
    out.push(
      `${name}: saved ${JSON.stringify(saved) ?? "unset"}, now ${JSON.stringify(now) ?? "unset"}`,
    );
  }
}

/** Throw, naming every difference, when a saved state was made with other settings. */
export function checkResume(saved: TrainState, trainConfig: string): void {
  if (saved.trainConfig === trainConfig) return;
  const diffs: string[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(saved.trainConfig);
  } catch {
    parsed = saved.trainConfig;
  }
  describeDiffs(parsed, JSON.parse(trainConfig), "", diffs);
  throw new Error(
    `train option "resumeFrom": the saved state was made with different settings (` +
      `${diffs.join("; ") || "unreadable saved settings"}); resume with the same options, model, ` +
      `data and seed, or start a new run`,
  );
}

/**
 * Throw unless `opts.resumeFrom` can continue a run of `model` on `ds` with `opts`: the saved
 * state must come from the same options, model, data and seed (the error names each
 * difference). {@linkcode train} runs the same check; call this one to refuse a state before
 * anything else happens.
 *
 * @example
 * ```ts
 * import { checkResumeState, loadTrainState, lorenzDataset, train, transformerFor } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2, trialsPerCondition: 4 });
 * const model = transformerFor(ds, { dModel: 16, nLayers: 1 });
 * const opts = { steps: 4, evalEvery: 2, outDir: "/tmp/hest-resume-example" };
 * await train(model, ds, { ...opts, steps: 2 });
 * const resumeFrom = await loadTrainState(`${opts.outDir}/state.safetensors`);
 * try {
 *   checkResumeState(model, ds, { ...opts, resumeFrom });
 * } catch (err) {
 *   console.log((err as Error).message); // … options.steps: saved 2, now 4 …
 * }
 * ```
 */
export function checkResumeState(model: Model, ds: SpikeDataset, opts: TrainOptions): void {
  if (!opts.resumeFrom) {
    throw new TypeError(`checkResumeState needs train option "resumeFrom", found none`);
  }
  checkResume(opts.resumeFrom, trainConfigJson(resolveTrainOptions(opts), model, ds));
}
