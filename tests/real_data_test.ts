import assert from "node:assert/strict";
import { rawCountRidge } from "../lib/eval/baselines.ts";
import { loadDataset } from "../lib/data/load.ts";
import { REAL_DATASETS } from "../scripts/real_data.ts";
import { preset } from "../lib/experiments/presets.ts";

import { runScript } from "./_script_util.ts";

function run(args: string[]) {
  return runScript("real_data.ts", args);
}
// the recordings ship with the repository (data/real/)
const REAL = new URL("../data/real/", import.meta.url).pathname;

type S = { mean: number; sd: number; values: number[] };
type Row = {
  windowMs: number;
  model: string;
  kind: string;
  mode: string | null;
  steps: number | null;
  coBps: S | null;
  valCoBps: S | null;
  velR2: S | null;
  heldInBps: S | null;
  energyUj: S | null;
  beatsSmoothingCoBps: boolean | null;
  beatsRidgeVelR2: boolean | null;
  firingRates?: Record<string, number>;
  details?: Record<string, unknown>;
};

Deno.test("real_data: bad flags exit 2 naming them", async () => {
  const cases: [string[], RegExp][] = [
    [["--datasets", "s1,v4"], /--datasets must list s1, m1, found "v4"/],
    [["--models", "lstm"], /--models must list standard, hybrid, found "lstm"/],
    [["--seeds", "0,x"], /--seeds must be comma-separated integers, found "0,x"/],
    [["--steps", "0"], /--steps must be an integer >= 1, found "0"/],
    [
      ["--windows", "1000,30"],
      /--windows must be comma-separated window lengths in ms, multiples of 50, found "1000,30"/,
    ],
    [["--draws", "a"], /--draws must be comma-separated integers, found "a"/],
    [
      ["--held-out-fraction", "1.5"],
      /--held-out-fraction must be a number between 0 and 1, found "1.5"/,
    ],
    [["--jobs", "0"], /--jobs must be an integer >= 1, found "0"/],
    [["--only-cell", "v4:1000:0"], /--only-cell must be DATASET:WINDOW_MS:DRAW, found "v4:1000:0"/],
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
    assert.deepEqual(res.draws, [0]);
    assert.deepEqual(res.windows, [1000]);

    // windows, held-out neurons and split from their formulas: 35129 bins of 50 ms → ⌊35129 / 20⌋
    // windows of 1 s; round(0.25 · 52) held out; val round(0.1 · n), test round(0.2 · n), in order
    const n = Math.floor(35129 / 20);
    const cell = res.cells[0];
    assert.equal(cell.windowMs, 1000);
    assert.equal(cell.draw, 0);
    assert.equal(cell.summary.trials, n);
    assert.equal(cell.summary.bins, 20);
    assert.equal(res.dataset.binSizeMs, 50);
    assert.equal(res.dataset.neurons, 52);
    assert.equal(cell.summary.heldOut, Math.round(0.25 * 52));
    assert.deepEqual(cell.summary.split, {
      train: n - Math.round(0.1 * n) - Math.round(0.2 * n),
      val: Math.round(0.1 * n),
      test: Math.round(0.2 * n),
    });
    assert.equal(res.dataset.behaviorKey, "vel"); // hand velocity, x and y
    assert.match(res.dataset.citation, /Benjamin et al\. 2018/);
    assert.equal(res.protocol.heldOutFraction, 0.25);
    assert.equal(cell.heldOut.length, 13);

    // one row per baseline and per model/mode
    const rows = res.rows as Row[];
    assert.deepEqual(rows.map((x) => `${x.windowMs}/${x.model}/${x.mode}`), [
      "1000/smoothing/null",
      "1000/ridge/null",
      "1000/standard/standard",
      "1000/hybrid/standard",
      "1000/hybrid/spiking",
    ]);
    const [smooth, ridge, ...models] = rows;
    assert.ok(Number.isFinite(smooth.coBps!.mean), `smoothing co-bps ${smooth.coBps?.mean}`);
    // one grid point: nothing is chosen on val, so there is no val score to report
    assert.equal(smooth.valCoBps, null);
    assert.ok(Number.isFinite(smooth.velR2!.mean), `smoothing vel R² ${smooth.velR2?.mean}`);
    assert.ok(Number.isFinite(smooth.heldInBps!.mean));
    assert.equal(ridge.coBps, null);
    assert.ok(Number.isFinite(ridge.velR2!.mean), `ridge vel R² ${ridge.velR2?.mean}`);
    // the quick grid has one point: kernel 50 ms, alpha 0.01, no selection
    assert.deepEqual(smooth.details!.kernSdMs, [50]);
    assert.deepEqual(smooth.details!.alpha, [0.01]);
    // the raw-count ridge recomputed here on the same windows gives the same R²
    const ds = await loadDataset(`${REAL}${folder}/${REAL_DATASETS.s1.file}`, {
      ...REAL_DATASETS.s1.options,
      windowMs: 1000,
      heldOutFraction: 0.25,
      seed: 0,
    });
    assert.ok(Math.abs((await rawCountRidge(ds)).velR2 - ridge.velR2!.mean) < 1e-9);
    for (const m of models) {
      assert.equal(m.kind, "model");
      assert.equal(m.coBps!.values.length, 1);
      assert.ok(Number.isFinite(m.coBps!.mean) && Number.isFinite(m.velR2!.mean));
      assert.ok(Number.isFinite(m.valCoBps!.mean), `${m.model} ${m.mode} val co-bps`);
      assert.ok(m.energyUj!.mean > 0);
      assert.equal(m.beatsSmoothingCoBps, m.coBps!.mean > smooth.coBps!.mean);
      assert.equal(m.beatsRidgeVelR2, m.velR2!.mean > ridge.velR2!.mean);
    }
    // the spiking row carries its per-site firing rates
    assert.ok(Object.keys(models[2].firingRates ?? {}).some((k) => k.endsWith(".q")));
    // the targets: ratios of the rows' means
    const t = res.targets as { target: string; value: number; threshold: number; met: boolean }[];
    const ratio = t.find((x) => x.target === "hybrid spiking / standard co-bps")!;
    assert.ok(Math.abs(ratio.value - models[2].coBps!.mean / models[1].coBps!.mean) < 1e-12);
    assert.equal(ratio.met, ratio.value >= 0.9);
    // the presets train at their own settings (the quick budget aside): no per-dataset tuning
    const trained = async (name: string) =>
      JSON.parse(
        await Deno.readTextFile(`${dir}/runs/${folder}/w1000_d0/runs/${name}_s0/config.json`),
      ).resolvedTrain;
    for (const name of ["standard", "hybrid"]) {
      const tr = await trained(name);
      assert.equal(tr.steps, 6);
      assert.equal(tr.lr, preset(name).train.lr);
      assert.equal(tr.distill, preset(name).train.distill);
    }
    const md = await Deno.readTextFile(`${dir}/${folder}/report.md`);
    assert.match(md, /\| window \| model \| mode \| co-bps \| × smoothing \| vel R² \|/);
    assert.match(md, /## Drift: val against test/);
    assert.match(md, /quick smoke run: not results/);
    for (const f of ["scores_1000ms.svg", "scores_1000ms.png", "accuracy_energy.png"]) {
      assert.ok((await Deno.stat(`${dir}/${folder}/${f}`)).size > 0, f);
    }
    console.log(`quick S1 run: ${seconds.toFixed(1)} s`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("real_data: --jobs 2 trains the cells in child processes and aggregates over draws", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // baselines only (--models ""), two draws of 500-ms windows: two cells, one per child
    const r = await run([
      "--quick",
      "--quiet",
      "--no-figures",
      "--datasets",
      "s1",
      "--models",
      "",
      "--windows",
      "500",
      "--draws",
      "0,1",
      "--jobs",
      "2",
      "--data-root",
      REAL,
      "--out",
      dir,
    ]);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.err}`);
    const folder = REAL_DATASETS.s1.folder;
    for (const d of [0, 1]) {
      const st = await Deno.stat(`${dir}/runs/${folder}/w500_d${d}/baselines.json`);
      assert.ok(st.size > 0);
    }
    const res = JSON.parse(await Deno.readTextFile(`${dir}/${folder}/results.json`));
    assert.deepEqual(res.cells.map((c: { draw: number }) => c.draw), [0, 1]);
    // 500-ms windows: 10 bins each, ⌊35129 / 10⌋ windows
    assert.equal(res.cells[0].summary.trials, Math.floor(35129 / 10));
    // another held-out draw holds out other neurons
    assert.notDeepEqual(res.cells[0].heldOut, res.cells[1].heldOut);
    const smooth = (res.rows as Row[]).find((x) => x.model === "smoothing")!;
    assert.equal(smooth.windowMs, 500);
    assert.equal(smooth.coBps!.values.length, 2);
    const perDraw = res.runs.filter((x: { model: string }) => x.model === "smoothing")
      .map((x: { coBps: number }) => x.coBps);
    assert.deepEqual(smooth.coBps!.values, perDraw);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
