/**
 * NDT-style masked modeling: hide part of the held-in input, predict it back.
 *
 * A Bernoulli(`ratio`) mask is drawn per (trial, bin) (`"timestep"`, NDT's default, expanded to
 * all neurons), per (trial, neuron) (`"neuron"`, the whole bin range of a neuron) or per entry
 * (`"element"`). Of the masked entries a fraction `zeroRatio` is set to 0; of the rest a fraction
 * `randomRatio` gets a random count in [0, max count of the batch); the others keep their value
 * (BERT/NDT replacement). The loss covers the masked held-in entries (plus
 * `unmaskedLossScale` × the unmasked ones), **all** held-out entries and **all** forward-window
 * entries, as in NDT.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import type { Array3D, SpikeDataset } from "../data/dataset.ts";
import { type Key, stream } from "../core/random.ts";

/** Options of masked modeling. */
export interface MaskingOptions {
  /** Probability that a unit (bin, neuron or entry) is masked (default 0.25). */
  ratio?: number;
  /** What one mask draw covers (default `"timestep"`). */
  mode?: "timestep" | "neuron" | "element";
  /** Fraction of masked entries replaced by 0 (default 1, NDT `MASK_TOKEN_RATIO`). */
  zeroRatio?: number;
  /** Fraction of the remaining masked entries given a random count (default 0.5). */
  randomRatio?: number;
  /** Loss weight of unmasked held-in entries (default 0: loss on masked entries only). */
  unmaskedLossScale?: number;
}

/** {@linkcode MaskingOptions} with defaults filled in. */
export type ResolvedMaskingOptions = Required<MaskingOptions>;

const MASK_KEYS = ["ratio", "mode", "zeroRatio", "randomRatio", "unmaskedLossScale"];

/**
 * Validate masking options and fill in defaults; unknown keys and bad values throw.
 *
 * @example
 * ```ts
 * import { resolveMasking } from "@hest/hest";
 * resolveMasking({ ratio: 0.3 }).mode; // "timestep"
 * ```
 */
export function resolveMasking(opts: MaskingOptions = {}): ResolvedMaskingOptions {
  for (const k of Object.keys(opts)) {
    if (!MASK_KEYS.includes(k)) {
      throw new Error(`unknown masking option "${k}"; expected one of: ${MASK_KEYS.join(", ")}`);
    }
  }
  const r = {
    ratio: opts.ratio ?? 0.25,
    mode: opts.mode ?? "timestep",
    zeroRatio: opts.zeroRatio ?? 1,
    randomRatio: opts.randomRatio ?? 0.5,
    unmaskedLossScale: opts.unmaskedLossScale ?? 0,
  };
  for (const k of ["ratio", "zeroRatio", "randomRatio"] as const) {
    if (!(r[k] >= 0 && r[k] <= 1)) {
      throw new Error(`masking option "${k}" must be in [0, 1], found ${r[k]}`);
    }
  }
  if (!(r.unmaskedLossScale >= 0)) {
    throw new Error(
      `masking option "unmaskedLossScale" must be >= 0, found ${r.unmaskedLossScale}`,
    );
  }
  if (!["timestep", "neuron", "element"].includes(r.mode)) {
    throw new Error(`masking option "mode" must be timestep, neuron or element, found "${r.mode}"`);
  }
  return r;
}

/** Result of {@linkcode maskCounts}: the corrupted input and the 0/1 mask, same shape. */
export interface MaskedCounts {
  /** Input with masked entries replaced. */
  readonly input: Array3D;
  /** 1 where the entry was masked. */
  readonly mask: Array3D;
}

/**
 * Mask a `[B, L, N]` block of counts (see the module docs for the rules).
 *
 * @example
 * ```ts
 * import { array3d, key, maskCounts } from "@hest/hest";
 * const { input, mask } = maskCounts(key(0), array3d(new Float32Array(24).fill(1), [2, 3, 4]));
 * ```
 */
