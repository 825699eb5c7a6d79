import assert from "node:assert/strict";
import { zlibSync } from "fflate";
import { writeHdf5 } from "../lib/data/hdf5.ts";
import { loadDataset } from "../lib/data/load.ts";
import { matVersion, openMat } from "../lib/data/mat.ts";

const REAL = new URL("../../shared/data/real/", import.meta.url).pathname;

// ---- a minimal MATLAB Level 5 writer for test files (format: MathWorks "MAT-File Format") ----

function pad8(n: number): number {
  return (n + 7) & ~7;
}

function element(type: number, body: Uint8Array): Uint8Array {
  // every element is padded to 8 bytes except compressed ones (type 15)
  const out = new Uint8Array(8 + (type === 15 ? body.length : pad8(body.length)));
  const v = new DataView(out.buffer);
  v.setInt32(0, type, true);
  v.setInt32(4, body.length, true);
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
  rows: number;
  cols: number;
  rowMajor: number[];
  cls: "double" | "uint8" | "char";
};

/** One miMATRIX element: values given row-major, stored column-major as MATLAB does. */
function matrix(v: MatVar): Uint8Array {
  const classId = { double: 6, uint8: 9, char: 4 }[v.cls];
  const flags = new Uint8Array(8);
  new DataView(flags.buffer).setUint32(0, classId, true);
  const dims = new Uint8Array(new Int32Array([v.rows, v.cols]).buffer);
  const colMajor = [];
  for (let c = 0; c < v.cols; c++) {
    for (let r = 0; r < v.rows; r++) colMajor.push(v.rowMajor[r * v.cols + c]);
  }
  const data = v.cls === "double"
    ? element(9, new Uint8Array(new Float64Array(colMajor).buffer))
    : v.cls === "uint8"
    ? element(2, Uint8Array.from(colMajor))
    : element(4, new Uint8Array(new Uint16Array(colMajor).buffer));
  return element(
    14,
    concat([
      element(6, flags),
      element(5, dims),
      element(1, new TextEncoder().encode(v.name)),
      data,
    ]),
  );
}

function mat5(vars: MatVar[], compress = false): Uint8Array {
  const header = new Uint8Array(128).fill(0x20);
  header.set(
    new TextEncoder().encode("MATLAB 5.0 MAT-file, Platform: GLNXA64, Created by hest tests"),
  );
  header.fill(0, 116, 124);
  header.set([0x00, 0x01, 0x49, 0x4d], 124); // version 0x0100, "IM" = little-endian
  const elems = vars.map((v) => (compress ? element(15, zlibSync(matrix(v))) : matrix(v)));
  return concat([header, ...elems]);
}

const spikes = {
  name: "spikes",
  rows: 6,
  cols: 2,
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
          { name: "vel", rows: 1, cols: 6, cls: "double", rowMajor: [0.5, 1, 1.5, 2, 2.5, 3] },
          { name: "label", rows: 1, cols: 2, cls: "char", rowMajor: [104, 105] },
        ], compress),
      );
      const src = await openMat(path);
      assert.deepEqual(src.keys(), ["spikes", "vel", "label"]);
      const s = src.get("spikes");
      assert.deepEqual(s.shape, [6, 2]);
      assert.deepEqual([...s.data], spikes.rowMajor);
      assert.deepEqual(src.get("vel").shape, [6]);
      assert.deepEqual([...src.get("vel").data], [0.5, 1, 1.5, 2, 2.5, 3]);
      // mat-for-js drops the MATLAB class: a v5 char array reads as its character codes
      assert.deepEqual([...src.get("label").data], [104, 105]);
      assert.throws(
        () => src.get("nope"),
        /a\.mat: key "nope": variable not found; numeric variables: spikes, vel, label/,
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
        { name: "vel", rows: 6, cols: 1, cls: "double", rowMajor: [10, 11, 12, 13, 14, 15] },
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

Deno.test("mat: the real datasets in shared/data/real load", async (t) => {
  try {
    await Deno.stat(REAL);
  } catch {
    console.log(
      `skipped: ${REAL} is absent (the real .mat files live in the project's shared/ folder)`,
    );
    return;
  }
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
