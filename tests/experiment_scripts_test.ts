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
    "hybrid",
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
  const before = (await Deno.stat(`${runs}/hybrid_s0/log.jsonl`)).mtime!.getTime();
  const c = await run("compare.ts", ["--quick", "--quiet", "--out", `${dir}/c`, "--runs", runs]);
  assert.equal(c.code, 0, c.text);
  assert.equal((await Deno.stat(`${runs}/hybrid_s0/log.jsonl`)).mtime!.getTime(), before);
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
