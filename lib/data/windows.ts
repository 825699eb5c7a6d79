/**
 * Continuous recordings → trials: bin spike times, then cut a `[time, neurons]` count matrix
 * (and behaviour sampled on the same bins) into fixed windows, each followed by an optional
 * forward window, with behaviour lagged against the spikes.
 *
 * Windows start every `strideMs` (default: back to back). With the default chronological split
 * the first 70 % of windows train, the next 10 % validate and the last 20 % test; a window
 * whose bins (forward window included) reach into the previous split's last window is left out
 * of every split, so no bin is both a training target and a test target.
 *
 * @module
 */
import { array3d, DatasetError, type SpikeDataset, spikeDataset } from "./dataset.ts";
import { key as makeKey } from "../core/random.ts";
import type { NdArray } from "./ndarray.ts";

/** How windows are assigned to train / val / test. */
export type WindowSplit = "chronological" | "random";

/** Options of {@linkcode windowDataset}. */
export interface WindowOptions {
  /** Dataset name (default `"continuous"`). */
  name?: string;
  /** Bin width of the count matrix in ms. */
  binSizeMs: number;
  /** Window length in ms (default 1000); must be a multiple of `binSizeMs`. */
  windowMs?: number;
  /** Start-to-start distance of windows in ms (default `windowMs`). */
  strideMs?: number;
  /**
   * Start-to-start distance of the **training** windows in ms (default `strideMs`; chronological
   * split only). The split is decided on windows every `strideMs` as without it; then the stretch
   * of recording the training windows cover is cut again every `trainStrideMs`, so overlapping
   * training windows see each bin at several positions in the window while the val and test
   * windows stay as they were. Windows left out at split boundaries are then dropped.
   */
  trainStrideMs?: number;
  /** Forward-prediction window after each window, in ms (default 0). */
  forwardMs?: number;
  /** Behaviour `[time, dims]` on the same bins as the counts. */
  behavior?: NdArray;
  /** Names of the behaviour dimensions. */
  behaviorNames?: string[];
  /**
   * Behaviour lag in ms (default 0): a window's behaviour is taken `lagMs` later than its spikes,
   * as nlb_tools' `lag` (NaN where that runs past the recording).
   */
  lagMs?: number;
  /** Held-out neuron indices (default: a seeded random `heldOutFraction`). */
  heldOut?: number[];
  /** Fraction of neurons held out when `heldOut` is not given (default 0.25). */
  heldOutFraction?: number;
  /** Split rule (default `"chronological"`). */
  split?: WindowSplit;
  /** `[train, val, test]` fractions (default `[0.7, 0.1, 0.2]`). */
  splitFractions?: readonly [number, number, number];
  /** Seed of the random held-out neurons (and random split). */
  seed?: number;
  /** Extra provenance for `meta`. */
  meta?: Record<string, unknown>;
}

function binsOf(name: string, ms: number, binSizeMs: number, min: number): number {
  if (typeof ms !== "number" || !Number.isFinite(ms)) {
    throw new DatasetError(`${name} must be a number of ms, found ${ms}`);
  }
  const b = ms / binSizeMs;
  if (Math.abs(b - Math.round(b)) > 1e-9) {
    throw new DatasetError(
      `${name} = ${ms} ms is not a multiple of the bin size ${binSizeMs} ms (bins do not divide the window)`,
    );
  }
  const n = Math.round(b);
  if (n < min) {
    throw new DatasetError(`${name} must be at least ${min * binSizeMs} ms, found ${ms}`);
  }
  return n;
}

/**
 * Count spikes per bin: `spikeTimes[n]` are unit `n`'s spike times in seconds; bins are
 * `[startS + k·binSizeMs/1000, startS + (k+1)·binSizeMs/1000)` for `k < nBins`. Spikes outside
 * are ignored. Returns a `[nBins, units]` {@linkcode NdArray}.
 *
 * @example
 * ```ts
 * import { binSpikeTimes } from "@hest/hest";
 * const c = binSpikeTimes([Float64Array.of(0.001, 0.015, 0.025)], { binSizeMs: 10, startS: 0, nBins: 3 });
 * c.data; // Float64Array [1, 1, 1]
 * ```
 */
