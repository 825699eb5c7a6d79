/**
 * Shared helpers of the training tests: a small Lorenz dataset, a tiny hybrid model's
 * configuration, and a run that a simulated crash stops at a given step.
 *
 * @module
 */
import assert from "node:assert/strict";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import type { SpikeDataset } from "../lib/data/dataset.ts";
import type { Model } from "../lib/model/hybrid.ts";
import { train } from "../lib/train/train.ts";
import { flatten, type Params } from "../lib/core/tree.ts";
import type { TrainOptions } from "../lib/train/train_options.ts";

/** 3 conditions × 6 trials of 12 bins (+ 2 forward): a dataset a step trains on in milliseconds. */
export function tinyLorenz(): SpikeDataset {
  return lorenzDataset({ conditions: 3, trialsPerCondition: 6, bins: 12, forwardBins: 2 });
}

/** A 3-block hybrid of width 8, T = 2, no dropout. */
export const TINY_HYBRID = {
  dModel: 8,
  nLayers: 3,
  nHeads: 2,
  dFF: 16,
  timesteps: 2,
  dropout: 0,
  embedDropout: 0,
  rateDropout: 0,
};

/**
 * A run whose standard-mode validation falls at step 3 with lr 0.3 on the tiny one-block hybrid:
 * patience 1 ends its first part (planned 4 steps) there.
 */
export const JUMPY: TrainOptions = {
  steps: 10,
  standardFirstFraction: 0.4,
  batchSize: 4,
  lr: 0.3,
  warmupFraction: 0.25,
  evalEvery: 1,
  checkpointEvery: 1,
  patience: 1,
  modeSchedule: "alternate",
};

/** The simulated crash of {@linkcode trainUntilCrash}. */
export class Crash extends Error {}

/**
 * Train with `opts` until the run takes step `at`, where a {@linkcode Crash} stops it (asserted);
 * `seen` gets every step taken before. The run's folder keeps the last state it wrote.
 */
export async function trainUntilCrash(
  model: Model,
  ds: SpikeDataset,
  opts: TrainOptions & { at: number; seen?: (step: number) => void },
): Promise<void> {
  const { at, seen, ...o } = opts;
  await assert.rejects(
    train(model, ds, {
      ...o,
      onStep: ({ step }) => {
        seen?.(step);
        if (step === at) throw new Crash("simulated crash");
      },
    }),
    Crash,
  );
}

/** Bitwise equality of two parameter trees (same paths, shapes and float bits). */
export async function assertSameBits(a: Params, b: Params, what: string): Promise<void> {
  const la = flatten(a), lb = flatten(b);
  assert.deepEqual(la.map((l) => l.path), lb.map((l) => l.path), `${what}: paths`);
  for (let i = 0; i < la.length; i++) {
    assert.deepEqual(la[i].tensor.shape, lb[i].tensor.shape, `${what} ${la[i].path}: shape`);
    const x = new Uint32Array((await la[i].tensor.data() as Float32Array).slice().buffer);
    const y = new Uint32Array((await lb[i].tensor.data() as Float32Array).slice().buffer);
    let diff = -1;
    for (let j = 0; j < x.length && diff < 0; j++) if (x[j] !== y[j]) diff = j;
    assert.equal(diff, -1, `${what} ${la[i].path}: first differing element ${diff}`);
  }
}
