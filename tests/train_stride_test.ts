import assert from "node:assert/strict";
import type { SpikeDataset } from "../lib/data/dataset.ts";
import { loadDataset, type LoadOptions } from "../lib/data/load.ts";
import { encodeNpz } from "../lib/data/npy.ts";
import { windowDataset } from "../lib/data/windows.ts";

// 20 bins × 1 neuron whose count is the bin index, and a behaviour of 100 + bin index
const counts = {
  data: Float64Array.from({ length: 20 }, (_, i) => i),
  shape: [20, 1],
  dtype: "f8",
};
const beh = {
  data: Float64Array.from({ length: 20 }, (_, i) => 100 + i),
  shape: [20, 1],
  dtype: "f8",
};
/** The count of each listed window's first bin, which is its start bin. */
function firstBins(ds: SpikeDataset, idx: ArrayLike<number>): number[] {
  const W = ds.counts.shape[1];
  return Array.from(idx, (w) => ds.counts.data[w * W]);
}

Deno.test("trainStrideMs: overlapping training windows over the same stretch, val and test windows unchanged", () => {
  const opts = {
    binSizeMs: 10,
    windowMs: 30,
    behavior: beh,
    lagMs: 10,
    heldOut: [],
    splitFractions: [0.5, 0.25, 0.25] as [number, number, number],
  };
  // back to back: starts 0, 3, 6, 9, 12, 15; train 0, 3 (bins 0..5), val 6, 9, test 12, 15
  const plain = windowDataset(counts, opts);
  assert.deepEqual(firstBins(plain, plain.split.train), [0, 3]);
  const ds = windowDataset(counts, { ...opts, trainStrideMs: 10 });
  // training windows every bin while they end inside bins 0..5: starts 0, 1, 2, 3
  assert.deepEqual([...ds.split.train], [0, 1, 2, 3]);
  assert.deepEqual(firstBins(ds, ds.split.train), [0, 1, 2, 3]);
  assert.deepEqual([...ds.counts.data.subarray(3, 6)], [1, 2, 3]);
  // behaviour lagged one bin, cut at the same starts
  assert.deepEqual([...ds.behavior!.data.subarray(3, 6)], [102, 103, 104]);
  // val and test: the same windows, the same numbers
  for (const part of ["val", "test"] as const) {
    assert.deepEqual(firstBins(ds, ds.split[part]), firstBins(plain, plain.split[part]));
  }
  assert.deepEqual([...ds.split.val], [4, 5]);
  assert.deepEqual([...ds.split.test], [6, 7]);
  assert.deepEqual(ds.counts.shape, [8, 3, 1]);
  const meta = ds.meta.windows as Record<string, number>;
  assert.equal(meta.trainStrideMs, 10);
  assert.equal(meta.trainWindows, 4);
  assert.equal(meta.strideMs, 30);
  // a stride of two bins: starts 0, 2 (4 + 3 > 6)
  const two = windowDataset(counts, { ...opts, trainStrideMs: 20 });
  assert.deepEqual(firstBins(two, two.split.train), [0, 2]);
});

Deno.test("trainStrideMs: forward bins stay inside the training stretch; windows left out at boundaries are dropped", () => {
  // windows of 3 bins + 1 forward bin every 3 bins: starts 0, 3, 6, 9, 12, 15. Train 0, 3 (their
  // bins and forward bins end at bin 7); val window 6 overlaps it (left out), val keeps 9; test
  // window 12 overlaps val's 9..12 (left out), test keeps 15
  const opts = {
    binSizeMs: 10,
    windowMs: 30,
    forwardMs: 10,
    heldOut: [],
    splitFractions: [0.5, 0.25, 0.25] as [number, number, number],
  };
  const plain = windowDataset(counts, opts);
  assert.deepEqual(firstBins(plain, [...plain.split.val, ...plain.split.test]), [9, 15]);
  const ds = windowDataset(counts, { ...opts, trainStrideMs: 10 });
  // starts s with s + 3 + 1 ≤ 7: 0, 1, 2, 3; then the val and test windows, the left-out ones gone
  assert.deepEqual(firstBins(ds, [0, 1, 2, 3, 4, 5]), [0, 1, 2, 3, 9, 15]);
  // the last training window's forward bin is bin 6, before the first val bin (9)
  assert.deepEqual([...ds.forwardCounts.data], [3, 4, 5, 6, 12, 18]);
  assert.deepEqual([...ds.split.val], [4]);
  assert.deepEqual([...ds.split.test], [5]);
});

Deno.test("trainStrideMs: refused with a random split or off the bin grid; loadDataset passes it on", async () => {
  assert.throws(
    () =>
      windowDataset(counts, { binSizeMs: 10, windowMs: 30, trainStrideMs: 10, split: "random" }),
    /trainStrideMs needs the chronological split .* found split "random"/,
  );
  assert.throws(
    () => windowDataset(counts, { binSizeMs: 10, windowMs: 30, trainStrideMs: 15 }),
    /trainStrideMs = 15 ms is not a multiple of the bin size 10 ms/,
  );
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/rec.npz`;
    await Deno.writeFile(
      path,
      encodeNpz({ spikes: { data: counts.data, shape: [20, 1], dtype: "f8" } }),
    );
    const load: LoadOptions = {
      binSizeMs: 10,
      windowMs: 30,
      heldOut: [],
      splitFractions: [0.5, 0.25, 0.25],
    };
    const ds = await loadDataset(path, { ...load, trainStrideMs: 10 });
    assert.deepEqual(firstBins(ds, ds.split.train), [0, 1, 2, 3]);
    await assert.rejects(
      () => loadDataset(path, { ...load, trainStrideMs: -10 }),
      /trainStrideMs/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
