/**
 * Inference on a dataset: {@linkcode predict} runs a model without masking or dropout and returns
 * predicted rates (expected counts per bin) for chosen trials, and {@linkcode validationScore}
 * scores them in bits per spike, as {@linkcode train} does to pick its best parameters.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { type Key, key as makeKey } from "../core/random.ts";
import type { Params } from "../core/tree.ts";
import { type Array3D, type RatePredictions, type SpikeDataset, take3d } from "../data/dataset.ts";
import { bitsPerSpike } from "../eval/bits_per_spike.ts";
import type { SpikeStatsCollector } from "../model/blocks.ts";
import type { Model } from "../model/hybrid.ts";
import type { Mode } from "../nn/types.ts";
import { disposeBatch, maskedBatch } from "./masking.ts";

/** Options of {@linkcode predict}. */
export interface PredictOptions {
  /** Trials to predict (default: all trials of the dataset). */
  trials?: ArrayLike<number>;
  /** Trials per forward pass (default 64). */
  batchSize?: number;
  /** Mode to run (default: the model's first mode). */
  mode?: Mode;
  /** Receives every LIF site's spikes (hybrid models in spiking mode). */
  stats?: SpikeStatsCollector;
  /**
   * Key of the model's inference draws (random spike masks, Poisson input encoding), the same
   * for every batch (default `key(0)`; run folders pass one derived from the run's seed).
   */
  key?: Key;
}

/**
 * Predicted rates (expected counts per bin, all neurons) for trials of a dataset, in
 * inference mode (no masking, no dropout). Returns arrays over the selected trials.
 *
 * @example
 * ```ts
 * import { key, lorenzDataset, predict, transformerFor } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2, trialsPerCondition: 2 });
 * const model = transformerFor(ds, { dModel: 16, nLayers: 1 });
 * const preds = await predict(model, model.init(key(0)), ds);
 * ```
 */
export async function predict(
  model: Model,
  params: Params,
  ds: SpikeDataset,
  opts: PredictOptions = {},
): Promise<RatePredictions> {
  const trials = opts.trials ?? Int32Array.from({ length: ds.counts.shape[0] }, (_, i) => i);
  const bs = opts.batchSize ?? 64;
  const [, l, n] = ds.counts.shape;
  const f = ds.forwardCounts.shape[1];
  const rates = new Float32Array(trials.length * l * n);
  const fwd = new Float32Array(trials.length * f * n);
  const all = Int32Array.from(trials as ArrayLike<number>);
  const inferKey = opts.key ?? makeKey(0);
  for (let s = 0; s < all.length; s += bs) {
    const idx = all.subarray(s, Math.min(all.length, s + bs));
    const batch = maskedBatch(ds, idx, { key: makeKey(0), unmasked: true });
    const r = tf.tidy(() =>
      tf.exp(
        model.apply(
          params,
          { input: batch.input },
          { training: false, mode: opts.mode, stats: opts.stats, key: inferKey },
        ),
      )
    );
    const v = await r.data();
    r.dispose();
    disposeBatch(batch);
    for (let t = 0; t < idx.length; t++) {
      const src = t * (l + f) * n;
      rates.set(v.subarray(src, src + l * n), (s + t) * l * n);
      fwd.set(v.subarray(src + l * n, src + (l + f) * n), (s + t) * f * n);
    }
  }
  return {
    rates: { data: rates, shape: [trials.length, l, n] },
    forwardRates: { data: fwd, shape: [trials.length, f, n] },
  };
}

/** Options of {@linkcode validationScore}. */
export interface ValidationScoreOptions {
  /** Trials to score (default: the dataset's validation trials). */
  trials?: ArrayLike<number>;
  /** Mode to run (default: the model's first mode). */
  mode?: Mode;
}

/** What {@linkcode validationScore} returns. */
export interface ValidationScore {
  /** The score (bits per spike; higher is better). */
  score: number;
  /** Which score it is: `"coBps"`, `"fpBps"` or `"heldInBps"`. */
  metric: string;
}

/**
 * Validation score of `params` on `trials` (higher is better): co-bps of the held-out neurons
 * when there are any, else fp-bps of the forward window, else bits/spike of the held-in neurons.
 *
 * @example
 * ```ts
 * import { key, lorenzDataset, transformerFor, validationScore } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2, trialsPerCondition: 4 });
 * const model = transformerFor(ds, { dModel: 16, nLayers: 1 });
 * const { score, metric } = await validationScore(model, model.init(key(0)), ds);
 * ```
 */
export async function validationScore(
  model: Model,
  params: Params,
  ds: SpikeDataset,
  opts: ValidationScoreOptions = {},
): Promise<ValidationScore> {
  const trials = opts.trials ?? ds.split.val;
  const preds = await predict(model, params, ds, { trials, mode: opts.mode });
  const counts = take3d(ds.counts, trials);
  const quiet = { onWarning: () => {} };
  const sel = (a: Array3D, neurons: Int32Array) =>
    take3d(a, Int32Array.from({ length: a.shape[0] }, (_, i) => i), { last: neurons });
  if (ds.heldOut.length > 0) {
    return {
      score: await bitsPerSpike(sel(preds.rates, ds.heldOut), sel(counts, ds.heldOut), quiet),
      metric: "coBps",
    };
  }
  if (ds.forwardCounts.shape[1] > 0 && preds.forwardRates) {
    return {
      score: await bitsPerSpike(preds.forwardRates, take3d(ds.forwardCounts, trials), quiet),
      metric: "fpBps",
    };
  }
  return {
    score: await bitsPerSpike(sel(preds.rates, ds.heldIn), sel(counts, ds.heldIn), quiet),
    metric: "heldInBps",
  };
}
