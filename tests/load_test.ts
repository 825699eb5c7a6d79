import assert from "node:assert/strict";
import { writeHdf5 } from "../lib/data/hdf5.ts";
import { writeJsonAtomic } from "../lib/core/io.ts";
import { loadDataset, sniffFormat, validateLoadOptions } from "../lib/data/load.ts";
import { encodeNpy, encodeNpz } from "../lib/data/npy.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("load: formats are recognised by their first bytes", () => {
  const mat73 = new Uint8Array(1024);
  mat73.set(enc("MATLAB 7.3 MAT-file, Platform: GLNXA64"));
  mat73.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], 512);
  const h5 = new Uint8Array(16);
  h5.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  const mat5 = new Uint8Array(128);
  mat5.set(enc("MATLAB 5.0 MAT-file"));
  mat5.set([0x00, 0x01, 0x49, 0x4d], 124);
  assert.equal(sniffFormat(mat5), "mat5");
  assert.equal(sniffFormat(mat73), "mat73");
  assert.equal(sniffFormat(h5), "hdf5");
  assert.equal(
    sniffFormat(encodeNpy({ data: new Float64Array(1), shape: [1], dtype: "f8" })),
    "npy",
  );
  assert.equal(
    sniffFormat(encodeNpz({ a: { data: new Float64Array(1), shape: [1], dtype: "f8" } })),
    "npz",
  );
  assert.equal(sniffFormat(enc('  \n{"name": "x"}')), "json");
  assert.equal(sniffFormat(enc("a,b,c\n1,2,3")), undefined);
});

Deno.test("load: data options are checked by name and type", () => {
  validateLoadOptions({
    binSizeMs: 50,
    windowMs: 1000,
    alignRangeMs: [-250, 450],
    split: "random",
  });
  const bad: [unknown, RegExp][] = [
    [{ binSize: 5 }, /unknown data option "binSize": expected one of name, binSizeMs/],
    [{ binSizeMs: 0 }, /data option "binSizeMs" must be a positive number, found 0/],
    [{ timeAxis: 2 }, /data option "timeAxis" must be 0 or 1, found 2/],
    [
      { splitFractions: [0.5, 0.5, 0.5] },
      /"splitFractions" must be 3 non-negative numbers summing to 1/,
    ],
    [{ alignRangeMs: [10, 0] }, /"alignRangeMs" must be \[start, end\] with end > start/],
    [{ split: "shuffled" }, /"split" must be "random" or "chronological", found "shuffled"/],
    [{ heldOut: [1, -2] }, /"heldOut" must be an array of non-negative integers, found \[1,-2\]/],
    [[1], /data options must be an object/],
  ];
  for (const [o, re] of bad) assert.throws(() => validateLoadOptions(o), re);
});

