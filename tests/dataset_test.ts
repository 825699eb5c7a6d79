import assert from "node:assert/strict";
import {
  type Array3D,
  array3d,
  DatasetError,
  spikeDataset,
  type SpikeDatasetInit,
  take3d,
} from "../lib/data/dataset.ts";
import { key } from "../lib/core/random.ts";

/** A valid toy dataset: 4 trials × 3 bins × 5 neurons, forward window of 2 bins. */
function toy(): SpikeDatasetInit {
  return {
    name: "toy",
    binSizeMs: 20,
    counts: array3d(new Float32Array(4 * 3 * 5).fill(1), [4, 3, 5]),
    forwardCounts: array3d(new Float32Array(4 * 2 * 5), [4, 2, 5]),
    trueRates: array3d(new Float32Array(4 * 3 * 5).fill(0.5), [4, 3, 5]),
    forwardTrueRates: array3d(new Float32Array(4 * 2 * 5).fill(0.5), [4, 2, 5]),
    conditions: [0, 0, 1, 1],
    behavior: array3d(new Float32Array(4 * 3 * 2), [4, 3, 2]),
    behaviorNames: ["vx", "vy"],
  };
}

function zeros(shape: [number, number, number]): Array3D {
  return { data: new Float32Array(shape[0] * shape[1] * shape[2]), shape };
}

