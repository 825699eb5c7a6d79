/**
 * Neural Latents Benchmark tensors: load the HDF5 layout nlb_tools' `make_train_input_tensors`
 * / `make_eval_input_tensors` / `save_to_h5` write, and write submissions in the layout its
 * `evaluate` reads.
 *
 * **Loading.** Keys (at the root, or in one group such as `mc_maze_small_20/`):
 *
 * | key | shape | required |
 * | --- | --- | --- |
 * | `train_spikes_heldin`, `train_spikes_heldout` | `[trainTrials, bins, heldIn / heldOut]` | yes |
 * | `eval_spikes_heldin` | `[evalTrials, bins, heldIn]` | yes |
 * | `eval_spikes_heldout` | `[evalTrials, bins, heldOut]` | no |
 * | `{train,eval}_spikes_{heldin,heldout}_forward` | `[trials, forwardBins, …]` | no |
 * | `train_behavior`, `eval_behavior` | `[trials, bins, dims]` | no |
 *
 * nlb_tools writes them to separate files: `make_train_input_tensors` → `train_input.h5`
 * (`train_*` at the root), `make_eval_input_tensors` → `eval_input.h5` (`eval_spikes_heldin`,
 * and `eval_spikes_heldout` for the val split, at the root) and `make_eval_target_tensors` →
 * `target_data.h5` (`eval_spikes_heldout`, `*_forward`, `train_behavior`, `eval_behavior` in a
 * `{dataset}` group such as `mc_maze_small`). Give them together as one comma-separated path
 * (`"train_input.h5,eval_input.h5,target_data.h5"`, see {@linkcode dataPaths}); a key is taken
 * from the first file listed that has it.
 *
 * Trials are ordered train trials, then eval trials, each in file order; neurons are held-in
 * then held-out (so `heldIn = [0, nIn)`, `heldOut = [nIn, nIn + nOut)`). The eval trials are
 * the **test** split; a seeded random `valFraction` of the train trials (or, with `split:
 * "chronological"`, the last of them) is the **val** split.
 *
 * The bin width is the `bin_size_ms` attribute when present, else the `binSizeMs` option, else
 * what nlb_tools' naming says: its target and submission groups are named after the NLB dataset
 * with no suffix for 5-ms bins and `_<ms>` otherwise (`mc_maze_small` 5 ms, `mc_maze_small_20`
 * 20 ms). Files that say none of these (nlb_tools' input files alone) are refused until
 * `binSizeMs` is given: the width is never guessed.
 *
 * Unknown targets are recorded, not invented: without `eval_spikes_heldout` the eval trials'
 * held-out counts are filled with zeros (SpikeDataset is dense; they are never scored) and
 * `meta.nlb.evalHeldOutKnown` is false, so the test split cannot be scored
 * ({@linkcode unknownTestTargets}); likewise for the forward window (`evalForwardKnown`).
 * `make_eval_input_tensors` leaves NaN in eval inputs where a trial has no data
 * (`allow_nans`): such entries of `eval_spikes_heldin` are masked, not data — they are given to
 * the model as 0, the value of a masked input, and counted in `meta.nlb.maskedEvalInputs`.
 * nlb_tools leaves NaN targets out of its score, which hest's dense scoring cannot, so eval
 * targets with NaN (`eval_spikes_heldout`, the eval forward window) are treated as unknown and
 * `meta.nlb.notes` says so. NaN in train counts is an error. Behaviour is used when both
 * `train_behavior` and `eval_behavior` are per-bin `[trials, bins, dims]` arrays (NaN marks
 * masked behaviour); otherwise it is left out and `meta.nlb.behavior` says why.
 *
 * **PSTHs.** When the target file holds nlb_tools' `psth` (`[conditions, bins, held-in +
 * held-out neurons]`, NaN outside trial times), `eval_cond_idx` (per condition, its eval trials;
 * `save_to_h5` stores it as variable-length ints) and optionally `eval_jitter` (per eval trial,
 * in bins), they are checked and kept in `meta.nlb.psth` ({@linkcode NlbPsth}), and the test
 * split's PSTH R² is nlb_tools' `eval_psth` ({@linkcode nlbPsthR2}).
 *
 * **Submissions.** `{name}/train_rates_heldin`, `train_rates_heldout`, `eval_rates_heldin`,
 * `eval_rates_heldout` (and `{train,eval}_rates_{heldin,heldout}_forward` when there is a
 * forward window), float32 rates per bin (expected counts, as nlb_tools' `bits_per_spike` takes them).
 * nlb_tools scores a group named after an NLB dataset: `mc_maze`, `mc_rtt`, `area2_bump`,
 * `dmfc_rsg`, `mc_maze_{large,medium,small}`, with suffix `_20` for 20-ms bins.
 *
 * @module
 */
