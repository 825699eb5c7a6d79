/**
 * One entry point for every data file: {@linkcode loadDataset} looks at the file's first bytes,
 * picks the reader and returns a validated {@linkcode SpikeDataset}.
 *
 * | first bytes | format | read as |
 * | --- | --- | --- |
 * | `MATLAB 5.0 MAT-file` | MATLAB Level 5 | named arrays (mat-for-js) |
 * | `MATLAB 7.3 MAT-file` + HDF5 | MATLAB v7.3 | named arrays (h5wasm, transposed to MATLAB's shape) |
 * | `\x89HDF\r\n\x1a\n` | HDF5 | NLB tensors if it has them, else NWB if it has `units/spike_times`, else named arrays |
 * | `\x93NUMPY` | NumPy .npy | one array |
 * | `PK\x03\x04` | NumPy .npz | named arrays |
 * | `{` | hest dataset JSON | {@linkcode loadDatasetJson} |
 *
 * **Named arrays** (.mat, .npz, .npy, plain HDF5) become a dataset like this: NLB tensor keys,
 * when present, are read as NLB tensors. Otherwise the counts are `countsKey` (default: the
 * first of `counts`, `spikes`, `spike_counts`, `binned_spikes`, or the only array):
 *
 * - 3-D `[trials, bins, neurons]`: trials as they are; `forwardKey` and a 3-D `behaviorKey`
 *   optional; `binSizeMs` from the option or a `bin_size_ms` attribute.
 * - 2-D: a continuous recording, cut into windows by {@linkcode windowDataset} (`windowMs`,
 *   `strideMs`, `forwardMs`, `lagMs`, chronological split by default). The time axis is
 *   `timeAxis` if given, else the axis whose length matches the behaviour (or `time` vector),
 *   else the longer one. `binSizeMs` comes from the option, a `bin_size_ms` attribute or the
 *   step of a time vector (`timeKey`, default `time`/`times`/`t`/`timestamps`, in seconds).
 *   Behaviour is `behaviorKey` (default the first of `behavior`, `vel`, `velocity`, `handVel`,
 *   `hand_vel`, `finger_vel`, `cursor_vel`), `[time, dims]` either way round; `behaviorDims`
 *   picks dims, otherwise dims that are constant over the whole recording are dropped (their
 *   R² is undefined) and listed in `meta.droppedBehaviorDims`.
 *
 * Every problem (truncated or corrupt file, missing key, wrong dtype or shape, NaN, negative or
 * fractional counts, bins that do not divide a window) is one `DatasetError` naming the file,
 * the key and what was expected; nothing is returned half-built.
 *
 * @module
 */
import { basename } from "node:path";
import { array3d, DatasetError, type SpikeDataset, spikeDataset } from "./dataset.ts";
import { hdf5SignatureOffset, openHdf5 } from "./hdf5.ts";
import { loadDatasetJson } from "./dataset_json.ts";
import { matVersion, openMat } from "./mat.ts";
import {
  type ArraySource,
  checkCounts,
  checkFiniteOrNaN,
  expectShape,
  loadError,
  memorySource,
  type NdArray,
  toArray3D,
  transpose2d,
} from "./ndarray.ts";
import { hasNlbKeys, nlbDataset } from "./nlb.ts";
import { NPY_MAGIC, parseNpy, parseNpz } from "./npy.ts";
import { loadNwb } from "./nwb.ts";
import { key as makeKey } from "../core/random.ts";
import { checkKeys } from "../core/validation.ts";
import { windowDataset, type WindowSplit } from "./windows.ts";

/** File formats {@linkcode loadDataset} recognises. */
export type DataFormat = "json" | "hdf5" | "mat5" | "mat73" | "npy" | "npz";

