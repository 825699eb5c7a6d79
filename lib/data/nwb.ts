/**
 * NWB (Neurodata Without Borders, HDF5) files: spike times from the Units table, trials from
 * the trials table, binned into a {@linkcode SpikeDataset}.
 *
 * What is read (plain HDF5 paths, as pynwb writes them):
 *
 * - `units/spike_times` + `units/spike_times_index` (the ragged per-unit spike times, seconds);
 *   `units/heldout` (NLB's held-out flag), when present and `heldOut` is not given.
 * - `intervals/trials/start_time`, `stop_time` and the alignment column (`alignEvent`, default
 *   `start_time`); `split` (NLB: `train` trials train, a seeded `valFraction` of them validate,
 *   `val` trials are the test split, other trials are left out); `conditionColumns`.
 * - Behaviour, optionally: a TimeSeries group (`behaviorPath`, e.g.
 *   `processing/behavior/hand_vel`) with `data` and `timestamps` (or `starting_time` + `rate`),
 *   averaged within each bin and shifted by `lagMs`.
 *
 * Each trial is the window `alignRangeMs` around its alignment time (default from 0 to the
 * shortest trial's duration), cut into `binSizeMs` bins, followed by `forwardMs` of forward
 * window. Trials whose alignment time is NaN are left out (counted in `meta.nwb`). Without a
 * trials table (or with `continuous: true`) the whole recording is binned and cut into windows
 * as {@linkcode windowDataset} does.
 *
 * @module
 */
import { basename } from "node:path";
import { array3d, DatasetError, type SpikeDataset, spikeDataset } from "./dataset.ts";
import { type Hdf5File, openHdf5 } from "./hdf5.ts";
import { loadError, type NdArray } from "./ndarray.ts";
import { key as makeKey, permutation } from "../core/random.ts";
import { binSpikeTimes, windowDataset, type WindowSplit } from "./windows.ts";

/** Options of {@linkcode loadNwb}. */
export interface NwbOptions {
  /** Dataset name (default: the file name without extension). */
  name?: string;
  /** Bin width in ms (default 20). */
  binSizeMs?: number;
  /** Trials-table column holding the alignment time (default `"start_time"`). */
  alignEvent?: string;
  /** Window `[start, end]` in ms around the alignment time; its length must be a multiple of `binSizeMs`. */
  alignRangeMs?: [number, number];
  /** Forward window after each trial window, in ms (default 0). */
  forwardMs?: number;
  /** Path of a TimeSeries group to use as behaviour. */
  behaviorPath?: string;
  /** Behaviour lag in ms (default 0): a bin's behaviour is taken `lagMs` later. */
  lagMs?: number;
  /** Trials-table columns whose value combination is the condition of a trial. */
  conditionColumns?: string[];
  /** Held-out unit indices (default: the `units/heldout` column, else a seeded random fraction). */
  heldOut?: number[];
  /** Fraction of units held out when neither `heldOut` nor `units/heldout` exists (default 0.25). */
  heldOutFraction?: number;
  /** Fraction of `split == "train"` trials used as val when the file has a split column (default 0.1). */
  valFraction?: number;
  /** `[train, val, test]` fractions when the file has no split column (default `[0.7, 0.1, 0.2]`). */
  splitFractions?: [number, number, number];
  /** Split rule when the file has no split column: random (trials) or chronological (continuous). */
  split?: WindowSplit;
  /** Ignore the trials table and window the whole recording. */
  continuous?: boolean;
  /** Continuous mode: window length in ms (default 1000). */
  windowMs?: number;
  /** Continuous mode: window stride in ms (default `windowMs`). */
  strideMs?: number;
  /** Continuous mode: stride of the training windows in ms (default `strideMs`). */
  trainStrideMs?: number;
  /** Seed of random choices (default 0). */
  seed?: number;
}

function readUnits(f: Hdf5File): Float64Array[] {
  const file = f.file;
  for (const k of ["units/spike_times", "units/spike_times_index"]) {
    if (!f.isDataset(k)) {
      throw loadError(
        file,
        k,
        "missing: NWB spikes are read from the Units table (units/spike_times + units/spike_times_index)",
      );
    }
  }
  const st = f.get("units/spike_times");
  const idx = f.get("units/spike_times_index");
  if (st.shape.length !== 1) {
    throw loadError(
      file,
      "units/spike_times",
      `expected a 1-D array, found [${st.shape.join(", ")}]`,
    );
  }
  if (idx.shape.length !== 1) {
    throw loadError(
      file,
      "units/spike_times_index",
      `expected a 1-D array, found [${idx.shape.join(", ")}]`,
    );
  }
  for (let i = 0; i < st.data.length; i++) {
    if (!Number.isFinite(st.data[i])) {
      throw loadError(
        file,
        "units/spike_times",
        `spike time ${st.data[i]} at index ${i} is not finite`,
      );
    }
  }
  const units: Float64Array[] = [];
  let prev = 0;
  for (let u = 0; u < idx.data.length; u++) {
    const end = idx.data[u];
    if (!Number.isInteger(end) || end < prev || end > st.data.length) {
      throw loadError(
        file,
        "units/spike_times_index",
        `entry ${u} = ${end} is not a non-decreasing end offset within [0, ${st.data.length}]`,
      );
    }
    units.push(st.data.slice(prev, end).sort());
    prev = end;
  }
  if (prev !== st.data.length) {
    throw loadError(
      file,
      "units/spike_times_index",
      `ends at ${prev} but units/spike_times has ${st.data.length} values`,
    );
  }
  if (units.length === 0) throw loadError(file, "units/spike_times_index", "has no units");
  return units;
}

