/**
 * The bench rows of the demo's and the long recipe's training steps run and time their models:
 * the `hybrid` preset sized for the Lorenz data (2 blocks, and results/long's 4), in each mode.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runScript } from "./_script_util.ts";

Deno.test("bench: train.demo.standard and train.demo.spiking time the demo's model in each mode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hest-bench-rows-" });
  try {
    const out = `${dir}/bench.json`;
    const r = await runScript("bench.ts", [
      ...["--rows", "train.demo.standard,train.demo.spiking"],
      ...["--reps", "2", "--warmup", "0", "--out", out],
    ]);
    assert.equal(r.code, 0, r.err);
    const got = JSON.parse(await Deno.readTextFile(out)) as {
      rows: {
        name: string;
        mode: string;
        params: number;
        medianMs: number;
        n: number;
        lossLast: number;
        model?: string;
      }[];
    };
    assert.deepEqual(got.rows.map((x) => x.name), ["train.demo.standard", "train.demo.spiking"]);
    for (const row of got.rows) {
      assert.equal(row.mode, row.name.split(".")[2]);
      // the demo's model: the parameter count `deno task demo` prints
      assert.equal(row.params, 109149);
      assert.equal(row.n, 2);
      assert.ok(row.medianMs > 0 && Number.isFinite(row.lossLast), JSON.stringify(row));
      assert.match(row.model ?? "", /hybrid preset, Lorenz/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench: train.long.* time results/long's model (4 blocks), with feature distillation", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hest-bench-rows-" });
  try {
    const out = `${dir}/bench.json`;
    const r = await runScript("bench.ts", [
      ...["--rows", "train.long.spiking", "--reps", "1", "--warmup", "0", "--out", out],
    ]);
    assert.equal(r.code, 0, r.err);
    const got = JSON.parse(await Deno.readTextFile(out)) as {
      rows: { name: string; mode: string; params: number; lossLast: number; model?: string }[];
    };
    assert.deepEqual(got.rows.map((x) => x.name), ["train.long.spiking"]);
    const [row] = got.rows;
    assert.equal(row.mode, "spiking");
    // the parameter count results/long/metrics.json records
    assert.equal(row.params, 210909);
    assert.ok(Number.isFinite(row.lossLast), JSON.stringify(row));
    assert.match(row.model ?? "", /results\/long's.*feature distillation/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