/** Options of {@linkcode loadDataset}; each applies to the formats named in its doc. */
export interface LoadOptions {
  /** Dataset name (default: the file name without extension, or the NLB group name). */
  name?: string;
  /** Bin width in ms when the file does not say (all formats; NWB: the bin size to use, default 20). */
  binSizeMs?: number;
  /** Seed of random held-out neurons and splits (default 0). */
  seed?: number;
  /** Held-out neuron indices (default: from the file when it says, else a seeded random fraction). */
  heldOut?: number[];
  /** Fraction of neurons held out when the file does not say (default 0.25). */
  heldOutFraction?: number;
  /** Split rule for trials or windows: `"random"` (trial tensors, NWB) or `"chronological"` (continuous). */
  split?: WindowSplit;
  /** `[train, val, test]` fractions (default `[0.7, 0.1, 0.2]`). */
  splitFractions?: [number, number, number];
  /** NLB / NWB with a split column: fraction of train trials used as val (default 0.1). */
  valFraction?: number;
  /** HDF5: group holding the arrays or NLB tensors. */
  group?: string;
  /** Named arrays: key of the counts. */
  countsKey?: string;
  /** Named arrays: key of the behaviour. */
  behaviorKey?: string;
  /** Named arrays: behaviour dims to keep (default: drop constant dims). */
  behaviorDims?: number[];
  /** Named arrays, 3-D counts: key of the forward-window counts `[trials, forwardBins, neurons]`. */
  forwardKey?: string;
  /** Named arrays, 2-D counts: key of the bin times in seconds. */
  timeKey?: string;
  /** Named arrays, 2-D counts: which axis is time (0 or 1). */
  timeAxis?: 0 | 1;
  /** Continuous: window length in ms (default 1000). */
  windowMs?: number;
  /** Continuous: window stride in ms (default `windowMs`). */
  strideMs?: number;
  /** Continuous / NWB: forward window in ms (default 0). */
  forwardMs?: number;
  /** Continuous / NWB: behaviour lag in ms (default 0). */
  lagMs?: number;
  /** NWB: trials column to align on (default `start_time`). */
  alignEvent?: string;
  /** NWB: window `[start, end]` ms around the alignment time. */
  alignRangeMs?: [number, number];
  /** NWB: TimeSeries group of the behaviour. */
  behaviorPath?: string;
  /** NWB: trials columns that define conditions. */
  conditionColumns?: string[];
  /** NWB: ignore the trials table and window the whole recording. */
  continuous?: boolean;
}

const OPTION_TYPES: Record<keyof LoadOptions, string> = {
  name: "string",
  binSizeMs: "positive number",
  seed: "integer",
  heldOut: "integer array",
  heldOutFraction: "fraction",
  split: "split",
  splitFractions: "fractions",
  valFraction: "fraction",
  group: "string",
  countsKey: "string",
  behaviorKey: "string",
  behaviorDims: "integer array",
  forwardKey: "string",
  timeKey: "string",
  timeAxis: "axis",
  windowMs: "positive number",
  strideMs: "positive number",
  forwardMs: "non-negative number",
  lagMs: "number",
  alignEvent: "string",
  alignRangeMs: "range",
  behaviorPath: "string",
  conditionColumns: "string array",
  continuous: "boolean",
};

/**
 * Check loader options: known keys and value types, with an error naming the option.
 *
 * @example
 * ```ts
 * import { validateLoadOptions } from "@hest/hest";
 * validateLoadOptions({ binSizeMs: 50, windowMs: 1000 });
 * ```
 */
