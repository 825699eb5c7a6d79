/**
 * The {@linkcode SpikeDataset} every loader returns, and its validating constructor.
 *
 * Binned spike counts are stored trial-major as `[trials, bins, neurons]` in a flat
 * `Float32Array` ({@linkcode Array3D}). Rates are always **expected counts per bin** (not Hz),
 * as in nlb_tools. A dataset carries:
 *
 * - `counts` — observed counts in the trial window; `forwardCounts` — the forward-prediction
 *   window that follows each trial (NLB's `*_forward`), never shown to the model as input;
 * - `trueRates` / `forwardTrueRates` — the generating rates when known (synthetic data);
 * - `heldIn` / `heldOut` — the neuron split for co-smoothing (held-out neurons are never input);
 * - `split` — train / val / test trial indices; `conditions` — condition id per trial;
 * - `behavior` — optional `[trials, bins, dims]` covariates (e.g. hand velocity).
 *
 * @module
 */
import { type Key, key as makeKey, permutation, split as splitKey } from "../core/random.ts";
import { checkKeys } from "../core/validation.ts";

/** A dense 3-D array in row-major order (last index fastest). */
export interface Array3D {
  /** Values, length `shape[0] * shape[1] * shape[2]`. */
  readonly data: Float32Array;
  /** `[d0, d1, d2]`, e.g. `[trials, bins, neurons]`. */
  readonly shape: readonly [number, number, number];
}

/** Trial indices of the three splits. */
export interface TrialSplit {
  /** Trials used to fit parameters. */
  readonly train: Int32Array;
  /** Trials used for model selection (best checkpoint, early stopping). */
  readonly val: Int32Array;
  /** Trials reported as results. */
  readonly test: Int32Array;
}

/** A validated binned spiking dataset. Build one with {@linkcode spikeDataset}. */
export interface SpikeDataset {
  /** Human-readable name, e.g. `"lorenz"`. */
  readonly name: string;
  /** Bin width in milliseconds. */
  readonly binSizeMs: number;
  /** Observed counts `[trials, bins, neurons]`, non-negative integers. */
  readonly counts: Array3D;
  /** Counts in the forward window `[trials, forwardBins, neurons]` (may have 0 bins). */
  readonly forwardCounts: Array3D;
  /** True expected counts per bin, same shape as `counts`, when known. */
  readonly trueRates?: Array3D;
  /** True expected counts in the forward window, when known. */
  readonly forwardTrueRates?: Array3D;
  /** Condition id of each trial (for PSTHs), when known. */
  readonly conditions?: Int32Array;
  /** Indices of neurons given to the model as input, ascending. */
  readonly heldIn: Int32Array;
  /** Indices of neurons predicted from the held-in ones (co-smoothing), ascending. */
  readonly heldOut: Int32Array;
  /** Train / val / test trial indices. */
  readonly split: TrialSplit;
  /** Behaviour `[trials, bins, dims]` aligned with `counts`, when present. */
  readonly behavior?: Array3D;
  /** Names of the behaviour dimensions. */
  readonly behaviorNames?: readonly string[];
  /** Free-form provenance (generator settings, source file, citation). */
  readonly meta: Readonly<Record<string, unknown>>;
}

/** Fields accepted by {@linkcode spikeDataset}; everything optional gets a default. */
export interface SpikeDatasetInit {
  /** Dataset name. */
  name: string;
  /** Bin width in ms. */
  binSizeMs: number;
  /** Observed counts `[trials, bins, neurons]`. */
  counts: Array3D;
  /** Forward-window counts; default: zero forward bins. */
  forwardCounts?: Array3D;
  /** True rates (expected counts per bin) when known. */
  trueRates?: Array3D;
  /** True forward-window rates when known. */
  forwardTrueRates?: Array3D;
  /** Condition id per trial. */
  conditions?: Int32Array | number[];
  /** Held-in neuron indices; default: the complement of `heldOut`. */
  heldIn?: Int32Array | number[];
  /** Held-out neuron indices; default: a seeded random `heldOutFraction` of the neurons. */
  heldOut?: Int32Array | number[];
  /** Trial split; default: a seeded random split with `splitFractions`. */
  split?: { train: Int32Array | number[]; val: Int32Array | number[]; test: Int32Array | number[] };
  /** Behaviour `[trials, bins, dims]`. */
  behavior?: Array3D;
  /** Names of behaviour dimensions. */
  behaviorNames?: string[];
  /** Provenance. */
  meta?: Record<string, unknown>;
}

