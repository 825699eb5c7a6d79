import assert from "node:assert/strict";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { evaluate } from "../lib/eval/evaluate.ts";
import { loadData, type MetricsFile } from "../lib/experiments/run.ts";
import { expandSweep, parseSweepSpec, sweepTaskId } from "../lib/experiments/sweep.ts";
import { predictionsFile, readPredictions } from "../lib/experiments/sweep_task.ts";
import {
  meanPredictions,
  type SweepResults,
  type SweepRow,
} from "../lib/experiments/sweep_collect.ts";
import { arrayRanges, sbatchScript } from "../lib/experiments/sweep_slurm.ts";
import { validateRunConfig } from "../scripts/_cli.ts";
import { ROOT, runScript } from "./_script_util.ts";

/** Tiny Lorenz data and a few steps: each task trains in about a second. */
const DATA = {
  kind: "lorenz",
  options: { conditions: 4, trialsPerCondition: 4, neurons: 12, bins: 20, seed: 3 },
};
const BASE = { preset: "tiny", data: DATA, train: { steps: 3, evalEvery: 3, batchSize: 8 } };

async function sweep(args: string[]): Promise<{ code: number; text: string }> {
  const r = await runScript("sweep.ts", args);
  return { code: r.code, text: r.out + r.err };
}

async function writeSpec(dir: string, spec: unknown): Promise<string> {
  const path = `${dir}/spec.json`;
  await Deno.writeTextFile(path, JSON.stringify(spec));
  return path;
}

async function results(out: string): Promise<SweepResults> {
  return JSON.parse(await Deno.readTextFile(`${out}/results.json`));
}

/** Rows without what differs between two runs of the same tasks (times). */
function stable(rows: readonly SweepRow[]): SweepRow[] {
  return rows.map((r) => {
    const { wallSeconds: _w, trainSeconds: _t, ...rest } = r;
    return rest as SweepRow;
  }).sort((a, b) => `${a.id}/${a.mode}`.localeCompare(`${b.id}/${b.mode}`));
}

