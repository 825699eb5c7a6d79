import assert from "node:assert/strict";
import {
  isAtomicTempName,
  removeStaleTemps,
  writeFileAtomic,
  writeJsonAtomic,
} from "../lib/core/io.ts";
import { loadDatasetJson } from "../lib/data/dataset_json.ts";

Deno.test("io: hest dataset JSON loads, validates and names bad entries", async () => {
  const dir = await Deno.makeTempDir();
  const good = {
    name: "tiny",
    binSizeMs: 10,
    counts: [[[0, 1, 2], [1, 0, 0]], [[3, 0, 1], [0, 0, 1]], [[1, 1, 1], [2, 0, 0]]],
    heldOut: [2],
    split: { train: [0, 1], val: [], test: [2] },
    conditions: [0, 1, 0],
  };
  await Deno.writeTextFile(`${dir}/good.json`, JSON.stringify(good));
  const ds = await loadDatasetJson(`${dir}/good.json`);
  assert.deepEqual(ds.counts.shape, [3, 2, 3]);
  assert.deepEqual([...ds.heldIn], [0, 1]);
  assert.equal(ds.counts.data[(1 * 2 + 0) * 3 + 0], 3);
  const bad: [unknown, RegExp][] = [
    [{ ...good, counts: [[[0, 1, 2], [1, 0]]] }, /"counts"\[0\]\[1\] must have 3 values/],
    [{ ...good, counts: [[[0, -1, 2], [1, 0, 0]]] }, /counts is negative \(-1\) at \[0, 0, 1\]/],
    [
      { ...good, counts: [[[0, 1.5, 2], [1, 0, 0]]] },
      /not a non-negative integer \(1.5\) at \[0, 0, 1\]/,
    ],
    [{ ...good, counts: [[[0, "x", 2], [1, 0, 0]]] }, /"counts"\[0\]\[0\]\[1\] is not a number/],
    [{ ...good, colour: 1 }, /unknown dataset field "colour"/],
  ];
  for (const [obj, re] of bad) {
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify(obj));
    await assert.rejects(() => loadDatasetJson(`${dir}/bad.json`), re);
  }
  await Deno.writeTextFile(`${dir}/trunc.json`, JSON.stringify(good).slice(0, 40));
  await assert.rejects(
    () => loadDatasetJson(`${dir}/trunc.json`),
    /trunc.json: cannot read dataset JSON/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("io: writeJsonAtomic replaces the file whole and leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  await writeJsonAtomic(`${dir}/m.json`, { a: 1 });
  await writeJsonAtomic(`${dir}/m.json`, { a: 2, b: [1, 2] });
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/m.json`)), { a: 2, b: [1, 2] });
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names, ["m.json"]);
  await Deno.remove(dir, { recursive: true });
});

async function names(dir: string): Promise<string[]> {
  const out = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("io: a failed atomic write names the target, removes its temp file, keeps the old file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // disk full while writing: the error names the target path, the temp file is gone and the
    // previous contents are untouched
    await writeJsonAtomic(`${dir}/m.json`, { a: 1 });
    const write = Deno.FsFile.prototype.write;
    let calls = 0;
    Deno.FsFile.prototype.write = function (this: Deno.FsFile, p: Uint8Array) {
      if (++calls > 1) {
        return Promise.reject(new Error("No space left on device (os error 28)"));
      }
      return write.call(this, p.subarray(0, 4));
    };
    try {
      await assert.rejects(
        writeFileAtomic(`${dir}/m.json`, "x".repeat(100)),
        (err: Error) => {
          assert.equal(
            err.message,
            `cannot write ${dir}/m.json: No space left on device (os error 28)`,
          );
          assert.ok(err.cause instanceof Error);
          return true;
        },
      );
    } finally {
      Deno.FsFile.prototype.write = write;
    }
    assert.ok(calls > 1, "the stub saw the writes");
    assert.deepEqual(await names(dir), ["m.json"]);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/m.json`)), { a: 1 });

    // the rename fails (the target is a non-empty folder): named, temp file removed
    await Deno.mkdir(`${dir}/sub/inner`, { recursive: true });
    await assert.rejects(writeFileAtomic(`${dir}/sub`, "data"), (err: Error) => {
      assert.match(err.message, new RegExp(`^cannot write ${dir}/sub: `));
      return true;
    });
    assert.deepEqual(await names(dir), ["m.json", "sub"]);

    // the folder does not exist: named
    await assert.rejects(
      writeFileAtomic(`${dir}/missing/x.json`, "{}"),
      new RegExp(`^Error: cannot write ${dir}/missing/x.json: No such file or directory`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("io: removeStaleTemps removes only the atomic writer's own temp files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const uuid = crypto.randomUUID();
    const orphans = [`.metrics.json.${uuid}.tmp`, `.state.safetensors.${crypto.randomUUID()}.tmp`];
    const keep = [
      "metrics.json",
      "notes.tmp",
      `.metrics.json.${uuid}.tmp.bak`,
      `metrics.json.${uuid}.tmp`,
      ".metrics.json.not-a-uuid.tmp",
      "hest_kernels.wasm.tmp-1234",
    ];
    for (const n of [...orphans, ...keep]) await Deno.writeTextFile(`${dir}/${n}`, "x");
    await Deno.mkdir(`${dir}/.dir.${crypto.randomUUID()}.tmp`);
    for (const n of orphans) assert.ok(isAtomicTempName(n), n);
    for (const n of keep) assert.ok(!isAtomicTempName(n), n);
    assert.deepEqual(await removeStaleTemps(dir), [...orphans].sort());
    const left = await names(dir);
    assert.equal(left.length, keep.length + 1);
    for (const n of keep) assert.ok(left.includes(n), n);
    assert.deepEqual(await removeStaleTemps(`${dir}/nonexistent`), []);
    // the name writeFileAtomic really uses matches the pattern
    const open = Deno.open;
    let tmpName = "";
    Deno.open = ((path: string | URL, o?: Deno.OpenOptions) => {
      tmpName = String(path).split("/").pop()!;
      return open(path, o);
    }) as typeof Deno.open;
    try {
      await writeFileAtomic(`${dir}/metrics.json`, "{}");
    } finally {
      Deno.open = open;
    }
    assert.ok(isAtomicTempName(tmpName), tmpName);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