import { basename } from "node:path";
import { type Array3D, array3d, DatasetError, type SpikeDataset, spikeDataset } from "./dataset.ts";
import { type Hdf5File, type Hdf5Tree, openHdf5, writeHdf5 } from "./hdf5.ts";
import { dataPaths, hdf5FileSource, mergeSources } from "./multi_file.ts";
import type { RatePredictions } from "./dataset.ts";
import {
  type ArraySource,
  checkCounts,
  checkFiniteOrNaN,
  expectShape,
  loadError,
  type NdArray,
} from "./ndarray.ts";
import { key as makeKey, permutation } from "../core/random.ts";
import type { WindowSplit } from "./windows.ts";
import { type NlbPsth, nlbPsthTargets } from "./nlb_psth.ts";

export { type NlbPsth, nlbPsthTargets } from "./nlb_psth.ts";

/** The keys that mark a file (or group) as NLB tensors. */
export const NLB_REQUIRED_KEYS: readonly string[] = [
  "train_spikes_heldin",
  "train_spikes_heldout",
  "eval_spikes_heldin",
];

/** Every spike tensor key of the NLB layout (a file with some but not all required is half of one). */
export const NLB_KEYS: readonly string[] = [
  ...NLB_REQUIRED_KEYS,
  "eval_spikes_heldout",
  "train_spikes_heldin_forward",
  "train_spikes_heldout_forward",
  "eval_spikes_heldin_forward",
  "eval_spikes_heldout_forward",
];

/** NLB dataset names as nlb_tools names its groups: the dataset, then `_<ms>` unless 5-ms bins. */
const NLB_GROUP_NAME =
  /^(mc_maze|mc_rtt|area2_bump|dmfc_rsg|mc_maze_large|mc_maze_medium|mc_maze_small)(?:_(\d+))?$/;

/**
 * The bin width an nlb_tools group name stands for (`mc_maze_small` 5 ms, `mc_maze_small_20`
 * 20 ms), or `undefined` for a name that is not an NLB dataset's.
 *
 * @example
 * ```ts
 * import { nlbGroupBinSizeMs } from "@hest/hest";
 * nlbGroupBinSizeMs("mc_rtt_20"); // 20
 * ```
 */
export function nlbGroupBinSizeMs(group: string): number | undefined {
  const m = NLB_GROUP_NAME.exec(basename(group));
  if (!m) return undefined;
  return m[2] === undefined ? 5 : Number(m[2]);
}

/** Options of {@linkcode nlbDataset} and {@linkcode loadNlb}. */
export interface NlbOptions {
  /** Dataset name (default: the group name, else the file name without extension). */
  name?: string;
  /** Group holding the tensors (default: the source's own group, or the root). */
  group?: string;
  /**
   * Bin width in ms when the file has no `bin_size_ms` attribute; required unless the tensors
   * sit in an nlb_tools group named after an NLB dataset (`mc_maze_small`: 5, `*_20`: 20).
   */
  binSizeMs?: number;
  /** Fraction of train trials held out as the val split (default 0.1). */
  valFraction?: number;
  /**
   * How the val trials are taken from the train trials: `"random"` (default, seeded) or
   * `"chronological"`, the last `valFraction` of them in file order. For a file cut from one
   * session in time order, whose eval trials come after its train trials, the chronological val
   * sits next to the eval trials, so a model picked on it meets the session's drift there rather
   * than on val windows interleaved with its training windows.
   */
  split?: WindowSplit;
  /** Seed of the val split (default 0). */
  seed?: number;
}

