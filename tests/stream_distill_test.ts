// Feature distillation between the modes (`distillFeatures`): the loss against its formula and
// finite differences, the model's stream taps, and the train option's effect and refusals.
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { adamw } from "../lib/train/optim.ts";
import { transformerFor } from "../lib/experiments/presets.ts";
import { key } from "../lib/core/random.ts";
import { train, trainStep } from "../lib/train/train.ts";
import { streamDistillLoss } from "../lib/train/losses.ts";
import { resolveTrainOptions } from "../lib/train/train_options.ts";
import { disposeTree, flatten } from "../lib/core/tree.ts";
import { TINY_HYBRID } from "./_train_util.ts";

await useBackend("cpu");

/** The loss by hand: standardise each row (population variance, ε 1e-5), mean squared gap. */
function byHand(s: number[][], t: number[][]): number {
  const std = (r: number[]) => {
    const m = r.reduce((a, b) => a + b, 0) / r.length;
    const v = r.reduce((a, b) => a + (b - m) ** 2, 0) / r.length;
    return r.map((x) => (x - m) / Math.sqrt(v + 1e-5));
  };
  let sum = 0, n = 0;
  s.forEach((row, i) => {
    const a = std(row), b = std(t[i]);
    a.forEach((x, j) => {
      sum += (x - b[j]) ** 2;
      n++;
    });
  });
  return sum / n;
}

Deno.test("streamDistillLoss: the formula, scale and shift invariance, the mean over streams", () => {
  const t = [[1, 2, 3, 5], [0, -1, 4, 2]];
  const s = [[2, 1, 3, 3], [1, 1, 2, 0]];
  const one = streamDistillLoss({ a: tf.tensor2d(s) }, { a: tf.tensor2d(t) }).dataSync()[0];
  assert.ok(Math.abs(one - byHand(s, t)) < 1e-5, `${one} vs ${byHand(s, t)}`);
  // ŝ does not change when a row is scaled and shifted
  const scaled = s.map((r) => r.map((x) => 3 * x + 7));
  const same = streamDistillLoss({ a: tf.tensor2d(scaled) }, { a: tf.tensor2d(t) }).dataSync()[0];
  assert.ok(Math.abs(same - one) < 1e-4);
  const rev = streamDistillLoss({ a: tf.tensor2d([[3, 2, 1]]) }, { a: tf.tensor2d([[1, 2, 3]]) });
  assert.ok(Math.abs(rev.dataSync()[0] - 4) < 1e-4);
  const two = streamDistillLoss(
    { a: tf.tensor2d(s), b: tf.tensor2d(t) },
    { a: tf.tensor2d(t), b: tf.tensor2d(t) },
  ).dataSync()[0];
  assert.ok(Math.abs(two - one / 2) < 1e-5, "the mean over streams (b matches: 0)");
});

Deno.test("streamDistillLoss: its gradient matches central finite differences", () => {
  const t = tf.tensor2d([[0.3, -1.2, 2.0, 0.7, 1.1], [1.5, 0.2, -0.4, 0.9, -2.0]]);
  const s0 = [0.9, 0.1, 1.3, -0.6, 0.4, -0.3, 1.7, 0.8, -1.1, 0.5];
  const f = (v: number[]) =>
    tf.tidy(() => streamDistillLoss({ a: tf.tensor2d(v, [2, 5]) }, { a: t }).dataSync()[0]);
  const g = tf.grad((x: tf.Tensor) => streamDistillLoss({ a: x }, { a: t }))(
    tf.tensor2d(s0, [2, 5]),
  ).dataSync();
  const h = 1e-2;
  s0.forEach((_, i) => {
    const up = [...s0], dn = [...s0];
    up[i] += h;
    dn[i] -= h;
    const fd = (f(up) - f(dn)) / (2 * h);
    assert.ok(Math.abs(g[i] - fd) < 2e-3 * (1 + Math.abs(fd)), `[${i}] ${g[i]} vs ${fd}`);
  });
});

Deno.test("streamDistillLoss: missing or misshaped streams are refused by name", () => {
  const t = { block0: tf.ones([2, 3]), block1: tf.ones([2, 3]) };
  assert.throws(
    () => streamDistillLoss({ block0: tf.ones([2, 3]) }, t),
    /no stream "block1"; it has block0/,
  );
  assert.throws(
    () => streamDistillLoss({ block0: tf.ones([2, 3]), block1: tf.ones([3, 2]) }, t),
    /"block1" must have the teacher's shape \[2,3\], found \[3,2\]/,
  );
  assert.throws(() => streamDistillLoss({}, {}), /the teacher has no streams/);
});