export function validateLoadOptions(opts: unknown): asserts opts is LoadOptions {
  checkKeys(opts, Object.keys(OPTION_TYPES), "data option", DatasetError);
  for (const [k, v] of Object.entries(opts as Record<string, unknown>)) {
    const t = OPTION_TYPES[k as keyof LoadOptions];
    if (v === undefined) continue;
    const num = typeof v === "number" && Number.isFinite(v);
    const ok = t === "string"
      ? typeof v === "string" && v !== ""
      : t === "boolean"
      ? typeof v === "boolean"
      : t === "number"
      ? num
      : t === "positive number"
      ? num && v > 0
      : t === "non-negative number"
      ? num && v >= 0
      : t === "integer"
      ? Number.isSafeInteger(v)
      : t === "fraction"
      ? num && v >= 0 && v < 1
      : t === "axis"
      ? v === 0 || v === 1
      : t === "split"
      ? v === "random" || v === "chronological"
      : t === "integer array"
      ? Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && x >= 0)
      : t === "string array"
      ? Array.isArray(v) && v.every((x) => typeof x === "string")
      : t === "fractions"
      ? Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "number" && x >= 0) &&
        Math.abs(v[0] + v[1] + v[2] - 1) < 1e-9
      : t === "range"
      ? Array.isArray(v) && v.length === 2 && v.every((x) =>
        typeof x === "number" && Number.isFinite(x)
      ) &&
        v[1] > v[0]
      : false;
    if (!ok) {
      const want = t === "fractions"
        ? "3 non-negative numbers summing to 1"
        : t === "range"
        ? "[start, end] with end > start"
        : t === "axis"
        ? "0 or 1"
        : t === "split"
        ? `"random" or "chronological"`
        : t === "fraction"
        ? "a number in [0, 1)"
        : t === "integer array"
        ? "an array of non-negative integers"
        : t === "string array"
        ? "an array of strings"
        : t === "integer"
        ? "an integer"
        : `a ${t}`;
      throw new DatasetError(`data option "${k}" must be ${want}, found ${JSON.stringify(v)}`);
    }
  }
}

/**
 * Recognise a file format from its first bytes (at least 8; 600 to see a MAT v7.3 user block).
 *
 * @example
 * ```ts
 * import { sniffFormat } from "@hest/hest";
 * sniffFormat(new TextEncoder().encode('{"name": "x"}')); // "json"
 * ```
 */
export function sniffFormat(bytes: Uint8Array): DataFormat | undefined {
  const mat = matVersion(bytes);
  if (mat === "5") return "mat5";
  if (mat === "7.3") return "mat73";
  if (hdf5SignatureOffset(bytes) >= 0) return "hdf5";
  if (NPY_MAGIC.every((b, i) => bytes[i] === b)) return "npy";
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5)) return "npz";
  for (const b of bytes) {
    if (
      b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0xef || b === 0xbb || b === 0xbf
    ) continue;
    return b === 0x7b ? "json" : undefined;
  }
  return undefined;
}

async function headBytes(path: string, n: number): Promise<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw loadError(path, undefined, `cannot read the file: ${(err as Error).message}`);
  }
  try {
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = await file.read(buf.subarray(got));
      if (r === null) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    file.close();
  }
}

/**
 * Load any supported data file as a validated {@linkcode SpikeDataset} (see the module docs for
 * formats and options).
 *
 * @example
 * ```ts
 * import { loadDataset } from "@hest/hest";
 * const ds = await loadDataset("recordings/s1_data.mat", {
 *   binSizeMs: 50, windowMs: 1000,
 * });
 * ```
 */
export async function loadDataset(path: string, opts: LoadOptions = {}): Promise<SpikeDataset> {
  try {
    validateLoadOptions(opts);
  } catch (err) {
    throw loadError(path, undefined, (err as Error).message);
  }
  const head = await headBytes(path, 4096);
  if (head.length === 0) throw loadError(path, undefined, "the file is empty");
  const format = sniffFormat(head);
  switch (format) {
    case "json":
      return await loadDatasetJson(path);
    case "npy": {
      const key = basename(path).replace(/\.npy$/, "");
      const arr = parseNpy(await Deno.readFile(path), { file: path, key });
      return arraysDataset(memorySource(path, { [key]: arr }), opts);
    }
    case "npz":
      return arraysDataset(parseNpz(await Deno.readFile(path), path), opts);
    case "mat5":
    case "mat73": {
      const src = await openMat(path);
      try {
        return arraysDataset(src, opts);
      } finally {
        src.close?.();
      }
    }
    case "hdf5":
      return await loadHdf5(path, opts);
    default:
      throw loadError(
        path,
        undefined,
        "unrecognised file format: expected HDF5 (NLB tensors, NWB), MATLAB .mat (v5 or v7.3), " +
          "NumPy .npy/.npz or hest dataset JSON",
      );
  }
}

