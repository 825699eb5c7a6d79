/**
 * The energy row of a run folder's scoring: operations counted on one forward pass of up to 32
 * trials, priced per kind (`lib/eval/energy.ts`), per trial.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import type { Params } from "../core/tree.ts";
import { type SpikeDataset, take3d } from "../data/dataset.ts";
import { energyReport } from "../eval/energy.ts";
import type { OpsByKind } from "../eval/energy_constants.ts";
import type { Model } from "../model/hybrid.ts";
import type { Mode } from "../nn/types.ts";

/** Energy of a run's inference, per trial (from {@linkcode energyReport}). */
export interface RunEnergy {
  /** Energy per trial, µJ. */
  perSampleUj: number;
  /** Energy per bin, nJ. */
  perBinNj: number;
  /** MACs per trial. */
  macs: number;
  /** ACs per trial. */
  acs: number;
  /** MACs per trial of the same network run densely. */
  denseMacs: number;
  /** Operations per trial by kind (`other` = GELU + add + mul); `perSampleUj` prices them all. */
  opsByKind: OpsByKind;
  /** Energy per trial by kind, µJ (sums to `perSampleUj`). */
  energyByKindUj: OpsByKind;
  /** NeuroBench effective MACs per trial (on non-zero real inputs). */
  effectiveMacs: number;
  /** NeuroBench effective ACs per trial (for non-zero spike inputs). */
  effectiveAcs: number;
  /** Fraction of zero elements over the inputs of the weight products (NeuroBench). */
  activationSparsity: number;
  /** Trials the counts were measured on. */
  trials: number;
}

/** Options of {@linkcode runEnergy}. */
export interface RunEnergyOptions {
  /** The dataset whose trials are run. */
  dataset: SpikeDataset;
  /** The split whose first 32 trials are run (the training split when it is empty). */
  split: "train" | "val" | "test";
  /** The mode to count. */
  mode: Mode;
}

/**
 * Energy per trial of `mode` inference on up to 32 trials of a split: the operations of one
 * forward pass on their unmasked held-in counts, counted and priced by `energyReport`.
 *
 * @example
 * ```ts
 * import { key, lorenzDataset, runEnergy, transformerFor } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2, trialsPerCondition: 4 });
 * const model = transformerFor(ds, { dModel: 16, nLayers: 1 });
 * const params = model.init(key(0));
 * const e = await runEnergy(model, params, { dataset: ds, split: "test", mode: "standard" });
 * e.perSampleUj; // µJ per trial
 * ```
 */
export async function runEnergy(
  model: Model,
  params: Params,
  opts: RunEnergyOptions,
): Promise<RunEnergy> {
  const { dataset: ds, split, mode } = opts;
  const all = ds.split[split].length > 0 ? ds.split[split] : ds.split.train;
  const trials = Int32Array.from(all).subarray(0, 32);
  const held = take3d(ds.counts, trials, { last: ds.heldIn });
  const input = tf.tensor3d(held.data, [...held.shape]);
  try {
    const r = await energyReport(model, params, { input }, { mode });
    return {
      perSampleUj: r.perSample.energyPj / 1e6,
      perBinNj: r.perBin.energyPj / 1e3,
      macs: r.perSample.macs,
      acs: r.perSample.acs,
      denseMacs: r.perSample.denseMacs,
      opsByKind: r.perSample.opsByKind,
      energyByKindUj: Object.fromEntries(
        Object.entries(r.perSample.energyByKindPj).map(([k, pj]) => [k, pj / 1e6]),
      ) as OpsByKind,
      effectiveMacs: r.perSample.effectiveMacs,
      effectiveAcs: r.perSample.effectiveAcs,
      activationSparsity: r.perSample.activationSparsity,
      trials: trials.length,
    };
  } finally {
    input.dispose();
  }
}
