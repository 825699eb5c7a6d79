import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/backend.ts";
import { lorenzDataset } from "../lib/lorenz.ts";
import { evaluate } from "../lib/metrics.ts";
import { disposeBatch, maskedBatch } from "../lib/masking.ts";
import { adamw } from "../lib/optim.ts";
import { transformerFor } from "../lib/presets.ts";
import { key } from "../lib/random.ts";
import { predict, train, trainStep } from "../lib/train.ts";
import { disposeTree, flatten } from "../lib/tree.ts";
import { loadCheckpoint } from "../lib/checkpoint.ts";

const small = { conditions: 8, trialsPerCondition: 12, bins: 20, forwardBins: 5, seed: 1 };
const tinyModel = {
  dModel: 32,
  nLayers: 1,
  nHeads: 2,
  dFF: 64,
  dropout: 0.05,
  embedDropout: 0.05,
  rateDropout: 0,
};

Deno.test({
  name: "train: end-to-end masked modeling learns held-out rates (co-bps clearly above 0)",
  async fn() {
    await useBackend("wasm");
    const ds = lorenzDataset(small);
    const model = transformerFor(ds, tinyModel);
    const dir = await Deno.makeTempDir();
    const res = await train(model, ds, {
      steps: 300,
      lr: 5e-3,
      batchSize: 32,
      evalEvery: 50,
      patience: 0,
      outDir: dir,
    });
    const ev = await evaluate(await predict(model, res.params, ds), ds, { onWarning: () => {} });
    // the null model scores 0 by construction; learning must beat it by a clear margin and
    // get a sizeable share of what the true rates achieve
    assert.ok(ev.coBps > 0.05, `test co-bps ${ev.coBps}`);
    assert.ok(
      ev.oracleCoBps! > 0 && ev.coBps > 0.3 * ev.oracleCoBps!,
      `co-bps ${ev.coBps} vs oracle ${ev.oracleCoBps}`,
    );
    console.log(
      `tiny run: co-bps ${ev.coBps} oracle ${ev.oracleCoBps} rateR2 ${ev.rateR2} weighted ${ev.rateR2Weighted}`,
    );
    assert.ok(ev.rateR2Weighted! > 0.1, `variance-weighted rate R2 ${ev.rateR2Weighted}`);
    // the kept checkpoint is the best validation score and loads back
    const best = Math.max(...res.history.map((h) => h.score));
    assert.equal(res.bestScore, best);
    const ck = await loadCheckpoint(`${dir}/checkpoint.safetensors`);
    assert.equal(ck.metadata.step, String(res.bestStep));
    assert.deepEqual(flatten(ck.params).map((l) => l.path), flatten(res.params).map((l) => l.path));
    disposeTree(ck.params);
    disposeTree(res.params);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("train: no tensor leak, and the same seed gives identical parameters", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset({ ...small, conditions: 4 });
  const model = transformerFor(ds, tinyModel);
  const counts: number[] = [];
  const a = await train(model, ds, {
    steps: 30,
    lr: 1e-3,
    evalEvery: 10,
    seed: 5,
    onStep: () => counts.push(tf.memory().numTensors),
  });
  // steps 1-9 hold the same tensors; the first validation (after step 10) adds the kept best
  // copy, after which the count is flat again (a leak would grow it every step)
  assert.ok(counts.slice(1, 10).every((c) => c === counts[1]), `numTensors: ${counts.join(",")}`);
  assert.ok(counts.slice(10).every((c) => c === counts[10]), `numTensors: ${counts.join(",")}`);
  assert.ok(counts[10] - counts[9] <= flatten(model.init(key(0))).length + 1);
  const before = tf.memory().numTensors;
  const b = await train(model, ds, { steps: 30, lr: 1e-3, evalEvery: 10, seed: 5 });
  const c = await train(model, ds, { steps: 30, lr: 1e-3, evalEvery: 10, seed: 6 });
  const la = flatten(a.params), lb = flatten(b.params), lc = flatten(c.params);
  for (let i = 0; i < la.length; i++) {
    assert.deepEqual(await la[i].tensor.data(), await lb[i].tensor.data(), la[i].path);
  }
  assert.notDeepEqual(await la[0].tensor.data(), await lc[0].tensor.data());
  disposeTree(b.params);
  disposeTree(c.params);
  // two more runs left exactly their returned parameters behind
  assert.equal(tf.memory().numTensors, before);
  disposeTree(a.params);
});

Deno.test("train: early stopping and option validation", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset({ ...small, conditions: 3 });
  const model = transformerFor(ds, tinyModel);
  // lr so small nothing improves after the first validation: stops after `patience` more
  const r = await train(model, ds, {
    steps: 200,
    lr: 1e-9,
    warmupFraction: 0,
    evalEvery: 5,
    patience: 2,
  });
  assert.ok(r.stoppedEarly && r.stepsTaken < 200, `steps taken ${r.stepsTaken}`);
  disposeTree(r.params);
  await assert.rejects(
    () => train(model, ds, { stepz: 3 } as never),
    /unknown train option "stepz"/,
  );
  await assert.rejects(
    () => train(model, ds, { batchSize: 0 }),
    /"batchSize" must be an integer >= 1/,
  );
  const other = lorenzDataset({ ...small, neurons: 12 });
  await assert.rejects(() => train(model, other, { steps: 1 }), /model expects/);
});

Deno.test({
  name: "train: one training step on the webgpu backend matches cpu",
  // a software adapter compiles shaders on first use: allow time, no timing assertions
  async fn() {
    const ds = lorenzDataset({
      ...small,
      conditions: 2,
      trialsPerCondition: 4,
      bins: 8,
      forwardBins: 2,
    });
    const model = transformerFor(ds, {
      dModel: 8,
      nLayers: 1,
      nHeads: 2,
      dFF: 16,
      dropout: 0,
      embedDropout: 0,
      rateDropout: 0,
    });
    const losses: number[] = [];
    for (const backend of ["cpu", "webgpu"]) {
      try {
        await useBackend(backend);
      } catch (err) {
        if (backend === "webgpu") {
          console.warn(`webgpu unavailable here: ${(err as Error).message}`);
          return;
        }
        throw err;
      }
      const optimizer = adamw({ lr: 1e-2 });
      const params = model.init(key(0));
      const batch = maskedBatch(ds, ds.split.train, { key: key(1) });
      const r1 = await trainStep(model, { params, state: optimizer.init(params) }, batch, {
        optimizer,
        key: key(2),
      });
      const r2 = await trainStep(model, r1, batch, { optimizer, key: key(2) });
      assert.ok(r2.loss < r1.loss, `${backend}: loss ${r1.loss} -> ${r2.loss}`);
      losses.push(r1.loss, r2.loss);
      disposeBatch(batch);
      disposeTree(r2.params);
      disposeTree(r2.state.mu);
      disposeTree(r2.state.nu);
    }
    assert.ok(Math.abs(losses[0] - losses[2]) < 1e-4, `cpu ${losses[0]} vs webgpu ${losses[2]}`);
    assert.ok(Math.abs(losses[1] - losses[3]) < 1e-3, `cpu ${losses[1]} vs webgpu ${losses[3]}`);
    await useBackend("wasm");
  },
});

Deno.test("backend: unknown names are rejected clearly", async () => {
  const { useBackend: ub } = await import("../lib/backend.ts");
  await assert.rejects(() => ub("tpu"), /unknown backend "tpu": expected one of wasm, webgpu, cpu/);
  assert.equal(await ub("cpu"), "cpu");
  assert.equal(await ub("wasm"), "wasm");
});