async function loadHdf5(path: string, opts: LoadOptions): Promise<SpikeDataset> {
  const f = await openHdf5(path);
  let isNwb = false;
  try {
    if (opts.group !== undefined) {
      if (!f.isGroup(opts.group)) throw loadError(path, opts.group, "group not found");
      return arraysDataset(f.group(opts.group), {
        ...opts,
        name: opts.name ?? basename(opts.group),
      });
    }
    if (hasNlbKeys(f.group(""))) return arraysDataset(f.group(""), opts);
    const nlbGroups = f.members("").filter((g) => f.isGroup(g) && hasNlbKeys(f.group(g)));
    if (nlbGroups.length === 1) {
      return arraysDataset(f.group(nlbGroups[0]), { ...opts, name: opts.name ?? nlbGroups[0] });
    }
    if (nlbGroups.length > 1) {
      throw loadError(
        path,
        undefined,
        `several groups hold NLB tensors (${
          nlbGroups.join(", ")
        }); pick one with the "group" option`,
      );
    }
    isNwb = f.isDataset("units/spike_times") || f.attrString("nwb_version") !== undefined;
    if (!isNwb) return arraysDataset(f.group(""), opts);
  } finally {
    f.close();
  }
  return await loadNwb(path, opts);
}

const COUNT_KEYS = ["counts", "spikes", "spike_counts", "binned_spikes"];
const BEHAVIOR_KEYS = [
  "behavior",
  "behaviour",
  "vel",
  "velocity",
  "handVel",
  "hand_vel",
  "finger_vel",
  "cursor_vel",
];
const TIME_KEYS = ["time", "times", "t", "timestamps"];

function pickKey(
  src: ArraySource,
  explicit: string | undefined,
  auto: string[],
): string | undefined {
  if (explicit !== undefined) {
    if (!src.has(explicit)) {
      throw loadError(
        src.file,
        explicit,
        `not found; the file has: ${src.keys().join(", ") || "(no arrays)"}`,
      );
    }
    return explicit;
  }
  return auto.find((k) => src.has(k));
}

/**
 * Build a dataset from named arrays (see the module docs): NLB tensors, 3-D trial tensors or a
 * 2-D continuous recording.
 *
 * @example
 * ```ts
 * import { arraysDataset, memorySource } from "@hest/hest";
 * const spikes = { data: new Float64Array(400), shape: [100, 4], dtype: "u1" };
 * const ds = arraysDataset(memorySource("x.npz", { spikes }), { binSizeMs: 50 });
 * ```
 */