/** Assert that `fn` throws a DatasetError whose message matches `re`. */
function throwsDataset(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${e}`);
    assert.match(e.message, re);
    return true;
  });
}

Deno.test("the toy dataset is valid and keeps its fields", () => {
  const ds = spikeDataset(toy());
  assert.deepEqual(ds.counts.shape, [4, 3, 5]);
  assert.deepEqual(ds.forwardCounts.shape, [4, 2, 5]);
  assert.deepEqual(Array.from(ds.conditions!), [0, 0, 1, 1]);
  assert.deepEqual(ds.behaviorNames, ["vx", "vy"]);
  assert.deepEqual(ds.meta, {});
  // forwardCounts defaults to an empty window
  const { forwardCounts: _f, forwardTrueRates: _r, ...rest } = toy();
  assert.deepEqual(spikeDataset(rest).forwardCounts.shape, [4, 0, 5]);
});

Deno.test("array3d checks the length and the shape", () => {
  const a = array3d([1, 2, 3, 4, 5, 6], [1, 2, 3]);
  assert.ok(a.data instanceof Float32Array);
  assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6]);
  throwsDataset(
    () => array3d([1, 2, 3], [1, 2, 2]),
    /data length 3 does not match shape \[1, 2, 2\]/,
  );
  throwsDataset(() => array3d([], [1, -1, 0]), /shape must be 3 non-negative integers/);
});

Deno.test("wrong shapes are rejected, naming the field", () => {
  const cases: [Partial<SpikeDatasetInit>, RegExp][] = [
    [
      { counts: { data: new Float32Array(5), shape: [4, 3, 5] } },
      /counts has 5 values but shape \[4, 3, 5\] needs 60/,
    ],
    [
      { counts: { data: new Float32Array(4), shape: [4, 1] } as unknown as Array3D },
      /counts must be an Array3D/,
    ],
    [{ counts: zeros([0, 3, 5]) }, /counts must have at least 1 trial, bin and neuron/],
    [
      { forwardCounts: zeros([3, 2, 5]) },
      /forwardCounts has shape \[3, 2, 5\]: expected dimension 0 to be 4/,
    ],
    [
      { forwardCounts: zeros([4, 2, 6]) },
      /forwardCounts has shape \[4, 2, 6\]: expected dimension 2 to be 5/,
    ],
    [
      { trueRates: zeros([4, 2, 5]) },
      /trueRates has shape \[4, 2, 5\]: expected dimension 1 to be 3/,
    ],
    [
      { forwardTrueRates: zeros([4, 3, 5]) },
      /forwardTrueRates has shape \[4, 3, 5\]: expected dimension 1 to be 2/,
    ],
    [
      { behavior: zeros([4, 2, 2]) },
      /behavior has shape \[4, 2, 2\]: expected dimension 1 to be 3/,
    ],
    [{ behaviorNames: ["vx"] }, /behaviorNames has 1 names for 2 behaviour dims/],
    [{ conditions: [0, 1, 2] }, /conditions has 3 entries, expected one per trial \(4\)/],
    [{ conditions: [0, 1, 2, 0.5] }, /conditions\[3\] = 0.5 is not an integer/],
    [{ trueRates: undefined }, /forwardTrueRates is given without trueRates/],
    [{ name: "" }, /name must be a non-empty string/],
    [{ binSizeMs: 0 }, /binSizeMs must be a positive number, found 0/],
  ];
  for (const [patch, re] of cases) throwsDataset(() => spikeDataset({ ...toy(), ...patch }), re);
});

Deno.test("bad counts and rates name the field and the [trial, bin, neuron] index", () => {
  // flat index of [1, 2, 3] in [4, 3, 5] is 1·15 + 2·5 + 3 = 28; of [2, 1, 4] in [4, 2, 5] is 2·10 + 1·5 + 4 = 29
  const at = (init: SpikeDatasetInit, field: keyof SpikeDatasetInit, i: number, v: number) => {
    (init[field] as Array3D).data[i] = v;
    return init;
  };
  const cases: [SpikeDatasetInit, RegExp][] = [
    [at(toy(), "counts", 28, NaN), /counts is NaN at \[1, 2, 3\]/],
    [at(toy(), "counts", 28, -1), /counts is negative \(-1\) at \[1, 2, 3\]/],
    [at(toy(), "counts", 28, 1.5), /counts is not a non-negative integer \(1.5\) at \[1, 2, 3\]/],
    [
      at(toy(), "counts", 0, Infinity),
      /counts is not a non-negative integer \(Infinity\) at \[0, 0, 0\]/,
    ],
    [at(toy(), "forwardCounts", 29, -2), /forwardCounts is negative \(-2\) at \[2, 1, 4\]/],
    [at(toy(), "forwardCounts", 29, NaN), /forwardCounts is NaN at \[2, 1, 4\]/],
    [at(toy(), "trueRates", 28, -0.5), /trueRates is negative \(-0.5\) at \[1, 2, 3\]/],
    [at(toy(), "trueRates", 28, NaN), /trueRates is not finite \(NaN\) at \[1, 2, 3\]/],
    [
      at(toy(), "forwardTrueRates", 29, Infinity),
      /forwardTrueRates is not finite \(Infinity\) at \[2, 1, 4\]/,
    ],
    // behaviour [4, 3, 2]: flat 17 = [2, 2, 1]
    [at(toy(), "behavior", 17, Infinity), /behavior is not finite \(Infinity\) at \[2, 2, 1\]/],
  ];
  for (const [init, re] of cases) throwsDataset(() => spikeDataset(init), re);
  // NaN marks missing behaviour and is allowed
  assert.ok(spikeDataset(at(toy(), "behavior", 17, NaN)));
});

Deno.test("unknown fields and unknown split names are rejected", () => {
  throwsDataset(
    () => spikeDataset({ ...toy(), spikes: 1 } as unknown as SpikeDatasetInit),
    /unknown dataset field "spikes"/,
  );
  throwsDataset(
    () =>
      spikeDataset({
        ...toy(),
        split: { train: [0], val: [1], test: [2], extra: [3] } as SpikeDatasetInit["split"],
      }),
    /unknown split "extra": expected train, val, test/,
  );
});

Deno.test("held-in / held-out neurons: overlap, range, repeats, defaults", () => {
  throwsDataset(
    () => spikeDataset({ ...toy(), heldIn: [0, 1, 2], heldOut: [2, 3] }),
    /neuron 2 is both held-in and held-out/,
  );
  throwsDataset(
    () => spikeDataset({ ...toy(), heldOut: [1, 5] }),
    /heldOut\[1\] = 5 is not a neuron index in \[0, 5\)/,
  );
  throwsDataset(
    () => spikeDataset({ ...toy(), heldIn: [-1] }),
    /heldIn\[0\] = -1 is not a neuron index in \[0, 5\)/,
  );
  throwsDataset(
    () => spikeDataset({ ...toy(), heldOut: [1.5] }),
    /heldOut\[0\] = 1.5 is not a neuron index/,
  );
  throwsDataset(() => spikeDataset({ ...toy(), heldOut: [2, 2] }), /heldOut\[1\] = 2 is repeated/);
  throwsDataset(
    () => spikeDataset({ ...toy(), heldOut: [0, 1, 2, 3, 4] }),
    /heldIn is empty/,
  );
  throwsDataset(
    () => spikeDataset(toy(), { heldOutFraction: 1 }),
    /heldOutFraction must be in \[0, 1\), found 1/,
  );
  // explicit sets are sorted; a missing side is the complement
  const a = spikeDataset({ ...toy(), heldOut: [4, 1] });
  assert.deepEqual(Array.from(a.heldOut), [1, 4]);
  assert.deepEqual(Array.from(a.heldIn), [0, 2, 3]);
  const b = spikeDataset({ ...toy(), heldIn: [3, 0] });
  assert.deepEqual(Array.from(b.heldIn), [0, 3]);
  assert.deepEqual(Array.from(b.heldOut), [1, 2, 4]);
  // default: 25 % of the neurons, rounded, complement held in
  for (const n of [4, 8, 29, 100]) {
    const ds = spikeDataset({ name: "n", binSizeMs: 1, counts: zeros([2, 1, n]) });
    assert.equal(ds.heldOut.length, Math.round(0.25 * n), `${n} neurons`);
    assert.equal(ds.heldIn.length, n - ds.heldOut.length);
    const all = [...ds.heldIn, ...ds.heldOut].sort((x, y) => x - y);
    assert.deepEqual(all, [...Array(n).keys()]);
  }
});

Deno.test("trial splits: overlap, range, defaults and determinism", () => {
  throwsDataset(
    () => spikeDataset({ ...toy(), split: { train: [0, 2], val: [1], test: [2, 3] } }),
    /trial 2 is in both split.train and split.test/,
  );
  throwsDataset(
    () => spikeDataset({ ...toy(), split: { train: [0], val: [1, 1], test: [] } }),
    /split.val\[1\] = 1 is repeated/,
  );
  throwsDataset(
    () => spikeDataset({ ...toy(), split: { train: [0], val: [4], test: [] } }),
    /split.val\[0\] = 4 is not a trial index in \[0, 4\)/,
  );
  throwsDataset(
    () => spikeDataset({ ...toy(), split: { train: [], val: [0], test: [1] } }),
    /split.train is empty/,
  );
  throwsDataset(
    () => spikeDataset(toy(), { splitFractions: [0.5, 0.3, 0.3] }),
    /splitFractions must be 3 non-negative numbers summing to 1/,
  );

  const init = { name: "s", binSizeMs: 1, counts: zeros([100, 1, 8]) };
  const ds = spikeDataset(init);
  assert.deepEqual([ds.split.train.length, ds.split.val.length, ds.split.test.length], [
    70,
    10,
    20,
  ]);
  const all = [...ds.split.train, ...ds.split.val, ...ds.split.test].sort((x, y) => x - y);
  assert.deepEqual(all, [...Array(100).keys()]);
  for (const s of [ds.split.train, ds.split.val, ds.split.test]) {
    assert.ok(s.every((v, i) => i === 0 || v > s[i - 1]), "split indices are ascending");
  }
  // the default key is key(0); the same key gives the same splits, another key others
  const same = spikeDataset(init, { key: key(0) });
  assert.deepEqual(same.split, ds.split);
  assert.deepEqual(same.heldOut, ds.heldOut);
  const other = spikeDataset(init, { key: key(1) });
  assert.notDeepEqual(other.split.test, ds.split.test);
  assert.deepEqual(spikeDataset(init, { key: key(1) }).split, other.split);
  const custom = spikeDataset(init, { splitFractions: [0.5, 0.25, 0.25] });
  assert.deepEqual(
    [custom.split.train.length, custom.split.val.length, custom.split.test.length],
    [50, 25, 25],
  );
});

Deno.test("take3d selects trials and neurons of a hand-made array", () => {
  // a[t][b][n] = 100·t + 10·b + n, shape [3, 2, 4]
  const data: number[] = [];
  for (let t = 0; t < 3; t++) {
    for (let b = 0; b < 2; b++) for (let n = 0; n < 4; n++) data.push(100 * t + 10 * b + n);
  }
  const a = array3d(data, [3, 2, 4]);
  const t = take3d(a, [2, 0]);
  assert.deepEqual(t.shape, [2, 2, 4]);
  assert.deepEqual(Array.from(t.data), [
    200,
    201,
    202,
    203,
    210,
    211,
    212,
    213,
    0,
    1,
    2,
    3,
    10,
    11,
    12,
    13,
  ]);
  const tn = take3d(a, [1], { last: [3, 0] });
  assert.deepEqual(tn.shape, [1, 2, 2]);
  assert.deepEqual(Array.from(tn.data), [103, 100, 113, 110]);
  const rep = take3d(a, [0, 0], { last: [1] });
  assert.deepEqual(Array.from(rep.data), [1, 11, 1, 11]);
  assert.deepEqual(take3d(a, []).shape, [0, 2, 4]);
  // the doc example
  assert.deepEqual(
    Array.from(take3d(array3d([0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]), [1], { last: [0] }).data),
    [4, 6],
  );
});
