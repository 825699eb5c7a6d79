// The standard-first schedule (train option standardFirstFraction): the modes and step counts of
// each step, a learning-rate schedule per part, a fresh best, patience ending the first part (the
// second then starts from its best) and stopping the run only in the second part, the option's
// checks, the second part's peak lr (secondPartLrScale), and a resume at the boundary of the two
// parts.
import assert from "node:assert/strict";
import { useBackend } from "../lib/core/backend.ts";
import { disposeTree, type Params } from "../lib/core/tree.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { transformerFor } from "../lib/experiments/presets.ts";
import { modeOfStep, stepOfMode } from "../lib/train/diagnostics.ts";
import { train } from "../lib/train/train.ts";
import { validationScore } from "../lib/train/predict.ts";
import { key as makeKey, split } from "../lib/core/random.ts";
import {
  checkTrainOverrides,
  resolveTrainOptions,
  type TrainOptions,
} from "../lib/train/train_options.ts";
import { loadTrainState } from "../lib/train/train_state.ts";
import { JUMPY, TINY_HYBRID, tinyLorenz, trainUntilCrash } from "./_train_util.ts";

await useBackend("cpu");

const ds = tinyLorenz();
const tiny = TINY_HYBRID;

/** The two runs' `checkpoint.safetensors` are equal byte for byte; then free and remove both. */
async function sameCheckpointsThenClean(dirs: string[], params: Params[]): Promise<void> {
  const [ca, cb] = await Promise.all(dirs.map((d) => Deno.readFile(`${d}/checkpoint.safetensors`)));
  assert.deepEqual(cb, ca, "checkpoint.safetensors");
  for (const t of params) disposeTree(t);
  for (const d of dirs) await Deno.remove(d, { recursive: true });
}

Deno.test("modeOfStep, stepOfMode with standardFirst: standard steps, then the schedule from its start", () => {
  const letters = (n: number, shape: Parameters<typeof modeOfStep>[1]) =>
    Array.from({ length: n }, (_, s) => modeOfStep(s, shape) === "standard" ? "S" : "K").join("");
  const f3 = { schedule: "alternate" as const, standardFirst: 3 };
  assert.equal(letters(8, f3), "SSSSKSKS");
  // standard counts go on from the first part, spiking counts start at 0
  assert.deepEqual(Array.from({ length: 8 }, (_, s) => stepOfMode(s, f3)), [
    0,
    1,
    2,
    3,
    0,
    4,
    1,
    5,
  ]);
  const f2r2 = { schedule: "alternate" as const, standardFirst: 2, standardPerSpiking: 2 };
  assert.equal(letters(8, f2r2), "SSSSKSSK");
  const spk = { schedule: "spiking" as const, standardFirst: 2 };
  assert.equal(letters(5, spk), "SSKKK");
  assert.deepEqual(Array.from({ length: 5 }, (_, s) => stepOfMode(s, spk)), [0, 1, 0, 1, 2]);
  // 0 is the plain schedule
  assert.equal(letters(4, { schedule: "alternate", standardFirst: 0 }), "SKSK");
});

