import assert from "node:assert/strict";
import { File as H5File } from "h5wasm/node";
import { hdf5Ready } from "../lib/data/hdf5.ts";
import { loadDataset } from "../lib/data/load.ts";
import { loadNwb } from "../lib/data/nwb.ts";
import { binSpikeTimes, windowDataset } from "../lib/data/windows.ts";

interface NwbSpec {
  spikeTimes?: number[];
  index?: number[];
  heldout?: number[];
  trials?: boolean;
  behavior?: boolean;
}

/**
 * A small NWB-layout file (as pynwb writes it): 3 units, 3 trials, behaviour sampled every 5 ms
 * with value (t in ms, −t in ms).
 */
async function writeNwb(path: string, spec: NwbSpec = {}): Promise<void> {
  await hdf5Ready();
  const f = new H5File(path, "w");
  try {
    f.create_attribute("nwb_version", "2.6.0");
    const units = f.create_group("units");
    const st = spec.spikeTimes ?? [0.005, 0.015, 0.0201, 1.005, 1.019, 1.02, 0.1, 1.1, 2.05];
    units.create_dataset({ name: "spike_times", data: Float64Array.from(st) });
    units.create_dataset({
      name: "spike_times_index",
      data: Int32Array.from(spec.index ?? [6, 9, 9]),
    });
    units.create_dataset({ name: "heldout", data: Uint8Array.from(spec.heldout ?? [0, 1, 0]) });
    if (spec.trials ?? true) {
      const intervals = f.create_group("intervals");
      const trials = intervals.create_group("trials");
      trials.create_dataset({ name: "start_time", data: Float64Array.of(0, 1, 2) });
      trials.create_dataset({ name: "stop_time", data: Float64Array.of(0.5, 1.5, 2.5) });
      trials.create_dataset({ name: "move_onset_time", data: Float64Array.of(0, 1, NaN) });
      trials.create_dataset({ name: "split", data: ["train", "val", "train"] });
      trials.create_dataset({ name: "cond", data: Float64Array.of(7, 3, 7) });
    }
    if (spec.behavior ?? true) {
      const beh = f.create_group("processing").create_group("behavior").create_group("hand_vel");
      const n = 501;
      const data = new Float64Array(n * 2);
      for (let i = 0; i < n; i++) {
        data[2 * i] = i * 5;
        data[2 * i + 1] = -i * 5;
      }
      beh.create_dataset({ name: "data", data, shape: [n, 2] });
      beh.create_dataset({
        name: "timestamps",
        data: Float64Array.from({ length: n }, (_, i) => i / 200),
      });
    }
  } finally {
    f.close();
  }
}

