/**
 * What eval exports: `--mode` picks whose rates go into --npy / --nlb-submission (hybrid runs have
 * two), the output says which, a mode the run was not trained in is refused, and a submission
 * group nlb_tools would skip is refused unless named. The train options that change only how a run
 * is scored (`inferenceTimesteps`, `calibrateRates`) keep its training and change its scores.
 */
import assert from "node:assert/strict";
import { type tf, useBackend } from "../lib/core/backend.ts";
import { parseNpy } from "../lib/data/npy.ts";
import { decodeSafetensors } from "../lib/train/checkpoint.ts";
import { evaluateRun, loadRun, metricsFileName, trainRun } from "../lib/experiments/run.ts";
import { removeRunOutputs } from "../lib/experiments/run_folder.ts";
import { preset } from "../lib/experiments/presets.ts";
import { disposeTree } from "../lib/core/tree.ts";
import { loadCheckpoint } from "../lib/train/checkpoint.ts";
import { resolveTrainOptions, type TrainOptions } from "../lib/train/train_options.ts";
import { applyRateGains, fitRateGains } from "../lib/train/calibrate.ts";
import { predict } from "../lib/train/predict.ts";
import type { RatePredictions } from "../lib/data/dataset.ts";
import { runScript } from "./_script_util.ts";
import { assertSameBits } from "./_train_util.ts";

const lorenz = {
  kind: "lorenz" as const,
  options: { conditions: 4, trialsPerCondition: 6, seed: 3 },
};

/** A tiny hybrid run of `steps` steps (validated at the last) in `outDir`, more options in `train`. */
async function trainTinyHybrid(
  outDir: string,
  steps: number,
  train: TrainOptions = {},
): Promise<void> {
  await trainRun({
    data: lorenz,
    preset: "hybrid",
    model: { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32 },
    train: { steps, evalEvery: steps, batchSize: 8, ...train },
    seed: 0,
    backend: "wasm",
  }, { outDir });
}

/** A 2-step run of the standard-only `tiny` preset in `outDir`. */
async function trainTinyStandard(outDir: string): Promise<void> {
  await trainRun({
    data: lorenz,
    preset: "tiny",
    train: { steps: 2, evalEvery: 2, batchSize: 8 },
    seed: 0,
    backend: "wasm",
  }, { outDir });
}

/** The two run folders' checkpoints hold the same parameters, bit for bit. */
async function assertSameCheckpoint(dirA: string, dirB: string): Promise<void> {
  const a = (await loadCheckpoint(`${dirA}/checkpoint.safetensors`)).params;
  const b = (await loadCheckpoint(`${dirB}/checkpoint.safetensors`)).params;
  await assertSameBits(a, b, "checkpoint");
  disposeTree(a);
  disposeTree(b);
}

async function npyRates(path: string): Promise<Float64Array> {
  const a = parseNpy(await Deno.readFile(path), { file: path, key: "rates" });
  return Float64Array.from(a.data as ArrayLike<number>);
}