/** Options of {@linkcode spikeDataset} controlling the default splits. */
export interface SpikeDatasetOptions {
  /** Fraction of neurons held out when `heldOut` is not given (default 0.25). */
  heldOutFraction?: number;
  /** `[train, val, test]` fractions when `split` is not given (default `[0.7, 0.1, 0.2]`). */
  splitFractions?: readonly [number, number, number];
  /** Key for the default splits (default `key(0)`). */
  key?: Key;
}

/**
 * Raised for any invalid dataset field or data option; the message names the field and the
 * index. Data loading reports every problem with this one class, so callers can tell bad data
 * from other failures.
 *
 * @example
 * ```ts
 * import { DatasetError, lorenzDataset } from "@hest/hest";
 * try {
 *   lorenzDataset({ neurons: 0 });
 * } catch (err) {
 *   console.log(err instanceof DatasetError); // true
 * }
 * ```
 */
export class DatasetError extends Error {
  /** Build with a message naming the field and the problem; `options.cause` is the original error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatasetError";
  }
}

/**
 * Make a dense {@linkcode Array3D} from a flat array and a shape, checking the length.
 *
 * @example
 * ```ts
 * import { array3d } from "@hest/hest";
 * const a = array3d(new Float32Array(6), [1, 2, 3]);
 * ```
 */
export function array3d(
  data: Float32Array | ArrayLike<number>,
  shape: readonly [number, number, number],
): Array3D {
  const n = shape[0] * shape[1] * shape[2];
  if (!shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new DatasetError(`shape must be 3 non-negative integers, found [${shape.join(", ")}]`);
  }
  if (data.length !== n) {
    throw new DatasetError(
      `data length ${data.length} does not match shape [${shape.join(", ")}] (expected ${n})`,
    );
  }
  return {
    data: data instanceof Float32Array ? data : Float32Array.from(data),
    shape: [shape[0], shape[1], shape[2]],
  };
}

function where(a: Array3D, i: number): string {
  const [, b, c] = a.shape;
  const t = Math.floor(i / (b * c));
  const r = i - t * b * c;
  return `[${t}, ${Math.floor(r / c)}, ${r % c}]`;
}

function checkShape(
  field: string,
  a: Array3D | undefined,
  expected: readonly (number | null)[],
): void {
  if (a === undefined) return;
  if (!a || !(a.data instanceof Float32Array) || !Array.isArray(a.shape) || a.shape.length !== 3) {
    throw new DatasetError(`${field} must be an Array3D {data: Float32Array, shape: [a, b, c]}`);
  }
  const n = a.shape[0] * a.shape[1] * a.shape[2];
  if (a.data.length !== n) {
    throw new DatasetError(
      `${field} has ${a.data.length} values but shape [${a.shape.join(", ")}] needs ${n}`,
    );
  }
  expected.forEach((e, d) => {
    if (e !== null && a.shape[d] !== e) {
      throw new DatasetError(
        `${field} has shape [${a.shape.join(", ")}]: expected dimension ${d} to be ${e}`,
      );
    }
  });
}

function checkCounts(field: string, a: Array3D): void {
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (Number.isNaN(v)) throw new DatasetError(`${field} is NaN at ${where(a, i)}`);
    if (v < 0) throw new DatasetError(`${field} is negative (${v}) at ${where(a, i)}`);
    if (!Number.isFinite(v) || v !== Math.round(v)) {
      throw new DatasetError(`${field} is not a non-negative integer (${v}) at ${where(a, i)}`);
    }
  }
}

function checkRates(field: string, a: Array3D | undefined): void {
  if (!a) return;
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!Number.isFinite(v)) {
      throw new DatasetError(`${field} is not finite (${v}) at ${where(a, i)}`);
    }
    if (v < 0) throw new DatasetError(`${field} is negative (${v}) at ${where(a, i)}`);
  }
}

function toIndex(
  field: string,
  v: Int32Array | number[],
  size: number,
  what: string,
): Int32Array {
  const arr = Int32Array.from(v as ArrayLike<number>);
  const seen = new Set<number>();
  arr.forEach((x, i) => {
    if (!Number.isInteger(v[i]) || x < 0 || x >= size) {
      throw new DatasetError(`${field}[${i}] = ${v[i]} is not a ${what} index in [0, ${size})`);
    }
    if (seen.has(x)) throw new DatasetError(`${field}[${i}] = ${x} is repeated`);
    seen.add(x);
  });
  return arr.sort();
}