/** What {@linkcode nlbDataset} records in `meta.nlb`. */
export interface NlbMeta {
  /** NLB dataset name (group name when the tensors sit in a group). */
  name: string;
  /** Number of train trials (dataset trials `[0, trainTrials)`). */
  trainTrials: number;
  /** Number of eval trials (dataset trials `[trainTrials, trainTrials + evalTrials)`). */
  evalTrials: number;
  /** Whether `eval_spikes_heldout` was in the file(s), without NaN. */
  evalHeldOutKnown: boolean;
  /** Whether the eval trials' forward counts were in the file(s) without NaN (true when there is no forward window). */
  evalForwardKnown: boolean;
  /** Where the bin width came from (`"group name"`: nlb_tools' naming, e.g. `mc_maze_small_20`). */
  binSizeSource: "attribute" | "option" | "group name";
  /** Entries of `eval_spikes_heldin` that were NaN (masked by nlb_tools), given to the model as 0. */
  maskedEvalInputs: number;
  /** How behaviour was handled. */
  behavior: string;
  /** What else was decided about the file(s), e.g. eval targets with NaN treated as unknown. */
  notes: string[];
  /** nlb_tools' PSTH targets of the eval trials, when the file(s) hold `psth`. */
  psth?: NlbPsth;
}

/**
 * Whether a source holds NLB tensors (the three required keys).
 *
 * @example
 * ```ts
 * import { hasNlbKeys, memorySource } from "@hest/hest";
 * hasNlbKeys(memorySource("x", {})); // false
 * ```
 */
export function hasNlbKeys(src: ArraySource): boolean {
  return NLB_REQUIRED_KEYS.every((k) => src.has(k));
}

function fileOf(src: ArraySource, key: string): string {
  return src.fileOf?.(key) ?? src.file;
}

/**
 * Read NLB counts. With `nanMasked`, NaN entries (nlb_tools' `allow_nans` eval tensors) are
 * counted and set to 0; any other value must still be a count.
 */
function counts3d(
  src: ArraySource,
  key: string,
  expected: (number | null)[],
  nanMasked = false,
): { array: NdArray; nan: number } {
  const file = fileOf(src, key);
  const a = src.get(key);
  expectShape(a, expected, { file, key, what: "[trials, bins, neurons]" });
  let data = a.data;
  let nan = 0;
  if (nanMasked) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isNaN(data[i])) continue;
      if (nan++ === 0) data = data.slice();
      data[i] = 0;
    }
  }
  const array = nan > 0 ? { ...a, data } : a;
  checkCounts(array, { file, key });
  return { array, nan };
}

/** The bin width: the file's attribute, else the option, else the nlb_tools group name. */
function nlbBinSize(
  src: ArraySource,
  group: string | undefined,
  option: number | undefined,
): { binSizeMs: number; binSizeSource: NlbMeta["binSizeSource"] } {
  const file = src.file;
  const attr = src.attr("bin_size_ms");
  if (attr !== undefined) {
    if (option !== undefined && option !== attr) {
      throw loadError(
        file,
        undefined,
        `the file says bin_size_ms = ${attr} but the binSizeMs option is ${option}`,
      );
    }
    return { binSizeMs: attr, binSizeSource: "attribute" };
  }
  const named = group === undefined ? undefined : nlbGroupBinSizeMs(group);
  if (option !== undefined) {
    if (named !== undefined && named !== option) {
      throw loadError(
        file,
        undefined,
        `the nlb_tools group "${group}" holds ${named}-ms bins but the binSizeMs option is ${option}`,
      );
    }
    return { binSizeMs: option, binSizeSource: "option" };
  }
  if (named !== undefined) return { binSizeMs: named, binSizeSource: "group name" };
  throw loadError(
    file,
    undefined,
    "the bin width is not stored: no bin_size_ms attribute and no nlb_tools dataset group " +
      '(such as "mc_maze_small" for 5 ms or "mc_maze_small_20" for 20 ms); give it with the ' +
      'binSizeMs option (in a run config: "data": {"kind": "file", "path": …, "options": ' +
      '{"binSizeMs": 5}})',
  );
}

