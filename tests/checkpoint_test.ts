import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  saveCheckpoint,
} from "../lib/train/checkpoint.ts";
import { writeFileAtomic } from "../lib/core/io.ts";
import { disposeTree, flatten, getLeaf, type Params } from "../lib/core/tree.ts";

await useBackend("cpu");

/** Bit patterns of a tensor's values, so NaN payloads, −0 and denormals compare exactly. */
async function bits(t: tf.Tensor): Promise<number[]> {
  const d = await t.data();
  return Array.from(
    d instanceof Int32Array ? d : new Uint32Array((d as Float32Array).slice().buffer),
  );
}

/** Build a file from a header (object or raw string) and a data section. */
function build(
  header: unknown,
  data: Uint8Array = new Uint8Array(),
  lengthOverride?: number,
): Uint8Array {
  const json = header instanceof Uint8Array
    ? header
    : new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthOverride ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** An independent minimal safetensors reader (F32 only): header JSON, offsets, LE floats. */
function minimalRead(bytes: Uint8Array): Record<string, { shape: number[]; values: number[] }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const out: Record<string, { shape: number[]; values: number[] }> = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [b, end] } = e as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    assert.equal(dtype, "F32");
    const values: number[] = [];
    for (let p = 8 + n + b; p < 8 + n + end; p += 4) values.push(view.getFloat32(p, true));
    out[name] = { shape, values };
  }
  return out;
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function tempDir(): Promise<string> {
  await Deno.mkdir("tmp", { recursive: true });
  return await Deno.makeTempDir({ dir: "tmp", prefix: "checkpoint_test_" });
}

function makeParams(): Params {
  return {
    blocks: {
      "0": { w: tf.tensor2d([[1, 2, 3], [4, 5, 6]]), b: tf.tensor1d([-0.5, 0.25, 1e-3]) },
      "1": { w: tf.randomNormal([3, 3], 0, 1, "float32", 7) },
    },
    special: tf.tensor1d([NaN, -0, Infinity, -Infinity, 1e-45, 3.4e38]),
    scalar: tf.scalar(Math.PI),
    empty: tf.zeros([0, 3]),
    ids: tf.tensor1d([-3, 0, 2147483647], "int32"),
  };
}

Deno.test("safetensors: round trip keeps paths, shapes, dtypes, bits and metadata", async () => {
  const params = makeParams();
  const metadata = { step: "120", note: "ünïcödé ✓", json: JSON.stringify({ a: [1, 2] }) };
  const before = tf.memory().numTensors;
  const bytes = await encodeSafetensors(params, { metadata });
  assert.equal(tf.memory().numTensors, before, "encoding creates no tensors");
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, metadata);
  const a = flatten(params), b = flatten(back.params);
  assert.deepEqual(b.map((l) => l.path), a.map((l) => l.path));
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(b[i].tensor.shape, a[i].tensor.shape, a[i].path);
    assert.equal(b[i].tensor.dtype, a[i].tensor.dtype, a[i].path);
    assert.deepEqual(await bits(b[i].tensor), await bits(a[i].tensor), a[i].path);
  }
  // no metadata given: none written, an empty record read back
  const plain = await encodeSafetensors({ w: tf.ones([1]) });
  assert.ok(!new TextDecoder().decode(plain).includes("__metadata__"));
  const p2 = decodeSafetensors(plain);
  assert.deepEqual(p2.metadata, {});
  disposeTree(p2.params);
  disposeTree(params);
  disposeTree(back.params);
});

Deno.test("safetensors: byte layout of a hand-computed file", async () => {
  const params = { w: tf.tensor1d([1, -2]), b: tf.scalar(0.5) };
  const bytes = await encodeSafetensors(params, { metadata: { k: "v" } });
  const json = '{"__metadata__":{"k":"v"},' +
    '"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]},' +
    '"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
  assert.equal(json.length, 132);
  // 132 bytes of JSON padded with 4 spaces to 136, a multiple of 8
  const expected = [
    ...[136, 0, 0, 0, 0, 0, 0, 0],
    ...new TextEncoder().encode(json + "    "),
    ...[0x00, 0x00, 0x00, 0x3f], // b = 0.5
    ...[0x00, 0x00, 0x80, 0x3f], // w[0] = 1
    ...[0x00, 0x00, 0x00, 0xc0], // w[1] = -2
  ];
  assert.equal(bytes.length, 156);
  assert.deepEqual(Array.from(bytes), expected);
  disposeTree(params);
});

Deno.test("safetensors: an independent minimal reader parses encoder output", async () => {
  const params: Params = {
    enc: { w: tf.tensor2d([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]), b: tf.tensor1d([7]) },
    z: tf.scalar(-1.25),
  };
  const bytes = await encodeSafetensors(params, { metadata: { a: "b" } });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0, "header padded to a multiple of 8");
  assert.equal(bytes[8], "{".charCodeAt(0), "header starts with {");
  const read = minimalRead(bytes);
  assert.deepEqual(Object.keys(read).sort(), ["enc.b", "enc.w", "z"]);
  for (const { path, tensor } of flatten(params)) {
    assert.deepEqual(read[path].shape, tensor.shape, path);
    assert.deepEqual(read[path].values, Array.from(await tensor.data()), path);
  }
  // tensors are laid out in sorted path order
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header["enc.b"].data_offsets, [0, 4]);
  assert.deepEqual(header["enc.w"].data_offsets, [4, 28]);
  assert.deepEqual(header.z.data_offsets, [28, 32]);
  assert.equal(bytes.length, 8 + n + 32);
  disposeTree(params);
});