Deno.test("load: a continuous .npz — time axis found from the behaviour, constant dims dropped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // neuron-major [3 neurons, 8 bins]; behaviour [3 dims, 8 bins] with a constant third dim
    const spikes = Float64Array.from({ length: 24 }, (_, i) => i % 4);
    const vel = Float64Array.from({ length: 24 }, (_, i) => (i >= 16 ? 0 : i));
    const time = Float64Array.from({ length: 8 }, (_, i) => 3 + 0.02 * i);
    const path = `${dir}/rec.npz`;
    await Deno.writeFile(
      path,
      encodeNpz({
        spikes: { data: spikes, shape: [3, 8], dtype: "u1" },
        handVel: { data: vel, shape: [3, 8], dtype: "f8" },
        time: { data: time, shape: [8], dtype: "f8" },
      }),
    );
    const ds = await loadDataset(path, {
      windowMs: 80,
      heldOut: [2],
      split: "random",
      splitFractions: [1, 0, 0],
    });
    assert.equal(ds.binSizeMs, 20); // from the time step
    assert.deepEqual(ds.counts.shape, [2, 4, 3]);
    // window 0, bin 1: spikes[:, 1] = [1, 1 (index 9 % 4), 1 (index 17 % 4)]
    assert.deepEqual([...ds.counts.data.subarray(3, 6)], [1, 1, 1]);
    assert.deepEqual([...ds.counts.data.subarray(9, 12)], [3, 3, 3]);
    assert.deepEqual(ds.behavior!.shape, [2, 4, 2]);
    assert.deepEqual([...ds.behavior!.data.subarray(0, 4)], [0, 8, 1, 9]);
    assert.deepEqual(ds.meta.droppedBehaviorDims, [2]);
    assert.deepEqual((ds.meta.timeAxis as { axis: number }).axis, 1);
    // explicit behaviour dims keep the constant one
    const all = await loadDataset(path, { windowMs: 80, behaviorDims: [0, 2] });
    assert.deepEqual([...all.behavior!.data.subarray(0, 4)], [0, 0, 1, 0]);
    // a missing key named in the options
    await assert.rejects(
      () => loadDataset(path, { windowMs: 80, behaviorKey: "vel" }),
      /rec\.npz: key "vel": not found; the file has: spikes, handVel, time/,
    );
    await assert.rejects(
      () => loadDataset(path, { windowMs: 80, behaviorDims: [3] }),
      /rec\.npz: key "handVel": behaviorDims has 3, but the behaviour has 3 dims/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load: 3-D trial tensors from plain HDF5 with forward counts and behaviour", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.h5`;
    const counts = Float32Array.from({ length: 5 * 2 * 2 }, (_, i) => i % 3);
    await writeHdf5(path, {
      counts: { data: counts, shape: [5, 2, 2] },
      fwd: { data: new Float32Array(5 * 1 * 2).fill(1), shape: [5, 1, 2] },
      behavior: { data: Float32Array.from({ length: 10 }, (_, i) => i / 2), shape: [5, 2, 1] },
    }, { attrs: { bin_size_ms: 25 } });
    const ds = await loadDataset(path, {
      forwardKey: "fwd",
      split: "chronological",
      splitFractions: [0.6, 0.2, 0.2],
    });
    assert.equal(ds.binSizeMs, 25);
    assert.deepEqual([...ds.counts.data], [...counts]);
    assert.deepEqual(ds.forwardCounts.shape, [5, 1, 2]);
    assert.deepEqual([...ds.behavior!.data], [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]);
    assert.deepEqual([...ds.split.train], [0, 1, 2]);
    assert.deepEqual([...ds.split.val], [3]);
    assert.deepEqual([...ds.split.test], [4]);
    await writeHdf5(path, {
      counts: { data: counts, shape: [5, 2, 2] },
      fwd: { data: new Float32Array(4), shape: [2, 1, 2] },
    });
    await assert.rejects(
      () => loadDataset(path, { forwardKey: "fwd", binSizeMs: 5 }),
      /t\.h5: key "fwd": expected shape \[5, \*, 2\] \(\[trials, forwardBins, neurons\]\), found \[2, 1, 2\]/,
    );
    await writeHdf5(path, {
      spikes: { data: new Float32Array(4), shape: [2, 2] },
      rates: { data: new Float32Array(4), shape: [4] },
    });
    await assert.rejects(
      () => loadDataset(path),
      /t\.h5: key "spikes": is square \[2, 2\]: say which axis is time with the timeAxis option/,
    );
    await writeHdf5(path, {
      a: { data: new Float32Array(4), shape: [4] },
      b: { data: new Float32Array(4), shape: [4] },
    });
    await assert.rejects(
      () => loadDataset(path),
      /t\.h5: no counts found: .* the file has a, b; name one with the "countsKey" option/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load: hest dataset JSON and unknown formats", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeJsonAtomic(`${dir}/d.json`, {
      name: "toy",
      binSizeMs: 10,
      counts: [[[0, 1], [2, 3]], [[1, 1], [0, 0]], [[4, 0], [0, 1]]],
      heldOut: [1],
      split: { train: [0, 1], val: [], test: [2] },
    });
    const ds = await loadDataset(`${dir}/d.json`);
    assert.equal(ds.name, "toy");
    assert.deepEqual([...ds.counts.data], [0, 1, 2, 3, 1, 1, 0, 0, 4, 0, 0, 1]);
    await Deno.writeTextFile(`${dir}/d.csv`, "a,b\n1,2\n");
    await assert.rejects(
      () => loadDataset(`${dir}/d.csv`),
      /d\.csv: unrecognised file format: expected HDF5 \(NLB tensors, NWB\), MATLAB \.mat \(v5 or v7\.3\), NumPy \.npy\/\.npz or hest dataset JSON/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load: several files in one comma-separated path are merged; a file named with a comma is one file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // a continuous recording split over three files: counts (.npy), behaviour (.npz)
    // and the bin width (an HDF5 attribute)
    const spikes = Float64Array.from({ length: 16 }, (_, i) => i % 3);
    await Deno.writeFile(
      `${dir}/spikes.npy`,
      encodeNpy({ data: spikes, shape: [8, 2], dtype: "u1" }),
    );
    const vel = Float64Array.from({ length: 8 }, (_, i) => i / 2);
    await Deno.writeFile(
      `${dir}/beh.npz`,
      encodeNpz({ vel: { data: vel, shape: [8], dtype: "f8" } }),
    );
    await writeHdf5(`${dir}/meta.h5`, { t0: { data: new Float32Array(1), shape: [1] } }, {
      attrs: { bin_size_ms: 50 },
    });
    const ds = await loadDataset(`${dir}/spikes.npy, ${dir}/beh.npz, ${dir}/meta.h5`, {
      windowMs: 200,
      heldOut: [1],
      countsKey: "spikes",
    });
    assert.equal(ds.name, "spikes");
    assert.equal(ds.binSizeMs, 50);
    assert.deepEqual(ds.counts.shape, [2, 4, 2]);
    assert.deepEqual([...ds.counts.data], [...spikes]);
    assert.deepEqual([...ds.behavior!.data], [...vel]);
    // a key is taken from the first file that has it; errors name that file
    await Deno.writeFile(
      `${dir}/bad.npz`,
      encodeNpz({ spikes: { data: Float64Array.of(1, -2, 0, 1), shape: [2, 2], dtype: "f8" } }),
    );
    await assert.rejects(
      () => loadDataset(`${dir}/bad.npz,${dir}/spikes.npy`, { binSizeMs: 50, timeAxis: 0 }),
      /bad\.npz: key "spikes": spike counts must be non-negative integers; negative \(-2\) at \[0, 1\]/,
    );
    // whole datasets (hest JSON) do not merge
    await writeJsonAtomic(`${dir}/d.json`, { name: "x" });
    await assert.rejects(
      () => loadDataset(`${dir}/spikes.npy,${dir}/d.json`),
      /d\.json: is a hest dataset JSON, which is a whole dataset; a list of data files takes array files/,
    );
    // an existing file whose name has a comma is read as that file
    await Deno.copyFile(`${dir}/spikes.npy`, `${dir}/a,b.npy`);
    const one = await loadDataset(`${dir}/a,b.npy`, { binSizeMs: 50, windowMs: 200 });
    assert.deepEqual([...one.counts.data], [...spikes]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