/**
 * Build a {@linkcode SpikeDataset} from NLB tensors in an {@linkcode ArraySource} (an HDF5
 * group, an .npz, a .mat); see the module docs for the mapping.
 *
 * @example
 * ```ts
 * import { nlbDataset, openHdf5 } from "@hest/hest";
 * const f = await openHdf5("mc_maze_small.h5");
 * const ds = nlbDataset(f, { binSizeMs: 5 });
 * f.close();
 * ```
 */
export function nlbDataset(src: ArraySource, opts: NlbOptions = {}): SpikeDataset {
  const file = src.file;
  for (const k of NLB_REQUIRED_KEYS) {
    if (!src.has(k)) {
      throw loadError(file, k, `missing: NLB tensors need ${NLB_REQUIRED_KEYS.join(", ")}`);
    }
  }
  const group = opts.group ?? src.groupName;
  const name = opts.name ??
    (group ? basename(group) : basename(file).replace(/\.[^.]*$/, ""));
  const { binSizeMs, binSizeSource } = nlbBinSize(src, group, opts.binSizeMs);
  const notes: string[] = [];
  const trIn = counts3d(src, "train_spikes_heldin", [null, null, null]).array;
  const [nTr, B, nIn] = trIn.shape;
  const trOut = counts3d(src, "train_spikes_heldout", [nTr, B, null]).array;
  const nOut = trOut.shape[2];
  const evInRead = counts3d(src, "eval_spikes_heldin", [null, B, nIn], true);
  const evIn = evInRead.array;
  const nEv = evIn.shape[0];
  // a target with NaN cannot be scored densely: unknown rather than partly invented
  const target = (key: string, expected: (number | null)[]) => {
    const { array, nan } = counts3d(src, key, expected, true);
    if (nan === 0) return array;
    notes.push(
      `${key} (${fileOf(src, key)}) has ${nan} NaN entries, which nlb_tools leaves out of its ` +
        `score; hest scores every entry, so these targets are treated as unknown`,
    );
    return undefined;
  };
  const evOut = src.has("eval_spikes_heldout")
    ? target("eval_spikes_heldout", [nEv, B, nOut])
    : undefined;
  if (nTr < 1) {
    throw loadError(fileOf(src, "train_spikes_heldin"), "train_spikes_heldin", "has no trials");
  }
  if (nIn < 1) {
    throw loadError(fileOf(src, "train_spikes_heldin"), "train_spikes_heldin", "has no neurons");
  }

  // forward window: used when the train trials have it
  let F = 0;
  let fTrIn: NdArray | undefined, fTrOut: NdArray | undefined;
  let fEvIn: NdArray | undefined, fEvOut: NdArray | undefined;
  const pair = (a: string, b: string) => {
    if (src.has(a) !== src.has(b)) {
      const present = src.has(a) ? a : b;
      throw loadError(
        fileOf(src, present),
        src.has(a) ? b : a,
        `missing while ${present} is present`,
      );
    }
    return src.has(a);
  };
  if (pair("train_spikes_heldin_forward", "train_spikes_heldout_forward")) {
    fTrIn = counts3d(src, "train_spikes_heldin_forward", [nTr, null, nIn]).array;
    F = fTrIn.shape[1];
    fTrOut = counts3d(src, "train_spikes_heldout_forward", [nTr, F, nOut]).array;
    if (pair("eval_spikes_heldin_forward", "eval_spikes_heldout_forward")) {
      fEvIn = target("eval_spikes_heldin_forward", [nEv, F, nIn]);
      fEvOut = target("eval_spikes_heldout_forward", [nEv, F, nOut]);
      if (!fEvIn || !fEvOut) fEvIn = fEvOut = undefined;
    }
  }

  const N = nIn + nOut;
  const T = nTr + nEv;
  const counts = new Float32Array(T * B * N);
  const forward = new Float32Array(T * F * N);
  const place = (
    dst: Float32Array,
    bins: number,
    a: NdArray | undefined,
    trialOffset: number,
    neuronOffset: number,
  ) => {
    if (!a) return;
    const [n, b, c] = a.shape;
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < b; j++) {
        const s = (t * b + j) * c;
        const d = ((trialOffset + t) * bins + j) * N + neuronOffset;
        for (let k = 0; k < c; k++) dst[d + k] = a.data[s + k];
      }
    }
  };
  place(counts, B, trIn, 0, 0);
  place(counts, B, trOut, 0, nIn);
  place(counts, B, evIn, nTr, 0);
  place(counts, B, evOut, nTr, nIn);
  place(forward, F, fTrIn, 0, 0);
  place(forward, F, fTrOut, 0, nIn);
  place(forward, F, fEvIn, nTr, 0);
  place(forward, F, fEvOut, nTr, nIn);

  // behaviour
  let behavior: Array3D | undefined;
  let behaviorNote = "none in the file";
  const hasTrB = src.has("train_behavior"), hasEvB = src.has("eval_behavior");
  if (hasTrB || hasEvB) {
    if (!hasTrB || !hasEvB) {
      behaviorNote = `left out: ${hasTrB ? "eval_behavior" : "train_behavior"} is missing`;
    } else {
      const tb = src.get("train_behavior"), eb = src.get("eval_behavior");
      if (tb.shape.length !== 3 || eb.shape.length !== 3) {
        behaviorNote = `left out: trial-level behaviour (train_behavior shape [${
          tb.shape.join(", ")
        }]) is not per bin`;
      } else {
        const tw = { file: fileOf(src, "train_behavior"), key: "train_behavior" };
        const ew = { file: fileOf(src, "eval_behavior"), key: "eval_behavior" };
        expectShape(tb, [nTr, B, null], { ...tw, what: "[trials, bins, dims]" });
        expectShape(eb, [nEv, B, tb.shape[2]], { ...ew, what: "[trials, bins, dims]" });
        checkFiniteOrNaN(tb, tw);
        checkFiniteOrNaN(eb, ew);
        const D = tb.shape[2];
        const out = new Float32Array(T * B * D);
        out.set(tb.data, 0);
        out.set(eb.data, nTr * B * D);
        behavior = array3d(out, [T, B, D]);
        behaviorNote = `train_behavior + eval_behavior, ${D} dims`;
      }
    }
  }

  // split: eval trials are the test trials; part of train is val
  const valFraction = opts.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new DatasetError(`valFraction must be in [0, 1), found ${valFraction}`);
  }
  const nVal = Math.min(nTr - 1, Math.round(valFraction * nTr));
  const splitRule = opts.split ?? "random";
  if (splitRule !== "random" && splitRule !== "chronological") {
    throw new DatasetError(`split must be "random" or "chronological", found ${String(splitRule)}`);
  }
  const val = splitRule === "chronological"
    ? Array.from({ length: nVal }, (_, i) => nTr - nVal + i)
    : Array.from(permutation(makeKey(opts.seed ?? 0), nTr).slice(0, nVal)).sort((a, b) => a - b);
  const valSet = new Set(val);
  const train = [...Array(nTr).keys()].filter((t) => !valSet.has(t));
  const test = [...Array(nEv).keys()].map((t) => nTr + t);

  const psth = nlbPsthTargets(src, nEv, B, nIn + nOut);
  const meta: NlbMeta = {
    name,
    trainTrials: nTr,
    evalTrials: nEv,
    evalHeldOutKnown: evOut !== undefined,
    evalForwardKnown: F === 0 || fEvIn !== undefined,
    binSizeSource,
    maskedEvalInputs: evInRead.nan,
    behavior: behaviorNote,
    notes,
    ...(psth ? { psth } : {}),
  };
  try {
    return spikeDataset({
      name,
      binSizeMs,
      counts: array3d(counts, [T, B, N]),
      forwardCounts: array3d(forward, [T, F, N]),
      heldIn: [...Array(nIn).keys()],
      heldOut: [...Array(nOut).keys()].map((i) => nIn + i),
      split: { train, val, test },
      behavior,
      meta: { source: file, format: "nlb", nlb: meta },
    });
  } catch (err) {
    throw loadError(file, undefined, (err as Error).message);
  }
}

