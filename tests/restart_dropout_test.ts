// Dropout rates set per call (ctx.dropout, withDropoutRates) and the train option restartDropout:
// after standardFirstEarlyEnd "restart" discards an overfitting first part, the run begins its
// planned schedule again with these rates. Checked: a call's rates equal a model built with them,
// draw for draw; the discarded part, and a run that never restarts, are untouched; the rerun's
// modes and learning rates repeat the plan, with the rates; a resume after the restart ends as the
// uninterrupted run; refusals.
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { disposeTree, flatten, type Params } from "../lib/core/tree.ts";
import { key as makeKey } from "../lib/core/random.ts";
import { transformerFor } from "../lib/experiments/presets.ts";
import { checkDropoutRates, withDropoutRates } from "../lib/model/config.ts";
import { maskedBatch } from "../lib/train/masking.ts";
import { adamw, cosineWarmup } from "../lib/train/optim.ts";
import { train, trainStep } from "../lib/train/train.ts";
import {
  checkTrainOverrides,
  resolveTrainOptions,
  type TrainOptions,
} from "../lib/train/train_options.ts";
import { loadTrainState } from "../lib/train/train_state.ts";
import { JUMPY as JUMPY_BASE, TINY_HYBRID, tinyLorenz, trainUntilCrash } from "./_train_util.ts";

await useBackend("cpu");

const ds = tinyLorenz();
const RATES = { dropout: 0.3, embedDropout: 0.2, rateDropout: 0.4 };

/** `_train_util.ts`'s JUMPY run (patience 1 ends its first part after step 3), restarting. */
const JUMPY: TrainOptions = { ...JUMPY_BASE, standardFirstEarlyEnd: "restart" };

async function values(t: tf.Tensor): Promise<number[]> {
  const v = Array.from(await t.data());
  t.dispose();
  return v;
}

async function sameTrees(a: Params, b: Params, what: string): Promise<void> {
  const la = flatten(a), lb = flatten(b);
  assert.deepEqual(la.map((l) => l.path), lb.map((l) => l.path));
  for (let i = 0; i < la.length; i++) {
    assert.deepEqual(
      await la[i].tensor.data(),
      await lb[i].tensor.data(),
      `${what}: ${la[i].path}`,
    );
  }
}

Deno.test("checkDropoutRates, withDropoutRates: the rates replace the config's; bad rates and keys are refused by name", () => {
  const c = transformerFor(ds, { ...TINY_HYBRID }, { kind: "hybrid" }).config;
  const d = withDropoutRates(c, { rateDropout: 0.25 });
  assert.equal(d.rateDropout, 0.25);
  assert.equal(d.dropout, 0, "an absent rate keeps the config's");
  assert.equal(c.rateDropout, 0, "the config itself is not changed");
  assert.deepEqual(checkDropoutRates(RATES), RATES);
  assert.throws(
    () => checkDropoutRates({ dropout: 1 }),
    /dropout rates\.dropout must be a number in \[0, 1\), found 1/,
  );
  assert.throws(
    () => checkDropoutRates({ embedDropout: -0.1 }),
    /embedDropout must be a number in \[0, 1\), found -0\.1/,
  );
  assert.throws(
    () => checkDropoutRates({ attnDropout: 0.1 } as never, { where: "x" }),
    /x: unknown key "attnDropout"; expected some of dropout, embedDropout, rateDropout/,
  );
  assert.throws(
    () => checkDropoutRates([0.1] as never),
    /must be an object of dropout, embedDropout, rateDropout, found \[0\.1\]/,
  );
});

