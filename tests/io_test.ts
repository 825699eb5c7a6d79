import assert from "node:assert/strict";
import { writeJsonAtomic } from "../lib/core/io.ts";
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