function column1d(f: Hdf5File, path: string): Float64Array {
  const a = f.get(path);
  if (a.shape.length !== 1) {
    throw loadError(f.file, path, `expected a 1-D column, found [${a.shape.join(", ")}]`);
  }
  return a.data;
}

function lowerBound(a: Float64Array, x: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (a[m] < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

interface Behaviour {
  times: Float64Array;
  data: NdArray;
}

function readBehaviour(f: Hdf5File, path: string): Behaviour {
  const file = f.file;
  if (!f.isGroup(path)) throw loadError(file, path, "behaviour TimeSeries group not found");
  const dataPath = `${path}/data`;
  if (!f.isDataset(dataPath)) throw loadError(file, dataPath, "missing: a TimeSeries needs data");
  let data = f.get(dataPath);
  if (data.shape.length === 1) data = { ...data, shape: [data.shape[0], 1] };
  if (data.shape.length !== 2) {
    throw loadError(file, dataPath, `expected [time, dims], found [${data.shape.join(", ")}]`);
  }
  const n = data.shape[0];
  let times: Float64Array;
  if (f.isDataset(`${path}/timestamps`)) {
    times = column1d(f, `${path}/timestamps`);
  } else if (f.isDataset(`${path}/starting_time`)) {
    const t0 = f.get(`${path}/starting_time`).data[0];
    const rate = f.attr("rate", `${path}/starting_time`);
    if (!(rate !== undefined && rate > 0)) {
      throw loadError(file, `${path}/starting_time`, 'needs a positive "rate" attribute');
    }
    times = Float64Array.from({ length: n }, (_, i) => t0 + i / rate);
  } else {
    throw loadError(file, path, "a TimeSeries needs timestamps or starting_time + rate");
  }
  if (times.length !== n) {
    throw loadError(file, `${path}/timestamps`, `has ${times.length} entries for ${n} data rows`);
  }
  return { times, data };
}

/** Mean of behaviour samples in `[t0, t1)` per dim (NaN where there is none). */
function binBehaviour(b: Behaviour, t0: number, t1: number, out: Float32Array, at: number): void {
  const D = b.data.shape[1];
  // 1 ns tolerance so that a sample on a bin edge lands in the later bin despite rounding
  const i0 = lowerBound(b.times, t0 - 1e-9), i1 = lowerBound(b.times, t1 - 1e-9);
  for (let d = 0; d < D; d++) {
    let s = 0, n = 0;
    for (let i = i0; i < i1; i++) {
      const v = b.data.data[i * D + d];
      if (!Number.isNaN(v)) {
        s += v;
        n++;
      }
    }
    out[at + d] = n > 0 ? s / n : NaN;
  }
}

function binsOf(name: string, ms: number, bin: number): number {
  const b = ms / bin;
  if (!Number.isFinite(b) || Math.abs(b - Math.round(b)) > 1e-9) {
    throw new DatasetError(
      `${name} ${ms} ms is not a multiple of binSizeMs ${bin} ms (bins do not divide the window)`,
    );
  }
  return Math.round(b);
}

/**
 * Load an NWB file (see the module docs for what is read and how it is binned).
 *
 * @example
 * ```ts
 * import { loadNwb } from "@hest/hest";
 * const ds = await loadNwb("sub-Jenkins_ses-small.nwb", {
 *   binSizeMs: 5, alignEvent: "move_onset_time", alignRangeMs: [-250, 450], forwardMs: 200,
 * });
 * ```
 */
export async function loadNwb(path: string, opts: NwbOptions = {}): Promise<SpikeDataset> {
  const f = await openHdf5(path);
  try {
    return nwbDataset(f, opts);
  } catch (err) {
    if (err instanceof DatasetError && !err.message.startsWith(path)) {
      throw loadError(path, undefined, err.message);
    }
    throw err;
  } finally {
    f.close();
  }
}

function nwbDataset(f: Hdf5File, opts: NwbOptions): SpikeDataset {
  const file = f.file;
  const bin = opts.binSizeMs ?? 20;
  if (!(bin > 0 && Number.isFinite(bin))) {
    throw new DatasetError(`binSizeMs must be positive, found ${bin}`);
  }
  const units = readUnits(f);
  const U = units.length;
  let heldOut = opts.heldOut;
  let heldOutSource = heldOut ? "option" : "random";
  if (!heldOut && f.isDataset("units/heldout")) {
    const h = column1d(f, "units/heldout");
    if (h.length !== U) {
      throw loadError(file, "units/heldout", `has ${h.length} entries for ${U} units`);
    }
    heldOut = [...h.keys()].filter((i) => h[i] !== 0);
    heldOutSource = "units/heldout";
  }
  const behaviour = opts.behaviorPath ? readBehaviour(f, opts.behaviorPath) : undefined;
  const lagS = (opts.lagMs ?? 0) / 1000;
  const name = opts.name ?? basename(file).replace(/\.[^.]*$/, "");
  const trialsTable = f.isGroup("intervals/trials") && f.isDataset("intervals/trials/start_time");

  if (opts.continuous || !trialsTable) {
    let lo = Infinity, hi = -Infinity;
    for (const u of units) {
      if (u.length) {
        lo = Math.min(lo, u[0]);
        hi = Math.max(hi, u[u.length - 1]);
      }
    }
    if (!Number.isFinite(lo)) throw loadError(file, "units/spike_times", "has no spikes");
    const startS = Math.floor((lo * 1000) / bin) * bin / 1000;
    const nBins = Math.floor(((hi - startS) * 1000) / bin) + 1;
    const counts = binSpikeTimes(units, { binSizeMs: bin, startS, nBins });
    let behavior: NdArray | undefined;
    if (behaviour) {
      const D = behaviour.data.shape[1];
      const out = new Float32Array(nBins * D);
      for (let b = 0; b < nBins; b++) {
        const t0 = startS + (b * bin) / 1000;
        binBehaviour(behaviour, t0, t0 + bin / 1000, out, b * D);
      }
      behavior = { data: Float64Array.from(out), shape: [nBins, D], dtype: "f4" };
    }
    return windowDataset(counts, {
      name,
      binSizeMs: bin,
      windowMs: opts.windowMs,
      strideMs: opts.strideMs,
      trainStrideMs: opts.trainStrideMs,
      forwardMs: opts.forwardMs,
      behavior,
      lagMs: opts.lagMs,
      heldOut,
      heldOutFraction: opts.heldOutFraction,
      split: opts.split,
      splitFractions: opts.splitFractions,
      seed: opts.seed,
      meta: {
        source: file,
        format: "nwb",
        nwb: { mode: "continuous", startS, heldOut: heldOutSource },
      },
    });
  }

  const T = "intervals/trials";
  const start = column1d(f, `${T}/start_time`);
  const nT = start.length;
  const stop = f.isDataset(`${T}/stop_time`) ? column1d(f, `${T}/stop_time`) : undefined;
  const event = opts.alignEvent ?? "start_time";
  if (!f.isDataset(`${T}/${event}`)) {
    const cols = f.members(T).filter((c) => f.isDataset(`${T}/${c}`));
    throw loadError(
      file,
      `${T}/${event}`,
      `alignment column not found; trials columns: ${cols.join(", ")}`,
    );
  }
  const align = column1d(f, `${T}/${event}`);
  if (align.length !== nT) {
    throw loadError(file, `${T}/${event}`, `has ${align.length} entries for ${nT} trials`);
  }
  let range = opts.alignRangeMs;
  if (!range) {
    if (!stop) throw loadError(file, `${T}/stop_time`, "missing: give alignRangeMs");
    let shortest = Infinity;
    for (let i = 0; i < nT; i++) {
      if (!Number.isNaN(align[i])) shortest = Math.min(shortest, (stop[i] - align[i]) * 1000);
    }
    const len = Math.floor(shortest / bin + 1e-9) * bin;
    if (!(len >= bin)) {
      throw loadError(
        file,
        `${T}/stop_time`,
        `the shortest trial (${shortest} ms after ${event}) is shorter than one bin`,
      );
    }
    range = [0, len];
  }
  if (!Array.isArray(range) || range.length !== 2 || !(range[1] > range[0])) {
    throw new DatasetError(
      `alignRangeMs must be [start, end] with end > start, found ${JSON.stringify(range)}`,
    );
  }
  const B = binsOf(
    `alignRangeMs [${range[0]}, ${range[1]}]: the window length`,
    range[1] - range[0],
    bin,
  );
  const F = binsOf("forwardMs", opts.forwardMs ?? 0, bin);
  const kept = [...Array(nT).keys()].filter((i) => !Number.isNaN(align[i]));
  if (kept.length === 0) throw loadError(file, `${T}/${event}`, "is NaN for every trial");
  const n = kept.length;
  const counts = new Float32Array(n * B * U);
  const fwd = new Float32Array(n * F * U);
  const winS = (B * bin) / 1000;
  for (let u = 0; u < U; u++) {
    const st = units[u];
    for (let j = 0; j < n; j++) {
      const t0 = align[kept[j]] + range[0] / 1000;
      const tEnd = t0 + winS + (F * bin) / 1000;
      for (let i = lowerBound(st, t0 - 1e-9); i < st.length && st[i] < tEnd + 1e-9; i++) {
        const ms = Math.round((st[i] - t0) * 1e9) / 1e6;
        const b = Math.floor(ms / bin + 1e-9);
        if (b < 0) continue;
        if (b < B) counts[(j * B + b) * U + u]++;
        else if (b < B + F) fwd[(j * F + b - B) * U + u]++;
      }
    }
  }
  let behavior;
  if (behaviour) {
    const D = behaviour.data.shape[1];
    const out = new Float32Array(n * B * D);
    for (let j = 0; j < n; j++) {
      for (let b = 0; b < B; b++) {
        const t0 = align[kept[j]] + (range[0] + b * bin) / 1000 + lagS;
        binBehaviour(behaviour, t0, t0 + bin / 1000, out, (j * B + b) * D);
      }
    }
    behavior = array3d(out, [n, B, D]);
  }
  let conditions: number[] | undefined;
  if (opts.conditionColumns && opts.conditionColumns.length > 0) {
    const cols = opts.conditionColumns.map((c) => {
      const p = `${T}/${c}`;
      if (!f.isDataset(p)) throw loadError(file, p, "condition column not found");
      const v = f.getStrings(p);
      if (v.length !== nT) throw loadError(file, p, `has ${v.length} entries for ${nT} trials`);
      return v;
    });
    const ids = new Map<string, number>();
    conditions = kept.map((i) => {
      const k = JSON.stringify(cols.map((c) => c[i]));
      if (!ids.has(k)) ids.set(k, ids.size);
      return ids.get(k)!;
    });
  }
  let split;
  let splitSource = "random";
  if (f.isDataset(`${T}/split`)) {
    const s = f.getStrings(`${T}/split`);
    if (s.length !== nT) {
      throw loadError(file, `${T}/split`, `has ${s.length} entries for ${nT} trials`);
    }
    const trainAll = [...Array(n).keys()].filter((j) => s[kept[j]] === "train");
    const test = [...Array(n).keys()].filter((j) => s[kept[j]] === "val");
    if (trainAll.length === 0) throw loadError(file, `${T}/split`, 'has no "train" trials');
    const vf = opts.valFraction ?? 0.1;
    if (!(vf >= 0 && vf < 1)) throw new DatasetError(`valFraction must be in [0, 1), found ${vf}`);
    const nVal = Math.min(trainAll.length - 1, Math.round(vf * trainAll.length));
    const perm = permutation(makeKey(opts.seed ?? 0), trainAll.length);
    const valSet = new Set(Array.from(perm.slice(0, nVal), (i) => trainAll[i]));
    split = {
      train: trainAll.filter((j) => !valSet.has(j)),
      val: [...valSet].sort((a, b) => a - b),
      test,
    };
    splitSource = "file split column (train -> train/val, val -> test)";
  } else if (opts.split === "chronological") {
    const fr = opts.splitFractions ?? [0.7, 0.1, 0.2];
    const order = [...Array(n).keys()].sort((a, b) => align[kept[a]] - align[kept[b]]);
    const nVal = Math.round(fr[1] * n), nTest = Math.round(fr[2] * n);
    const nTrain = n - nVal - nTest;
    split = {
      train: order.slice(0, nTrain),
      val: order.slice(nTrain, nTrain + nVal),
      test: order.slice(nTrain + nVal),
    };
    splitSource = "chronological";
  }
  return spikeDataset(
    {
      name,
      binSizeMs: bin,
      counts: array3d(counts, [n, B, U]),
      forwardCounts: array3d(fwd, [n, F, U]),
      heldOut,
      split,
      conditions,
      behavior,
      meta: {
        source: file,
        format: "nwb",
        nwb: {
          mode: "trials",
          alignEvent: event,
          alignRangeMs: range,
          forwardMs: F * bin,
          lagMs: opts.lagMs ?? 0,
          trialsInFile: nT,
          trialsLeftOut: nT - n,
          heldOut: heldOutSource,
          split: splitSource,
        },
      },
    },
    {
      heldOutFraction: opts.heldOutFraction,
      splitFractions: opts.splitFractions,
      key: makeKey(opts.seed ?? 0),
    },
  );
}
