import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import type { HybridConfig } from "../lib/model/config.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { evaluate } from "../lib/eval/evaluate.ts";
import { adamw, type OptState } from "../lib/train/optim.ts";
import { key } from "../lib/core/random.ts";
import { predict } from "../lib/train/predict.ts";
import { train, trainStep } from "../lib/train/train.ts";
import { disposeTree, flatten, type Params } from "../lib/core/tree.ts";

await useBackend("wasm");

const base: HybridConfig = {
  nInputs: 4,
  nOutputs: 6,
  bins: 8,
  forwardBins: 2,
  dModel: 16,
  nHeads: 2,
  nLayers: 2,
  dFF: 32,
  dropout: 0,
  embedDropout: 0,
  rateDropout: 0,
  timesteps: 3,
};

const variants: [string, Partial<HybridConfig>][] = [
  ["basic", {}],
  ["conv attention", { attention: "conv", convKernel: 3 }],
  ["causal conv + local window", { attention: "conv", causal: true, localWindow: 3 }],
  ["cpg concat", { cpg: { dims: 8 } }],
  ["cpg add", { cpg: { fusion: "add" } }],
  ["tim", { tim: {} }],
  ["sew iand", { residual: "iand" }],
  ["membrane shortcut", { residual: "membrane" }],
  ["rsm random", { rsm: { ratio: [0.5, 0.25] } }],
  ["rsm spatial", { rsm: { ratio: 0.5, mode: "spatial" } }],
  ["rsm temporal", { rsm: { ratio: 0.5, mode: "temporal" } }],
  ["negative binomial", { likelihood: "negbinomial" }],
];

Deno.test("hybrid: every switch runs in both modes from the same parameters, with finite gradients", async () => {
  const x = tf.tensor3d(Array.from({ length: 3 * 8 * 4 }, (_, i) => (i * 7) % 3), [3, 8, 4]);
  const ds = lorenzDataset({
    conditions: 2,
    trialsPerCondition: 4,
    neurons: 6,
    bins: 8,
    forwardBins: 2,
    heldOutFraction: 0.34,
  });
  for (const [name, cfg] of variants) {
    const m = hybridTransformer({ ...base, ...cfg });
    const p = m.init(key(1));
    const stats: Record<string, number> = {};
    for (const mode of ["standard", "spiking"] as const) {
      const y = m.apply(p, { input: x }, {
        training: false,
        mode,
        key: key(9),
        stats: { record: (n, s) => (stats[n] = s.mean().dataSync()[0]) },
      });
      assert.deepEqual(y.shape, [3, 10, 6], `${name} ${mode}`);
      assert.ok((await y.data()).every(Number.isFinite), `${name} ${mode}: finite`);
    }
    assert.ok(Object.keys(stats).some((k) => k.endsWith(".q")), `${name}: spike stats recorded`);
    for (const v of Object.values(stats)) assert.ok(v >= 0 && v <= 2, `${name}: rate ${v}`);
    const opt = adamw({ lr: 1e-3 });
    const batch = maskedBatch(ds, ds.split.train, { key: key(2) });
    let cur: { params: Params; state: OptState } = { params: p, state: opt.init(p) };
    for (const mode of ["standard", "spiking"] as const) {
      const r = await trainStep(m, cur, batch, { optimizer: opt, key: key(3), mode });
      assert.ok(
        Number.isFinite(r.loss) && Number.isFinite(r.gradNorm) && r.gradNorm > 0,
        `${name} ${mode}: ${r.loss} ${r.gradNorm}`,
      );
      cur = { params: r.params, state: r.state };
    }
    disposeBatch(batch);
    disposeTree(cur.params);
    disposeTree(cur.state.mu);
    disposeTree(cur.state.nu);
  }
});

Deno.test("hybrid: spiking-only parameters are untouched by standard steps and vice versa", async () => {
  const ds = lorenzDataset({
    conditions: 2,
    trialsPerCondition: 4,
    neurons: 6,
    bins: 8,
    forwardBins: 2,
    heldOutFraction: 0.34,
  });
  const m = hybridTransformer({ ...base, tim: {} });
  const p = m.init(key(4));
  const opt = adamw({ lr: 1e-2 });
  const batch = maskedBatch(ds, ds.split.train, { key: key(5) });
  const before = new Map(
    await Promise.all(flatten(p).map(async (l) => [l.path, await l.tensor.data()] as const)),
  );
  const r = await trainStep(m, { params: p, state: opt.init(p) }, batch, {
    optimizer: opt,
    key: key(6),
    mode: "standard",
  });
  for (const l of flatten(r.params)) {
    const same = (await l.tensor.data()).every((v, i) => v === before.get(l.path)![i]);
    const spikingOnly = /^(snEmbed|blocks\.\d+\.(sn|tim))\./.test(l.path);
    if (spikingOnly) assert.ok(same, `${l.path} changed in a standard step`);
  }
  const r2 = await trainStep(m, r, batch, { optimizer: opt, key: key(6), mode: "spiking" });
  disposeBatch(batch);
  disposeTree(r2.params);
});

