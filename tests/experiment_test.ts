import assert from "node:assert/strict";
import { useBackend } from "../lib/core/backend.ts";
import {
  aggregateExperiment,
  experimentSweepSpec,
  experimentTable,
  runExperiment,
  stat,
  variantRunConfig,
} from "../lib/experiments/experiment.ts";
import type { MetricsFile } from "../lib/experiments/run.ts";
import { expandSweep, parseSweepSpec } from "../lib/experiments/sweep.ts";
import { validateRunConfig } from "../scripts/_cli.ts";

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

Deno.test("experimentSweepSpec: each task's config is variantRunConfig's for its case and seed", async () => {
  const { ABLATION } = await import("../scripts/ablation.ts");
  const { COMPARE } = await import("../scripts/compare.ts");
  const { PHASE1 } = await import("../scripts/phase1.ts");
  const { PHASE2 } = await import("../scripts/phase2.ts");
  const { PHASE3 } = await import("../scripts/phase3.ts");
  const data = { kind: "lorenz" as const, options: { conditions: 3 } };
  const train = { steps: 7, batchSize: 8 };
  for (const variants of [ABLATION, COMPARE, PHASE1, PHASE2, PHASE3]) {
    const opts = { seeds: [3, 1], data, backend: "wasm", train };
    const spec = parseSweepSpec(experimentSweepSpec(variants, opts));
    assert.deepEqual(spec.grid, { seed: [3, 1] });
    const tasks = await expandSweep(spec, { checkConfig: validateRunConfig });
    assert.equal(tasks.length, variants.length * 2);
    tasks.forEach((t, i) => {
      const v = variants[Math.floor(i / 2)];
      const seed = [3, 1][i % 2];
      assert.equal(t.case, v.name);
      assert.equal(t.params.seed, seed);
      assert.match(t.id, new RegExp(`^${v.name}_seed${seed}-[0-9a-f]{8}$`));
      // JSON equal, key order included: both paths write the same config.json
      assert.equal(
        JSON.stringify(t.config),
        JSON.stringify(variantRunConfig(v, { ...opts, seed })),
        `${v.name} seed ${seed}`,
      );
    });
    assert.deepEqual(spec.cases!.map((c) => c.label), variants.map((v) => v.label));
  }
  assert.throws(() => experimentSweepSpec([]), /expected at least one variant/);
  assert.throws(
    () => experimentSweepSpec([{ name: "a b", label: "x", preset: "tiny" }]),
    /variant name must be letters/,
  );
});

Deno.test("aggregateExperiment: mean ± sd per variant and mode from metrics files, seed order kept", () => {
  const row = (mode: "standard" | "spiking", coBps: number, energy: number, rate?: number) => ({
    model: "hybrid",
    mode,
    coBps,
    oracleCoBps: 0.5,
    split: "test" as const,
    params: 42,
    trainSeconds: 10,
    energy: { perSampleUj: energy } as never,
    ...(rate !== undefined ? { firingRates: { a: rate, b: 3 * rate } } : {}),
  });
  const runs: Record<number, MetricsFile> = {
    0: { dataset: { name: "d" }, results: [row("standard", 0.1, 4), row("spiking", 0.05, 1, 0.1)] },
    1: { dataset: { name: "d" }, results: [row("standard", 0.3, 6), row("spiking", 0.15, 3, 0.2)] },
  } as never;
  const r = aggregateExperiment(
    [{ name: "h", label: "hybrid", preset: "hybrid" }, {
      name: "s",
      label: "spiking only",
      preset: "hybrid",
      modes: ["spiking"],
    }],
    { seeds: [1, 0], metrics: (_v, seed) => runs[seed] },
  );
  assert.deepEqual(r.results.map((x) => `${x.name}/${x.mode}`), [
    "h/standard",
    "h/spiking",
    "s/spiking",
  ]);
  const spk = r.results[1];
  assert.deepEqual(spk.coBps.values, [0.15, 0.05]);
  assert.ok(Math.abs(spk.coBps.mean - 0.1) < 1e-12);
  assert.ok(Math.abs(spk.coBps.sd - Math.SQRT1_2 * 0.1) < 1e-12);
  assert.deepEqual(spk.coBpsRatio.values, [0.3, 0.1]);
  assert.equal(spk.energyUj.mean, 2);
  // firing rate: the mean over sites per seed ([0.4, 0.2]), then over seeds
  assert.ok(Math.abs(spk.firingRate.mean - 0.3) < 1e-12);
  assert.ok(
    Math.abs(spk.firingRates!.a - 0.15) < 1e-12 && Math.abs(spk.firingRates!.b - 0.45) < 1e-12,
  );
  assert.deepEqual(r.dataset, { name: "d" });
  assert.deepEqual(r.data, { kind: "lorenz" });
});