/**
 * Build and validate a {@linkcode SpikeDataset}.
 *
 * Checks every shape against `counts`, that counts are finite non-negative integers, that rates
 * are finite and non-negative, and that neuron and trial index sets are in range and disjoint.
 * Errors are {@linkcode DatasetError}s naming the field and the `[trial, bin, neuron]` index.
 *
 * @example
 * ```ts
 * import { array3d, spikeDataset } from "@hest/hest";
 * const ds = spikeDataset({
 *   name: "toy",
 *   binSizeMs: 20,
 *   counts: array3d(new Float32Array(10 * 5 * 4), [10, 5, 4]),
 * });
 * console.log(ds.heldOut.length); // 1
 * ```
 */
export function spikeDataset(init: SpikeDatasetInit, opts: SpikeDatasetOptions = {}): SpikeDataset {
  checkKeys(
    init,
    [
      "name",
      "binSizeMs",
      "counts",
      "forwardCounts",
      "trueRates",
      "forwardTrueRates",
      "conditions",
      "heldIn",
      "heldOut",
      "split",
      "behavior",
      "behaviorNames",
      "meta",
    ],
    "dataset field",
    DatasetError,
  );
  if (typeof init.name !== "string" || init.name === "") {
    throw new DatasetError(`name must be a non-empty string, found ${JSON.stringify(init.name)}`);
  }
  if (!(init.binSizeMs > 0) || !Number.isFinite(init.binSizeMs)) {
    throw new DatasetError(`binSizeMs must be a positive number, found ${init.binSizeMs}`);
  }
  checkShape("counts", init.counts, [null, null, null]);
  const [nTrials, nBins, nNeurons] = init.counts.shape;
  if (nTrials < 1 || nBins < 1 || nNeurons < 1) {
    throw new DatasetError(
      `counts must have at least 1 trial, bin and neuron, found shape [${
        init.counts.shape.join(", ")
      }]`,
    );
  }
  checkCounts("counts", init.counts);
  const forwardCounts = init.forwardCounts ?? array3d(new Float32Array(0), [nTrials, 0, nNeurons]);
  checkShape("forwardCounts", forwardCounts, [nTrials, null, nNeurons]);
  checkCounts("forwardCounts", forwardCounts);
  const nFwd = forwardCounts.shape[1];
  checkShape("trueRates", init.trueRates, [nTrials, nBins, nNeurons]);
  checkRates("trueRates", init.trueRates);
  checkShape("forwardTrueRates", init.forwardTrueRates, [nTrials, nFwd, nNeurons]);
  checkRates("forwardTrueRates", init.forwardTrueRates);
  if (init.forwardTrueRates && !init.trueRates) {
    throw new DatasetError("forwardTrueRates is given without trueRates");
  }
  checkShape("behavior", init.behavior, [nTrials, nBins, null]);
  if (init.behavior) {
    const d = init.behavior.data;
    for (let i = 0; i < d.length; i++) {
      if (Number.isNaN(d[i])) continue; // NaN marks missing behaviour, as in NLB
      if (!Number.isFinite(d[i])) {
        throw new DatasetError(`behavior is not finite (${d[i]}) at ${where(init.behavior, i)}`);
      }
    }
    if (init.behaviorNames && init.behaviorNames.length !== init.behavior.shape[2]) {
      throw new DatasetError(
        `behaviorNames has ${init.behaviorNames.length} names for ${
          init.behavior.shape[2]
        } behaviour dims`,
      );
    }
  }
  let conditions: Int32Array | undefined;
  if (init.conditions) {
    if (init.conditions.length !== nTrials) {
      throw new DatasetError(
        `conditions has ${init.conditions.length} entries, expected one per trial (${nTrials})`,
      );
    }
    conditions = Int32Array.from(init.conditions as ArrayLike<number>);
    conditions.forEach((c, i) => {
      if (!Number.isInteger(init.conditions![i])) {
        throw new DatasetError(`conditions[${i}] = ${init.conditions![i]} is not an integer`);
      }
      void c;
    });
  }

  const [kNeurons, kTrials] = splitKey(opts.key ?? makeKey(0));
  let heldOut: Int32Array;
  let heldIn: Int32Array;
  if (init.heldOut) {
    heldOut = toIndex("heldOut", init.heldOut, nNeurons, "neuron");
  } else if (init.heldIn) {
    const hi = new Set(toIndex("heldIn", init.heldIn, nNeurons, "neuron"));
    heldOut = Int32Array.from([...Array(nNeurons).keys()].filter((i) => !hi.has(i)));
  } else {
    const frac = opts.heldOutFraction ?? 0.25;
    if (!(frac >= 0 && frac < 1)) {
      throw new DatasetError(`heldOutFraction must be in [0, 1), found ${frac}`);
    }
    const n = Math.round(frac * nNeurons);
    heldOut = permutation(kNeurons, nNeurons).slice(0, n).sort();
  }
  if (init.heldIn) {
    heldIn = toIndex("heldIn", init.heldIn, nNeurons, "neuron");
  } else {
    const ho = new Set(heldOut);
    heldIn = Int32Array.from([...Array(nNeurons).keys()].filter((i) => !ho.has(i)));
  }
  if (heldIn.length === 0) throw new DatasetError("heldIn is empty: the model needs input neurons");
  const hoSet = new Set(heldOut);
  heldIn.forEach((n) => {
    if (hoSet.has(n)) throw new DatasetError(`neuron ${n} is both held-in and held-out`);
  });

  let split: TrialSplit;
  if (init.split) {
    for (const k of Object.keys(init.split)) {
      if (!["train", "val", "test"].includes(k)) {
        throw new DatasetError(`unknown split "${k}": expected train, val, test`);
      }
    }
    split = {
      train: toIndex("split.train", init.split.train ?? [], nTrials, "trial"),
      val: toIndex("split.val", init.split.val ?? [], nTrials, "trial"),
      test: toIndex("split.test", init.split.test ?? [], nTrials, "trial"),
    };
    const seen = new Map<number, string>();
    for (const name of ["train", "val", "test"] as const) {
      split[name].forEach((t) => {
        if (seen.has(t)) {
          throw new DatasetError(`trial ${t} is in both split.${seen.get(t)} and split.${name}`);
        }
        seen.set(t, name);
      });
    }
  } else {
    const f = opts.splitFractions ?? [0.7, 0.1, 0.2];
    if (f.length !== 3 || f.some((x) => !(x >= 0)) || Math.abs(f[0] + f[1] + f[2] - 1) > 1e-9) {
      throw new DatasetError(
        `splitFractions must be 3 non-negative numbers summing to 1, found ${f}`,
      );
    }
    const perm = permutation(kTrials, nTrials);
    const nVal = Math.round(f[1] * nTrials);
    const nTest = Math.round(f[2] * nTrials);
    const nTrain = nTrials - nVal - nTest;
    split = {
      train: perm.slice(0, nTrain).sort(),
      val: perm.slice(nTrain, nTrain + nVal).sort(),
      test: perm.slice(nTrain + nVal).sort(),
    };
  }
  if (split.train.length === 0) throw new DatasetError("split.train is empty");

  return {
    name: init.name,
    binSizeMs: init.binSizeMs,
    counts: init.counts,
    forwardCounts,
    trueRates: init.trueRates,
    forwardTrueRates: init.forwardTrueRates,
    conditions,
    heldIn,
    heldOut,
    split,
    behavior: init.behavior,
    behaviorNames: init.behaviorNames,
    meta: { ...(init.meta ?? {}) },
  };
}