Deno.test("apply ctx.dropout: training draws equal a model built with those rates, in both modes; inference ignores them", async () => {
  const plain = transformerFor(ds, { ...TINY_HYBRID }, { kind: "hybrid" });
  const rated = transformerFor(ds, { ...TINY_HYBRID, ...RATES }, { kind: "hybrid" });
  const params = plain.init(makeKey(1));
  const input = tf.randomUniform([3, ds.counts.shape[1], ds.heldIn.length], 0, 3, "int32", 7);
  const x = { input: tf.cast(input, "float32") };
  const k = makeKey(9);
  for (const mode of ["standard", "spiking"] as const) {
    const byCtx = await values(
      plain.apply(params, x, { training: true, key: k, mode, dropout: RATES }),
    );
    const byConfig = await values(rated.apply(params, x, { training: true, key: k, mode }));
    const none = await values(plain.apply(params, x, { training: true, key: k, mode }));
    assert.deepEqual(byCtx, byConfig, `${mode}: the call's rates are the config's, draw for draw`);
    assert.notDeepEqual(byCtx, none, `${mode}: the rates change the training output`);
    const inferCtx = await values(
      plain.apply(params, x, { training: false, mode, dropout: RATES }),
    );
    const infer = await values(plain.apply(params, x, { training: false, mode }));
    assert.deepEqual(inferCtx, infer, `${mode}: no dropout at inference`);
  }
  assert.throws(
    () => plain.apply(params, x, { training: true, mode: "standard", dropout: RATES }),
    /dropout in training mode needs ctx\.key/,
  );
  assert.throws(
    () => plain.apply(params, x, { training: false, dropout: { dropout: 2 } }),
    /apply context dropout\.dropout must be a number in \[0, 1\), found 2/,
  );
  tf.dispose([input, x.input]);
  disposeTree(params);
});

Deno.test("trainStep option dropout: the step equals the step of a model built with those rates", async () => {
  const plain = transformerFor(ds, { ...TINY_HYBRID }, { kind: "hybrid" });
  const rated = transformerFor(ds, { ...TINY_HYBRID, ...RATES }, { kind: "hybrid" });
  const opt = adamw({ lr: 1e-2 });
  const batch = maskedBatch(ds, ds.split.train.subarray(0, 4), { key: makeKey(2) });
  const run = (model: typeof plain, dropout?: typeof RATES) => {
    const params = plain.init(makeKey(3));
    return trainStep(model, { params, state: opt.init(params) }, batch, {
      optimizer: opt,
      key: makeKey(4),
      mode: "spiking",
      distill: 1,
      dropout,
    });
  };
  const a = await run(plain, RATES), b = await run(rated), c = await run(plain);
  assert.equal(a.loss, b.loss);
  assert.notEqual(a.loss, c.loss);
  await sameTrees(a.params, b.params, "params after the step");
  for (const r of [a, b, c]) {
    disposeTree(r.params);
    disposeTree(r.state.mu);
    disposeTree(r.state.nu);
  }
  tf.dispose([batch.input, batch.target, batch.weight, batch.mask]);
});

