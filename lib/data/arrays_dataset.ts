/**
 * Named arrays (.mat, .npz, .npy, plain HDF5, or several such files given together) as a
 * {@linkcode SpikeDataset}: {@linkcode arraysDataset}.
 *
 * NLB tensor keys, when present, are read as NLB tensors ({@linkcode nlbDataset}). Otherwise the
 * counts are `countsKey` (default: the first of `counts`, `spikes`, `spike_counts`,
 * `binned_spikes`, or the only array):
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
 * @module
 */
import { basename } from "node:path";
import { array3d, type SpikeDataset, spikeDataset } from "./dataset.ts";
import type { LoadOptions } from "./load.ts";
import {
  type ArraySource,
  checkCounts,
  checkFiniteOrNaN,
  expectShape,
  loadError,
  type NdArray,
  toArray3D,
  transpose2d,
} from "./ndarray.ts";
import { hasNlbKeys, NLB_KEYS, NLB_REQUIRED_KEYS, nlbDataset } from "./nlb.ts";
import { key as makeKey } from "../core/random.ts";
import { windowDataset } from "./windows.ts";

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
  // with several files, a key's problems are reported against the file it came from
  const at = (key?: string) => (key === undefined ? file : src.fileOf?.(key) ?? file);
  const name = opts.name ?? basename(file).replace(/\.[^.]*$/, "");
  if (hasNlbKeys(src)) {
    return nlbDataset(src, {
      name: opts.name,
      binSizeMs: opts.binSizeMs,
      valFraction: opts.valFraction,
      split: opts.split,
      seed: opts.seed,
    });
  }
  const nlbFound = NLB_KEYS.filter((k) => src.has(k));
  if (nlbFound.length > 0 && opts.countsKey === undefined) {
    // nlb_tools writes train and eval inputs to separate files; one alone is half a dataset
    const missing = NLB_REQUIRED_KEYS.filter((k) => !src.has(k));
    throw loadError(
      file,
      undefined,
      `holds NLB tensors (${nlbFound.join(", ")}) but not ${missing.join(", ")}; nlb_tools ` +
        `writes the train and eval inputs to separate files: give them together as one ` +
        `comma-separated path, e.g. "train_input.h5,eval_input.h5"`,
    );
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
  checkCounts(counts, { file: at(countsKey), key: countsKey });
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
      expectShape(fc, [nT, null, N], {
        file: at(fk),
        key: fk,
        what: "[trials, forwardBins, neurons]",
      });
      checkCounts(fc, { file: at(fk), key: fk });
      forwardCounts = toArray3D(fc, { file: at(fk), key: fk });
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
      checkFiniteOrNaN(b, { file: at(bk), key: bk });
      behavior = selectDims(toArray3D(b, { file: at(bk), key: bk }), opts.behaviorDims, at(bk), bk);
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
          counts: toArray3D(counts, { file: at(countsKey), key: countsKey }),
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
      at(countsKey),
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
      at(bk),
      bk,
      `expected [time, dims] behaviour, found shape [${beh.shape.join(", ")}]`,
    );
  }
  const tk = pickKey(src, opts.timeKey, TIME_KEYS);
  const time = tk !== undefined ? src.get(tk) : undefined;
  if (time && time.shape.length !== 1) {
    throw loadError(
      at(tk),
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
          at(countsKey),
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
          at(bk),
          bk,
          `behaviour shape [${
            beh.shape.join(", ")
          }] has no axis of ${T} time bins like ${countsKey}`,
        );
      }
    }
    checkFiniteOrNaN(b, { file: at(bk!), key: bk! });
    const sel = selectDims(
      { data: Float32Array.from(b.data), shape: [1, b.shape[0], b.shape[1]] },
      opts.behaviorDims,
      at(bk!),
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
      throw loadError(
        at(tk),
        tk,
        `has ${time.shape[0]} entries for ${T} time bins of ${countsKey}`,
      );
    }
    const steps = [];
    for (let i = 1; i < time.data.length; i++) steps.push(time.data[i] - time.data[i - 1]);
    steps.sort((a, b) => a - b);
    const step = steps[steps.length >> 1];
    if (!(step > 0)) throw loadError(at(tk), tk, "bin times are not increasing");
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
      trainStrideMs: opts.trainStrideMs,
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
