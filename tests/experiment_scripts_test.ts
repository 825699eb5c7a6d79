import assert from "node:assert/strict";
import { loadAblationResults, loadCompareResults } from "../lib/figures/report.ts";
import { ABLATION } from "../scripts/ablation.ts";

import { runScript } from "./_script_util.ts";

async function run(script: string, args: string[]): Promise<{ code: number; text: string }> {
  const r = await runScript(script, args);
  return { code: r.code, text: r.out + r.err };
}

const PNG = [0x89, 0x50, 0x4e, 0x47];

Deno.test("ablation --quick: eight steps in spiking mode, results.json the notebooks read, waterfall", async () => {
  const dir = await Deno.makeTempDir();
  const r = await run("ablation.ts", ["--quick", "--quiet", "--out", dir]);
  assert.equal(r.code, 0, r.text);
  const res = await loadAblationResults(`${dir}/results.json`);
  assert.deepEqual(res.steps.map((s) => s.name), [
    "basic",
    "conv",
    "cpg",
    "tim",
    "sew",
    "rsm",
    "rsm_spatial",
    "alternating",
  ]);
  // the significance-masking step is the RSM step with spatial (significance) masking
  const byName = Object.fromEntries(ABLATION.map((v) => [v.name, v]));
  assert.deepEqual(byName.rsm_spatial.model, {
    ...byName.rsm.model,
    rsm: { ratio: 0.25, mode: "spatial" },
  });
  // and its run was configured with it
  const cfg = JSON.parse(await Deno.readTextFile(`${dir}/runs/rsm_spatial_s0/config.json`));
  assert.deepEqual(cfg.model.rsm, { ratio: 0.25, mode: "spatial" });
  for (const s of res.steps) {
    assert.equal(s.mode, "spiking");
    assert.ok(Number.isFinite(s.coBps.mean) && s.energyUj.mean > 0, JSON.stringify(s));
  }
  // the membrane shortcut makes every weight layer read spikes: less energy than SEW-ADD's sums
  const e = Object.fromEntries(res.steps.map((s) => [s.name, s.energyUj.mean]));
  assert.ok(e.sew <= e.tim, `energy sew ${e.sew} vs tim ${e.tim}`);
  const png = await Deno.readFile(`${dir}/waterfall.png`);
  assert.deepEqual([...png.subarray(0, 4)], PNG);
  assert.match(await Deno.readTextFile(`${dir}/report.md`), /quick smoke run: not results/);
  // a second invocation reuses every run folder
  const again = await run("ablation.ts", ["--quick", "--quiet", "--out", dir]);
  assert.equal(again.code, 0, again.text);
  const res2 = await loadAblationResults(`${dir}/results.json`);
  assert.deepEqual(res2.steps.map((s) => s.coBps.values), res.steps.map((s) => s.coBps.values));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("compare --quick shares the ablation's runs; phase3 --quick reports speed per mode", async () => {
  const dir = await Deno.makeTempDir();
  const runs = `${dir}/runs`;
  const a = await run("ablation.ts", ["--quick", "--quiet", "--out", `${dir}/a`, "--runs", runs]);
  assert.equal(a.code, 0, a.text);
  const before = (await Deno.stat(`${runs}/basic_s0/log.jsonl`)).mtime!.getTime();
  const c = await run("compare.ts", ["--quick", "--quiet", "--out", `${dir}/c`, "--runs", runs]);
  assert.equal(c.code, 0, c.text);
  assert.equal((await Deno.stat(`${runs}/basic_s0/log.jsonl`)).mtime!.getTime(), before);
  const cmp = await loadCompareResults(`${dir}/c/results.json`);
  assert.deepEqual(cmp.rows.map((r) => `${r.model}/${r.mode}`), [
    "standard transformer/standard",
    "basic spiking transformer/spiking",
    "hybrid/standard",
    "hybrid/spiking",
  ]);
  const p = await run("phase3.ts", ["--quick", "--quiet", "--out", `${dir}/p3`]);
  assert.equal(p.code, 0, p.text);
  const p3 = JSON.parse(await Deno.readTextFile(`${dir}/p3/results.json`));
  for (const m of ["standard", "spiking"]) {
    assert.ok(p3.speed[m].trainStepMs > 0 && p3.speed[m].inferMs > 0, JSON.stringify(p3.speed));
  }
  const bad = await run("ablation.ts", ["--seeds", "a,b"]);
  assert.equal(bad.code, 2);
  assert.match(bad.text, /--seeds must be comma-separated integers/);
  await Deno.remove(dir, { recursive: true });
});

/** The rows of an experiment's results.json without the training times (wall clock). */
function untimed(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map(({ trainSeconds: _t, ...rest }) => rest);
}

Deno.test("compare --quick as a sweep (--local --jobs 2): the same rows, run folders and figure as in-process", async () => {
  const dir = await Deno.makeTempDir();
  const flags = ["--quick", "--quiet", "--seeds", "0,1"];
  const a = await run("compare.ts", [...flags, "--out", `${dir}/a`]);
  assert.equal(a.code, 0, a.text);
  const sw = `${dir}/sweep`;
  const b = await run("compare.ts", [
    ...flags,
    "--out",
    `${dir}/b`,
    "--sweep-out",
    sw,
    "--local",
    "--jobs",
    "2",
  ]);
  assert.equal(b.code, 0, b.text);
  assert.match(b.text, /6 task\(s\) run, 0 finished earlier, 0 failed/);
  const ra = JSON.parse(await Deno.readTextFile(`${dir}/a/results.json`));
  const rb = JSON.parse(await Deno.readTextFile(`${dir}/b/results.json`));
  // co-bps per model, mode and seed (and everything else but the times) are identical
  assert.equal(rb.rows.length, 4);
  assert.deepEqual(untimed(rb.rows), untimed(ra.rows));
  for (const k of ["kind", "quick", "dataset", "seeds"]) assert.deepEqual(rb[k], ra[k], k);
  assert.ok(rb.rows.every((r: { coBps: { values: number[] } }) => r.coBps.values.length === 2));
  await loadCompareResults(`${dir}/b/results.json`);
  // the same figure, drawn from the same numbers
  assert.equal(
    await Deno.readTextFile(`${dir}/b/accuracy_energy.svg`),
    await Deno.readTextFile(`${dir}/a/accuracy_energy.svg`),
  );
  assert.deepEqual([...(await Deno.readFile(`${dir}/b/accuracy_energy.png`)).subarray(0, 4)], PNG);
  const report = await Deno.readTextFile(`${dir}/b/report.md`);
  assert.match(report, /\| hybrid \| spiking \|/);
  assert.ok(report.includes(`Run folders: the sweep's, in \`${sw}/runs/\``), report);
  // each run folder holds the same run: same config.json, checkpoint and predictions
  const folders = [...Deno.readDirSync(`${sw}/runs`)].map((e) => e.name).sort();
  assert.equal(folders.length, 6);
  for (const name of ["standard", "basic", "hybrid"]) {
    for (const seed of [0, 1]) {
      const mine = `${dir}/a/runs/${name}_s${seed}`;
      const theirs = `${sw}/runs/${folders.find((f) => f.startsWith(`${name}_seed${seed}-`))}`;
      for (const f of ["config.json", "checkpoint.safetensors", "predictions.safetensors"]) {
        assert.deepEqual(
          await Deno.readFile(`${theirs}/${f}`),
          await Deno.readFile(mine + `/${f}`),
          `${theirs}/${f}`,
        );
      }
      const m = async (d: string) => {
        const x = JSON.parse(await Deno.readTextFile(`${d}/metrics.json`));
        for (const r of x.results) delete r.trainSeconds;
        return x;
      };
      assert.deepEqual(await m(theirs), await m(mine));
    }
  }
  // collecting again trains nothing and gives the same rows; so does --slurm with nothing left
  const c = await run("compare.ts", [
    ...flags,
    "--out",
    `${dir}/c`,
    "--sweep-out",
    sw,
    "--collect",
  ]);
  assert.equal(c.code, 0, c.text);
  assert.doesNotMatch(c.text, /start task|task\(s\) ->/);
  const rc = JSON.parse(await Deno.readTextFile(`${dir}/c/results.json`));
  assert.deepEqual(rc.rows, rb.rows);
  const s = await run("compare.ts", [
    ...flags,
    "--out",
    `${dir}/c`,
    "--sweep-out",
    sw,
    "--slurm",
    "--dry-run",
  ]);
  assert.equal(s.code, 0, s.text);
  assert.match(s.text, /all 6 task\(s\) finished; nothing to submit/);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/c/results.json`)).rows, rb.rows);
  // the sweep's own view: one row per task and mode, each with its case; co-bps by case
  const g = await runScript("sweep.ts", ["collect", "--out", sw]);
  assert.equal(g.code, 0, g.err);
  const sr = JSON.parse(await Deno.readTextFile(`${sw}/results.json`));
  assert.deepEqual(
    [...new Set(sr.rows.map((r: { case: string }) => r.case))],
    ["standard", "basic", "hybrid"],
  );
  assert.deepEqual(sr.figures, [
    "figures/coBps_vs_case.svg",
    "figures/coBps_vs_case.png",
    "figures/coBps_vs_seed.svg",
    "figures/coBps_vs_seed.png",
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("experiment --sweep-out: --slurm --dry-run writes the array and the collect command; bad combinations exit 2", async () => {
  const dir = await Deno.makeTempDir();
  const sw = `${dir}/sw`;
  const s = await run("phase1.ts", [
    "--quick",
    "--out",
    `${dir}/p1`,
    "--sweep-out",
    sw,
    "--slurm",
    "--dry-run",
    "--jobs",
    "2",
    "--mem",
    "1G",
  ]);
  assert.equal(s.code, 0, s.text);
  const sbatch = await Deno.readTextFile(`${sw}/sweep.sbatch`);
  assert.match(sbatch, /#SBATCH --array=0-2%2\n/);
  assert.match(sbatch, /#SBATCH --mem=1G\n/);
  assert.ok(
    s.text.includes(`deno task phase1 --quick --out ${dir}/p1 --sweep-out ${sw} --collect`),
    s.text,
  );
  const tasks = (await Deno.readTextFile(`${sw}/tasks.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(tasks.map((t) => t.case), ["base", "conv", "cpg"]);
  // collecting before the array ran: exit 2, each task named
  const early = await run("phase1.ts", [
    "--quick",
    "--out",
    `${dir}/p1`,
    "--sweep-out",
    sw,
    "--collect",
  ]);
  assert.equal(early.code, 2, early.text);
  assert.match(
    early.text,
    /3 of 3 run\(s\) of the sweep in \S+ have not finished: task 0 \(base_seed0-[0-9a-f]{8}\): not run yet/,
  );
  // other flags than at submission: another spec, and the error says so
  const other = await run("phase1.ts", [
    "--quick",
    "--seeds",
    "5",
    "--out",
    `${dir}/p1`,
    "--sweep-out",
    sw,
    "--collect",
  ]);
  assert.equal(other.code, 2, other.text);
  assert.match(other.text, /spec\.json is another spec than this experiment's/);
  const bad: [string[], RegExp][] = [
    [["--local"], /--local needs --sweep-out DIR/],
    [["--collect"], /--collect needs --sweep-out DIR/],
    [["--sweep-out", sw, "--runs", `${dir}/r`], /--runs does not go with --sweep-out/],
    [["--sweep-out", sw, "--out", sw], /--out and --sweep-out must be different folders/],
    [["--sweep-out", sw, "--local", "--slurm"], /--local and --slurm exclude each other/],
    [["--sweep-out", sw, "--collect", "--local"], /--collect and --local exclude each other/],
    [["--sweep-out", sw, "--local", "--mem", "1G"], /--mem applies to --slurm only/],
    [["--sweep-out", sw, "--local", "--jobs", "0"], /--jobs must be an integer >= 1, found "0"/],
  ];
  for (const [args, re] of bad) {
    const r = await run("phase1.ts", ["--quick", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.text}`);
    assert.match(r.text, re);
  }
  await Deno.remove(dir, { recursive: true });
});
