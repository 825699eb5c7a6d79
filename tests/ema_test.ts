// The parameter average of the `emaDecay` train option (lib/train/ema.ts). Checked: the decay's
// warm-up and one update against hand-computed values; a two-step run returns exactly the
// average of the parameters that runs without it take (computed here from those runs); the
// average restarts where the second part starts; a run with it resumes bit for bit; refusals.
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { disposeTree, flatten, mapTree, type Params } from "../lib/core/tree.ts";
import { key as makeKey } from "../lib/core/random.ts";
import { transformerFor } from "../lib/experiments/presets.ts";
import { emaDecayAt, emaUpdate } from "../lib/train/ema.ts";
import { train } from "../lib/train/train.ts";
import {
  checkTrainOverrides,
  resolveTrainOptions,
  type TrainOptions,
} from "../lib/train/train_options.ts";
import { disposeTrainState, loadTrainState } from "../lib/train/train_state.ts";
import { assertSameBits, TINY_HYBRID, tinyLorenz, trainUntilCrash } from "./_train_util.ts";

await useBackend("cpu");

const ds = tinyLorenz();

async function leaves(p: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const l of flatten(p)) out.set(l.path, (await l.tensor.data()) as Float32Array);
  return out;
}

Deno.test("emaDecayAt: min(d, (1 + n) / (10 + n)); emaUpdate: ema + (1 − d)(p − ema), by hand", async () => {
  assert.equal(emaDecayAt(0, { decay: 0.999 }), 0.1);
  assert.equal(emaDecayAt(1, { decay: 0.999 }), 2 / 11);
  assert.equal(emaDecayAt(8990, { decay: 0.999 }), 0.999, "(1 + n)/(10 + n) passes d at n = 8990");
  assert.equal(emaDecayAt(5, { decay: 0.2 }), 0.2);
  assert.equal(emaDecayAt(3, { decay: 0 }), 0);
  const ema = { a: { w: tf.tensor1d([0, 1]) }, b: tf.tensor2d([[2]]) };
  const p = { a: { w: tf.tensor1d([10, -9]) }, b: tf.tensor2d([[4]]) };
  // n = 4: d = min(0.9, 5/14) = 5/14, so ema moves 9/14 of the way to p
  const next = emaUpdate(ema, p, { decay: 0.9, updates: 4 });
  const v = await leaves(next);
  const f = 9 / 14;
  assert.ok(Math.abs(v.get("a.w")![0] - 10 * f) < 1e-6);
  assert.ok(Math.abs(v.get("a.w")![1] - (1 - 10 * f)) < 1e-6);
  assert.ok(Math.abs(v.get("b")![0] - (2 + 2 * f)) < 1e-6);
  assert.deepEqual(Array.from(await ema.a.w.data()), [0, 1], "the inputs are not changed");
  assert.throws(
    () => emaUpdate(ema, { a: { w: tf.tensor1d([1, 2, 3]) }, b: p.b }, { decay: 0.9, updates: 0 }),
    /same paths and shapes, found \[a\.w 2; b 1,1\] and \[a\.w 3; b 1,1\]/,
  );
  assert.throws(
    () => emaDecayAt(0, { decay: 1 }),
    /EMA decay: expected a number in \[0, 1\), found 1/,
  );
  assert.throws(() => emaDecayAt(-1, { decay: 0.5 }), /EMA updates: expected an integer >= 0/);
  disposeTree(next);
  disposeTree(ema);
  disposeTree(p);
});

// constant lr, no dropout: a run of 1 step and a run of 2 steps take the same first step
const CONST: TrainOptions = {
  batchSize: 4,
  lr: 0.05,
  minLr: 0.05,
  warmupFraction: 0,
  patience: 0,
  seed: 3,
};