const small = { conditions: 4, trialsPerCondition: 6, bins: 12, forwardBins: 3, seed: 1 };
const tiny = {
  ...TINY_HYBRID,
  dModel: 16,
  nLayers: 2,
  dFF: 32,
  timesteps: 4,
  residual: "membrane" as const,
  lif: { vReset: null },
};

Deno.test("taps: the stream after every block, [B, L, D] in both modes (spiking: the mean over T)", () => {
  const ds = lorenzDataset(small);
  const model = transformerFor(ds, tiny, { kind: "hybrid" });
  const params = model.init(key(0));
  const batch = maskedBatch(ds, Int32Array.from(ds.split.train.slice(0, 3)), { key: key(1) });
  const input = batch.input;
  for (const mode of ["standard", "spiking"] as const) {
    const got: Record<string, number[]> = {};
    model.apply(params, { input }, {
      training: false,
      mode,
      taps: {
        record(name, x) {
          got[name] = x.shape;
        },
      },
    }).dispose();
    const L = model.config.bins + model.config.forwardBins;
    assert.deepEqual(got, { block0: [3, L, 16], block1: [3, L, 16] }, mode);
  }
  disposeBatch(batch);
});

Deno.test("trainStep: distillFeatures adds λ_f · the stream loss in spiking steps only", async () => {
  const ds = lorenzDataset(small);
  const model = transformerFor(ds, tiny, { kind: "hybrid" });
  const optimizer = adamw({ lr: 1e-3 });
  const batch = maskedBatch(ds, Int32Array.from(ds.split.train.slice(0, 5)), { key: key(1) });
  const step = async (mode: "standard" | "spiking", distillFeatures: number) => {
    const params = model.init(key(0));
    const r = await trainStep(model, { params, state: optimizer.init(params) }, batch, {
      optimizer,
      key: key(2),
      mode,
      distillFeatures,
    });
    const w = Array.from(
      await flatten(r.params).find((l) => l.path === "blocks.0.ff1.w")!.tensor.data(),
    );
    disposeTree(r.params);
    disposeTree(r.state.mu);
    disposeTree(r.state.nu);
    return { loss: r.loss, w, gradNorm: r.gradNorm };
  };
  const before = tf.memory().numTensors;
  const off = await step("spiking", 0), on = await step("spiking", 0.5);
  // the term by hand, from the two modes' streams on the same input
  const fresh = model.init(key(0));
  const x = { input: batch.input, inputMask: batch.mask };
  const streams = (mode: "standard" | "spiking", training: boolean) => {
    const out: Record<string, tf.Tensor> = {};
    model.apply(fresh, x, {
      training,
      mode,
      key: key(2),
      taps: { record: (n, t) => void (out[n] = tf.keep(t)) },
    }).dispose();
    return out;
  };
  const teacher = streams("standard", false), student = streams("spiking", true);
  const termT = streamDistillLoss(student, teacher);
  const term = termT.dataSync()[0];
  termT.dispose();
  assert.ok(term > 0.01, `the modes' streams differ at the initialisation: ${term}`);
  assert.ok(
    Math.abs(on.loss - (off.loss + 0.5 * term)) < 1e-4 * on.loss,
    `${on.loss} vs ${off.loss} + 0.5·${term}`,
  );
  // (Adam's first update is ±lr where the gradient's sign holds, so compare the gradients)
  assert.notEqual(on.gradNorm, off.gradNorm, "the term changes the gradient");
  tf.dispose([...Object.values(teacher), ...Object.values(student)]);
  disposeTree(fresh);
  // standard steps do not read it
  const s0 = await step("standard", 0), s1 = await step("standard", 0.5);
  assert.equal(s1.loss, s0.loss);
  assert.deepEqual(s1.w, s0.w);
  assert.equal(s1.gradNorm, s0.gradNorm);
  assert.equal(tf.memory().numTensors, before, "no tensors leak from the steps");
  disposeBatch(batch);
});

Deno.test("distillFeatures: absent from resolved options unless given; bad values refused", async () => {
  assert.equal("distillFeatures" in resolveTrainOptions({}), false);
  assert.equal(resolveTrainOptions({ distillFeatures: 0.3 }).distillFeatures, 0.3);
  const ds = lorenzDataset(small);
  await assert.rejects(
    () =>
      train(transformerFor(ds, tiny, { kind: "hybrid" }), ds, { steps: 1, distillFeatures: -1 }),
    /"distillFeatures" must be >= 0/,
  );
});