/**
 * Load NLB tensors from an HDF5 file, or from several given as one comma-separated path
 * (nlb_tools' `train_input.h5`, `eval_input.h5` and `target_data.h5`; see the module docs).
 *
 * @example
 * ```ts
 * import { loadNlb } from "@hest/hest";
 * const ds = await loadNlb("mc_maze_small_20.h5", { valFraction: 0.2 });
 * const split = await loadNlb("train_input.h5,eval_input.h5,target_data.h5");
 * ```
 */
export async function loadNlb(path: string, opts: NlbOptions = {}): Promise<SpikeDataset> {
  const paths = await dataPaths(path);
  if (paths.length > 1) {
    const files: Hdf5File[] = [];
    try {
      for (const p of paths) files.push(await openHdf5(p));
      const src = mergeSources(files.map((f) => hdf5FileSource(f, opts.group)), path);
      if (!hasNlbKeys(src)) {
        const missing = NLB_REQUIRED_KEYS.filter((k) => !src.has(k));
        throw loadError(
          path,
          missing[0],
          `missing from every file: NLB tensors need ${NLB_REQUIRED_KEYS.join(", ")}`,
        );
      }
      const name = opts.name ?? src.groupName ?? basename(paths[0]).replace(/\.[^.]*$/, "");
      return nlbDataset(src, { ...opts, name });
    } finally {
      for (const f of files) f.close();
    }
  }
  const f = await openHdf5(path);
  try {
    let group = opts.group;
    if (group === undefined && !hasNlbKeys(f.group(""))) {
      const candidates = f.members("").filter((g) => f.isGroup(g) && hasNlbKeys(f.group(g)));
      if (candidates.length === 1) group = candidates[0];
      else if (candidates.length > 1) {
        throw loadError(
          path,
          undefined,
          `several groups hold NLB tensors (${
            candidates.join(", ")
          }); pick one with the "group" option`,
        );
      }
    }
    const src = f.group(group ?? "");
    if (!hasNlbKeys(src)) {
      const missing = NLB_REQUIRED_KEYS.filter((k) => !src.has(k));
      throw loadError(
        path,
        missing[0],
        `missing${group ? ` in group "${group}"` : ""}: NLB tensors need ${
          NLB_REQUIRED_KEYS.join(", ")
        }`,
      );
    }
    return nlbDataset(src, { ...opts, group });
  } finally {
    f.close();
  }
}

