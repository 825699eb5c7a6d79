import assert from "node:assert/strict";
import { zlibSync } from "fflate";
import { writeHdf5 } from "../lib/data/hdf5.ts";
import { loadDataset } from "../lib/data/load.ts";
import { matVersion, openMat } from "../lib/data/mat.ts";

// the copies of the two real recordings the repository ships (data/real/, MIT)
const REAL = new URL("../data/real/", import.meta.url).pathname;

// ---- a minimal MATLAB Level 5 writer for test files (format: MathWorks "MAT-File Format") ----

function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** One data element; `be` writes the tag big-endian (the body is already in file order). */
function element(type: number, body: Uint8Array, be = false): Uint8Array {
  // every element is padded to 8 bytes except compressed ones (type 15)
  const out = new Uint8Array(8 + (type === 15 ? body.length : pad8(body.length)));
  const v = new DataView(out.buffer);
  v.setInt32(0, type, !be);
  v.setInt32(4, body.length, !be);
  out.set(body, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

type MatVar = {
  name: string;
  /** MATLAB dimensions, at least 2. */
  dims: number[];
  /** Values in row-major order of `dims` (last index fastest), as hest reads them back. */
  rowMajor: number[];
  cls: "double" | "uint8" | "char";
  /** Values to store as they are, in place of `rowMajor` reordered (for corrupt files). */
  stored?: number[];
};

/** Row-major values of shape `dims` in MATLAB's column-major order (first index fastest). */
function toColumnMajor(rowMajor: number[], dims: number[]): number[] {
  const n = dims.reduce((a, b) => a * b, 1);
  const out = new Array<number>(n);
  const idx = new Array<number>(dims.length).fill(0);
  for (let c = 0; c < n; c++) {
    let r = 0;
    for (let d = 0; d < dims.length; d++) r = r * dims[d] + idx[d];
    out[c] = rowMajor[r];
    for (let d = 0; d < dims.length && ++idx[d] === dims[d]; d++) idx[d] = 0;
  }
  return out;
}

/** One miMATRIX element, stored column-major as MATLAB does. */
function matrix(v: MatVar, be = false): Uint8Array {
  const classId = { double: 6, uint8: 9, char: 4 }[v.cls];
  const flags = new Uint8Array(8);
  new DataView(flags.buffer).setUint32(0, classId, !be);
  const dims = new Uint8Array(4 * v.dims.length);
  v.dims.forEach((d, i) => new DataView(dims.buffer).setInt32(4 * i, d, !be));
  const col = v.stored ?? toColumnMajor(v.rowMajor, v.dims);
  const size = { double: 8, uint8: 1, char: 2 }[v.cls];
  const body = new Uint8Array(col.length * size);
  const bv = new DataView(body.buffer);
  col.forEach((x, i) => {
    if (v.cls === "double") bv.setFloat64(8 * i, x, !be);
    else if (v.cls === "uint8") bv.setUint8(i, x);
    else bv.setUint16(2 * i, x, !be);
  });
  return element(
    14,
    concat([
      element(6, flags, be),
      element(5, dims, be),
      element(1, new TextEncoder().encode(v.name), be),
      element({ double: 9, uint8: 2, char: 4 }[v.cls], body, be),
    ]),
    be,
  );
}

function mat5(vars: MatVar[], compress = false, be = false): Uint8Array {
  const header = new Uint8Array(128).fill(0x20);
  header.set(
    new TextEncoder().encode("MATLAB 5.0 MAT-file, Platform: GLNXA64, Created by hest tests"),
  );
  header.fill(0, 116, 124);
  // version 0x0100 and the byte-order mark "IM" as the file's byte order writes them
  header.set(be ? [0x01, 0x00, 0x4d, 0x49] : [0x00, 0x01, 0x49, 0x4d], 124);
  const elems = vars.map((
    v,
  ) => (compress ? element(15, zlibSync(matrix(v, be)), be) : matrix(v, be)));
  return concat([header, ...elems]);
}

const spikes = {
  name: "spikes",
  dims: [6, 2],
  cls: "uint8" as const,
  rowMajor: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

Deno.test("mat v5: variables read in MATLAB's shape, compressed or not; vectors squeezed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const compress of [false, true]) {
      const path = `${dir}/a.mat`;
      await Deno.writeFile(
        path,
        mat5([
          spikes,
          { name: "vel", dims: [1, 6], cls: "double", rowMajor: [0.5, 1, 1.5, 2, 2.5, 3] },
          { name: "label", dims: [1, 2], cls: "char", rowMajor: [104, 105] },
        ], compress),
      );
      const src = await openMat(path);
      // character arrays are text, not numbers: listed nowhere, refused by name
      assert.deepEqual(src.keys(), ["spikes", "vel"]);
      const s = src.get("spikes");
      assert.deepEqual(s.shape, [6, 2]);
      assert.deepEqual([...s.data], spikes.rowMajor);
      assert.deepEqual(src.get("vel").shape, [6]);
      assert.deepEqual([...src.get("vel").data], [0.5, 1, 1.5, 2, 2.5, 3]);
      assert.throws(
        () => src.get("label"),
        /a\.mat: key "label": is a character array, not numeric; expected a numeric array/,
      );
      assert.throws(
        () => src.get("nope"),
        /a\.mat: key "nope": variable not found; numeric variables: spikes, vel/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mat v5: a continuous recording becomes windows with lagged behaviour", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/rec.mat`;
    await Deno.writeFile(
      path,
      mat5([
        spikes,
        { name: "vel", dims: [6, 1], cls: "double", rowMajor: [10, 11, 12, 13, 14, 15] },
      ]),
    );
    // 6 bins of 50 ms → windows of 2 bins, stride 2, lag +50 ms (behaviour one bin later)
    const ds = await loadDataset(path, {
      binSizeMs: 50,
      windowMs: 100,
      lagMs: 50,
      heldOut: [1],
      splitFractions: [0.34, 0.33, 0.33],
    });
    assert.deepEqual(ds.counts.shape, [3, 2, 2]);
    assert.deepEqual([...ds.counts.data], spikes.rowMajor);
    assert.deepEqual([...ds.behavior!.data], [11, 12, 13, 14, 15, NaN]);
    assert.deepEqual([...ds.split.train], [0]);
    assert.deepEqual([...ds.split.val], [1]);
    assert.deepEqual([...ds.split.test], [2]);
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50, windowMs: 120 }),
      /rec\.mat: windowMs = 120 ms is not a multiple of the bin size 50 ms \(bins do not divide the window\)/,
    );
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50, windowMs: 1000 }),
      /rec\.mat: the recording has 6 bins of 50 ms, fewer than one window of 20 \+ 0 forward bins/,
    );
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50, windw: 1 } as never),
      /unknown data option "windw"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mat v5: truncated or corrupt files and non-numeric counts fail naming file and key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.mat`;
    const bytes = mat5([spikes], true);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 10));
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50 }),
      /t\.mat: truncated: the data element at byte 128 needs \d+ bytes but the file ends after \d+/,
    );
    const plain = mat5([spikes]);
    await Deno.writeFile(path, plain.subarray(0, plain.length - 16));
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50 }),
      /t\.mat: truncated: the data element/,
    );
    // a corrupt compressed element (bytes flipped inside the zlib stream)
    const corrupt = mat5([spikes], true);
    corrupt.fill(0xff, 140, 150);
    await Deno.writeFile(path, corrupt);
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50 }),
      /t\.mat: cannot parse the MAT-file/,
    );
    // a header without variables has no counts
    await Deno.writeFile(path, mat5([]));
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50 }),
      /t\.mat: no counts found: .*the file has no numeric arrays/,
    );
    const neg = {
      ...spikes,
      cls: "double" as const,
      rowMajor: spikes.rowMajor.map((v, i) => (i === 3 ? -1 : v)),
    };
    await Deno.writeFile(path, mat5([neg]));
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50, windowMs: 100 }),
      /t\.mat: key "spikes": spike counts must be non-negative integers; negative \(-1\) at \[1, 1\]/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mat v5: N-D arrays read back in MATLAB's index order, compressed or not, either byte order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const iota = (n: number) => [...Array(n).keys()];
    // a(i, j, k) = 12 i + 4 j + k for a 2×3×4 array, stored column-major as MATLAB (and
    // scipy.io.savemat of np.arange(24).reshape(2, 3, 4)) writes it: i fastest, then j, then k
    const stored = [
      0,
      12,
      4,
      16,
      8,
      20,
      1,
      13,
      5,
      17,
      9,
      21,
      2,
      14,
      6,
      18,
      10,
      22,
      3,
      15,
      7,
      19,
      11,
      23,
    ];
    for (const compress of [false, true]) {
      for (const be of [false, true]) {
        const path = `${dir}/nd.mat`;
        await Deno.writeFile(
          path,
          mat5(
            [
              { name: "a3", dims: [2, 3, 4], cls: "double", rowMajor: [], stored },
              { name: "a4", dims: [2, 3, 4, 2], cls: "uint8", rowMajor: iota(48) },
              {
                name: "a5",
                dims: [3, 1, 2, 1, 2],
                cls: "double",
                rowMajor: iota(12).map((x) => x / 4),
              },
              { name: "m", dims: [3, 2], cls: "double", rowMajor: [1, 2, 3, 4, 5, 6] },
            ],
            compress,
            be,
          ),
        );
        const src = await openMat(path);
        const what = `compress ${compress}, big-endian ${be}`;
        const a3 = src.get("a3");
        assert.deepEqual(a3.shape, [2, 3, 4], what);
        assert.deepEqual([...a3.data], iota(24), what);
        assert.equal(a3.data[(1 * 3 + 2) * 4 + 3], 23, what); // a3(2, 3, 4) in MATLAB
        const a4 = src.get("a4");
        assert.deepEqual(a4.shape, [2, 3, 4, 2], what);
        assert.deepEqual([...a4.data], iota(48), what);
        assert.equal(a4.dtype, "uint8");
        assert.deepEqual(src.get("a5").shape, [3, 1, 2, 1, 2], what);
        assert.deepEqual([...src.get("a5").data], iota(12).map((x) => x / 4), what);
        assert.deepEqual([...src.get("m").data], [1, 2, 3, 4, 5, 6], what);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mat v5: 3-D counts load as trials in order; a NaN among them is refused at its index", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/trials.mat`;
    // [trials, bins, neurons] = [2, 3, 4]; counts(t, b, n) = 3 t + b + (n === 3 ? 5 : 0)
    const rowMajor: number[] = [];
    for (let t = 0; t < 2; t++) {
      for (let b = 0; b < 3; b++) {
        for (let n = 0; n < 4; n++) rowMajor.push(3 * t + b + (n === 3 ? 5 : 0));
      }
    }
    for (const compress of [false, true]) {
      await Deno.writeFile(
        path,
        mat5([{ name: "spikes", dims: [2, 3, 4], cls: "double", rowMajor }], compress),
      );
      const ds = await loadDataset(path, { binSizeMs: 10, heldOut: [3] });
      assert.deepEqual(ds.counts.shape, [2, 3, 4]);
      assert.deepEqual([...ds.counts.data], rowMajor);
      // the NaN sits at MATLAB spikes(2, 3, 1) = [1, 2, 0]; a scrambled reorder would move it
      const withNaN = rowMajor.map((v, i) => (i === (1 * 3 + 2) * 4 + 0 ? NaN : v));
      await Deno.writeFile(
        path,
        mat5([{ name: "spikes", dims: [2, 3, 4], cls: "double", rowMajor: withNaN }], compress),
      );
      await assert.rejects(
        () => loadDataset(path, { binSizeMs: 10 }),
        /trials\.mat: key "spikes": spike counts must be non-negative integers; NaN at \[1, 2, 0\]/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mat v5: a small file declaring a huge array is refused before anything is allocated", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/huge.mat`;
    const rss0 = Deno.memoryUsage().rss;
    for (const compress of [false, true]) {
      const bytes = mat5(
        [{ name: "spikes", dims: [100000, 100000], cls: "double", rowMajor: [], stored: [1] }],
        compress,
      );
      assert.ok(bytes.length < 250, `${bytes.length} bytes`);
      await Deno.writeFile(path, bytes);
      await assert.rejects(
        () => loadDataset(path, { binSizeMs: 10 }),
        /huge\.mat: key "spikes": declares dimensions \[100000, 100000\] \(10000000000 values, 80000000000 bytes of double data\) but its data element holds 8 bytes; the file is corrupt/,
      );
      // too few values for the dimensions is the same error, not a short array
      await Deno.writeFile(
        path,
        mat5(
          [{ name: "spikes", dims: [2, 3], cls: "uint8", rowMajor: [], stored: [1, 2, 3] }],
          compress,
        ),
      );
      await assert.rejects(
        () => openMat(path),
        /huge\.mat: key "spikes": declares dimensions \[2, 3\] \(6 values, 6 bytes of uint8 data\) but its data element holds 3 bytes/,
      );
    }
    // a compressed element that inflates past what its contents declare (a zip bomb)
    const inner = matrix({ name: "x", dims: [1, 2], cls: "double", rowMajor: [1, 2] });
    const bomb = concat([inner, new Uint8Array(1 << 20)]);
    const file = mat5([]);
    await Deno.writeFile(path, concat([file, element(15, zlibSync(bomb))]));
    await assert.rejects(
      () => openMat(path),
      new RegExp(
        `huge\\.mat: cannot parse the MAT-file \\(truncated or corrupt\\?\\): the compressed element at byte 128 inflates past the ${inner.length} bytes its contents declare`,
      ),
    );
    // a sparse matrix whose dense form would be 80 GB: refused, not expanded
    const cols = 100000;
    const le = (arr: Int32Array | Float64Array) => new Uint8Array(arr.buffer);
    const jc = new Int32Array(cols + 1).fill(1);
    jc[0] = 0;
    const sparse = element(
      14,
      concat([
        element(6, le(new Int32Array([5, 1]))), // mxSPARSE_CLASS, nzmax 1
        element(5, le(new Int32Array([100000, cols]))),
        element(1, new TextEncoder().encode("spikes")),
        element(5, le(new Int32Array([0]))), // ir
        element(5, le(jc)),
        element(9, le(new Float64Array([5]))), // pr
      ]),
    );
    await Deno.writeFile(path, concat([file, sparse]));
    await assert.rejects(
      () => openMat(path),
      /huge\.mat: key "spikes": is a sparse \[100000, 100000\] matrix; as a dense array it needs 80000000000 bytes, more than the 2147483648 this reader expands/,
    );
    // nothing of the declared sizes was allocated (the unchecked reader grew past 3 GB)
    assert.ok(Deno.memoryUsage().rss - rss0 < 300e6, `rss grew ${Deno.memoryUsage().rss - rss0}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mat v7.3: HDF5 variables are transposed back to MATLAB's shape", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // MATLAB writes a 6 × 2 matrix column-major: an HDF5 dataset of shape [2, 6]
    const colMajor = [0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11];
    await writeHdf5(`${dir}/h.h5`, {
      spikes: { data: Float64Array.from(colMajor), shape: [2, 6] },
      vel: { data: Float64Array.of(1, 2, 3, 4, 5, 6), shape: [1, 6] },
    });
    const h5 = await Deno.readFile(`${dir}/h.h5`);
    const header = new Uint8Array(512).fill(0x20);
    header.set(
      new TextEncoder().encode(
        "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by hest tests HDF5 schema 1.00 .",
      ),
    );
    header.set([0x00, 0x02, 0x49, 0x4d], 124);
    const mat = new Uint8Array(512 + h5.length);
    mat.set(header);
    mat.set(h5, 512);
    const path = `${dir}/v73.mat`;
    await Deno.writeFile(path, mat);
    assert.equal(matVersion(mat), "7.3");
    const src = await openMat(path);
    try {
      assert.deepEqual(src.get("spikes").shape, [6, 2]);
      assert.deepEqual([...src.get("spikes").data], spikes.rowMajor);
      assert.deepEqual(src.get("vel").shape, [6]);
    } finally {
      src.close?.();
    }
    const ds = await loadDataset(path, { binSizeMs: 50, windowMs: 100, heldOut: [0] });
    assert.deepEqual([...ds.counts.data], spikes.rowMajor);
    assert.deepEqual([...ds.behavior!.data], [1, 2, 3, 4, 5, 6]);
    await Deno.writeFile(path, mat.subarray(0, 600));
    await assert.rejects(
      () => loadDataset(path, { binSizeMs: 50 }),
      /v73\.mat: not a readable HDF5 file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mat: the real datasets the repository ships in data/real load", async (t) => {
  await t.step("S1 (spykesML): 35129 bins x 52 neurons, time-major, 50 ms given", async () => {
    const path = `${REAL}spykesml_s1_reaching/s1_data.mat`;
    const src = await openMat(path);
    const s = src.get("spikes");
    assert.deepEqual(s.shape, [35129, 52]);
    let sum = 0, max = 0;
    for (const v of s.data) {
      sum += v;
      max = Math.max(max, v);
    }
    // numbers from scipy.io.loadmat on the same file
    assert.equal(sum, 842910);
    assert.equal(max, 15);
    assert.deepEqual([...s.data.subarray(0, 10)], [0, 0, 0, 1, 2, 0, 0, 1, 0, 2]);
    assert.deepEqual([...src.get("vel").data.subarray(0, 2)], [
      0.15103688375646115,
      0.15091547634035848,
    ]);
    const ds = await loadDataset(path, { binSizeMs: 50, windowMs: 1000 });
    assert.deepEqual(ds.counts.shape, [1756, 20, 52]); // floor(35129 / 20) windows
    assert.deepEqual(ds.behavior!.shape, [1756, 20, 2]);
    assert.equal(ds.binSizeMs, 50);
    assert.deepEqual([ds.split.train.length, ds.split.val.length, ds.split.test.length], [
      1229,
      176,
      351,
    ]);
    assert.equal(ds.split.test[0], 1405); // chronological: the last windows are the test split
  });
  await t.step("M1 (Stevenson 2011): neuron-major, bin width from the time vector", async () => {
    const path = `${REAL}stevenson2011_m1_reaching/m1_stevenson_2011.mat`;
    const ds = await loadDataset(path, { windowMs: 1000 });
    assert.equal(ds.binSizeMs, 50);
    assert.deepEqual(ds.counts.shape, [776, 20, 171]); // floor(15536 / 20)
    let sum = 0;
    for (const v of ds.counts.data) sum += v;
    const src = await openMat(path);
    const s = src.get("spikes");
    assert.deepEqual(s.shape, [171, 15536]);
    let tail = 0; // spikes in the 16 bins after the last window
    for (let n = 0; n < 171; n++) for (let b = 15520; b < 15536; b++) tail += s.data[n * 15536 + b];
    assert.equal(sum + tail, 2352815); // scipy: spikes.sum()
    assert.equal(ds.counts.data[0], 1); // spikes[0, 0]
    // handVel's third row is all zeros: dropped, x and y kept
    assert.deepEqual(ds.behavior!.shape, [776, 20, 2]);
    assert.deepEqual(ds.meta.droppedBehaviorDims, [2]);
    assert.ok(Math.abs(ds.behavior!.data[0] - -0.011200601280112014) < 1e-9);
    assert.ok(Math.abs(ds.behavior!.data[1] - -0.006236791944966359) < 1e-9);
  });
});