Deno.test("train emaDecay: validation, the checkpoint and the result are the average of the raw parameters", async () => {
  const model = transformerFor(ds, { ...TINY_HYBRID }, { kind: "hybrid" });
  const p0 = model.init(makeKey(11));
  const run = (steps: number, extra: TrainOptions = {}) =>
    train(model, ds, {
      ...CONST,
      steps,
      evalEvery: steps,
      initialParams: mapTree(p0, (t) => t.clone()),
      ...extra,
    });
  // the raw parameters after 1 and 2 steps (each run's one validation keeps its last step)
  const r1 = await run(1), r2 = await run(2);
  const dir = await Deno.makeTempDir();
  const e = await run(2, { emaDecay: 0.5, outDir: dir });
  // two updates: d = 0.1 (n = 0) then 2/11 (n = 1)
  const [a0, a1, a2, got] = await Promise.all([p0, r1.params, r2.params, e.params].map(leaves));
  const d0 = 0.1, d1 = 2 / 11;
  let maxErr = 0, moved = 0;
  for (const [k, x0] of a0) {
    const x1 = a1.get(k)!, x2 = a2.get(k)!, g = got.get(k)!;
    for (let i = 0; i < x0.length; i++) {
      const want = d1 * (d0 * x0[i] + (1 - d0) * x1[i]) + (1 - d1) * x2[i];
      maxErr = Math.max(maxErr, Math.abs(g[i] - want));
      moved = Math.max(moved, Math.abs(g[i] - x2[i]));
    }
  }
  assert.ok(maxErr < 1e-6, `average off by ${maxErr}`);
  assert.ok(moved > 1e-3, `the average must differ from the raw parameters (max ${moved})`);
  // the validation scored the average (a different number from the raw run's), and the state
  // keeps the raw parameters beside it
  assert.notEqual(e.bestScore, r2.bestScore);
  const s = await loadTrainState(`${dir}/state.safetensors`);
  assert.equal(s.emaUpdates, 2);
  await assertSameBits(s.params, r2.params, "the raw parameters go on as without the average");
  await assertSameBits(s.ema!, e.params, "state.ema is the returned average");
  for (const t of [p0, r1.params, r2.params, e.params]) disposeTree(t);
  disposeTrainState(s);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train emaDecay: the average starts again where the second part starts; resume is bit for bit", async () => {
  const model = transformerFor(ds, { ...TINY_HYBRID }, { kind: "hybrid" });
  const o: TrainOptions = {
    steps: 10,
    batchSize: 4,
    lr: 0.01,
    evalEvery: 2,
    checkpointEvery: 2,
    patience: 0,
    modeSchedule: "alternate",
    standardFirstFraction: 0.4,
    emaDecay: 0.9,
    seed: 5,
  };
  const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();
  const a = await train(model, ds, { ...o, outDir: dirA });
  const sa = await loadTrainState(`${dirA}/state.safetensors`);
  assert.equal(a.standardFirst, 4);
  assert.equal(sa.emaUpdates, 6, "6 updates after the switch at step 4, none before counted");
  await trainUntilCrash(model, ds, { ...o, outDir: dirB, at: 7 });
  const partial = await loadTrainState(`${dirB}/state.safetensors`);
  assert.equal(partial.step, 6);
  assert.equal(partial.emaUpdates, 2);
  const b = await train(model, ds, { ...o, outDir: dirB, resumeFrom: partial });
  assert.deepEqual(b.history, a.history);
  await assertSameBits(b.params, a.params, "best");
  const sb = await loadTrainState(`${dirB}/state.safetensors`);
  await assertSameBits(sb.ema!, sa.ema!, "average");
  // a state without the average ends elsewhere: the test can fail
  const again = await loadTrainState(`${dirB}/state.safetensors`);
  await assert.rejects(
    train(model, ds, { ...o, emaDecay: 0.8, outDir: dirB, resumeFrom: again }),
    /emaDecay: saved 0\.9, now 0\.8/,
  );
  disposeTrainState(again);
  for (const t of [a.params, b.params]) disposeTree(t);
  for (const s of [sa, sb]) disposeTrainState(s);
  await Deno.remove(dirA, { recursive: true });
  await Deno.remove(dirB, { recursive: true });
});

Deno.test("train emaDecay: out of range is refused by name; absent, the run's options do not carry it", () => {
  assert.throws(
    () => resolveTrainOptions({ emaDecay: 1 }),
    /train option "emaDecay" must be in \[0, 1\), found 1/,
  );
  assert.throws(
    () => resolveTrainOptions({ emaDecay: "0.9" as unknown as number }),
    /train option "emaDecay" must be in \[0, 1\), found "0\.9"/,
  );
  assert.equal("emaDecay" in resolveTrainOptions({}), false);
  assert.equal(resolveTrainOptions({ emaDecay: 0.999 }).emaDecay, 0.999);
  // a run config's "train" object may set it
  assert.equal(checkTrainOverrides({ emaDecay: 0.999 }), undefined);
});