export function maskCounts(k: Key, counts: Array3D, opts: MaskingOptions = {}): MaskedCounts {
  const o = resolveMasking(opts);
  const [b, l, n] = counts.shape;
  const s = stream(k);
  const mask = new Float32Array(b * l * n);
  for (let t = 0; t < b; t++) {
    if (o.mode === "timestep") {
      for (let j = 0; j < l; j++) {
        if (s.next() < o.ratio) mask.fill(1, (t * l + j) * n, (t * l + j + 1) * n);
      }
    } else if (o.mode === "neuron") {
      for (let i = 0; i < n; i++) {
        if (s.next() < o.ratio) { for (let j = 0; j < l; j++) mask[(t * l + j) * n + i] = 1; }
      }
    } else {
      for (let e = t * l * n; e < (t + 1) * l * n; e++) if (s.next() < o.ratio) mask[e] = 1;
    }
  }
  let max = 0;
  for (const v of counts.data) if (v > max) max = v;
  const input = counts.data.slice();
  for (let e = 0; e < input.length; e++) {
    if (mask[e] === 0) continue;
    if (s.next() < o.zeroRatio) input[e] = 0;
    else if (s.next() < o.randomRatio) input[e] = Math.floor(s.next() * max);
  }
  return { input: { data: input, shape: [b, l, n] }, mask: { data: mask, shape: [b, l, n] } };
}

/** Tensors of one training batch, all owned by the caller (dispose after use). */
export interface TrainingBatch {
  /** Masked held-in input `[B, bins, nIn]`. */
  input: tf.Tensor3D;
  /** Targets: counts of all neurons over bins + forward bins `[B, bins + F, N]`. */
  target: tf.Tensor3D;
  /** Loss weights, same shape as `target`. */
  weight: tf.Tensor3D;
  /** 1 where a held-in input entry was masked `[B, bins, nIn]`. */
  mask: tf.Tensor3D;
}

/**
 * Dispose every tensor of a {@linkcode TrainingBatch}.
 *
 * @example
 * ```ts
 * import { disposeBatch, key, lorenzDataset, maskedBatch } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2, trialsPerCondition: 2 });
 * disposeBatch(maskedBatch(ds, [0, 1], { key: key(0) }));
 * ```
 */
export function disposeBatch(batch: TrainingBatch): void {
  tf.dispose([batch.input, batch.target, batch.weight, batch.mask]);
}

/**
 * Assemble a masked-modeling batch for the given trials of a dataset.
 *
 * @example
 * ```ts
 * import { key, lorenzDataset, maskedBatch } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 4, trialsPerCondition: 2 });
 * const batch = maskedBatch(ds, ds.split.train.slice(0, 4), { key: key(1) });
 * ```
 */
export function maskedBatch(
  ds: SpikeDataset,
  trials: ArrayLike<number>,
  opts: { key: Key; masking?: MaskingOptions; unmasked?: boolean },
): TrainingBatch {
  const o = resolveMasking(opts.masking);
  const [, l, nAll] = ds.counts.shape;
  const f = ds.forwardCounts.shape[1];
  const nIn = ds.heldIn.length;
  const b = trials.length;
  const held = new Float32Array(b * l * nIn);
  for (let t = 0; t < b; t++) {
    const src = trials[t] * l * nAll;
    for (let j = 0; j < l; j++) {
      for (let i = 0; i < nIn; i++) {
        held[(t * l + j) * nIn + i] = ds.counts.data[src + j * nAll + ds.heldIn[i]];
      }
    }
  }
  const heldArr: Array3D = { data: held, shape: [b, l, nIn] };
  const { input, mask } = opts.unmasked
    ? { input: heldArr, mask: { data: new Float32Array(held.length), shape: heldArr.shape } }
    : maskCounts(opts.key, heldArr, o);
  const lt = l + f;
  const target = new Float32Array(b * lt * nAll);
  const weight = new Float32Array(b * lt * nAll);
  const isOut = new Uint8Array(nAll);
  for (const n of ds.heldOut) isOut[n] = 1;
  const inPos = new Int32Array(nAll).fill(-1);
  ds.heldIn.forEach((n, i) => (inPos[n] = i));
  for (let t = 0; t < b; t++) {
    const tr = trials[t];
    for (let j = 0; j < lt; j++) {
      const row = (t * lt + j) * nAll;
      for (let n = 0; n < nAll; n++) {
        if (j < l) {
          target[row + n] = ds.counts.data[(tr * l + j) * nAll + n];
          if (isOut[n]) weight[row + n] = 1;
          else if (inPos[n] >= 0) {
            weight[row + n] = mask.data[(t * l + j) * nIn + inPos[n]] === 1
              ? 1
              : o.unmaskedLossScale;
          }
        } else {
          target[row + n] = ds.forwardCounts.data[(tr * f + (j - l)) * nAll + n];
          weight[row + n] = 1;
        }
      }
    }
  }
  return {
    input: tf.tensor3d(input.data, [b, l, nIn]),
    target: tf.tensor3d(target, [b, lt, nAll]),
    weight: tf.tensor3d(weight, [b, lt, nAll]),
    mask: tf.tensor3d(mask.data, [b, l, nIn]),
  };
}