Deno.test("train option standardFirstFraction: modes, a learning-rate schedule per part, a fresh best, and patience ending the first part from its best", async () => {
  const model = transformerFor(ds, tiny, { kind: "hybrid" });
  const seen: { mode: string; lr: number }[] = [];
  const res = await train(model, ds, {
    steps: 10,
    standardFirstFraction: 0.4,
    batchSize: 4,
    lr: 1e-2,
    warmupFraction: 0.25,
    evalEvery: 2,
    patience: 0,
    modeSchedule: "alternate",
    onStep: (i) => seen.push({ mode: i.mode, lr: i.lr }),
  });
  disposeTree(res.params);
  assert.equal(seen.map((x) => x.mode[1]).join(""), "tttttptptp");
  // part 1: 4 steps, warm-up round(0.25·4) = 1; part 2: 6 steps, warm-up round(1.5) = 2
  const cos = (s: number, w: number, n: number) =>
    s < w ? 1e-2 * s / w : 0.5 * 1e-2 * (1 + Math.cos(Math.PI * Math.min(1, (s - w) / (n - w))));
  const want = [0, 1, 2, 3].map((s) => cos(s, 1, 4)).concat(
    [0, 1, 2, 3, 4, 5].map((s) => cos(s, 2, 6)),
  );
  seen.forEach((x, i) => assert.ok(Math.abs(x.lr - want[i]) < 1e-12, `lr at step ${i}`));
  assert.equal(seen[4].lr, 0, "the schedule restarts at the second part");
  // validations at steps 2 and 4 score the standard mode only; later ones both modes
  assert.deepEqual(res.history.map((h) => Object.keys(h.byMode).sort().join("+")), [
    "standard",
    "standard",
    "spiking+standard",
    "spiking+standard",
    "spiking+standard",
  ]);
  // the best comes from the second part, whatever the first part scored
  assert.ok(res.bestStep > 4, `best step ${res.bestStep}`);
  const part2 = res.history.filter((h) => h.step > 4);
  assert.equal(res.bestScore, Math.max(...part2.map((h) => h.score)));
  // patience in the first part ends the part, not the run: its step-3 validation is below step
  // 2's, so the second part starts at step 3, from the step-2 parameters
  const one = transformerFor(ds, { ...tiny, nLayers: 1 }, { kind: "hybrid" });
  const jumpyModes: string[] = [];
  const jumpyLr: number[] = [];
  const jumpy = await train(one, ds, {
    ...JUMPY,
    onStep: (i) => {
      jumpyModes.push(i.mode[1]);
      jumpyLr.push(i.lr);
    },
  });
  disposeTree(jumpy.params);
  const h = jumpy.history;
  assert.ok(h[1].score >= h[0].score && h[2].score < h[1].score, "step 2 is part 1's best");
  assert.equal(jumpy.standardFirst, 3);
  assert.equal(jumpyModes.slice(0, 5).join(""), "ttttp", "part 2 alternates from step 3");
  // part 2's schedule is planned over its 7 steps (warm-up round(0.25·7) = 2), so step 3 takes
  // lr 0 and leaves the parameters as they were: step 4's validation scores the parameters part
  // 2 started from, which are part 1's best (step 2), not its last (step 3)
  assert.equal(jumpyLr[3], 0);
  assert.ok(Math.abs(jumpyLr[4] - cos(1, 2, 7) * 0.3 / 1e-2) < 1e-12, "lr at step 4");
  assert.deepEqual(Object.keys(h[3].byMode).sort(), ["spiking", "standard"]);
  assert.equal(h[3].byMode.standard, h[1].byMode.standard);
  assert.notEqual(h[3].byMode.standard, h[2].byMode.standard);
  // then early stopping in the second part, at its first validation without a gain
  const firstNoGain = h.findIndex((r, i) =>
    i > 3 && r.score <= Math.max(...h.slice(3, i).map((x) => x.score))
  );
  assert.equal(jumpy.stoppedEarly, firstNoGain >= 0);
  if (firstNoGain >= 0) assert.equal(jumpy.stepsTaken, h[firstNoGain].step);
  // bad values name the option and the range
  assert.throws(
    () => resolveTrainOptions({ standardFirstFraction: 1 }),
    /"standardFirstFraction" must be in \[0, 1\), found 1/,
  );
  assert.throws(() => resolveTrainOptions({ standardFirstFraction: -0.1 }), /found -0\.1/);
  await assert.rejects(
    train(model, ds, { steps: 4, standardFirstFraction: 0.5, modeSchedule: "standard" }),
    /"standardFirstFraction" needs modeSchedule "alternate" or "spiking".*found "standard"/,
  );
  // a short run keeps a step for the schedule: 0.9 of 2 steps rounds to 2, and 1 is trained
  const modes: string[] = [];
  const short = await train(model, ds, {
    steps: 2,
    standardFirstFraction: 0.9,
    batchSize: 4,
    modeSchedule: "spiking",
    onStep: (i) => modes.push(i.mode),
  });
  disposeTree(short.params);
  assert.deepEqual(modes, ["standard", "spiking"]);
  assert.equal("standardFirstFraction" in resolveTrainOptions({}), false);
  assert.equal(checkTrainOverrides({ standardFirstFraction: 0.5 }), undefined);
});

