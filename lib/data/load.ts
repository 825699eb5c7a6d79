/**
 * One entry point for every data file: {@linkcode loadDataset} looks at the file's first bytes,
 * picks the reader and returns a validated {@linkcode SpikeDataset}.
 *
 * | first bytes | format | read as |
 * | --- | --- | --- |
 * | `MATLAB 5.0 MAT-file` | MATLAB Level 5 | named arrays (column-major reordered to MATLAB's shape) |
 * | `MATLAB 7.3 MAT-file` + HDF5 | MATLAB v7.3 | named arrays (h5wasm, transposed to MATLAB's shape) |
 * | `\x89HDF\r\n\x1a\n` | HDF5 | NLB tensors if it has them, else NWB if it has `units/spike_times`, else named arrays |
 * | `\x93NUMPY` | NumPy .npy | one array |
 * | `PK\x03\x04` | NumPy .npz | named arrays |
 * | `{` | hest dataset JSON | {@linkcode loadDatasetJson} |
 *
 * **Named arrays** (.mat, .npz, .npy, plain HDF5) become a dataset as {@linkcode arraysDataset}
 * says: NLB tensors when the keys are there, else 3-D trial tensors or a 2-D continuous
 * recording.
 *
 * **Several files** make one dataset when the path lists them comma-separated, e.g. nlb_tools'
 * separate outputs `"train_input.h5,eval_input.h5,target_data.h5"` (see {@linkcode dataPaths}):
 * their arrays are merged (a key is read from the first file listed that has it; in an HDF5
 * file, from the `group` option's group when it has one, else its root, else its one group such
 * as nlb_tools' `mc_maze_small`) and built as named arrays. A path naming an existing file is
 * always that one file, comma or not. NWB and hest JSON files load only on their own.
 *
 * Every problem (truncated or corrupt file, missing key, wrong dtype or shape, NaN, negative or
 * fractional counts, bins that do not divide a window) is one `DatasetError` naming the file,
 * the key and what was expected; nothing is returned half-built.
 *
 * @module
 */
import { basename } from "node:path";
import { arraysDataset } from "./arrays_dataset.ts";
import { DatasetError, type SpikeDataset } from "./dataset.ts";
import { hdf5SignatureOffset, openHdf5 } from "./hdf5.ts";
import { loadDatasetJson } from "./dataset_json.ts";
import { matVersion, openMat } from "./mat.ts";
import { dataPaths, hdf5FileSource, mergeSources } from "./multi_file.ts";
import { type ArraySource, loadError, memorySource } from "./ndarray.ts";
import { hasNlbKeys } from "./nlb.ts";
import { NPY_MAGIC, parseNpy, parseNpz } from "./npy.ts";
import { loadNwb } from "./nwb.ts";
import { checkKeys } from "../core/validation.ts";
import type { WindowSplit } from "./windows.ts";

/** File formats {@linkcode loadDataset} recognises. */
export type DataFormat = "json" | "hdf5" | "mat5" | "mat73" | "npy" | "npz";

/**
 * Options of {@linkcode loadDataset}; each applies to the formats named in its doc. The files
 * themselves are the path: one file, or several given comma-separated
 * (`"train_input.h5,eval_input.h5,target_data.h5"`), whose arrays are merged; the options then
 * apply to the merged arrays.
 */