export function arraysDataset(src: ArraySource, opts: LoadOptions = {}): SpikeDataset {
  const file = src.file;
  const name = opts.name ?? basename(file).replace(/\.[^.]*$/, "");
  if (hasNlbKeys(src)) {
    return nlbDataset(src, {
      name: opts.name,
      binSizeMs: opts.binSizeMs,
      valFraction: opts.valFraction,
      seed: opts.seed,
    });
  }
  const keys = src.keys();
  let countsKey = pickKey(src, opts.countsKey, COUNT_KEYS);
  if (countsKey === undefined) {
    if (keys.length === 1) countsKey = keys[0];
    else {
      throw loadError(
        file,
        undefined,
        `no counts found: expected NLB tensors or one of ${COUNT_KEYS.join(", ")}; ` +
          `the file has ${
            keys.join(", ") || "no numeric arrays"
          }; name one with the "countsKey" option`,
      );
    }
  }
  const counts = src.get(countsKey);
  checkCounts(counts, { file, key: countsKey });
  const attrBin = src.attr("bin_size_ms");
  const fileMeta = { source: file, countsKey };
  if (counts.shape.length === 3) {
    const binSizeMs = opts.binSizeMs ?? attrBin;
    if (binSizeMs === undefined) {
      throw loadError(
        file,
        countsKey,
        "the bin width is not stored in the file; pass the binSizeMs option",
      );
    }
    const [nT, B, N] = counts.shape;
    let forwardCounts;
    if (opts.forwardKey !== undefined) {
      const fk = pickKey(src, opts.forwardKey, [])!;
      const fc = src.get(fk);
      expectShape(fc, [nT, null, N], { file, key: fk, what: "[trials, forwardBins, neurons]" });
      checkCounts(fc, { file, key: fk });
      forwardCounts = toArray3D(fc, { file, key: fk });
    }
    let behavior;
    const bk = pickKey(src, opts.behaviorKey, BEHAVIOR_KEYS);
    if (bk !== undefined) {
      const b = src.get(bk);
      expectShape(b, [nT, B, null], {
        file,
        key: bk,
        what: "[trials, bins, dims] like the counts",
      });
      checkFiniteOrNaN(b, { file, key: bk });
      behavior = selectDims(toArray3D(b, { file, key: bk }), opts.behaviorDims, file, bk);
    }
    let split;
    if (opts.split === "chronological") {
      const f = opts.splitFractions ?? [0.7, 0.1, 0.2];
      const nVal = Math.round(f[1] * nT), nTest = Math.round(f[2] * nT);
      const idx = [...Array(nT).keys()];
      split = {
        train: idx.slice(0, nT - nVal - nTest),
        val: idx.slice(nT - nVal - nTest, nT - nTest),
        test: idx.slice(nT - nTest),
      };
    }
    try {
      return spikeDataset(
        {
          name,
          binSizeMs,
          counts: toArray3D(counts, { file, key: countsKey }),
          forwardCounts,
          heldOut: opts.heldOut,
          split,
          behavior: behavior?.array,
          meta: { ...fileMeta, format: "trials", droppedBehaviorDims: behavior?.dropped },
        },
        {
          heldOutFraction: opts.heldOutFraction,
          splitFractions: opts.splitFractions,
          key: makeKey(opts.seed ?? 0),
        },
      );
    } catch (err) {
      throw loadError(file, undefined, (err as Error).message);
    }
  }
  if (counts.shape.length !== 2) {
    throw loadError(
      file,
      countsKey,
      `expected [trials, bins, neurons] or a continuous [time, neurons] matrix, found shape [${
        counts.shape.join(", ")
      }]`,
    );
  }
  // continuous recording
  const bk = pickKey(src, opts.behaviorKey, BEHAVIOR_KEYS);
  const beh = bk !== undefined ? src.get(bk) : undefined;
  if (beh && beh.shape.length !== 1 && beh.shape.length !== 2) {
    throw loadError(
      file,
      bk,
      `expected [time, dims] behaviour, found shape [${beh.shape.join(", ")}]`,
    );
  }
  const tk = pickKey(src, opts.timeKey, TIME_KEYS);
  const time = tk !== undefined ? src.get(tk) : undefined;
  if (time && time.shape.length !== 1) {
    throw loadError(
      file,
      tk,
      `expected a 1-D vector of bin times, found shape [${time.shape.join(", ")}]`,
    );
  }
  const [d0, d1] = counts.shape;
  let timeAxis = opts.timeAxis;
  let timeAxisSource = "option";
  if (timeAxis === undefined) {
    const lengths = [beh ? beh.shape : undefined, time ? time.shape : undefined];
    for (const l of lengths) {
      if (timeAxis !== undefined || !l) continue;
      const m0 = l.includes(d0), m1 = l.includes(d1);
      if (m0 !== m1) {
        timeAxis = m0 ? 0 : 1;
        timeAxisSource = l === lengths[0] ? `matches ${bk}` : `matches ${tk}`;
      }
    }
    if (timeAxis === undefined) {
      if (d0 === d1) {
        throw loadError(
          file,
          countsKey,
          `is square [${d0}, ${d1}]: say which axis is time with the timeAxis option`,
        );
      }
      timeAxis = d0 > d1 ? 0 : 1;
      timeAxisSource = "the longer axis";
    }
  }
  const c = timeAxis === 0 ? counts : transpose2d(counts);
  const T = c.shape[0];
  let behavior: NdArray | undefined;
  let dropped: number[] | undefined;
  if (beh) {
    let b = beh.shape.length === 1 ? { ...beh, shape: [beh.shape[0], 1] } : beh;
    if (b.shape[0] !== T) {
      if (b.shape[1] === T) b = transpose2d(b);
      else {
        throw loadError(
          file,
          bk,
          `behaviour shape [${
            beh.shape.join(", ")
          }] has no axis of ${T} time bins like ${countsKey}`,
        );
      }
    }
    checkFiniteOrNaN(b, { file, key: bk! });
    const sel = selectDims(
      { data: Float32Array.from(b.data), shape: [1, b.shape[0], b.shape[1]] },
      opts.behaviorDims,
      file,
      bk!,
    );
    behavior = {
      data: Float64Array.from(sel.array.data),
      shape: [T, sel.array.shape[2]],
      dtype: b.dtype,
    };
    dropped = sel.dropped;
  }
  let binSizeMs = opts.binSizeMs ?? attrBin;
  let binSource = opts.binSizeMs !== undefined ? "option" : "attribute";
  if (binSizeMs === undefined && time) {
    if (time.shape[0] !== T) {
      throw loadError(file, tk, `has ${time.shape[0]} entries for ${T} time bins of ${countsKey}`);
    }
    const steps = [];
    for (let i = 1; i < time.data.length; i++) steps.push(time.data[i] - time.data[i - 1]);
    steps.sort((a, b) => a - b);
    const step = steps[steps.length >> 1];
    if (!(step > 0)) throw loadError(file, tk, "bin times are not increasing");
    binSizeMs = Math.round(step * 1000 * 1e6) / 1e6;
    binSource = `step of ${tk}`;
  }
  if (binSizeMs === undefined) {
    throw loadError(
      file,
      countsKey,
      "the bin width is not stored in the file (no bin_size_ms attribute or time vector); pass the binSizeMs option",
    );
  }
  try {
    return windowDataset(c, {
      name,
      binSizeMs,
      windowMs: opts.windowMs,
      strideMs: opts.strideMs,
      forwardMs: opts.forwardMs,
      behavior,
      lagMs: opts.lagMs,
      heldOut: opts.heldOut,
      heldOutFraction: opts.heldOutFraction,
      split: opts.split,
      splitFractions: opts.splitFractions,
      seed: opts.seed,
      meta: {
        ...fileMeta,
        format: "continuous",
        timeAxis: { axis: timeAxis, source: timeAxisSource },
        binSizeSource: binSource,
        behaviorKey: bk,
        droppedBehaviorDims: dropped,
      },
    });
  } catch (err) {
    throw loadError(file, undefined, (err as Error).message);
  }
}

