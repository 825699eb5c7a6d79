/**
 * One bin of a causal forward pass with the state of the bins before it. The block functions
 * (lib/model/blocks.ts) take a cursor in their context: without one they compute every bin of
 * the sequence at once; with one their input holds one bin (`[..., 1, C]`) and every operation
 * that reads other bins — the Q/K and TIM convolutions, attention over keys and values, the
 * causal spike norm, the positions, random spike masks — reads what the cursor kept of the
 * earlier bins. That is how the stream (lib/infer/stream.ts) runs the model's own forward, one
 * bin at a time.
 *
 * The cursor's state is a flat record of tensors keyed by site name; each bin's cursor starts
 * from a copy of the previous record and replaces entries, never mutating a tensor, so a state
 * can be kept and branched. The tensors it stores are `tf.keep`-ed (some are made inside the
 * tidy scopes of the operations that call it); their owner disposes them.
 *
 * @module
 */
import { tf } from "../core/backend.ts";

/** Random spike masks of one block, for the whole sequence (`[T, B, H, L, ·]`). */
export interface BlockSpikeMasks {
  /** Keep mask of Q `[T, B, H, L, d]`. */
  q?: tf.Tensor;
  /** Keep mask of K `[T, B, H, L, d]`. */
  k?: tf.Tensor;
  /** Keep mask of the attention map `[T, B, H, L, L]`. */
  att?: tf.Tensor;
}

/** The state of earlier bins, as the block functions read it (see the module docs). */
export interface BinCursor {
  /** Index of the current bin (0-based, counting the forward window after the trial's bins). */
  readonly bin: number;
  /**
   * Append `x [..., 1, C]` (the current bin) to the last `size − 1` bins kept at `site` and
   * return them all, current bin last (`[..., ≤ size, C]`: fewer at the start of the stream,
   * where the full forward's causal convolution pads with zeros).
   */
  window(site: string, x: tf.Tensor, size: number): tf.Tensor;
  /** Append this bin's keys and values `[..., 1, d]` at `site`; return those of every bin so far. */
  keysValues(site: string, k: tf.Tensor, v: tf.Tensor): [tf.Tensor, tf.Tensor];
  /**
   * Add this bin's `x [T, B, 1, C]` to the running sums of `site` (over T and the bins so far,
   * as `causalSpikeNorm`); return them with their count.
   */
  runningSums(site: string, x: tf.Tensor): { sum: tf.Tensor; sumSq: tf.Tensor; n: tf.Tensor };
  /** The current bin's row of block `index`'s random spike mask `which`, if it has one. */
  spikeMask(index: number, which: keyof BlockSpikeMasks): tf.Tensor | undefined;
}

/** Options of {@linkcode binCursor}. */
export interface BinCursorOptions {
  /** Per block, the random spike masks of the full forward (absent: no masking). */
  masks?: readonly BlockSpikeMasks[];
}

/**
 * A cursor at bin `bin` over the state `cache` (a flat record the cursor fills in place: pass a
 * copy of the previous bin's record; an empty one at bin 0).
 *
 * @example
 * ```ts
 * import { binCursor, tf } from "@hest/hest";
 * const cache: Record<string, tf.Tensor> = {};
 * const c0 = binCursor(cache, 0);
 * c0.window("conv", tf.ones([1, 1, 2]), 3).shape; // [1, 1, 2]
 * const c1 = binCursor(cache, 1);
 * c1.window("conv", tf.zeros([1, 1, 2]), 3).shape; // [1, 2, 2]
 * ```
 */
export function binCursor(
  cache: Record<string, tf.Tensor>,
  bin: number,
  opts: BinCursorOptions = {},
): BinCursor {
  const masks = opts.masks ?? [];
  /** The record key of `site`'s `part` (no dots: the record is a parameter-style tree). */
  function slot(site: string, part: string): string {
    return `${site}_${part}`.replaceAll(".", "_");
  }
  /** Append along the bin axis (second to last). */
  function append(prev: tf.Tensor | undefined, x: tf.Tensor): tf.Tensor {
    return prev ? tf.concat([prev, x], x.rank - 2) : x;
  }
  /** The last `n` bins of `x` (all of them when it has fewer). */
  function last(x: tf.Tensor, n: number): tf.Tensor {
    const axis = x.rank - 2;
    const l = x.shape[axis];
    if (l <= n) return x;
    const begin = x.shape.map((_, i) => (i === axis ? l - n : 0));
    const size = x.shape.map((s, i) => (i === axis ? n : s));
    return tf.slice(x, begin, size);
  }
  return {
    bin,
    window(site, x, size) {
      const full = append(cache[slot(site, "window")], x);
      if (size > 1) cache[slot(site, "window")] = tf.keep(last(full, size - 1));
      return full;
    },
    keysValues(site, k, v) {
      const ks = append(cache[slot(site, "k")], k);
      const vs = append(cache[slot(site, "v")], v);
      cache[slot(site, "k")] = tf.keep(ks);
      cache[slot(site, "v")] = tf.keep(vs);
      return [ks, vs];
    },
    runningSums(site, x) {
      const sumX = tf.sum(x, 0);
      const sumSqX = tf.sum(tf.square(x), 0);
      const [a, b] = [slot(site, "sum"), slot(site, "sumSq")];
      const sum = cache[a] ? tf.add(cache[a], sumX) : sumX;
      const sumSq = cache[b] ? tf.add(cache[b], sumSqX) : sumSqX;
      cache[a] = tf.keep(sum);
      cache[b] = tf.keep(sumSq);
      return { sum, sumSq, n: tf.scalar(x.shape[0] * (bin + 1)) };
    },
    spikeMask(index, which) {
      const m = masks[index]?.[which];
      if (!m) return undefined;
      const begin = m.shape.map((_, i) => (i === m.rank - 2 ? bin : 0));
      const size = m.shape.map((s, i) => {
        if (i === m.rank - 2) return 1;
        // the attention map's key axis: the bins so far
        if (which === "att" && i === m.rank - 1) return bin + 1;
        return s;
      });
      return tf.slice(m, begin, size);
    },
  };
}