export function binSpikeTimes(
  spikeTimes: readonly ArrayLike<number>[],
  opts: { binSizeMs: number; startS: number; nBins: number },
): NdArray {
  const { binSizeMs, startS, nBins } = opts;
  if (!(binSizeMs > 0)) throw new DatasetError(`binSizeMs must be positive, found ${binSizeMs}`);
  const nUnits = spikeTimes.length;
  const out = new Float64Array(nBins * nUnits);
  for (let u = 0; u < nUnits; u++) {
    const st = spikeTimes[u];
    for (let i = 0; i < st.length; i++) {
      // ms offsets rounded to 1 ns so that spikes on a bin edge land in the later bin
      const ms = Math.round((st[i] - startS) * 1e9) / 1e6;
      const b = Math.floor(ms / binSizeMs + 1e-9);
      if (b >= 0 && b < nBins) out[b * nUnits + u]++;
    }
  }
  return { data: out, shape: [nBins, nUnits], dtype: "count" };
}

/**
 * Cut a continuous `[time, neurons]` count matrix into windows and build a validated
 * {@linkcode SpikeDataset} (trials = windows, in time order).
 *
 * @example
 * ```ts
 * import { windowDataset } from "@hest/hest";
 * const counts = { data: new Float64Array(100 * 4), shape: [100, 4], dtype: "u1" };
 * const ds = windowDataset(counts, { binSizeMs: 50, windowMs: 1000 }); // 5 windows of 20 bins
 * ```
 */