/**
 * Select trials (first axis) and optionally neurons (last axis) of an {@linkcode Array3D}.
 *
 * @example
 * ```ts
 * import { array3d, take3d } from "@hest/hest";
 * const a = array3d([0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]);
 * take3d(a, [1], { last: [0] }).data; // Float32Array [4, 6]
 * ```
 */
export function take3d(
  a: Array3D,
  first: ArrayLike<number>,
  opts: { last?: ArrayLike<number> } = {},
): Array3D {
  const [, b, c] = a.shape;
  const last = opts.last;
  const nc = last ? last.length : c;
  const out = new Float32Array(first.length * b * nc);
  for (let i = 0; i < first.length; i++) {
    const src = first[i] * b * c;
    const dst = i * b * nc;
    if (!last) {
      out.set(a.data.subarray(src, src + b * c), dst);
    } else {
      for (let j = 0; j < b; j++) {
        for (let k = 0; k < nc; k++) out[dst + j * nc + k] = a.data[src + j * c + last[k]];
      }
    }
  }
  return { data: out, shape: [first.length, b, nc] };
}

/** Model predictions for every trial of a dataset, in dataset neuron order. */
export interface RatePredictions {
  /** Expected counts per bin, `[allTrials, bins, allNeurons]`. */
  readonly rates: Array3D;
  /** Expected counts in the forward window, `[allTrials, forwardBins, allNeurons]`. */
  readonly forwardRates?: Array3D;
}