Deno.test("safetensors: every corruption is a clear error and creates no tensors", async () => {
  const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
  const entry = (begin: number, end: number, shape = [(end - begin) / 4], dtype = "F32") => ({
    dtype,
    shape,
    data_offsets: [begin, end],
  });
  const good = await encodeSafetensors({ a: tf.tensor1d([1, 2]), b: tf.tensor1d([3]) });
  const cases: [string, Uint8Array, RegExp][] = [
    ["short file", new Uint8Array(5), /truncated file: expected at least 8 bytes .* found 5/],
    [
      "header length beyond file",
      build({}, new Uint8Array(), 1000),
      /header length 1000 bytes exceeds the 2 bytes/,
    ],
    [
      "truncated data",
      good.subarray(0, good.length - 2),
      /tensor "b": data_offsets \[8, 12\] out of range: the data section has 10 bytes/,
    ],
    ["truncated header", good.subarray(0, 20), /header length \d+ bytes exceeds the 12 bytes/],
    ["bad JSON", build('{"a": {"dtype": '), /header is not valid UTF-8 JSON/],
    [
      "bad UTF-8",
      build(new Uint8Array([0x7b, 0xff, 0x7d])),
      /header is not valid UTF-8 JSON: The encoded data is not valid/,
    ],
    [
      "header not an object",
      build("[1, 2]"),
      /expected the header to be a JSON object, found an array/,
    ],
    [
      "entry not an object",
      build({ w: 3 }),
      /tensor "w": expected an object with dtype, shape, data_offsets/,
    ],
    [
      "unsupported dtype",
      build({ w: entry(0, 2, [1], "F16") }, new Uint8Array(2)),
      /tensor "w": unsupported dtype "F16": expected one of F32, I32/,
    ],
    [
      "missing dtype",
      build({ w: { shape: [1], data_offsets: [0, 4] } }, f32(1)),
      /tensor "w": unsupported dtype undefined/,
    ],
    [
      "bad shape",
      build({ w: entry(0, 4, [-1]) }, f32(1)),
      /tensor "w": expected shape to be an array of integers ≥ 0, found \[-1\]/,
    ],
    [
      "bad offsets",
      build({ w: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, f32(1)),
      /tensor "w": expected data_offsets \[begin, end\] with 0 ≤ begin ≤ end, found \[4,0\]/,
    ],
    [
      "size does not match shape",
      build({ w: entry(0, 8, [3]) }, f32(1, 2)),
      /tensor "w": data_offsets \[0, 8\] span 8 bytes, expected 12 for F32 shape \[3\]/,
    ],
    [
      "offsets beyond data",
      build({ w: entry(4, 12) }, f32(1, 2)),
      /tensor "w": data_offsets \[4, 12\] out of range: the data section has 8 bytes/,
    ],
    [
      "overlap",
      build({ a: entry(0, 8), b: entry(4, 12) }, f32(1, 2, 3)),
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a"/,
    ],
    [
      "gap",
      build({ a: entry(0, 4), b: entry(8, 12) }, f32(1, 2, 3)),
      /tensor "b": data_offsets begin at 8, expected 4: bytes 4..8 are not covered/,
    ],
    [
      "not starting at 0",
      build({ a: entry(4, 8) }, f32(1, 2)),
      /tensor "a": data_offsets begin at 4, expected 0/,
    ],
    [
      "trailing bytes",
      build({ a: entry(0, 4) }, f32(1, 2)),
      /tensors cover 4 bytes of the data section, expected all 8/,
    ],
    [
      "metadata not strings",
      build({ __metadata__: { k: 1 } }),
      /expected metadata "k" to be a string, found number/,
    ],
    [
      "metadata not a record",
      build({ __metadata__: [] }),
      /expected "__metadata__" to be a record of strings, found an array/,
    ],
    [
      "names not a tree",
      build({ a: entry(0, 4), "a.b": entry(4, 8) }, f32(1, 2)),
      /tensor "a.b": its prefix "a" is also a tensor/,
    ],
    [
      "empty name part",
      build({ "a..b": entry(0, 4) }, f32(1)),
      /tensor "a..b": expected a dotted path of non-empty names/,
    ],
  ];
  const before = tf.memory().numTensors;
  for (const [what, bytes, re] of cases) {
    assert.throws(() => decodeSafetensors(bytes), re, what);
  }
  assert.equal(tf.memory().numTensors, before, "no tensors created for invalid files");
});

Deno.test("safetensors: files without padding or with I32 and empty tensors decode", async () => {
  // other writers may not pad the header; offsets need not be listed in order
  const data = new Uint8Array([
    ...new Uint8Array(new Int32Array([5, -6]).buffer),
    ...new Uint8Array(new Float32Array([2.5]).buffer),
  ]);
  const bytes = build({
    y: { dtype: "F32", shape: [1, 1], data_offsets: [8, 12] },
    x: { dtype: "I32", shape: [2], data_offsets: [0, 8] },
    e: { dtype: "F32", shape: [0], data_offsets: [8, 8] },
  }, data);
  const { params, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, {});
  assert.equal(getLeaf(params, "x").dtype, "int32");
  assert.deepEqual(Array.from(await getLeaf(params, "x").data()), [5, -6]);
  assert.deepEqual(getLeaf(params, "y").shape, [1, 1]);
  assert.deepEqual(Array.from(await getLeaf(params, "y").data()), [2.5]);
  assert.deepEqual(getLeaf(params, "e").shape, [0]);
  disposeTree(params);
});

Deno.test("safetensors: encoding rejects unsupported dtypes and reserved names", async () => {
  const bool = { m: tf.tensor1d([true, false], "bool") };
  await assert.rejects(
    () => encodeSafetensors(bool),
    /encodeSafetensors "m": expected a float32 or int32 tensor, found bool/,
  );
  const reserved = { __metadata__: tf.ones([1]) };
  await assert.rejects(() => encodeSafetensors(reserved), /"__metadata__" is reserved/);
  const w = { w: tf.ones([1]) };
  await assert.rejects(
    () => encodeSafetensors(w, { metadata: { n: 3 } as never }),
    /expected metadata "n" to be a string, found number/,
  );
  disposeTree(bool);
  disposeTree(reserved);
  disposeTree(w);
});

Deno.test("checkpoint: save and load a file; errors name the file", async () => {
  const dir = await tempDir();
  const path = `${dir}/ck.safetensors`;
  const params = makeParams();
  await saveCheckpoint(path, params, { metadata: { step: "7" } });
  const ck = await loadCheckpoint(path);
  assert.equal(ck.metadata.step, "7");
  const a = flatten(params), b = flatten(ck.params);
  assert.deepEqual(b.map((l) => l.path), a.map((l) => l.path));
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(await bits(b[i].tensor), await bits(a[i].tensor), a[i].path);
  }
  assert.deepEqual(await names(dir), ["ck.safetensors"]);
  await assert.rejects(
    () => loadCheckpoint(`${dir}/missing.safetensors`),
    (err: Error) =>
      err.message.startsWith(`${dir}/missing.safetensors: cannot read the checkpoint`),
  );
  await Deno.writeFile(`${dir}/bad.safetensors`, new Uint8Array(3));
  await assert.rejects(
    () => loadCheckpoint(`${dir}/bad.safetensors`),
    (err: Error) => err.message.startsWith(`${dir}/bad.safetensors: safetensors: truncated file`),
  );
  disposeTree(params);
  disposeTree(ck.params);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic: writes strings and bytes, replaces, leaves no temp files", async () => {
  const dir = await tempDir();
  const path = `${dir}/out.json`;
  await writeFileAtomic(path, "hello ✓\n");
  assert.equal(await Deno.readTextFile(path), "hello ✓\n");
  const big = new Uint8Array(3 * (1 << 20) + 17).map((_, i) => i * 31);
  await writeFileAtomic(path, big);
  assert.deepEqual(await Deno.readFile(path), big);
  await writeFileAtomic(path, new Uint8Array());
  assert.equal((await Deno.readFile(path)).length, 0);
  assert.deepEqual(await names(dir), ["out.json"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeFileAtomic: a failing write never leaves a partial target or a temp file", async () => {
  const dir = await tempDir();
  const path = `${dir}/ck.bin`;
  await Deno.writeTextFile(path, "old contents");

  // data that throws after the first 1 MiB chunk has been written
  class FailingBytes extends Uint8Array {
    calls = 0;
    override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
      if (++this.calls > 1) throw new Error("simulated failure mid-write");
      return new Uint8Array(
        this.buffer as ArrayBuffer,
        this.byteOffset + (begin ?? 0),
        (end ?? this.length) - (begin ?? 0),
      );
    }
  }
  await assert.rejects(
    () => writeFileAtomic(path, new FailingBytes(3 << 20)),
    /simulated failure mid-write/,
  );
  assert.equal(await Deno.readTextFile(path), "old contents");
  assert.deepEqual(await names(dir), ["ck.bin"]);

  // the final rename fails (the target is a non-empty directory): the temp file is removed
  const blocked = `${dir}/blocked`;
  await Deno.mkdir(blocked);
  await Deno.writeTextFile(`${blocked}/keep`, "x");
  await assert.rejects(() => writeFileAtomic(blocked, "new"));
  assert.deepEqual(await names(dir), ["blocked", "ck.bin"]);
  assert.equal(await Deno.readTextFile(`${blocked}/keep`), "x");

  // a missing directory fails up front
  await assert.rejects(
    () => writeFileAtomic(`${dir}/nope/x.bin`, "data"),
    (err: Error) =>
      /cannot write .*nope\/x\.bin/.test(err.message) && err.cause instanceof Deno.errors.NotFound,
  );
  await Deno.remove(dir, { recursive: true });
});