Deno.test("sweep spec: unknown keys, bad paths and bad ranges are refused, naming them", async () => {
  const cases: [unknown, RegExp, ErrorConstructor][] = [
    [{ base: {}, grids: {} }, /unknown key "grids"/, TypeError],
    [{ base: { presett: "tiny" } }, /"base": unknown key "presett"/, TypeError],
    [{ base: {}, grid: { "trian.lr": [1] } }, /"trian.lr" is not a config path/, TypeError],
    [{ base: {}, grid: { "train..lr": [1] } }, /"train..lr" is not a config path/, TypeError],
    [{ base: {}, grid: { seed: [] } }, /"grid"."seed": expected a non-empty list/, TypeError],
    [
      { base: {}, grid: { seed: 3 } },
      /"grid"."seed": expected a non-empty list of values, found 3/,
      TypeError,
    ],
    [{ base: {}, grid: { seed: [1, 1] } }, /values \[0\] and \[1\] are both 1/, RangeError],
    [
      { base: {}, grid: { seed: [1, null] } },
      /"seed"\[1\]: expected a value, found null/,
      TypeError,
    ],
    [
      { base: {}, random: { n: 2, params: { "train.lr": { logUniform: [0, 1] } } } },
      /logUniform: expected positive bounds, found \[0, 1\]/,
      RangeError,
    ],
    [
      { base: {}, random: { n: 2, params: { "train.lr": { uniform: [3, 1] } } } },
      /expected low < high, found \[3, 1\]/,
      RangeError,
    ],
    [
      { base: {}, random: { n: 2, params: { "train.lr": { uniform: [0, 1], choice: [1] } } } },
      /exactly one of "logUniform", "uniform", "choice", found "uniform" and "choice"/,
      TypeError,
    ],
    [
      { base: {}, random: { n: 2, params: { "train.lr": { normal: [0, 1] } } } },
      /unknown key "normal"/,
      TypeError,
    ],
    [
      { base: {}, random: { n: 0, params: { seed: { choice: [1] } } } },
      /n: expected an integer >= 1, found 0/,
      RangeError,
    ],
    [
      {
        base: {},
        grid: { "train.lr": [1e-3] },
        random: { n: 1, params: { "train.lr": { choice: [1] } } },
      },
      /"train.lr" is swept by both "grid" and "random"/,
      TypeError,
    ],
    [
      { base: {}, grid: { train: [{}], "train.lr": [1e-3] } },
      /"train.lr" lies inside the swept path "train"/,
      TypeError,
    ],
    [
      { base: {}, ensemble: { top: 0 } },
      /"ensemble".top: expected an integer >= 1, found 0/,
      RangeError,
    ],
    [{ base: {}, ensemble: { best: 2 } }, /"ensemble": unknown key "best"/, TypeError],
  ];
  for (const [spec, re, type] of cases) {
    assert.throws(() => parseSweepSpec(spec), (err: Error) => {
      assert.ok(err instanceof type, `${JSON.stringify(spec)}: ${err.name} ${err.message}`);
      assert.match(err.message, re);
      return true;
    });
  }
  // the run configs themselves: the command line's checks, naming the task's swept values
  const bad: [unknown, RegExp][] = [
    [
      { base: { preset: "tiny" }, grid: { "train.lrr": [0.1] } },
      /train.lrr = 0.1.*unknown train option "lrr"/,
    ],
    [
      { base: { preset: "tiny" }, grid: { "train.lr": [1e-3, 2] } },
      /task 1 \(train.lr = 2\).*"lr" must be in/,
    ],
    [{ base: { preset: "tiny" }, grid: { preset: ["tiny", "huge"] } }, /unknown preset "huge"/],
    [
      { base: { preset: "tiny" }, grid: { "seed.x": [1] } },
      /cannot set "seed.x": "seed" is 0, not an object/,
    ],
  ];
  for (const [spec, re] of bad) {
    await assert.rejects(
      expandSweep(parseSweepSpec(spec), { checkConfig: validateRunConfig }),
      (err: Error) => {
        assert.match(err.message, re);
        return true;
      },
    );
  }
  // and on the command line: exit code 2, the file and the key named, nothing written
  const dir = await Deno.makeTempDir();
  const spec = await writeSpec(dir, { base: BASE, grid: { "model.dModell": [16] } });
  const r = await sweep(["--spec", spec, "--out", `${dir}/out`]);
  assert.equal(r.code, 2, r.text);
  assert.match(r.text, /spec.json: .*unknown model config key "dModell"/);
  await assert.rejects(Deno.stat(`${dir}/out`), Deno.errors.NotFound);
  const r2 = await sweep(["--spec", spec, "--out", `${dir}/out`, "--mem", "4G"]);
  assert.equal(r2.code, 2, r2.text);
  assert.match(r2.text, /--mem applies to --slurm only/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweep expansion: grid × random, seeded draws in range, stable ids", async () => {
  const spec = parseSweepSpec({
    base: BASE,
    grid: { seed: [0, 1], "train.lr": [1e-3, 3e-3] },
    random: {
      n: 3,
      seed: 5,
      params: {
        "train.weightDecay": { logUniform: [1e-5, 1e-2] },
        "model.dFF": { uniform: [16, 64], integer: true },
      },
    },
  });
  const tasks = await expandSweep(spec, { checkConfig: validateRunConfig });
  assert.equal(tasks.length, 2 * 2 * 3);
  assert.deepEqual(tasks.map((t) => t.index), [...tasks.keys()]);
  // the last grid path varies fastest, random samples innermost
  assert.deepEqual(tasks.slice(0, 4).map((t) => [t.params.seed, t.params["train.lr"]]), [
    [0, 1e-3],
    [0, 1e-3],
    [0, 1e-3],
    [0, 3e-3],
  ]);
  for (const t of tasks) {
    const wd = t.params["train.weightDecay"] as number, dff = t.params["model.dFF"] as number;
    assert.ok(wd >= 1e-5 && wd <= 1e-2, `${wd}`);
    assert.ok(Number.isInteger(dff) && dff >= 16 && dff <= 64, `${dff}`);
    assert.equal(t.config.train?.weightDecay, wd);
    assert.equal(t.config.model?.dFF, dff);
    assert.equal(t.config.train?.steps, 3, "base settings kept");
    assert.match(t.id, /^seed[01]_lr0\.00[13]_weightDecay[0-9.e-]+_dFF\d+-[0-9a-f]{8}$/);
  }
  // every grid cell gets the same random samples
  const draws = (seed: number, lr: number) =>
    tasks.filter((t) => t.params.seed === seed && t.params["train.lr"] === lr)
      .map((t) => [t.params["train.weightDecay"], t.params["model.dFF"]]);
  assert.deepEqual(draws(1, 3e-3), draws(0, 1e-3));
  assert.equal(new Set(tasks.map((t) => t.id)).size, tasks.length);
  // stable: the same spec gives the same tasks; another random seed other draws
  assert.deepEqual(await expandSweep(spec), tasks);
  const other = await expandSweep(
    parseSweepSpec({ ...spec, random: { ...spec.random!, seed: 6 } }),
  );
  assert.notDeepEqual(other.map((t) => t.params), tasks.map((t) => t.params));
  // a path's draws do not depend on the other random paths
  const alone = await expandSweep(parseSweepSpec({
    base: BASE,
    random: { n: 3, seed: 5, params: { "train.weightDecay": { logUniform: [1e-5, 1e-2] } } },
  }));
  assert.deepEqual(
    alone.map((t) => t.params["train.weightDecay"]),
    draws(0, 1e-3).map((d) => d[0]),
  );
  // the id is a function of the config: pinned, so a change of the scheme is noticed
  const cfg = { data: { kind: "lorenz" as const }, preset: "tiny", seed: 1, backend: "wasm" };
  assert.equal(await sweepTaskId(cfg, { seed: 1 }), "seed1-f36f636a");
  assert.equal(
    await sweepTaskId({ ...cfg, data: { kind: "file", path: "/x/y/m1 data.nwb" } }, {
      "data.path": "/x/y/m1 data.nwb",
    }),
    "pathm1_data-67b8941f",
  );
  // repeated choice draws collapse into one task
  const dup = await expandSweep(parseSweepSpec({
    base: BASE,
    random: { n: 6, params: { "model.dModel": { choice: [16, 32] } } },
  }));
  assert.deepEqual(dup.map((t) => t.params["model.dModel"]).sort(), [16, 32]);
});

Deno.test("sweep cases: checked strictly, laid over the base, crossed with the grid, named in ids", async () => {
  const errors: [unknown, RegExp, ErrorConstructor][] = [
    [{ base: {}, cases: [] }, /"cases": expected a non-empty list of \{"name"/, TypeError],
    [{ base: {}, cases: {} }, /"cases": expected a non-empty list/, TypeError],
    [{ base: {}, cases: [{ preset: "tiny" }] }, /"cases"\[0\].name: expected a name/, TypeError],
    [{ base: {}, cases: [{ name: "a b" }] }, /found "a b"/, TypeError],
    [{ base: {}, cases: [{ name: "a", lr: 1 }] }, /"cases"\[0\]: unknown key "lr"/, TypeError],
    [
      { base: {}, cases: [{ name: "a", label: 3 }] },
      /"cases"\[0\].label: expected a string/,
      TypeError,
    ],
    [
      { base: {}, cases: [{ name: "a", model: 3 }] },
      /"cases"\[0\].model: expected a JSON object, found 3/,
      TypeError,
    ],
    [
      { base: {}, cases: [{ name: "a" }, { name: "b" }, { name: "a" }] },
      /"cases"\[0\] and \[2\] are both named "a"/,
      RangeError,
    ],
    [
      { base: {}, cases: [{ name: "a", train: { lr: 1e-3 } }], grid: { "train.lr": [1e-3, 2e-3] } },
      /"cases"\[0\] \("a"\) sets "train.lr", which the sweep also varies \("train.lr"\)/,
      TypeError,
    ],
    [
      { base: {}, cases: [{ name: "a", seed: 1 }], grid: { seed: [0, 1] } },
      /sets "seed", which the sweep also varies/,
      TypeError,
    ],
    [
      {
        base: {},
        cases: [{ name: "a", data: { kind: "lorenz" } }],
        random: { n: 2, params: { "data.options.seed": { uniform: [0, 9], integer: true } } },
      },
      /sets "data", which the sweep also varies \("data.options.seed"\)/,
      TypeError,
    ],
  ];
  for (const [spec, re, type] of errors) {
    assert.throws(() => parseSweepSpec(spec), (err: Error) => {
      assert.ok(err instanceof type, `${JSON.stringify(spec)}: ${err.name} ${err.message}`);
      assert.match(err.message, re);
      return true;
    });
  }
  const spec = parseSweepSpec({
    base: { ...BASE, model: { dModel: 16, nLayers: 1 } },
    cases: [
      { name: "small", label: "small model" },
      { name: "wide", model: { dModel: 32 }, train: { lr: 2e-3 } },
      { name: "std", preset: "standard", data: { kind: "lorenz" } },
    ],
    grid: { seed: [0, 1] },
  });
  const tasks = await expandSweep(spec, { checkConfig: validateRunConfig });
  // cases outermost, in order; the grid inside each
  assert.deepEqual(tasks.map((t) => `${t.case}/${t.params.seed}`), [
    "small/0",
    "small/1",
    "wide/0",
    "wide/1",
    "std/0",
    "std/1",
  ]);
  for (const t of tasks) {
    assert.match(t.id, new RegExp(`^${t.case}_seed${t.params.seed}-[0-9a-f]{8}$`));
  }
  assert.deepEqual(tasks[0].params, { seed: 0 }, "the case is not a swept value");
  // model and train keys replace the base's one by one; data and preset replace it whole
  assert.deepEqual(tasks[2].config.model, { dModel: 32, nLayers: 1 });
  assert.deepEqual(tasks[2].config.train, { ...BASE.train, lr: 2e-3 });
  assert.deepEqual(tasks[4].config.data, { kind: "lorenz" });
  assert.equal(tasks[4].config.preset, "standard");
  assert.equal(tasks[0].config.preset, "tiny");
  assert.equal(tasks[0].id, await sweepTaskId(tasks[0].config, { seed: 0 }, { case: "small" }));
  // without cases nothing changes: the same config, the same id as before cases existed
  const plain = await expandSweep(parseSweepSpec({ base: BASE, grid: { seed: [0, 1] } }));
  assert.equal(plain[0].case, undefined);
  assert.ok(!("case" in plain[0]), "no case key in tasks.jsonl lines of a sweep without cases");
  assert.match(plain[0].id, /^seed0-[0-9a-f]{8}$/);
  // two cases giving the same run config would train the same thing twice
  await assert.rejects(
    expandSweep(parseSweepSpec({
      base: BASE,
      cases: [{ name: "a" }, { name: "b", preset: "tiny" }],
    })),
    /task 1 \(case "b"\): cases "a" and "b" give the same run config \(task 0\)/,
  );
  // a case's bad run config is named with its case
  await assert.rejects(
    expandSweep(
      parseSweepSpec({ base: BASE, cases: [{ name: "odd", train: { lrr: 1 } }] }),
      { checkConfig: validateRunConfig },
    ),
    /task 0 \(case "odd"\).*unknown train option "lrr"/,
  );
});

Deno.test("sbatch script: array of the given tasks, resources, logs per task, the pinned Deno", () => {
  assert.equal(arrayRanges([7, 0, 1, 2, 5, 8]), "0-2,5,7-8");
  const text = sbatchScript("/scratch/sw", {
    indices: [0, 1, 2, 3],
    jobs: 2,
    cpusPerTask: 1,
    mem: "2G",
    time: "00:20:00",
    partition: "short",
    extra: ["--account=lab"],
    command: ["/opt/deno", "run", "-A", "--config", "/repo/deno.json", "/repo/scripts/sweep.ts"],
    chdir: "/repo",
  });
  for (
    const line of [
      "#SBATCH --array=0-3%2",
      "#SBATCH --cpus-per-task=1",
      "#SBATCH --mem=2G",
      "#SBATCH --time=00:20:00",
      "#SBATCH --partition=short",
      "#SBATCH --account=lab",
      "#SBATCH --output=/scratch/sw/logs/slurm-%A_%a.out",
      "#SBATCH --error=/scratch/sw/logs/slurm-%A_%a.err",
      'exec /opt/deno run -A --config /repo/deno.json /repo/scripts/sweep.ts --task-index "$SLURM_ARRAY_TASK_ID"',
    ]
  ) assert.ok(text.includes(line), `missing ${line} in\n${text}`);
  const npx = sbatchScript("/s", {
    indices: [3],
    command: ["run", "x.ts"],
    rawPrefix: "npx --yes deno@2.9.6",
    chdir: "/r",
  });
  assert.match(npx, /#SBATCH --array=3\n/);
  assert.match(npx, /exec npx --yes deno@2\.9\.6 run x\.ts --task-index/);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ mem: "lots" }, /--mem must be a size such as "4G"/],
    [{ time: "1h" }, /--time must be a Slurm time/],
    [{ jobs: 0 }, /--jobs must be an integer >= 1, found 0/],
    [{ partition: "a b" }, /--partition must be a partition name/],
    [{ chdir: "/my repo" }, /without spaces/],
  ];
  for (const [o, re] of bad) {
    assert.throws(
      () => sbatchScript("/s", { indices: [0], command: ["x"], chdir: "/r", ...o }),
      re,
    );
  }
});

