import assert from "node:assert/strict";
import { useBackend } from "../lib/core/backend.ts";
import { experimentTable, runExperiment, stat } from "../lib/experiments/experiment.ts";

Deno.test("stat: mean and sample sd by hand", () => {
  const s = stat([1, 2, 3, 6]);
  assert.equal(s.mean, 3);
  // deviations −2, −1, 0, 3: Σ² = 14, / (n − 1) = 14/3
  assert.ok(Math.abs(s.sd - Math.sqrt(14 / 3)) < 1e-12);
  assert.deepEqual(stat([5]), { mean: 5, sd: 0, values: [5] });
  assert.ok(Number.isNaN(stat([]).mean));
});

Deno.test("runExperiment: seeds aggregate per mode, finished runs are reused", async () => {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir();
  const data = {
    kind: "lorenz" as const,
    options: { conditions: 2, trialsPerCondition: 6, bins: 12 },
  };
  const model = { dModel: 16, nLayers: 1, nHeads: 2, dFF: 16, timesteps: 2 };
  const variants = [
    { name: "std", label: "standard", preset: "tiny" },
    { name: "hyb", label: "hybrid", preset: "hybrid", model },
  ];
  const train = { steps: 4, evalEvery: 2, patience: 0, batchSize: 4 };
  const a = await runExperiment(variants, { outDir: dir, seeds: [0, 1], data, train });
  assert.deepEqual(a.results.map((r) => `${r.name}/${r.mode}`), [
    "std/standard",
    "hyb/standard",
    "hyb/spiking",
  ]);
  for (const r of a.results) {
    assert.equal(r.coBps.values.length, 2);
    assert.ok(r.energyUj.mean > 0, `${r.name} ${r.mode} energy ${r.energyUj.mean}`);
    const m = (r.coBps.values[0] + r.coBps.values[1]) / 2;
    assert.ok(Math.abs(r.coBps.mean - m) < 1e-12);
  }
  const spk = a.results.find((r) => r.mode === "spiking")!;
  assert.ok(spk.firingRate.mean > 0 && spk.firingRate.mean < 1);
  assert.ok(Number.isNaN(a.results[0].firingRate.mean));
  // the spiking mode's energy per trial is below the same model's standard mode
  const hs = a.results.find((r) => r.name === "hyb" && r.mode === "standard")!;
  assert.ok(spk.energyUj.mean < hs.energyUj.mean);
  // a second call reuses the run folders: nothing is retrained
  const log = `${dir}/runs/std_s0/log.jsonl`;
  const before = (await Deno.stat(log)).mtime!.getTime();
  const b = await runExperiment(variants, { outDir: dir, seeds: [0, 1], data, train });
  assert.equal((await Deno.stat(log)).mtime!.getTime(), before);
  assert.deepEqual(b.results.map((r) => r.coBps.values), a.results.map((r) => r.coBps.values));
  assert.match(experimentTable(b.results), /\| hybrid \| spiking \|/);
  // a run trained with other preset contents (here: another preset lr) is stale and retrained
  const cfgPath = `${dir}/runs/std_s0/config.json`;
  const saved = JSON.parse(await Deno.readTextFile(cfgPath));
  saved.presetSnapshot.train.lr *= 2;
  await Deno.writeTextFile(cfgPath, JSON.stringify(saved));
  await runExperiment([variants[0]], { outDir: dir, seeds: [0], data, train });
  assert.ok((await Deno.stat(log)).mtime!.getTime() > before, "the stale run was retrained");
  await assert.rejects(
    () => runExperiment([variants[0], variants[0]], { outDir: dir, data, train }),
    /duplicate variant name "std"/,
  );
  await Deno.remove(dir, { recursive: true });
});