export function windowDataset(counts: NdArray, opts: WindowOptions): SpikeDataset {
  if (counts.shape.length !== 2) {
    throw new DatasetError(
      `continuous counts must be [time, neurons], found shape [${counts.shape.join(", ")}]`,
    );
  }
  const [T, N] = counts.shape;
  const bin = opts.binSizeMs;
  if (!(typeof bin === "number" && bin > 0 && Number.isFinite(bin))) {
    throw new DatasetError(`binSizeMs must be a positive number, found ${bin}`);
  }
  const W = binsOf("windowMs", opts.windowMs ?? 1000, bin, 1);
  const S = binsOf("strideMs", opts.strideMs ?? W * bin, bin, 1);
  const F = binsOf("forwardMs", opts.forwardMs ?? 0, bin, 0);
  const lagMs = opts.lagMs ?? 0;
  const L = Math.round(lagMs / bin);
  if (!Number.isFinite(lagMs) || Math.abs(L * bin - lagMs) > 1e-9) {
    throw new DatasetError(`lagMs = ${lagMs} ms is not a multiple of the bin size ${bin} ms`);
  }
  if (T < W + F) {
    throw new DatasetError(
      `the recording has ${T} bins of ${bin} ms, fewer than one window of ${W} + ${F} forward bins`,
    );
  }
  const nW = Math.floor((T - W - F) / S) + 1;
  if (opts.behavior) {
    const b = opts.behavior;
    if (b.shape.length !== 2 || b.shape[0] !== T) {
      throw new DatasetError(
        `behaviour must be [time, dims] with ${T} time bins like the counts, found shape [${
          b.shape.join(", ")
        }]`,
      );
    }
  }
  const TS = opts.trainStrideMs === undefined
    ? undefined
    : binsOf("trainStrideMs", opts.trainStrideMs, bin, 1);
  const fractions = opts.splitFractions ?? [0.7, 0.1, 0.2];
  const splitRule = opts.split ?? "chronological";
  if (splitRule !== "chronological" && splitRule !== "random") {
    throw new DatasetError(
      `split must be "chronological" or "random", found ${JSON.stringify(splitRule)}`,
    );
  }
  let split;
  let leftOut = 0;
  if (splitRule === "chronological") {
    if (
      fractions.length !== 3 || fractions.some((x) => !(x >= 0)) ||
      Math.abs(fractions[0] + fractions[1] + fractions[2] - 1) > 1e-9
    ) {
      throw new DatasetError(
        `splitFractions must be 3 non-negative numbers summing to 1, found ${fractions}`,
      );
    }
    const nVal = Math.round(fractions[1] * nW);
    const nTest = Math.round(fractions[2] * nW);
    const nTrain = nW - nVal - nTest;
    const parts: number[][] = [[], [], []];
    const partOf = (w: number) => (w < nTrain ? 0 : w < nTrain + nVal ? 1 : 2);
    let earlierEnd = -Infinity; // first bin after the windows kept in earlier splits
    let currentEnd = -Infinity; // first bin after the windows kept in the current split
    let current = 0;
    for (let w = 0; w < nW; w++) {
      const p = partOf(w);
      if (p !== current) {
        earlierEnd = Math.max(earlierEnd, currentEnd);
        currentEnd = -Infinity;
        current = p;
      }
      if (w * S < earlierEnd) {
        leftOut++;
        continue;
      }
      parts[p].push(w);
      currentEnd = w * S + W + F;
    }
    split = { train: parts[0], val: parts[1], test: parts[2] };
  } else if (TS !== undefined) {
    throw new DatasetError(
      `trainStrideMs needs the chronological split (overlapping windows in a random split would put the same bins in train and test), found split "${splitRule}"`,
    );
  }
  // window start bins, in dataset order
  let starts = Array.from({ length: nW }, (_, w) => w * S);
  let trainWindows = 0; // with trainStrideMs: how many training windows it cut
  if (TS !== undefined && split) {
    // the training stretch ends where its last back-to-back window (forward bins included) ends
    const last = split.train.length ? split.train[split.train.length - 1] : -1;
    const trainEnd = last < 0 ? 0 : last * S + W + F;
    const trainStarts: number[] = [];
    for (let s = 0; s + W + F <= trainEnd; s += TS) trainStarts.push(s);
    const rest = [...split.val, ...split.test].map((w) => w * S);
    starts = [...trainStarts, ...rest];
    const nT = trainStarts.length;
    const nV = split.val.length;
    split = {
      train: Array.from({ length: nT }, (_, i) => i),
      val: Array.from({ length: nV }, (_, i) => nT + i),
      test: Array.from({ length: split.test.length }, (_, i) => nT + nV + i),
    };
    trainWindows = nT;
  }
  const nOut = starts.length;
  const c = new Float32Array(nOut * W * N);
  const f = new Float32Array(nOut * F * N);
  starts.forEach((s, w) => {
    c.set(counts.data.subarray(s * N, (s + W) * N), w * W * N);
    if (F > 0) f.set(counts.data.subarray((s + W) * N, (s + W + F) * N), w * F * N);
  });
  let behavior;
  if (opts.behavior) {
    const b = opts.behavior;
    const D = b.shape[1];
    const out = new Float32Array(nOut * W * D).fill(NaN);
    starts.forEach((s, w) => {
      for (let t = 0; t < W; t++) {
        const src = s + t + L;
        if (src < 0 || src >= T) continue;
        for (let d = 0; d < D; d++) out[(w * W + t) * D + d] = b.data[src * D + d];
      }
    });
    behavior = array3d(out, [nOut, W, D]);
  }
  return spikeDataset(
    {
      name: opts.name ?? "continuous",
      binSizeMs: bin,
      counts: array3d(c, [nOut, W, N]),
      forwardCounts: array3d(f, [nOut, F, N]),
      heldOut: opts.heldOut,
      split,
      behavior,
      behaviorNames: behavior ? opts.behaviorNames : undefined,
      meta: {
        ...(opts.meta ?? {}),
        windows: {
          windowMs: W * bin,
          strideMs: S * bin,
          ...(TS === undefined ? {} : { trainStrideMs: TS * bin, trainWindows }),
          forwardMs: F * bin,
          lagMs,
          recordingBins: T,
          windows: nW,
          unusedTailBins: T - ((nW - 1) * S + W + F),
          split: splitRule,
          leftOutAtSplitBoundaries: leftOut,
        },
      },
    },
    {
      heldOutFraction: opts.heldOutFraction,
      splitFractions: splitRule === "random" ? fractions : undefined,
      key: makeKey(opts.seed ?? 0),
    },
  );
}
