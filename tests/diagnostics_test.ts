// Gradient-flow diagnostics (lib/train/diagnostics.ts): per-block gradient norms against a direct
// computation, dead channels, the train option's checks, and the log records a run writes.
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key } from "../lib/core/random.ts";
import { disposeTree, flatten, type Params, unflatten } from "../lib/core/tree.ts";
import { transformerFor } from "../lib/experiments/presets.ts";
import { hybridTransformer, type Model } from "../lib/model/hybrid.ts";
import type { Mode } from "../lib/nn/types.ts";
import {
  diagnosticsGroup,
  type DiagnosticsRecord,
  groupGradNorms,
  modeOfStep,
  resolveDiagnosticsOptions,
  spikeDiagnostics,
  stepOfMode,
} from "../lib/train/diagnostics.ts";
import { poissonNll } from "../lib/train/losses.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { adamw } from "../lib/train/optim.ts";
import { train, trainStep } from "../lib/train/train.ts";
import { checkTrainOverrides, resolveTrainOptions } from "../lib/train/train_options.ts";
import { loadTrainState } from "../lib/train/train_state.ts";
import { TINY_HYBRID, tinyLorenz, trainUntilCrash } from "./_train_util.ts";

await useBackend("cpu");

const ds = tinyLorenz();
const tiny = TINY_HYBRID;

/** √(Σ g²) of every group, summed element by element in JS (float64). */
async function manualNorms(grads: Params): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  for (const l of flatten(grads)) {
    const g = diagnosticsGroup(l.path);
    let s = 0;
    for (const x of await l.tensor.data()) s += x * x;
    sums[g] = (sums[g] ?? 0) + s;
  }
  return Object.fromEntries(Object.entries(sums).map(([g, s]) => [g, Math.sqrt(s)]));
}