Deno.test("hybrid: a masked bin's spiking-mode prediction depends on the unmasked bins", async () => {
  // with a zeroed input and no norm, no Q spikes reach a masked bin
  // Here the bin carries its position and the mask token, and every LIF has a norm in front.
  for (const residual of ["add", "membrane"] as const) {
    const m = hybridTransformer({
      ...base,
      dModel: 32,
      nLayers: 1,
      timesteps: 4,
      residual,
      forwardBins: 0,
    });
    const p = m.init(key(7));
    const maskArr = Array.from({ length: 8 * 4 }, (_, i) => (Math.floor(i / 4) === 2 ? 1 : 0));
    const mask = tf.tensor3d(maskArr, [1, 8, 4]);
    let changed = 0;
    for (let trial = 0; trial < 6; trial++) {
      const a = Array.from({ length: 8 * 4 }, (_, i) => ((i + 3) * (trial + 5)) % 4);
      for (let i = 0; i < 4; i++) a[2 * 4 + i] = 0; // bin 2 masked
      const b = a.slice();
      for (let i = 0; i < 4; i++) b[4 * 4 + i] += 3; // change unmasked bin 4 only
      const run = async (x: number[]) =>
        await m.apply(p, { input: tf.tensor3d(x, [1, 8, 4]), inputMask: mask }, {
          training: false,
          mode: "spiking",
        })
          .data();
      const ya = await run(a);
      const yb = await run(b);
      const diff = Math.max(
        ...[0, 1, 2, 3, 4, 5].map((n) => Math.abs(ya[2 * 6 + n] - yb[2 * 6 + n])),
      );
      if (diff > 1e-5) changed++;
    }
    assert.ok(
      changed >= 3,
      `${residual}: masked-bin prediction changed in only ${changed} of 6 inputs`,
    );
    // the surrogate gradient of the masked bin's output reaches every unmasked bin's input
    const x0 = tf.tensor3d(
      Array.from({ length: 8 * 4 }, (_, i) => (Math.floor(i / 4) === 2 ? 0 : (i % 3) + 1)),
      [1, 8, 4],
    );
    const g = await tf.grad((x: tf.Tensor) =>
      tf.sum(
        tf.slice(m.apply(p, { input: x, inputMask: mask }, { training: false, mode: "spiking" }), [
          0,
          2,
          0,
        ], [1, 1, 6]),
      )
    )(x0).data();
    for (const bin of [0, 1, 3, 4, 5, 6, 7]) {
      const gb = Math.max(...[0, 1, 2, 3].map((i) => Math.abs(g[bin * 4 + i])));
      assert.ok(gb > 0, `${residual}: no gradient from masked bin 2 to input bin ${bin}`);
    }
    disposeTree(p);
  }
});

Deno.test("hybrid: config validation names the key", () => {
  assert.throws(
    () => hybridTransformer({ ...base, timesteps: 0 }),
    /"timesteps" must be an integer >= 1/,
  );
  assert.throws(() => hybridTransformer({ ...base, residual: "mul" as never }), /"residual"/);
  assert.throws(() => hybridTransformer({ ...base, rsm: { ratio: [0.1] } }), /one per layer/);
  assert.throws(
    () => hybridTransformer({ ...base, tim: { beta: 1 } as never }),
    /unknown key "beta" in model config "tim"/,
  );
  assert.throws(
    () => hybridTransformer({ ...base, spiking: true } as never),
    /unknown model config key "spiking"/,
  );
  const m = hybridTransformer({ ...base, modes: ["standard"] });
  assert.throws(
    () =>
      m.apply(m.init(key(0)), { input: tf.zeros([1, 8, 4]) }, { training: false, mode: "spiking" }),
    /"spiking" was requested/,
  );
});

Deno.test({
  name: "hybrid: alternating training learns in both modes (co-bps > 0 on held-out neurons)",
  async fn() {
    const ds = lorenzDataset({
      conditions: 8,
      trialsPerCondition: 12,
      bins: 20,
      forwardBins: 5,
      seed: 1,
    });
    const m = hybridTransformer({
      nInputs: ds.heldIn.length,
      nOutputs: ds.counts.shape[2],
      bins: 20,
      forwardBins: 5,
      dModel: 32,
      nLayers: 1,
      nHeads: 2,
      dFF: 64,
      dropout: 0,
      embedDropout: 0,
      rateDropout: 0,
      timesteps: 2,
      attention: "conv",
      cpg: { dims: 8 },
      tim: {},
    });
    const res = await train(m, ds, {
      steps: 200,
      lr: 5e-3,
      evalEvery: 50,
      patience: 0,
      modeSchedule: "alternate",
    });
    assert.ok(
      res.history.every((h) => h.byMode.standard !== undefined && h.byMode.spiking !== undefined),
    );
    for (const mode of ["standard", "spiking"] as const) {
      const ev = await evaluate(await predict(m, res.params, ds, { mode }), ds, {
        onWarning: () => {},
      });
      assert.ok(ev.coBps > 0.02, `${mode}: co-bps ${ev.coBps}`);
    }
    disposeTree(res.params);
  },
});

Deno.test("hybrid: inference's three Q/K/V products equal training's one product and split, bit for bit", async () => {
  // dot-product attention; no dropout and no spike masking, so training and inference compute
  // the same function and only the Q/K/V path differs (split outside training only)
  const model = hybridTransformer({
    nInputs: 6,
    nOutputs: 8,
    bins: 10,
    dModel: 16,
    nLayers: 2,
    nHeads: 2,
    dFF: 24,
    dropout: 0,
    embedDropout: 0,
    rateDropout: 0,
    attnDropout: 0,
    timesteps: 3,
    attnThreshold: 0.2,
  });
  const params = model.init(key(4));
  const input = tf.randomUniform([3, 10, 6], 0, 3, "int32", 9).toFloat();
  for (const mode of ["standard", "spiking"] as const) {
    const a = model.apply(params, { input }, { training: false, mode });
    const b = model.apply(params, { input }, { training: true, key: key(1), mode });
    assert.deepEqual(Array.from(await a.data()), Array.from(await b.data()), mode);
    tf.dispose([a, b]);
  }
  input.dispose();
});