Deno.test("train option secondPartLrScale: the second part's peak lr is that fraction of lr, also when patience moved the part's start", async () => {
  const model = transformerFor(ds, tiny, { kind: "hybrid" });
  const lrs: number[] = [];
  const res = await train(model, ds, {
    steps: 10,
    standardFirstFraction: 0.4,
    secondPartLrScale: 0.25,
    batchSize: 4,
    lr: 1e-2,
    warmupFraction: 0.25,
    evalEvery: 5,
    patience: 0,
    modeSchedule: "alternate",
    onStep: (i) => lrs.push(i.lr),
  });
  disposeTree(res.params);
  const cos = (s: number, w: number, n: number, peak: number) =>
    s < w ? peak * s / w : 0.5 * peak * (1 + Math.cos(Math.PI * Math.min(1, (s - w) / (n - w))));
  // part 1 (4 steps) at the full lr, part 2 (6 steps, warm-up 2) at a quarter of it: its peak
  // (step 6) is 2.5e-3
  const want = [0, 1, 2, 3].map((s) => cos(s, 1, 4, 1e-2)).concat(
    [0, 1, 2, 3, 4, 5].map((s) => cos(s, 2, 6, 2.5e-3)),
  );
  lrs.forEach((lr, i) => assert.ok(Math.abs(lr - want[i]) < 1e-12, `lr at step ${i}: ${lr}`));
  assert.ok(Math.abs(lrs[6] - 2.5e-3) < 1e-12);
  // when patience ends part 1 early, part 2 is planned again over the steps left, at the scale
  const one = transformerFor(ds, { ...tiny, nLayers: 1 }, { kind: "hybrid" });
  const jumpyLr: number[] = [];
  const jumpy = await train(one, ds, {
    ...JUMPY,
    secondPartLrScale: 0.5,
    onStep: (i) => jumpyLr.push(i.lr),
  });
  disposeTree(jumpy.params);
  assert.equal(jumpy.standardFirst, 3);
  assert.ok(Math.abs(jumpyLr[4] - cos(1, 2, 7, 0.3 * 0.5)) < 1e-12, `lr at step 4: ${jumpyLr[4]}`);
  // checks: a range, and a second part to scale
  assert.throws(
    () => resolveTrainOptions({ standardFirstFraction: 0.5, secondPartLrScale: 0 }),
    /"secondPartLrScale" must be in \(0, 10\], found 0/,
  );
  assert.throws(
    () => resolveTrainOptions({ secondPartLrScale: 0.5 }),
    /"secondPartLrScale" needs "standardFirstFraction" > 0 \(a second part\), found standardFirstFraction unset/,
  );
  assert.equal("secondPartLrScale" in resolveTrainOptions({}), false);
  assert.equal(
    checkTrainOverrides({ standardFirstFraction: 0.5, secondPartLrScale: 0.25 }),
    undefined,
  );
});

Deno.test("resume: at the boundary of standardFirstFraction's two parts, the run ends as uninterrupted", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset({ conditions: 4, trialsPerCondition: 10, bins: 16, forwardBins: 4 });
  const model = transformerFor(ds, { dModel: 8, nLayers: 1, nHeads: 2, dFF: 16, timesteps: 2 }, {
    kind: "hybrid",
  });
  const staged: TrainOptions = {
    steps: 8,
    standardFirstFraction: 0.5,
    lr: 5e-3,
    batchSize: 8,
    evalEvery: 2,
    checkpointEvery: 2,
    patience: 0,
    seed: 5,
    modeSchedule: "alternate",
  };
  const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();
  const a = await train(model, ds, { ...staged, outDir: dirA });
  // crash in step index 5: the last state is the one after step 4, the first part's end
  await trainUntilCrash(model, ds, { ...staged, outDir: dirB, at: 5 });
  const partial = await loadTrainState(`${dirB}/state.safetensors`);
  assert.equal(partial.step, 4);
  assert.ok(partial.bestStep <= 4, "the saved best is the first part's");
  const b = await train(model, ds, { ...staged, outDir: dirB, resumeFrom: partial });
  assert.equal(b.bestStep, a.bestStep);
  assert.ok(b.bestStep > 4, `best step ${b.bestStep}: not from the second part`);
  assert.equal(b.bestScore, a.bestScore);
  await sameCheckpointsThenClean([dirA, dirB], [a.params, b.params]);
});

Deno.test("resume: after patience ended the first part early, the run ends as uninterrupted", async () => {
  const one = transformerFor(ds, { ...tiny, nLayers: 1 }, { kind: "hybrid" });
  // the first test's jumpy run: part 1 (planned 4 steps) ends after step 3's validation
  const jumpy = JUMPY;
  const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();
  const a = await train(one, ds, { ...jumpy, outDir: dirA });
  assert.equal(a.standardFirst, 3);
  // crash in step index 4, the second step of part 2: the last state is the one after step 3
  await trainUntilCrash(one, ds, { ...jumpy, outDir: dirB, at: 4 });
  const partial = await loadTrainState(`${dirB}/state.safetensors`);
  assert.equal(partial.step, 4);
  assert.equal(partial.standardFirst, 3, "the state keeps where part 1 ended");
  const b = await train(one, ds, { ...jumpy, outDir: dirB, resumeFrom: partial });
  assert.equal(b.standardFirst, 3);
  assert.deepEqual(b.history, a.history);
  assert.equal(b.bestStep, a.bestStep);
  await sameCheckpointsThenClean([dirA, dirB], [a.params, b.params]);
});

