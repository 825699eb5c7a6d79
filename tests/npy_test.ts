import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { encodeNpy, encodeNpz, parseNpy, parseNpz, writeNpy } from "../lib/data/npy.ts";
import { loadDataset } from "../lib/data/load.ts";
import { array3d } from "../lib/data/dataset.ts";

/** A .npy file by hand: header dict text + raw little-endian bytes (as numpy writes it). */
function npyBytes(descr: string, shape: number[], body: Uint8Array, fortran = false): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? "True" : "False"}, ` +
    `'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}

const where = { file: "t.npy", key: "t" };

Deno.test("npy: dtypes read as their values, Fortran order becomes row-major", () => {
  const u1 = parseNpy(npyBytes("|u1", [2, 3], Uint8Array.of(0, 1, 2, 3, 4, 255)), where);
  assert.deepEqual([...u1.data], [0, 1, 2, 3, 4, 255]);
  assert.deepEqual(u1.shape, [2, 3]);
  const i8 = parseNpy(
    npyBytes("<i8", [2], new Uint8Array(BigInt64Array.of(-3n, 2n ** 40n).buffer)),
    where,
  );
  assert.deepEqual([...i8.data], [-3, 2 ** 40]);
  const b1 = parseNpy(npyBytes("|b1", [3], Uint8Array.of(1, 0, 1)), where);
  assert.deepEqual([...b1.data], [1, 0, 1]);
  // Fortran order: memory holds columns of [[1, 2, 3], [4, 5, 6]]
  const fo = parseNpy(
    npyBytes("<f8", [2, 3], new Uint8Array(Float64Array.of(1, 4, 2, 5, 3, 6).buffer), true),
    where,
  );
  assert.deepEqual(fo.shape, [2, 3]);
  assert.deepEqual([...fo.data], [1, 2, 3, 4, 5, 6]);
});

Deno.test("npy: encode then parse round-trips float32 and float64", () => {
  const a = { data: Float64Array.of(0.5, -1.25, 3, 1e-7), shape: [2, 2], dtype: "f8" };
  const back = parseNpy(encodeNpy(a), where);
  assert.deepEqual(back.shape, [2, 2]);
  assert.deepEqual([...back.data], [...a.data]);
  assert.equal(back.dtype, "f8");
  const f = parseNpy(encodeNpy(array3d([1.5, 2.5], [1, 1, 2])), where);
  assert.equal(f.dtype, "f4");
  assert.deepEqual(f.shape, [1, 1, 2]);
});

Deno.test("npy: truncated, big-endian, non-numeric and non-npy input fail naming file and key", () => {
  const good = npyBytes("<f8", [4], new Uint8Array(Float64Array.of(1, 2, 3, 4).buffer));
  assert.throws(
    () => parseNpy(good.subarray(0, good.length - 8), where),
    /t\.npy: key "t": .*3 values but its shape \[4\] needs 4|t\.npy: key "t": cannot parse/,
  );
  assert.throws(
    () => parseNpy(good.subarray(0, 20), where),
    /t\.npy: key "t": truncated \.npy header/,
  );
  assert.throws(
    () => parseNpy(npyBytes(">f8", [1], new Uint8Array(8)), where),
    /big-endian dtype ">f8"/,
  );
  assert.throws(
    () => parseNpy(npyBytes("|O", [1], new Uint8Array(8)), where),
    /expected a numeric dtype .* found "\|O"/,
  );
  assert.throws(
    () => parseNpy(npyBytes("<U3", [1], new Uint8Array(12)), where),
    /found "<U3"/,
  );
  assert.throws(() => parseNpy(new Uint8Array(20), where), /not a NumPy \.npy array/);
});

Deno.test("npz: named arrays; corrupt archive fails", () => {
  const bytes = encodeNpz({
    spikes: { data: Float64Array.of(1, 2, 3, 4, 5, 6), shape: [3, 2], dtype: "f8" },
    vel: { data: Float64Array.of(0.5, 1.5, 2.5), shape: [3], dtype: "f8" },
  });
  const src = parseNpz(bytes, "x.npz");
  assert.deepEqual(src.keys().sort(), ["spikes", "vel"]);
  assert.deepEqual([...src.get("vel").data], [0.5, 1.5, 2.5]);
  assert.throws(() => src.get("nope"), /x\.npz: key "nope": not found; the file has: spikes, vel/);
  assert.throws(() => parseNpz(bytes.subarray(0, 40), "x.npz"), /x\.npz: not a readable \.npz/);
  // an entry that is not .npy data
  assert.throws(
    () => parseNpz(zipSync({ "a.npy": new Uint8Array(30) }), "y.npz"),
    /y\.npz: key "a": not a NumPy \.npy array/,
  );
});

Deno.test("npy: loadDataset reads a 3-D count tensor and rejects NaN / negative / fractional counts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const counts = Float64Array.from({ length: 10 * 4 * 3 }, (_, i) => i % 5);
    const path = `${dir}/counts.npy`;
    await Deno.writeFile(path, encodeNpy({ data: counts, shape: [10, 4, 3], dtype: "f8" }));
    const ds = await loadDataset(path, { binSizeMs: 10, heldOut: [2] });
    assert.deepEqual(ds.counts.shape, [10, 4, 3]);
    assert.deepEqual([...ds.counts.data], [...counts]);
    assert.deepEqual([...ds.heldOut], [2]);
    assert.equal(ds.binSizeMs, 10);
    await assert.rejects(
      () => loadDataset(path),
      /counts\.npy: key "counts": the bin width is not stored in the file; pass the binSizeMs option/,
    );
    for (
      const [v, re] of [[NaN, /NaN at \[1, 2, 0\]/], [-1, /negative \(-1\) at \[1, 2, 0\]/], [
        0.5,
        /not a non-negative integer \(0\.5\) at \[1, 2, 0\]/,
      ]] as const
    ) {
      const bad = counts.slice();
      bad[1 * 12 + 2 * 3 + 0] = v;
      await Deno.writeFile(path, encodeNpy({ data: bad, shape: [10, 4, 3], dtype: "f8" }));
      await assert.rejects(
        () => loadDataset(path, { binSizeMs: 10 }),
        (err: Error) => {
          assert.match(
            err.message,
            /counts\.npy: key "counts": spike counts must be non-negative integers/,
          );
          assert.match(err.message, re);
          return true;
        },
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npy: writeNpy is atomic and leaves no temp file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/rates.npy`;
    await writeNpy(path, array3d([0.25, 0.5, 1, 2, 4, 8], [1, 2, 3]));
    const back = parseNpy(await Deno.readFile(path), { file: path, key: "rates" });
    assert.deepEqual([...back.data], [0.25, 0.5, 1, 2, 4, 8]);
    assert.deepEqual(back.shape, [1, 2, 3]);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, ["rates.npy"]);
    // writing into a missing folder fails and creates nothing
    await assert.rejects(() => writeNpy(`${dir}/missing/r.npy`, array3d([1], [1, 1, 1])));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