/**
 * Which targets of the test split are unknown (zero-filled, never scored) in a dataset loaded from NLB
 * tensors: held-out counts (no `eval_spikes_heldout`) and forward counts. Other datasets know
 * all their targets.
 *
 * @example
 * ```ts
 * import { lorenzDataset, unknownTestTargets } from "@hest/hest";
 * unknownTestTargets(lorenzDataset({ conditions: 2 })); // { heldOut: false, forward: false }
 * ```
 */
export function unknownTestTargets(ds: SpikeDataset): { heldOut: boolean; forward: boolean } {
  const m = ds.meta.nlb as Partial<NlbMeta> | undefined;
  if (!m || typeof m !== "object") return { heldOut: false, forward: false };
  return { heldOut: m.evalHeldOutKnown === false, forward: m.evalForwardKnown === false };
}

/** Options of {@linkcode nlbSubmission} / {@linkcode writeNlbSubmission}. */
export interface NlbSubmissionOptions {
  /** Group name (default: `meta.nlb.name` for NLB data, else the dataset name). */
  name?: string;
}

function gather(a: Array3D, trials: ArrayLike<number>, neurons: ArrayLike<number>): Array3D {
  const [, b, c] = a.shape;
  const out = new Float32Array(trials.length * b * neurons.length);
  for (let i = 0; i < trials.length; i++) {
    for (let j = 0; j < b; j++) {
      const s = (trials[i] * b + j) * c;
      const d = (i * b + j) * neurons.length;
      for (let k = 0; k < neurons.length; k++) out[d + k] = a.data[s + neurons[k]];
    }
  }
  return { data: out, shape: [trials.length, b, neurons.length] };
}