Deno.test("nwb: trials binned around an event, held-out flag and split column from the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/s.nwb`;
    await writeNwb(path);
    const ds = await loadDataset(path, {
      binSizeMs: 10,
      alignEvent: "move_onset_time",
      alignRangeMs: [0, 30],
      forwardMs: 10,
      behaviorPath: "processing/behavior/hand_vel",
      lagMs: 10,
      conditionColumns: ["cond"],
    });
    // trial 2 has no movement onset: left out
    assert.deepEqual(ds.counts.shape, [2, 3, 3]);
    // unit 0 spikes at 5, 15, 20.1 ms (trial 0) and 5, 19, 20 ms after onset (trial 1; 20 ms is
    // on the edge of bins 1 and 2 and belongs to bin 2); unit 1 fires outside the windows
    assert.deepEqual([...ds.counts.data], [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0]);
    assert.deepEqual(ds.forwardCounts.shape, [2, 1, 3]);
    assert.deepEqual([...ds.forwardCounts.data], [0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...ds.heldOut], [1]);
    assert.deepEqual([...ds.split.train], [0]);
    assert.deepEqual([...ds.split.test], [1]);
    assert.deepEqual([...ds.conditions!], [0, 1]);
    // behaviour: mean of the 5-ms samples in [t + 10, t + 20) ms → t + 12.5
    assert.deepEqual([...ds.behavior!.data], [
      12.5,
      -12.5,
      22.5,
      -22.5,
      32.5,
      -32.5,
      1012.5,
      -1012.5,
      1022.5,
      -1022.5,
      1032.5,
      -1032.5,
    ]);
    const meta = ds.meta.nwb as Record<string, unknown>;
    assert.equal(meta.trialsLeftOut, 1);
    assert.equal(meta.heldOut, "units/heldout");
    // default window: from the event to the shortest trial end (500 ms), 20 ms bins
    const d2 = await loadNwb(path);
    assert.deepEqual(d2.counts.shape, [3, 25, 3]);
    assert.equal(d2.counts.data[1 * 75 + 5 * 3 + 1], 1); // unit 1 at 1.1 s: trial 1, bin 5
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nwb: no trials table → the recording is binned and windowed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/c.nwb`;
    await writeNwb(path, { trials: false, behavior: false });
    const ds = await loadDataset(path, {
      binSizeMs: 100,
      windowMs: 500,
      split: "random",
      splitFractions: [1, 0, 0],
    });
    // spikes from 0.005 s to 2.05 s: 21 bins of 100 ms from 0 → 4 windows of 5 bins
    assert.deepEqual(ds.counts.shape, [4, 5, 3]);
    // window 0, bin 0 has unit 0's three spikes before 100 ms
    assert.deepEqual([...ds.counts.data.subarray(0, 3)], [3, 0, 0]);
    let total = 0;
    for (const v of ds.counts.data) total += v;
    assert.equal(total, 8); // the 2.05-s spike is in bin 20, past the 4 whole windows
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nwb: bad input → one error naming file, key and problem", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/b.nwb`;
    const cases: [NwbSpec, Record<string, unknown>, RegExp][] = [
      [
        {},
        { binSizeMs: 10, alignRangeMs: [0, 25] },
        /b\.nwb: alignRangeMs \[0, 25\]: the window length 25 ms is not a multiple of binSizeMs 10 ms \(bins do not divide the window\)/,
      ],
      [
        {},
        { binSizeMs: 10, forwardMs: 15, alignRangeMs: [0, 30] },
        /forwardMs 15 ms is not a multiple of binSizeMs 10 ms/,
      ],
      [
        {},
        { alignEvent: "go_time" },
        /key "intervals\/trials\/go_time": alignment column not found; trials columns: .*move_onset_time/,
      ],
      [
        { index: [6, 4, 9] },
        {},
        /key "units\/spike_times_index": entry 1 = 4 is not a non-decreasing end offset/,
      ],
      [
        { index: [6, 8, 8] },
        {},
        /key "units\/spike_times_index": ends at 8 but units\/spike_times has 9 values/,
      ],
      [
        { spikeTimes: [0.1, NaN, 0.2], index: [1, 2, 3] },
        {},
        /key "units\/spike_times": spike time NaN at index 1 is not finite/,
      ],
      [{ heldout: [0, 1] }, {}, /key "units\/heldout": has 2 entries for 3 units/],
      [
        {},
        { behaviorPath: "processing/behavior/eye" },
        /key "processing\/behavior\/eye": behaviour TimeSeries group not found/,
      ],
    ];
    for (const [spec, opts, re] of cases) {
      await writeNwb(path, spec);
      await assert.rejects(() => loadDataset(path, opts), re, JSON.stringify([spec, opts]));
    }
    await writeNwb(path);
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 200));
    await assert.rejects(
      () => loadDataset(path),
      /b\.nwb: not a readable HDF5 file: truncated file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("windows: spike-time binning and window cutting match hand counts", () => {
  // bins of 10 ms from 0.1 s; a spike on an edge belongs to the later bin
  const c = binSpikeTimes([
    Float64Array.of(0.1, 0.109, 0.11, 0.135, 0.2),
    Float64Array.of(0.05, 0.125),
  ], {
    binSizeMs: 10,
    startS: 0.1,
    nBins: 4,
  });
  assert.deepEqual(c.shape, [4, 2]);
  assert.deepEqual([...c.data], [2, 0, 1, 0, 0, 1, 1, 0]);
  // 10 bins × 1 neuron with count = bin index; windows of 3 bins, stride 2, 1 forward bin
  const counts = {
    data: Float64Array.from({ length: 10 }, (_, i) => i),
    shape: [10, 1],
    dtype: "f8",
  };
  const beh = {
    data: Float64Array.from({ length: 10 }, (_, i) => 100 + i),
    shape: [10, 1],
    dtype: "f8",
  };
  const ds = windowDataset(counts, {
    binSizeMs: 5,
    windowMs: 15,
    strideMs: 10,
    forwardMs: 5,
    behavior: beh,
    lagMs: -5,
    heldOut: [],
    splitFractions: [0.5, 0.25, 0.25],
  });
  // starts 0, 2, 4, 6 (6 + 3 + 1 = 10 fits; 8 would not)
  assert.deepEqual(ds.counts.shape, [4, 3, 1]);
  assert.deepEqual([...ds.counts.data], [0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8]);
  assert.deepEqual([...ds.forwardCounts.data], [3, 5, 7, 9]);
  // lag −5 ms: behaviour one bin earlier, NaN before the recording starts
  assert.deepEqual([...ds.behavior!.data], [
    NaN,
    100,
    101,
    101,
    102,
    103,
    103,
    104,
    105,
    105,
    106,
    107,
  ]);
  // chronological: train [0, 1]; window 2 starts at bin 4, inside train's last window (bins 2..5
  // with its forward bin): left out; window 3 (bins 6..9) is the test window
  assert.deepEqual([...ds.split.train], [0, 1]);
  assert.deepEqual([...ds.split.val], []);
  assert.deepEqual([...ds.split.test], [3]);
  assert.equal(
    (ds.meta.windows as { leftOutAtSplitBoundaries: number }).leftOutAtSplitBoundaries,
    1,
  );
  assert.throws(
    () => windowDataset(counts, { binSizeMs: 5, windowMs: 12 }),
    /windowMs = 12 ms is not a multiple of the bin size 5 ms/,
  );
  assert.throws(
    () => windowDataset(counts, { binSizeMs: 5, windowMs: 10, lagMs: 3 }),
    /lagMs = 3 ms is not a multiple of the bin size 5 ms/,
  );
  assert.throws(
    () =>
      windowDataset(counts, { binSizeMs: 5, windowMs: 10, behavior: { ...beh, shape: [5, 2] } }),
    /behaviour must be \[time, dims\] with 10 time bins like the counts, found shape \[5, 2\]/,
  );
});