Deno.test("train option restartDropout: a restart runs the planned schedule again with the rates, the discarded steps not counted; a resume after it ends as uninterrupted; a run without a restart is untouched", async () => {
  const one = transformerFor(ds, { ...TINY_HYBRID, nLayers: 1 }, { kind: "hybrid" });
  const withRates: TrainOptions = { ...JUMPY, restartDropout: RATES };
  const zeroRates: TrainOptions = {
    ...JUMPY,
    restartDropout: { dropout: 0, embedDropout: 0, rateDropout: 0 },
  };
  const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();
  const seen: { mode: string; lr: number }[] = [];
  const a = await train(one, ds, {
    ...withRates,
    outDir: dirA,
    onStep: (i) => seen.push({ mode: i.mode, lr: i.lr }),
  });
  const zero = await train(one, ds, zeroRates);
  const plain = await train(one, ds, JUMPY);
  // part 1 (steps 0-2) is the plain restart run's; patience ends it after step 3's validation
  assert.deepEqual(a.history.slice(0, 3), plain.history.slice(0, 3));
  assert.equal(plain.standardFirst, 3);
  // the restart at step 3 begins the planned schedule again: 4 standard steps from step 3, the
  // same learning rates as steps 0-3, then the second part; 10 steps after the restart
  const end = await loadTrainState(`${dirA}/state.safetensors`);
  assert.equal(end.restartedAt, 3, "the state records where the run started over");
  for (const t of [end.params, end.opt.mu, end.opt.nu]) disposeTree(t);
  if (end.best) disposeTree(end.best);
  assert.ok(a.standardFirst > 3 && a.standardFirst <= 7, `first part ends at ${a.standardFirst}`);
  for (let i = 0; i < a.standardFirst - 3; i++) {
    assert.equal(seen[3 + i].mode, "standard");
    assert.equal(seen[3 + i].lr, seen[i].lr, `lr of the rerun's step ${i}`);
  }
  assert.equal(seen[a.standardFirst].mode, "standard", "the second part starts with standard");
  assert.equal(seen[a.standardFirst + 1].mode, "spiking");
  // the second part's schedule is planned over the 10 steps after the 3 discarded ones
  const o = resolveTrainOptions(withRates);
  const rest = 13 - a.standardFirst;
  const part2 = {
    totalSteps: rest,
    warmupSteps: Math.round(0.25 * rest),
    peakLr: 0.3,
    minLr: o.minLr,
  };
  for (let j = 0; a.standardFirst + j < seen.length; j++) {
    assert.equal(seen[a.standardFirst + j].lr, cosineWarmup(j, part2), `second part's step ${j}`);
  }
  assert.ok(a.stoppedEarly || a.stepsTaken === 13, `${a.stepsTaken} steps taken`);
  // step 3 runs at lr 0 (the warm-up) from the initial parameters, as the plain restart does: the
  // same standard score after it; the training loss shows the rates (zero rates: none)
  assert.equal(a.history[3].byMode.standard, plain.history[3].byMode.standard);
  assert.deepEqual(a.history[3].byMode, zero.history[3].byMode);
  assert.notEqual(a.history[3].trainLoss, zero.history[3].trainLoss);
  assert.notEqual(a.history[4].score, zero.history[4].score, "step 4 trains with the rates");
  // resume from the state after step 4 (the restart behind it): the same run
  await trainUntilCrash(one, ds, { ...withRates, outDir: dirB, at: 5 });
  const partial = await loadTrainState(`${dirB}/state.safetensors`);
  assert.equal(partial.step, 5);
  assert.equal(partial.restartedAt, 3);
  const b = await train(one, ds, { ...withRates, outDir: dirB, resumeFrom: partial });
  assert.deepEqual(b.history, a.history);
  assert.equal(b.stepsTaken, a.stepsTaken);
  const [ca, cb] = await Promise.all(
    [dirA, dirB].map((d) => Deno.readFile(`${d}/checkpoint.safetensors`)),
  );
  assert.deepEqual(cb, ca, "checkpoint.safetensors");
  // a first part still improving is kept: the rates are never used
  const full = { ...JUMPY, patience: 0, steps: 6 };
  const [c, d] = [
    await train(one, ds, full),
    await train(one, ds, { ...full, restartDropout: RATES }),
  ];
  assert.deepEqual(d.history, c.history);
  for (const t of [a.params, b.params, zero.params, plain.params, c.params, d.params]) {
    disposeTree(t);
  }
  for (const dir of [dirA, dirB]) await Deno.remove(dir, { recursive: true });
});

Deno.test("train option restartDropout: checks, and its absence keeps a run's options as before", () => {
  assert.equal("restartDropout" in resolveTrainOptions({}), false);
  assert.deepEqual(
    resolveTrainOptions({
      standardFirstFraction: 0.5,
      standardFirstEarlyEnd: "restart",
      restartDropout: RATES,
    })
      .restartDropout,
    RATES,
  );
  assert.throws(
    () => resolveTrainOptions({ restartDropout: RATES }),
    /"restartDropout" needs standardFirstEarlyEnd "restart" \(the rates apply after a restart\), found standardFirstEarlyEnd "unset"/,
  );
  assert.throws(
    () => resolveTrainOptions({ standardFirstEarlyEnd: "restart", restartDropout: {} }),
    /"restartDropout" must set at least one of dropout, embedDropout, rateDropout/,
  );
  assert.throws(
    () =>
      resolveTrainOptions({ standardFirstEarlyEnd: "restart", restartDropout: { dropout: 1.5 } }),
    /train option "restartDropout"\.dropout must be a number in \[0, 1\), found 1\.5/,
  );
  assert.throws(
    () => checkTrainOverrides({ restartDropout: { drop: 0.1 } }),
    /train option "restartDropout": unknown key "drop"/,
  );
  // a config's overrides are checked alone; the checks between options wait for the preset's
  assert.equal(checkTrainOverrides({ restartDropout: RATES }), undefined);
});