/** Keep `dims` of a behaviour array, or drop the dims that never change. */
function selectDims(
  b: { data: Float32Array; shape: readonly [number, number, number] },
  dims: number[] | undefined,
  file: string,
  key: string,
): { array: ReturnType<typeof array3d>; dropped?: number[] } {
  const [n, t, D] = b.shape;
  let keep: number[];
  let dropped: number[] | undefined;
  if (dims) {
    for (const d of dims) {
      if (d >= D) {
        throw loadError(file, key, `behaviorDims has ${d}, but the behaviour has ${D} dims`);
      }
    }
    keep = dims;
  } else {
    keep = [];
    dropped = [];
    for (let d = 0; d < D; d++) {
      let first = NaN, constant = true;
      for (let i = d; i < b.data.length; i += D) {
        const v = b.data[i];
        if (Number.isNaN(v)) continue;
        if (Number.isNaN(first)) first = v;
        else if (v !== first) {
          constant = false;
          break;
        }
      }
      (constant ? dropped : keep).push(d);
    }
    if (keep.length === 0) {
      throw loadError(file, key, "every behaviour dim is constant; nothing to decode");
    }
  }
  const out = new Float32Array(n * t * keep.length);
  for (let i = 0; i < n * t; i++) {
    for (let j = 0; j < keep.length; j++) out[i * keep.length + j] = b.data[i * D + keep[j]];
  }
  return {
    array: array3d(out, [n, t, keep.length]),
    dropped: dropped && dropped.length ? dropped : undefined,
  };
}