export interface LoadOptions {
  /** Dataset name (default: the file name without extension, or the NLB group name). */
  name?: string;
  /**
   * Bin width in ms when the file does not say (all formats; NWB: the bin size to use, default
   * 20). Required for files that store no width, such as nlb_tools' `train_input.h5` and
   * `eval_input.h5` without the target file's `mc_maze_small`-style group.
   */
  binSizeMs?: number;
  /** Seed of random held-out neurons and splits (default 0). */
  seed?: number;
  /** Held-out neuron indices (default: from the file when it says, else a seeded random fraction). */
  heldOut?: number[];
  /** Fraction of neurons held out when the file does not say (default 0.25). */
  heldOutFraction?: number;
  /**
   * Split rule for trials or windows: `"random"` (trial tensors, NWB) or `"chronological"`
   * (continuous). NLB tensors: how val is taken from the train trials (random by default, or the
   * last `valFraction` of them).
   */
  split?: WindowSplit;
  /** `[train, val, test]` fractions (default `[0.7, 0.1, 0.2]`). */
  splitFractions?: [number, number, number];
  /** NLB / NWB with a split column: fraction of train trials used as val (default 0.1). */
  valFraction?: number;
  /** HDF5: group holding the arrays or NLB tensors (several files: used in each file that has it). */
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
  /**
   * Continuous, chronological split: stride of the training windows in ms (default `strideMs`).
   * Overlapping training windows; val and test windows unchanged (see `WindowOptions`).
   */
  trainStrideMs?: number;
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
  trainStrideMs: "positive number",
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
 * Load a data file, or several given as one comma-separated path, as a validated
 * {@linkcode SpikeDataset} (see the module docs for formats, options and file lists).
 *
 * @example
 * ```ts
 * import { loadDataset } from "@hest/hest";
 * const ds = await loadDataset("recordings/s1_data.mat", {
 *   binSizeMs: 50, windowMs: 1000,
 * });
 * // nlb_tools' separate input and target files, as one dataset
 * const nlb = await loadDataset("train_input.h5,eval_input.h5,target_data.h5");
 * ```
 */
export async function loadDataset(path: string, opts: LoadOptions = {}): Promise<SpikeDataset> {
  try {
    validateLoadOptions(opts);
  } catch (err) {
    throw loadError(path, undefined, (err as Error).message);
  }
  const paths = await dataPaths(path);
  if (paths.length > 1) return await loadFiles(path, paths, opts);
  const format = await fileFormat(path);
  switch (format) {
    case "json":
      return await loadDatasetJson(path);
    case "hdf5":
      return await loadHdf5(path, opts);
    default: {
      const src = await openArrays(path, format);
      try {
        return arraysDataset(src, opts);
      } finally {
        src.close?.();
      }
    }
  }
}

async function fileFormat(path: string): Promise<DataFormat> {
  const head = await headBytes(path, 4096);
  if (head.length === 0) throw loadError(path, undefined, "the file is empty");
  const format = sniffFormat(head);
  if (format === undefined) {
    throw loadError(
      path,
      undefined,
      "unrecognised file format: expected HDF5 (NLB tensors, NWB), MATLAB .mat (v5 or v7.3), " +
        "NumPy .npy/.npz or hest dataset JSON",
    );
  }
  return format;
}

/** The named arrays of a .npy, .npz or .mat file. */
async function openArrays(path: string, format: "mat5" | "mat73" | "npy" | "npz") {
  if (format === "npy") {
    const key = basename(path).replace(/\.npy$/, "");
    return memorySource(path, { [key]: parseNpy(await Deno.readFile(path), { file: path, key }) });
  }
  if (format === "npz") return parseNpz(await Deno.readFile(path), path);
  return await openMat(path);
}

/** Several files as one dataset: their arrays merged, the first file listed winning a key. */
async function loadFiles(
  spec: string,
  paths: string[],
  opts: LoadOptions,
): Promise<SpikeDataset> {
  const sources: ArraySource[] = [];
  const closers: (() => void)[] = [];
  try {
    for (const p of paths) {
      const format = await fileFormat(p);
      if (format === "json") {
        throw loadError(
          p,
          undefined,
          "is a hest dataset JSON, which is a whole dataset; a list of data files takes array " +
            "files (HDF5 tensors, .mat, .npz, .npy)",
        );
      }
      if (format === "hdf5") {
        const f = await openHdf5(p);
        closers.push(() => f.close());
        if (f.isDataset("units/spike_times") || f.attrString("nwb_version") !== undefined) {
          throw loadError(
            p,
            undefined,
            "is an NWB file, which loads on its own; a list of data files takes array files " +
              "(HDF5 tensors, .mat, .npz, .npy)",
          );
        }
        sources.push(hdf5FileSource(f, opts.group));
      } else {
        const src = await openArrays(p, format);
        closers.push(() => src.close?.());
        sources.push(src);
      }
    }
    const src = mergeSources(sources, spec);
    const name = opts.name ?? src.groupName ?? basename(paths[0]).replace(/\.[^.]*$/, "");
    return arraysDataset(src, { ...opts, name });
  } finally {
    for (const close of closers) close();
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
