/**
 * An exponential moving average of the parameters (Polyak averaging), the `emaDecay` train
 * option's shadow weights: validation, the best checkpoint and the parameters `train` returns
 * are the average, while the optimiser keeps stepping the raw parameters.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { flatten, type Params, unflatten } from "../core/tree.ts";

/** Options of {@linkcode emaUpdate}. */
export interface EmaUpdateOptions {
  /** The decay d in [0, 1): the weight the average keeps at each update once warmed up. */
  decay: number;
  /** Updates the average has had since it started (0 for the first). */
  updates: number;
}

/**
 * The decay applied at update number `updates` (0-based): `min(d, (1 + n) / (10 + n))`, as
 * TensorFlow's `ExponentialMovingAverage` with `num_updates`. The average starts as the initial
 * parameters; without the warm-up a decay of 0.999 would keep most of that starting point for
 * thousands of steps.
 *
 * @example
 * ```ts
 * import { emaDecayAt } from "@hest/hest";
 * emaDecayAt(0, { decay: 0.999 }); // 0.1
 * emaDecayAt(1e6, { decay: 0.999 }); // 0.999
 * ```
 */
export function emaDecayAt(updates: number, opts: { decay: number }): number {
  const d = opts.decay;
  if (typeof d !== "number" || !(d >= 0 && d < 1)) {
    throw new RangeError(`EMA decay: expected a number in [0, 1), found ${d}`);
  }
  if (!Number.isSafeInteger(updates) || updates < 0) {
    throw new RangeError(`EMA updates: expected an integer >= 0, found ${updates}`);
  }
  return Math.min(d, (1 + updates) / (10 + updates));
}

/**
 * One update of a parameter average: `ema + (1 − d)·(params − ema)` for every leaf, with d =
 * {@linkcode emaDecayAt}`(updates)`. Returns a new tree owned by the caller; neither input is
 * disposed. Both trees must have the same paths and shapes.
 *
 * @example
 * ```ts
 * import { emaUpdate, tf } from "@hest/hest";
 * const ema = { w: tf.tensor1d([0, 0]) };
 * const next = emaUpdate(ema, { w: tf.tensor1d([10, 20]) }, { decay: 0.5, updates: 0 });
 * // d = min(0.5, 1 / 10) = 0.1: next.w = [9, 18]
 * ```
 */
export function emaUpdate(ema: Params, params: Params, opts: EmaUpdateOptions): Params {
  const d = emaDecayAt(opts.updates, opts);
  const a = flatten(ema), p = flatten(params);
  const same = a.length === p.length &&
    a.every((l, i) =>
      l.path === p[i].path && l.tensor.shape.length === p[i].tensor.shape.length &&
      l.tensor.shape.every((s, j) => s === p[i].tensor.shape[j])
    );
  if (!same) {
    throw new Error(
      `emaUpdate: expected the average and the parameters to have the same paths and shapes, ` +
        `found [${a.map((l) => `${l.path} ${l.tensor.shape}`).join("; ")}] and [${
          p.map((l) => `${l.path} ${l.tensor.shape}`).join("; ")
        }]`,
    );
  }
  const next = tf.tidy(() =>
    a.map((l, i) => tf.add(l.tensor, tf.mul(tf.sub(p[i].tensor, l.tensor), 1 - d)))
  );
  return unflatten(a.map((l, i) => ({ path: l.path, tensor: next[i] })));
}