function assertClose(a: Record<string, number>, b: Record<string, number>, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: groups`);
  for (const k of Object.keys(b)) {
    assert.ok(
      Math.abs(a[k] - b[k]) <= 1e-5 * Math.max(1, Math.abs(b[k])),
      `${what} ${k}: ${a[k]} vs ${b[k]}`,
    );
  }
}

Deno.test("groupGradNorms: groups by block, blocks first in index order, one norm each", async () => {
  const grads = {
    blocks: {
      "0": { w: tf.tensor1d([3, 4]) },
      "10": { w: tf.tensor1d([1]) },
      "2": { a: tf.tensor1d([1, 1]), b: tf.tensor1d([1, 1]) },
    },
    embed: { w: tf.tensor1d([0, 2]) },
    readout: { b: tf.tensor1d([-1]) },
  };
  const n = await groupGradNorms(grads);
  assert.deepEqual(Object.keys(n), ["block0", "block2", "block10", "embed", "readout"]);
  assert.deepEqual(n, { block0: 5, block2: 2, block10: 1, embed: 2, readout: 1 });
  assert.deepEqual(await groupGradNorms({}), {});
  assert.equal(diagnosticsGroup("blocks.12.sn.q.g"), "block12");
  assert.equal(diagnosticsGroup("lnFinal.g"), "lnFinal");
  assert.equal(diagnosticsGroup("block3.attn"), "block3");
  disposeTree(grads);
});

for (const mode of ["standard", "spiking"] as Mode[]) {
  Deno.test(`groupGradNorms = tf.grads + a manual norm, and trainStep reports the same (${mode})`, async () => {
    const model = transformerFor(ds, tiny, { kind: "hybrid" });
    const params = model.init(key(1));
    const leaves = flatten(params).filter((l) => model.usesParam!(l.path, mode));
    const batch = maskedBatch(ds, ds.split.train.subarray(0, 4), { key: key(2) });
    const loss = (...xs: tf.Tensor[]) => {
      const byPath = new Map(leaves.map((l, i) => [l.path, xs[i]]));
      const p = unflatten(
        flatten(params).map((l) => ({ path: l.path, tensor: byPath.get(l.path) ?? l.tensor })),
      );
      const y = model.apply(p, { input: batch.input, inputMask: batch.mask }, {
        training: true,
        key: key(3),
        mode,
      });
      return poissonNll(y, batch.target, { mask: batch.weight });
    };
    const g = tf.grads(loss)(leaves.map((l) => l.tensor));
    const tree = unflatten(leaves.map((l, i) => ({ path: l.path, tensor: g[i] })));
    const direct = await manualNorms(tree);
    assert.equal(Object.keys(direct).filter((k) => k.startsWith("block")).length, 3);
    assertClose(await groupGradNorms(tree), direct, "groupGradNorms");
    // trainStep's own gradients, before clipping (clipNorm small, so clipping does act)
    const optimizer = adamw({ lr: 1e-3 });
    const r = await trainStep(model, { params, state: optimizer.init(params) }, batch, {
      optimizer,
      key: key(3),
      mode,
      clipNorm: 1e-3,
      groupNorms: true,
    });
    assertClose(r.groupNorms!, direct, "trainStep");
    // the global norm is the norm of the group norms
    const global = Math.sqrt(Object.values(direct).reduce((a, x) => a + x * x, 0));
    assert.ok(Math.abs(r.gradNorm - global) <= 1e-5 * global, `${r.gradNorm} vs ${global}`);
    tf.dispose(g);
    disposeTree(r.params);
    disposeTree(r.state.mu);
    disposeTree(r.state.nu);
    disposeBatch(batch);
  });
}

Deno.test("spikeDiagnostics: a channel that never fires is dead; rates are spikes per element", async () => {
  // a model whose sites report hand-made spikes: block0.a [T=2, B=1, L=2, C=3] with channel 1
  // silent; block0.b [T, B, H=2, L=2, d=1] (TIM's layout) with head 0 silent; embed all ones
  const a = tf.tensor4d([[[[1, 0, 1], [0, 0, 1]]], [[[1, 0, 0], [0, 0, 1]]]]);
  const b = tf.tensor5d([[[[[0], [0]], [[1], [0]]]], [[[[0], [0]], [[0], [1]]]]]);
  const e = tf.ones([2, 1, 2, 4]);
  const fake: Model = {
    config: hybridTransformer({ nInputs: 1, nOutputs: 1, bins: 2 }).config,
    modes: ["standard", "spiking"],
    init: () => ({}),
    apply: (_p, _batch, ctx) => {
      const stats = (ctx as { stats?: { record(n: string, s: tf.Tensor): void } }).stats!;
      stats.record("embed", e);
      stats.record("block0.a", a);
      stats.record("block0.b", b);
      return tf.zeros([1, 2, 1]) as tf.Tensor3D;
    },
  };
  const d = await spikeDiagnostics(fake, {}, { input: tf.zeros([1, 2, 1]) });
  assert.deepEqual(d.sites["block0.a"], { rate: 5 / 12, channels: 3, dead: 1 });
  assert.deepEqual(d.sites["block0.b"], { rate: 2 / 8, channels: 2, dead: 1 });
  assert.deepEqual(d.sites.embed, { rate: 1, channels: 4, dead: 0 });
  assert.deepEqual(Object.keys(d.firingRates), ["block0", "embed"]);
  assert.equal(d.firingRates.block0, 7 / 20);
  assert.equal(d.deadFraction.block0, 2 / 5);
  assert.equal(d.deadFraction.embed, 0);
  tf.dispose([a, b, e]);
});

Deno.test("spikeDiagnostics on a real model: unreachable thresholds leave every channel dead", async () => {
  const input = tf.gather(
    tf.tensor3d(ds.counts.data.slice(0, 4 * 12 * 29), [4, 12, 29]),
    Array.from(ds.heldIn),
    2,
  );
  const cfg = { nInputs: ds.heldIn.length, nOutputs: 29, bins: 12, ...tiny };
  const live = hybridTransformer(cfg);
  const p = live.init(key(0));
  const before = tf.memory().numTensors;
  const d = await spikeDiagnostics(live, p, { input });
  assert.equal(tf.memory().numTensors, before, "no tensor leaked");
  assert.deepEqual(Object.keys(d.firingRates), ["block0", "block1", "block2", "embed"]);
  for (const [g, r] of Object.entries(d.firingRates)) assert.ok(r > 0 && r < 1, `${g}: ${r}`);
  assert.ok(Object.keys(d.sites).includes("block2.ff1"));
  // trial by trial (one forward pass each) the counts add up to the same statistics
  const one = await spikeDiagnostics(live, p, { input, batchSize: 1 });
  assert.deepEqual(Object.keys(one.sites), Object.keys(d.sites));
  for (const [site, x] of Object.entries(d.sites)) {
    assert.equal(one.sites[site].dead, x.dead, site);
    assert.ok(Math.abs(one.sites[site].rate - x.rate) < 1e-12, site);
  }
  await assert.rejects(
    spikeDiagnostics(live, p, { input, batchSize: 0 }),
    (err: Error) =>
      err instanceof RangeError && /"batchSize" must be an integer >= 1/.test(err.message),
  );
  const silent = hybridTransformer({ ...cfg, lif: { vThreshold: 1e9 }, attnThreshold: 1e9 });
  const s = await spikeDiagnostics(silent, p, { input });
  for (const g of Object.keys(s.firingRates)) {
    assert.equal(s.firingRates[g], 0, g);
    assert.equal(s.deadFraction[g], 1, g);
  }
  const standardOnly = hybridTransformer({ ...cfg, modes: ["standard"] });
  await assert.rejects(
    spikeDiagnostics(standardOnly, standardOnly.init(key(0)), { input }),
    (err: Error) => err instanceof RangeError && /runs in standard/.test(err.message),
  );
  await assert.rejects(
    spikeDiagnostics(live, p, { input: [1, 2] as unknown as tf.Tensor }),
    (err: Error) => err instanceof TypeError && /"input" must be a tf.Tensor/.test(err.message),
  );
  disposeTree(p);
  input.dispose();
});

Deno.test("train option diagnostics: what is refused, and why", () => {
  assert.deepEqual(resolveTrainOptions({ diagnostics: { every: 5 } }).diagnostics, { every: 5 });
  assert.equal("diagnostics" in resolveTrainOptions({}), false);
  const bad: [unknown, ErrorConstructor, RegExp][] = [
    [null, TypeError, /"diagnostics" must be an object such as \{ every: 50 \}, found null/],
    [5, TypeError, /"diagnostics" must be an object .*found 5/],
    [[], TypeError, /"diagnostics" must be an object/],
    [{}, TypeError, /"diagnostics.every" must be an integer >= 1, found undefined/],
    [{ every: "5" }, TypeError, /"diagnostics.every" must be an integer >= 1, found "5"/],
    [{ every: 0 }, RangeError, /"diagnostics.every" must be an integer >= 1, found 0/],
    [{ every: 2.5 }, RangeError, /found 2.5/],
    [{ every: Infinity }, RangeError, /found Infinity/],
    [{ every: 5, often: true }, TypeError, /unknown key "often" in train option "diagnostics"/],
  ];
  for (const [v, E, re] of bad) {
    assert.throws(
      () => resolveTrainOptions({ diagnostics: v as { every: number } }),
      (err: Error) => err instanceof E && re.test(err.message),
      JSON.stringify(v),
    );
    assert.throws(() => resolveDiagnosticsOptions(v), E);
  }
  // JSON run configs may set it
  checkTrainOverrides({ diagnostics: { every: 10 } });
  assert.throws(() => checkTrainOverrides({ diagnostics: null }), /found null/);
});

Deno.test("stepOfMode: each mode's own step count", () => {
  const alt1 = Array.from({ length: 8 }, (_, s) => stepOfMode(s, { schedule: "alternate" }));
  assert.deepEqual(alt1, [0, 0, 1, 1, 2, 2, 3, 3]);
  const alt2 = Array.from(
    { length: 8 },
    (_, s) => stepOfMode(s, { schedule: "alternate", switchEvery: 2 }),
  );
  assert.deepEqual(alt2, [0, 1, 0, 1, 2, 3, 2, 3]);
  assert.equal(stepOfMode(7, { schedule: "spiking" }), 7);
  // S = standard, K = spiking; 2 standard runs per spiking run, runs of 1 step, then of 2
  const letters = (n: number, shape: Parameters<typeof modeOfStep>[1]) =>
    Array.from({ length: n }, (_, s) => modeOfStep(s, shape) === "standard" ? "S" : "K").join("");
  const r2 = { schedule: "alternate" as const, standardPerSpiking: 2 };
  assert.equal(letters(6, r2), "SSKSSK");
  assert.deepEqual(Array.from({ length: 6 }, (_, s) => stepOfMode(s, r2)), [0, 1, 0, 2, 3, 1]);
  const r22 = { ...r2, switchEvery: 2 };
  assert.equal(letters(12, r22), "SSSSKKSSSSKK");
  assert.deepEqual(
    Array.from({ length: 12 }, (_, s) => stepOfMode(s, r22)),
    [0, 1, 2, 3, 0, 1, 4, 5, 6, 7, 2, 3],
  );
  assert.equal(modeOfStep(3, { schedule: "standard" }), "standard");
});

Deno.test("train option standardPerSpiking: the alternating schedule's modes follow it", async () => {
  const model = transformerFor(ds, tiny, { kind: "hybrid" });
  const seen: string[] = [];
  const res = await train(model, ds, {
    steps: 6,
    batchSize: 4,
    evalEvery: 100,
    patience: 0,
    modeSchedule: "alternate",
    standardPerSpiking: 2,
    onStep: (i) => seen.push(i.mode),
  });
  disposeTree(res.params);
  assert.deepEqual(seen, ["standard", "standard", "spiking", "standard", "standard", "spiking"]);
  assert.throws(
    () => resolveTrainOptions({ standardPerSpiking: 0 }),
    /"standardPerSpiking" must be an integer >= 1, found 0/,
  );
  // absent stays absent (older runs' trajectory fingerprints unchanged)
  assert.equal("standardPerSpiking" in resolveTrainOptions({}), false);
});

async function readLog(dir: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(`${dir}/log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
}