Deno.test("sweep --local: jobs 2 and jobs 1 give the same rows; re-run trains nothing; ensemble on test", async () => {
  const dir = await Deno.makeTempDir();
  const spec = await writeSpec(dir, {
    base: BASE,
    grid: { "train.lr": [2e-3, 6e-3], "model.dModel": [16, 32], seed: [0, 1] },
    ensemble: { top: 3 },
  });
  const a = await sweep(["--spec", spec, "--out", `${dir}/a`, "--local", "--jobs", "2"]);
  assert.equal(a.code, 0, a.text);
  const b = await sweep(["--spec", spec, "--out", `${dir}/b`, "--local", "--jobs", "1"]);
  assert.equal(b.code, 0, b.text);
  const ra = await results(`${dir}/a`), rb = await results(`${dir}/b`);
  assert.equal(ra.tasks, 8);
  assert.equal(ra.finished, 8);
  assert.deepEqual(ra.failed, []);
  assert.equal(ra.rows.filter((r) => r.kind === "run").length, 8);
  assert.deepEqual(stable(ra.rows), stable(rb.rows));
  for (const r of ra.rows) {
    assert.ok(Number.isFinite(r.valCoBps) && Number.isFinite(r.testCoBps), JSON.stringify(r));
    assert.equal(r.split, "test");
  }
  assert.deepEqual(ra.swept, ["train.lr", "model.dModel", "seed"]);
  for (const p of ra.swept) {
    const png = await Deno.readFile(`${dir}/a/figures/coBps_vs_${p}.png`);
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  }

  // the ensemble: the top 3 by validation co-bps, their mean rates scored on the test split
  const runs = ra.rows.filter((r) => r.kind === "run");
  const ens = ra.rows.find((r) => r.kind === "ensemble")!;
  assert.ok(ens, "an ensemble row");
  const top = [...runs].sort((x, y) => y.valCoBps! - x.valCoBps!).slice(0, 3).map((r) => r.id);
  assert.deepEqual(ens.members, top);
  assert.equal(ens.split, "test");
  const ds = await loadData(DATA as never);
  const preds = [];
  for (const id of top) {
    const m: MetricsFile = JSON.parse(await Deno.readTextFile(`${dir}/a/runs/${id}/metrics.json`));
    preds.push(
      await readPredictions(predictionsFile(`${dir}/a/runs/${id}`, "standard", { metrics: m })),
    );
  }
  const mean = meanPredictions(preds);
  assert.equal(
    ens.testCoBps,
    (await evaluate(mean, ds, { split: "test", onWarning: () => {} })).coBps,
  );
  assert.equal(
    ens.valCoBps,
    (await evaluate(mean, ds, { split: "val", onWarning: () => {} })).coBps,
  );
  const saved = await readPredictions(`${dir}/a/${ens.path}`);
  assert.deepEqual(saved.rates.data, mean.rates.data);
  const members = runs.filter((r) => top.includes(r.id));
  assert.ok(
    Math.abs(ens.energyUj! - members.reduce((s, r) => s + r.energyUj!, 0)) < 1e-9,
    "an ensemble costs the sum of its members",
  );

  // a second invocation starts no task and rewrites no run file
  const mtimes = async () => {
    const out: Record<string, number> = {};
    for await (const e of Deno.readDir(`${dir}/a/runs`)) {
      for (const f of ["metrics.json", "checkpoint.safetensors", "predictions.safetensors"]) {
        out[`${e.name}/${f}`] = (await Deno.stat(`${dir}/a/runs/${e.name}/${f}`)).mtime!.getTime();
      }
    }
    return out;
  };
  const before = await mtimes();
  const again = await sweep(["--spec", spec, "--out", `${dir}/a`, "--local", "--jobs", "2"]);
  assert.equal(again.code, 0, again.text);
  assert.match(again.text, /0 task\(s\) run, 8 finished earlier, 0 failed/);
  assert.doesNotMatch(again.text, /start task/);
  assert.deepEqual(await mtimes(), before);
  assert.deepEqual(stable((await results(`${dir}/a`)).rows), stable(ra.rows));
  // nothing left for Slurm either
  const sb = await sweep(["--out", `${dir}/a`, "--slurm", "--dry-run"]);
  assert.equal(sb.code, 0, sb.text);
  assert.match(sb.text, /all 8 task\(s\) finished; nothing to submit/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweep --local: a failing task is reported with its log, the others finish; an interrupted one resumes", async () => {
  const dir = await Deno.makeTempDir();
  // a small dataset file, so one grid cell can name a file that is not there
  const ds = lorenzDataset(DATA.options);
  const nested = (a: { data: Float32Array; shape: readonly number[] }) =>
    Array.from(
      { length: a.shape[0] },
      (_, i) =>
        Array.from({ length: a.shape[1] }, (_, j) =>
          Array.from(
            a.data.subarray(
              (i * a.shape[1] + j) * a.shape[2],
              (i * a.shape[1] + j + 1) * a.shape[2],
            ),
          )),
    );
  await Deno.writeTextFile(
    `${dir}/data.json`,
    JSON.stringify({
      name: "tiny",
      binSizeMs: ds.binSizeMs,
      counts: nested(ds.counts),
      heldIn: [...ds.heldIn],
      heldOut: [...ds.heldOut],
      split: { train: [...ds.split.train], val: [...ds.split.val], test: [...ds.split.test] },
    }),
  );
  const spec = await writeSpec(dir, {
    base: { ...BASE, data: { kind: "file", path: `${dir}/data.json` } },
    grid: { "data.path": [`${dir}/data.json`, `${dir}/missing.json`], seed: [0, 1] },
  });
  const out = `${dir}/out`;
  const r = await sweep(["--spec", spec, "--out", out, "--local", "--jobs", "2"]);
  assert.equal(r.code, 1, r.text);
  const res = await results(out);
  assert.equal(res.tasks, 4);
  assert.equal(res.finished, 2);
  assert.deepEqual(res.failed.map((f) => f.params["data.path"]), [
    `${dir}/missing.json`,
    `${dir}/missing.json`,
  ]);
  for (const f of res.failed) {
    assert.equal(f.state, "failed");
    assert.match(f.error!, /missing\.json/);
    assert.deepEqual(f.logs, [`${out}/logs/${f.id}.log`]);
    assert.match(await Deno.readTextFile(f.logs[0]), /missing\.json/);
    assert.ok(r.text.includes(`[log ${out}/logs/${f.id}.log]`), r.text);
  }
  assert.match(r.text, /error: 2 of 4 task\(s\) failed: task 2 /);
  assert.deepEqual(
    res.rows.map((x) => x.params["data.path"]),
    [`${dir}/data.json`, `${dir}/data.json`],
  );

  // an interrupted task: the run's outputs gone, its state kept -> it resumes, same scores
  const done = res.rows[0];
  const runDir = `${out}/${done.path}`;
  for (const f of ["metrics.json", "metrics_val.json", "predictions.safetensors"]) {
    await Deno.remove(`${runDir}/${f}`);
  }
  const t = await sweep(["--out", out, "--task-index", String(done.index)]);
  assert.equal(t.code, 0, t.text);
  assert.match(t.text, /resuming ->/);
  const status = JSON.parse(await Deno.readTextFile(`${out}/status/${done.id}.json`));
  assert.equal(status.state, "finished");
  assert.equal(status.resumed, true);
  const c = await sweep(["collect", "--out", out]);
  assert.equal(c.code, 0, c.text);
  assert.match(c.text, /FAILED task 2 .*missing\.json.*; log /);
  const again = (await results(out)).rows.find((x) => x.id === done.id)!;
  assert.equal(again.testCoBps, done.testCoBps);
  assert.equal(again.valCoBps, done.valCoBps);
  // a task index out of range is an error naming the range
  const bad = await sweep(["--out", out, "--task-index", "9"]);
  assert.equal(bad.code, 1, bad.text);
  assert.match(bad.text, /task index must be 0\.\.3 \(the sweep has 4 tasks\), found 9/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweep --slurm --dry-run: the script runs the unfinished tasks with this Deno and deno.json", async () => {
  const dir = await Deno.makeTempDir();
  const spec = await writeSpec(dir, { base: BASE, grid: { seed: [0, 1, 2] } });
  const r = await sweep([
    "--spec",
    spec,
    "--out",
    `${dir}/s`,
    "--slurm",
    "--dry-run",
    "--jobs",
    "2",
    "--mem",
    "1G",
    "--time",
    "00:10:00",
    "--partition",
    "debug",
  ]);
  assert.equal(r.code, 0, r.text);
  const text = await Deno.readTextFile(`${dir}/s/sweep.sbatch`);
  assert.match(text, /#SBATCH --array=0-2%2\n/);
  assert.match(text, /#SBATCH --partition=debug\n/);
  assert.ok(
    text.includes(`exec ${Deno.execPath()} run -A --frozen --config ${ROOT}deno.json`),
    text,
  );
  assert.match(text, /--tasks \S+\/slurm\/tasks-[0-9a-f]{12}\.jsonl/);
  assert.equal(
    await Deno.readTextFile(text.match(/--tasks (\S+)/)![1]),
    await Deno.readTextFile(`${dir}/s/tasks.jsonl`),
  );
  const npx = await sweep([
    "--out",
    `${dir}/s`,
    "--slurm",
    "--dry-run",
    "--deno",
    "npx --yes deno@2.9.6",
  ]);
  assert.equal(npx.code, 0, npx.text);
  assert.match(
    await Deno.readTextFile(`${dir}/s/sweep.sbatch`),
    /exec npx --yes deno@2\.9\.6 run -A/,
  );
  await Deno.remove(dir, { recursive: true });
});