/**
 * The submission tree for {@linkcode writeHdf5}: `{name: {train,eval}_rates_{heldin,heldout}
 * [_forward]}`. Train trials are the NLB train trials (all of train + val) and eval trials the
 * test trials, each in dataset order, which for NLB data is the file's order.
 *
 * @example
 * ```ts
 * import { lorenzDataset, nlbSubmission } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2 });
 * const tree = nlbSubmission({ rates: ds.trueRates!, forwardRates: ds.forwardTrueRates }, ds, { name: "lorenz" });
 * ```
 */
export function nlbSubmission(
  preds: RatePredictions,
  ds: SpikeDataset,
  opts: NlbSubmissionOptions = {},
): Hdf5Tree {
  const [nAll, B, N] = ds.counts.shape;
  const F = ds.forwardCounts.shape[1];
  const r = preds.rates;
  if (!r || r.shape[0] !== nAll || r.shape[1] !== B || r.shape[2] !== N) {
    throw new DatasetError(
      `NLB submission: rates must be [${nAll}, ${B}, ${N}] like the dataset, found [${
        r?.shape.join(", ")
      }]`,
    );
  }
  for (let i = 0; i < r.data.length; i++) {
    if (!(r.data[i] >= 0) || r.data[i] === Infinity) {
      throw new DatasetError(
        `NLB submission: rate ${r.data[i]} at flat index ${i} is not a finite non-negative number`,
      );
    }
  }
  const m = ds.meta.nlb as Partial<NlbMeta> | undefined;
  let trainTrials: number[], evalTrials: number[];
  if (m && typeof m.trainTrials === "number" && typeof m.evalTrials === "number") {
    trainTrials = [...Array(m.trainTrials).keys()];
    evalTrials = [...Array(m.evalTrials).keys()].map((t) => m.trainTrials! + t);
  } else {
    trainTrials = [...ds.split.train, ...ds.split.val].sort((a, b) => a - b);
    evalTrials = [...ds.split.test];
  }
  const name = opts.name ?? (typeof m?.name === "string" ? m.name : ds.name);
  if (name === "" || name.includes("/")) {
    throw new DatasetError(`NLB submission: name must be a non-empty group name, found "${name}"`);
  }
  const group: Hdf5Tree = {};
  const put = (k: string, a: Array3D) => {
    group[k] = { data: a.data, shape: [...a.shape] };
  };
  put("train_rates_heldin", gather(r, trainTrials, ds.heldIn));
  put("train_rates_heldout", gather(r, trainTrials, ds.heldOut));
  put("eval_rates_heldin", gather(r, evalTrials, ds.heldIn));
  put("eval_rates_heldout", gather(r, evalTrials, ds.heldOut));
  if (F > 0) {
    const fr = preds.forwardRates;
    if (!fr || fr.shape[0] !== nAll || fr.shape[1] !== F || fr.shape[2] !== N) {
      throw new DatasetError(
        `NLB submission: forwardRates must be [${nAll}, ${F}, ${N}], found ${
          fr ? `[${fr.shape.join(", ")}]` : "none"
        }`,
      );
    }
    put("train_rates_heldin_forward", gather(fr, trainTrials, ds.heldIn));
    put("train_rates_heldout_forward", gather(fr, trainTrials, ds.heldOut));
    put("eval_rates_heldin_forward", gather(fr, evalTrials, ds.heldIn));
    put("eval_rates_heldout_forward", gather(fr, evalTrials, ds.heldOut));
  }
  return { [name]: group };
}

/**
 * Write an NLB submission HDF5 file atomically (temp file + rename; see
 * {@linkcode nlbSubmission} for the layout).
 *
 * @example
 * ```ts
 * import { lorenzDataset, writeNlbSubmission } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2 });
 * await writeNlbSubmission("/tmp/sub.h5", { rates: ds.trueRates! , forwardRates: ds.forwardTrueRates }, ds);
 * ```
 */
export async function writeNlbSubmission(
  path: string,
  preds: RatePredictions,
  ds: SpikeDataset,
  opts: NlbSubmissionOptions = {},
): Promise<void> {
  await writeHdf5(path, nlbSubmission(preds, ds, opts));
}