Deno.test("eval --mode: a hybrid run exports the chosen mode's rates, says which, and refuses a mode it lacks", async () => {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    await trainTinyHybrid(`${dir}/hyb`, 4);
    await evaluateRun(`${dir}/hyb`, { npy: `${dir}/std.npy` });
    await evaluateRun(`${dir}/hyb`, { npy: `${dir}/spk.npy`, mode: "spiking" });
    const std = await npyRates(`${dir}/std.npy`);
    const spk = await npyRates(`${dir}/spk.npy`);
    // the spiking export is the spiking predictions, not the standard ones
    const saved = decodeSafetensors(
      await Deno.readFile(`${dir}/hyb/predictions_spiking.safetensors`),
    );
    const savedRates = await (saved.params.rates as tf.Tensor).data();
    assert.equal(spk.length, savedRates.length);
    for (let i = 0; i < spk.length; i++) assert.equal(Math.fround(spk[i]), savedRates[i]);
    assert.ok(std.some((v, i) => Math.abs(v - spk[i]) > 1e-6), "the two modes' rates differ");

    const cli = await runScript("eval.ts", [
      "--run",
      `${dir}/hyb`,
      "--npy",
      `${dir}/cli.npy`,
      "--mode",
      "spiking",
    ]);
    assert.equal(cli.code, 0, cli.err);
    assert.match(cli.out, /exported rates: spiking mode/);
    const noFile = await runScript("eval.ts", ["--run", `${dir}/hyb`, "--mode", "spiking"]);
    assert.equal(noFile.code, 2);
    assert.match(noFile.err, /--mode selects the rates of --nlb-submission \/ --npy/);

    await trainTinyStandard(`${dir}/std`);
    const wrong = await runScript("eval.ts", [
      "--run",
      `${dir}/std`,
      "--npy",
      `${dir}/x.npy`,
      "--mode",
      "spiking",
    ]);
    assert.equal(wrong.code, 2, wrong.err);
    assert.match(wrong.err, /trained in standard mode, so it has no spiking-mode rates/);
    // Lorenz data carry no NLB dataset name: a submission must be named
    const unnamed = await runScript("eval.ts", [
      "--run",
      `${dir}/std`,
      "--nlb-submission",
      `${dir}/sub.h5`,
    ]);
    assert.equal(unnamed.code, 2, unnamed.err);
    assert.match(unnamed.err, /no NLB dataset name.*--nlb-name/);
    await assert.rejects(Deno.stat(`${dir}/sub.h5`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a saved run is rebuilt from the preset its config.json saved, not the preset as it is now", async () => {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    await trainTinyHybrid(`${dir}/hyb`, 2);
    const path = `${dir}/hyb/config.json`;
    const cfg = JSON.parse(await Deno.readTextFile(path));
    assert.equal(cfg.presetSnapshot.model.norm, preset("hybrid").model.norm);
    const spiking = async () =>
      (await evaluateRun(`${dir}/hyb`)).results.find((r) => r.mode === "spiking")!.coBps;
    const asSaved = await spiking();
    // the run as if it had been trained when the preset used the per-channel norm
    cfg.presetSnapshot.model.norm = "trial";
    await Deno.writeTextFile(path, JSON.stringify(cfg));
    const loaded = await loadRun(`${dir}/hyb`);
    assert.equal((loaded.model.config as { norm?: string }).norm, "trial");
    disposeTree(loaded.params);
    assert.notEqual(await spiking(), asSaved, "the saved preset's norm was ignored");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval timesteps: the spiking mode at other SNN timesteps, in files of their own, equals the run rebuilt at that T", async () => {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    await trainTinyHybrid(`${dir}/hyb`, 4);
    const trained = await evaluateRun(`${dir}/hyb`, { split: "val" });
    const own = await Deno.readFile(`${dir}/hyb/metrics.json`);
    const t2 = await evaluateRun(`${dir}/hyb`, { split: "val", timesteps: 2 });
    // the run's own files are left as they were
    assert.deepEqual(await Deno.readFile(`${dir}/hyb/metrics.json`), own);
    const onDisk = JSON.parse(await Deno.readTextFile(`${dir}/hyb/metrics_val_t2.json`));
    assert.deepEqual(onDisk.results, JSON.parse(JSON.stringify(t2.results)));
    const row = (m: typeof t2, mode: string) => m.results.find((r) => r.mode === mode)!;
    // the standard mode has no timesteps; the spiking row says which it ran with
    assert.deepEqual(
      { ...row(t2, "standard"), energy: undefined },
      { ...row(trained, "standard"), energy: undefined },
    );
    assert.equal(row(t2, "spiking").timesteps, 2);
    assert.equal(row(trained, "spiking").timesteps, undefined);
    assert.notEqual(row(t2, "spiking").coBps, row(trained, "spiking").coBps);
    // half the timesteps, fewer synaptic operations
    assert.ok(row(t2, "spiking").energy!.acs < row(trained, "spiking").energy!.acs);
    // the same predictions as the run's config edited to T = 2 and evaluated the plain way
    await Deno.mkdir(`${dir}/edited`);
    await Deno.copyFile(
      `${dir}/hyb/checkpoint.safetensors`,
      `${dir}/edited/checkpoint.safetensors`,
    );
    const cfg = JSON.parse(await Deno.readTextFile(`${dir}/hyb/config.json`));
    cfg.model = { ...cfg.model, timesteps: 2 };
    await Deno.writeTextFile(`${dir}/edited/config.json`, JSON.stringify(cfg));
    const edited = await evaluateRun(`${dir}/edited`, { split: "val" });
    assert.equal(row(edited, "spiking").coBps, row(t2, "spiking").coBps);
    assert.deepEqual(
      await Deno.readFile(`${dir}/hyb/predictions_spiking_t2.safetensors`),
      await Deno.readFile(`${dir}/edited/predictions_spiking.safetensors`),
    );
    assert.equal(metricsFileName("test", { timesteps: 8 }), "metrics_t8.json");

    const cli = await runScript("eval.ts", ["--run", `${dir}/hyb`, "--timesteps", "3"]);
    assert.equal(cli.code, 0, cli.err);
    assert.match(cli.out, /spiking mode run at 3 SNN timesteps/);
    assert.match(
      cli.out,
      /metrics_t3\.json, .*predictions_t3\.safetensors, .*predictions_spiking_t3\.safetensors/,
    );
    assert.equal(
      JSON.parse(await Deno.readTextFile(`${dir}/hyb/metrics_t3.json`)).results[1].timesteps,
      3,
    );
    for (const bad of ["0", "2.5", "x"]) {
      const r = await runScript("eval.ts", ["--run", `${dir}/hyb`, "--timesteps", bad]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, new RegExp(`--timesteps must be an integer >= 1, found "${bad}"`));
    }
    await assert.rejects(
      evaluateRun(`${dir}/hyb`, { timesteps: 0 }),
      /evaluateRun option "timesteps" must be a positive integer, found 0/,
    );
    // a run replaced by another takes its evaluations at other timesteps with it
    await removeRunOutputs(`${dir}/hyb`);
    assert.deepEqual([...Deno.readDirSync(`${dir}/hyb`)].map((e) => e.name), []);

    await trainTinyStandard(`${dir}/std`);
    await assert.rejects(
      evaluateRun(`${dir}/std`, { timesteps: 8 }),
      /timesteps set the spiking mode's SNN timesteps, but the run was trained in standard mode only/,
    );
    await assert.rejects(Deno.stat(`${dir}/std/metrics_t8.json`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train option inferenceTimesteps: the same training, the run scored, re-evaluated and loaded with its spiking mode at that T", async () => {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    await trainTinyHybrid(`${dir}/base`, 4);
    await trainTinyHybrid(`${dir}/inf`, 4, { inferenceTimesteps: 2 });
    // training and its validation run at the model's T = 4: the same parameters, bit for bit
    await assertSameCheckpoint(`${dir}/base`, `${dir}/inf`);
    const read = async (f: string) => JSON.parse(await Deno.readTextFile(f));
    const own = await read(`${dir}/inf/metrics.json`);
    // the base run evaluated at T = 2 gives the scoring the inf run did by itself
    const t2 = await evaluateRun(`${dir}/base`, { timesteps: 2 });
    const row = (m: { results: { mode: string }[] }, mode: string) =>
      m.results.find((r) => r.mode === mode)! as Record<string, unknown>;
    const spk = row(own, "spiking");
    assert.equal(spk.timesteps, 2);
    assert.equal(spk.coBps, row(t2, "spiking").coBps);
    assert.deepEqual(spk.energy, JSON.parse(JSON.stringify(row(t2, "spiking").energy)));
    assert.equal(row(own, "standard").coBps, row(t2, "standard").coBps);
    assert.equal(row(own, "standard").timesteps, undefined);
    assert.deepEqual(
      await Deno.readFile(`${dir}/inf/predictions_spiking.safetensors`),
      await Deno.readFile(`${dir}/base/predictions_spiking_t2.safetensors`),
    );
    const base = await read(`${dir}/base/metrics.json`);
    assert.notEqual(row(base, "spiking").coBps, spk.coBps);
    assert.equal(row(base, "spiking").timesteps, undefined);
    // re-evaluated without timesteps: the run's own T again; an explicit T still wins
    const again = await evaluateRun(`${dir}/inf`);
    assert.equal(row(again, "spiking").coBps, spk.coBps);
    assert.equal(row(again, "spiking").timesteps, 2);
    const t3 = await evaluateRun(`${dir}/inf`, { timesteps: 3 });
    assert.equal(row(t3, "spiking").timesteps, 3);
    assert.notEqual(row(t3, "spiking").coBps, spk.coBps);
    // loadRun's model runs the spiking mode at it; the saved config keeps the trained T
    for (const [run, T] of [["inf", 2], ["base", 4]] as const) {
      const loaded = await loadRun(`${dir}/${run}`);
      assert.equal((loaded.model.config as { timesteps?: number }).timesteps, T, run);
      assert.equal(loaded.config.model?.timesteps, undefined);
      disposeTree(loaded.params);
    }
    // refused: a model without a spiking mode, and values that are not timesteps
    await assert.rejects(
      trainRun({
        data: lorenz,
        preset: "tiny",
        train: { steps: 2, evalEvery: 2, batchSize: 8, inferenceTimesteps: 8 },
        seed: 0,
        backend: "wasm",
      }, { outDir: `${dir}/std` }),
      /"inferenceTimesteps" sets the spiking mode's timesteps after training, but the model runs in standard mode only/,
    );
    for (const bad of [0, 2.5, -1]) {
      assert.throws(
        () => resolveTrainOptions({ inferenceTimesteps: bad }),
        new RegExp(`train option "inferenceTimesteps" must be an integer >= 1, found ${bad}`),
      );
    }
    assert.equal("inferenceTimesteps" in resolveTrainOptions({}), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train option calibrateRates: the same training, each mode's rates times gains fitted on the training trials, recorded", async () => {
  await useBackend("wasm");
  const dir = await Deno.makeTempDir();
  try {
    // off explicitly, so the test holds whatever the preset says
    await trainTinyHybrid(`${dir}/base`, 4, { calibrateRates: false });
    await trainTinyHybrid(`${dir}/cal`, 4, { calibrateRates: true });
    await assertSameCheckpoint(`${dir}/base`, `${dir}/cal`);
    const read = async (f: string) => JSON.parse(await Deno.readTextFile(f));
    const base = await read(`${dir}/base/metrics.json`);
    const cal = await read(`${dir}/cal/metrics.json`);
    const baseRun = await loadRun(`${dir}/base`);
    disposeTree(baseRun.params);
    const ds = baseRun.dataset;
    for (const mode of ["standard", "spiking"]) {
      const file = mode === "standard" ? "predictions" : "predictions_spiking";
      const rates = async (run: string) => {
        const t = decodeSafetensors(await Deno.readFile(`${dir}/${run}/${file}.safetensors`));
        const arr = async (k: string) => {
          const x = t.params[k] as tf.Tensor;
          return {
            data: await x.data() as Float32Array,
            shape: x.shape as [number, number, number],
          };
        };
        const out: RatePredictions = {
          rates: await arr("rates"),
          forwardRates: await arr("forwardRates"),
        };
        disposeTree(t.params);
        return out;
      };
      const raw = await rates("base");
      const want = fitRateGains(raw, ds);
      const rowB = base.results.find((r: { mode: string }) => r.mode === mode);
      const rowC = cal.results.find((r: { mode: string }) => r.mode === mode);
      assert.equal(rowB.rateGains, undefined);
      assert.deepEqual(rowC.rateGains, { rates: [...want.rates], forward: [...want.forward] });
      assert.ok(want.rates.some((g) => Math.abs(g - 1) > 1e-3), `${mode}: gains all 1`);
      // the predictions files hold the calibrated rates, and the scores are theirs
      const got = await rates("cal");
      assert.deepEqual(got.rates.data, applyRateGains(raw, want).rates.data);
      assert.deepEqual(got.forwardRates!.data, applyRateGains(raw, want).forwardRates!.data);
      assert.notEqual(rowC.coBps, rowB.coBps);
      assert.notEqual(rowC.rateR2, rowB.rateR2);
      assert.deepEqual(rowC.energy, rowB.energy);
    }
    // re-evaluated: the same gains and scores again
    const again = await evaluateRun(`${dir}/cal`);
    assert.deepEqual(JSON.parse(JSON.stringify(again)), cal);
    // loadRun hands the gains over: predict + applyRateGains gives the scored rates
    const loaded = await loadRun(`${dir}/cal`);
    const spk = cal.results.find((r: { mode: string }) => r.mode === "spiking");
    assert.deepEqual([...loaded.rateGains!.spiking!.rates], spk.rateGains.rates);
    const scored = applyRateGains(
      await predict(loaded.model, loaded.params, loaded.dataset, { mode: "spiking" }),
      loaded.rateGains!.spiking!,
    );
    const file = decodeSafetensors(
      await Deno.readFile(`${dir}/cal/predictions_spiking.safetensors`),
    );
    assert.deepEqual(scored.rates.data, await (file.params.rates as tf.Tensor).data());
    disposeTree(file.params);
    disposeTree(loaded.params);
    const plain = await loadRun(`${dir}/base`);
    assert.equal(plain.rateGains, undefined);
    disposeTree(plain.params);
    assert.throws(
      () => resolveTrainOptions({ calibrateRates: "yes" as unknown as boolean }),
      /train option "calibrateRates" must be true or false, found "yes"/,
    );
    assert.equal("calibrateRates" in resolveTrainOptions({}), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