Deno.test("train with diagnostics: records every N steps of each mode, same run without them", async () => {
  const model = transformerFor(ds, tiny, { kind: "hybrid" });
  const opts = {
    steps: 6,
    batchSize: 4,
    evalEvery: 3,
    patience: 0,
    lr: 3e-3,
    modeSchedule: "alternate" as const,
    seed: 4,
  };
  const dir = await Deno.makeTempDir();
  const seen: DiagnosticsRecord[] = [];
  const a = await train(model, ds, {
    ...opts,
    outDir: dir,
    diagnostics: { every: 2 },
    onStep: (info) => info.diagnostics && seen.push(info.diagnostics),
  });
  const b = await train(model, ds, opts);
  const la = flatten(a.params), lb = flatten(b.params);
  for (let i = 0; i < la.length; i++) {
    assert.deepEqual(await la[i].tensor.data(), await lb[i].tensor.data(), la[i].path);
  }
  assert.deepEqual(a.history, b.history);
  const log = (await readLog(dir)).filter((r) => r.kind === "diagnostics");
  assert.deepEqual(JSON.parse(JSON.stringify(seen)), log);
  // alternate, every 2 steps of each mode: standard steps 0, 2, 4 → 0 and 4; spiking 1, 3, 5 → 1, 5
  assert.deepEqual(log.map((r) => [r.step, r.mode]), [
    [0, "standard"],
    [1, "spiking"],
    [4, "standard"],
    [5, "spiking"],
  ]);
  for (const r of log) {
    const g = r.gradNorms as Record<string, number>;
    assert.deepEqual(Object.keys(g).slice(0, 3), ["block0", "block1", "block2"]);
    for (const x of Object.values(g)) assert.ok(Number.isFinite(x) && x >= 0);
    if (r.mode === "standard") {
      assert.equal("firingRates" in r, false);
      assert.equal("snEmbed" in g, false, "standard steps have no spiking-only gradients");
    } else {
      const rates = r.firingRates as Record<string, number>;
      const dead = r.deadFraction as Record<string, number>;
      assert.deepEqual(Object.keys(rates), ["block0", "block1", "block2", "embed"]);
      assert.deepEqual(Object.keys(dead), Object.keys(rates));
      for (const x of [...Object.values(rates), ...Object.values(dead)]) {
        assert.ok(x >= 0 && x <= 1);
      }
    }
  }
  disposeTree(a.params);
  disposeTree(b.params);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train with diagnostics: a resumed run logs each diagnostics record once", async () => {
  const model = transformerFor(ds, tiny, { kind: "hybrid" });
  const opts = {
    steps: 6,
    batchSize: 4,
    evalEvery: 2,
    checkpointEvery: 2,
    patience: 0,
    modeSchedule: "spiking" as const,
    diagnostics: { every: 1 },
  };
  const dir = await Deno.makeTempDir();
  await trainUntilCrash(model, ds, { ...opts, outDir: dir, at: 3 });
  // the state after 2 steps; the log already holds diagnostics of steps 0–3
  const state = await loadTrainState(`${dir}/state.safetensors`);
  assert.equal(state.step, 2);
  const r = await train(model, ds, { ...opts, outDir: dir, resumeFrom: state });
  const steps = (await readLog(dir)).filter((l) => l.kind === "diagnostics").map((l) => l.step);
  assert.deepEqual(steps, [0, 1, 2, 3, 4, 5]);
  disposeTree(r.params);
  await Deno.remove(dir, { recursive: true });
});