Deno.test('train option standardFirstEarlyEnd "restart": a part that patience ended is discarded, the second starts from the initial parameters; a resume across it ends as uninterrupted', async () => {
  const one = transformerFor(ds, { ...tiny, nLayers: 1 }, { kind: "hybrid" });
  const restart: TrainOptions = { ...JUMPY, standardFirstEarlyEnd: "restart" };
  const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();
  const a = await train(one, ds, { ...restart, outDir: dirA });
  assert.equal(a.standardFirst, 3, "patience ends part 1 after step 3, as in the jumpy run");
  // step 3 is part 2's first, at lr 0 (its warm-up): step 4's validation scores the parameters
  // part 2 started from, which are the initialisation (the run's key), not part 1's best
  const init = one.init(split(makeKey(JUMPY.seed ?? 0))[0]);
  const initScore = await validationScore(one, init, ds, {
    trials: ds.split.val,
    mode: "standard",
  });
  disposeTree(init);
  const h = a.history;
  assert.equal(h[3].byMode.standard, initScore.score);
  assert.notEqual(h[3].byMode.standard, h[1].byMode.standard, "not part 1's best");
  // fresh moments and per-parameter counts, but the global step (the lr schedule's) goes on
  const end = await loadTrainState(`${dirA}/state.safetensors`);
  assert.equal(end.opt.step, a.stepsTaken);
  const counts = Object.values(end.opt.paramSteps);
  assert.equal(Math.max(...counts), a.stepsTaken - 3, "counts start at the restart");
  disposeTree(end.params);
  disposeTree(end.opt.mu);
  disposeTree(end.opt.nu);
  if (end.best) disposeTree(end.best);
  // crash in step index 3, the restart: the last state is part 1's end (3 steps)
  await trainUntilCrash(one, ds, { ...restart, outDir: dirB, at: 3 });
  const partial = await loadTrainState(`${dirB}/state.safetensors`);
  assert.equal(partial.step, 3);
  assert.equal(partial.standardFirst, 3);
  const b = await train(one, ds, { ...restart, outDir: dirB, resumeFrom: partial });
  assert.deepEqual(b.history, a.history);
  await sameCheckpointsThenClean([dirA, dirB], [a.params, b.params]);
  // patience firing at the part's planned end restarts too: validations at step 4 (the best)
  // and 5 (the part's last, lower) with patience 1; the counts then start at step 5
  const atEnd: TrainOptions = { ...restart, standardFirstFraction: 0.5, evalEvery: 4 };
  const dirC = await Deno.makeTempDir();
  const e = await train(one, ds, { ...atEnd, outDir: dirC });
  assert.deepEqual(e.history.slice(0, 2).map((r) => r.step), [4, 5]);
  assert.ok(e.history[1].score < e.history[0].score, "step 5 is below step 4");
  assert.equal(e.standardFirst, 5, "the part ran its planned length");
  const endE = await loadTrainState(`${dirC}/state.safetensors`);
  assert.equal(Math.max(...Object.values(endE.opt.paramSteps)), e.stepsTaken - 5);
  for (const t of [e.params, endE.params, endE.opt.mu, endE.opt.nu]) disposeTree(t);
  if (endE.best) disposeTree(endE.best);
  await Deno.remove(dirC, { recursive: true });
  // a part still improving within its last `patience` validations continues, restart or not
  const full = { ...JUMPY, patience: 0, steps: 6 };
  const [c, d] = [
    await train(one, ds, full),
    await train(one, ds, { ...full, standardFirstEarlyEnd: "restart" }),
  ];
  assert.deepEqual(d.history, c.history);
  disposeTree(c.params);
  disposeTree(d.params);
  assert.throws(
    () => resolveTrainOptions({ standardFirstEarlyEnd: "first" as "best" }),
    /"standardFirstEarlyEnd" must be "best" or "restart", found "first"/,
  );
  assert.equal(checkTrainOverrides({ standardFirstEarlyEnd: "restart" }), undefined);
});
