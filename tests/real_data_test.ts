import assert from "node:assert/strict";
import { rawCountRidge } from "../lib/eval/baselines.ts";
import { loadDataset } from "../lib/data/load.ts";
import { HYBRID_REAL_TRAIN, REAL_DATASETS } from "../scripts/real_data.ts";

import { runScript } from "./_script_util.ts";

function run(args: string[]) {
  return runScript("real_data.ts", args);
}
// the recordings ship with the repository (data/real/)
const REAL = new URL("../data/real/", import.meta.url).pathname;

type S = { mean: number; sd: number; values: number[] };
type Row = {
  model: string;
  kind: string;
  mode: string | null;
  steps: number | null;
  coBps: S | null;
  velR2: S | null;
  heldInBps: S | null;
  energyUj: S | null;
  beatsSmoothingCoBps: boolean | null;
  beatsRidgeVelR2: boolean | null;
  details?: Record<string, unknown>;
};

Deno.test("real_data: bad flags exit 2 naming them", async () => {
  const cases: [string[], RegExp][] = [
    [["--datasets", "s1,v4"], /--datasets must list s1, m1, found "v4"/],
    [["--models", "lstm"], /--models must list standard, hybrid, found "lstm"/],
    [["--seeds", "0,x"], /--seeds must be comma-separated integers, found "0,x"/],
    [["--steps", "0"], /--steps must be an integer >= 1, found "0"/],
    [["--hybrid-distill=-1"], /--hybrid-distill must be a number >= 0, found "-1"/],
    [["--hybrid-timesteps", "0"], /--hybrid-timesteps must be an integer >= 1, found "0"/],
    [["--nope"], /Unknown option '--nope'/],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.err}`);
    assert.match(r.err, re);
    assert.match(r.err, /usage: deno task real/);
  }
});

Deno.test("real_data: a --data-root without the recordings exits naming the folder and files", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const r = await run(["--quick", "--datasets", "s1", "--data-root", `${empty}/nowhere`]);
    assert.notEqual(r.code, 0, r.err);
    assert.match(r.err, /nowhere/);
    assert.match(r.err, /spykesml_s1_reaching\/s1_data\.mat/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("real_data: the shipped recordings carry their README and license", async () => {
  for (const d of Object.values(REAL_DATASETS)) {
    for (const f of [d.file, "README.md", "LICENSE.spykesML-MIT.txt"]) {
      const st = await Deno.stat(`${REAL}${d.folder}/${f}`);
      assert.ok(st.isFile && st.size > 0, `${d.folder}/${f}`);
    }
  }
});

Deno.test("real_data: --quick on the S1 recording writes results.json, report and figures", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t0 = performance.now();
    const r = await run([
      "--quick",
      "--quiet",
      "--datasets",
      "s1",
      "--data-root",
      REAL,
      "--out",
      dir,
    ]);
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(r.code, 0, `exit ${r.code}\n${r.err}`);
    const folder = REAL_DATASETS.s1.folder;
    const res = JSON.parse(await Deno.readTextFile(`${dir}/${folder}/results.json`));
    assert.equal(res.kind, "real_data");
    assert.equal(res.quick, true);
    assert.deepEqual(res.seeds, [0]);

    // windows, held-out neurons and split from their formulas: 35129 bins of 50 ms → ⌊35129 / 20⌋
    // windows of 1 s; round(0.25 · 52) held out; val round(0.1 · n), test round(0.2 · n), in order
    const n = Math.floor(35129 / 20);
    assert.equal(res.dataset.trials, n);
    assert.equal(res.dataset.bins, 20);
    assert.equal(res.dataset.binSizeMs, 50);
    assert.equal(res.dataset.neurons, 52);
    assert.equal(res.dataset.heldOut, Math.round(0.25 * 52));
    assert.deepEqual(res.dataset.split, {
      train: n - Math.round(0.1 * n) - Math.round(0.2 * n),
      val: Math.round(0.1 * n),
      test: Math.round(0.2 * n),
    });
    assert.equal(res.dataset.behaviorKey, "vel"); // hand velocity, x and y
    assert.match(res.dataset.citation, /Benjamin et al\. 2018/);
    assert.equal(res.protocol.windowMs, 1000);
    assert.equal(res.protocol.heldOutFraction, 0.25);
    assert.equal(res.protocol.heldOut.length, 13);

    // one row per baseline and per model/mode
    const rows = res.rows as Row[];
    assert.deepEqual(rows.map((x) => `${x.model}/${x.mode}`), [
      "smoothing/null",
      "ridge/null",
      "standard/standard",
      "hybrid/standard",
      "hybrid/spiking",
    ]);
    const [smooth, ridge, ...models] = rows;
    assert.ok(Number.isFinite(smooth.coBps!.mean), `smoothing co-bps ${smooth.coBps?.mean}`);
    assert.ok(Number.isFinite(smooth.velR2!.mean), `smoothing vel R² ${smooth.velR2?.mean}`);
    assert.ok(Number.isFinite(smooth.heldInBps!.mean));
    assert.equal(ridge.coBps, null);
    assert.ok(Number.isFinite(ridge.velR2!.mean), `ridge vel R² ${ridge.velR2?.mean}`);
    // the quick grid has one point: kernel 50 ms, alpha 0.01, no selection
    assert.equal(smooth.details!.kernSdMs, 50);
    assert.equal(smooth.details!.alpha, 0.01);
    // the raw-count ridge recomputed here on the same windows gives the same R²
    const ds = await loadDataset(`${REAL}${folder}/${REAL_DATASETS.s1.file}`, {
      ...REAL_DATASETS.s1.options,
      windowMs: 1000,
      heldOutFraction: 0.25,
      seed: 0,
    });
    assert.ok(Math.abs((await rawCountRidge(ds)).velR2 - ridge.velR2!.mean) < 1e-9);
    assert.equal(ridge.details!.features, 52);
    for (const m of models) {
      assert.equal(m.kind, "model");
      assert.equal(m.steps, 6);
      assert.equal(m.coBps!.values.length, 1);
      assert.ok(Number.isFinite(m.coBps!.mean) && Number.isFinite(m.velR2!.mean));
      assert.ok(m.energyUj!.mean > 0);
      assert.equal(m.beatsSmoothingCoBps, m.coBps!.mean > smooth.coBps!.mean);
      assert.equal(m.beatsRidgeVelR2, m.velR2!.mean > ridge.velR2!.mean);
    }
    // the hybrid trains with the real-data distillation (HYBRID_REAL_TRAIN), the standard without
    const trained = async (name: string) =>
      JSON.parse(await Deno.readTextFile(`${dir}/runs/${folder}/runs/${name}_s0/config.json`))
        .resolvedTrain;
    assert.equal((await trained("hybrid")).distill, HYBRID_REAL_TRAIN.distill);
    assert.equal((await trained("standard")).distill, undefined);
    const md = await Deno.readTextFile(`${dir}/${folder}/report.md`);
    assert.match(md, /\| model \| mode \| steps \| co-bps \| vel R² \|/);
    assert.match(md, /quick smoke run: not results/);
    for (const f of ["scores.svg", "scores.png", "accuracy_energy.png"]) {
      assert.ok((await Deno.stat(`${dir}/${folder}/${f}`)).size > 0, f);
    }
    console.log(`quick S1 run: ${seconds.toFixed(1)} s`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
