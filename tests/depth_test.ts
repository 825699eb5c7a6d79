// Depth: the initial scaling that keeps a 100-block model's forward pass finite and unsaturated in
// both modes and its spiking-mode gradients from exploding (config branchGain), and the depth
// experiment script's smoke run (deno task depth --quick).
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key } from "../lib/core/random.ts";
import { disposeTree, flatten } from "../lib/core/tree.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { HYBRID_COMPONENTS, type ModelPreset, transformerFor } from "../lib/experiments/presets.ts";
import { blockFunctions, normLif, spikingResidual, standardResidual } from "../lib/model/blocks.ts";
import { resolveHybridConfig } from "../lib/model/config.ts";
import { embedding, modelTables, readout } from "../lib/model/embedding.ts";
import type { HybridModel } from "../lib/model/hybrid.ts";
import { type HybridParams, initHybridParams } from "../lib/model/params.ts";
import type { Mode } from "../lib/nn/types.ts";
import { spikeDiagnostics } from "../lib/train/diagnostics.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { adamw } from "../lib/train/optim.ts";
import { trainStep } from "../lib/train/train.ts";
import { type DepthSettings, depthVariants, formAvailable, lrForDepth } from "../scripts/depth.ts";
import { runScript } from "./_script_util.ts";

await useBackend("wasm");

const ds = lorenzDataset({ conditions: 2, trialsPerCondition: 4, bins: 20, forwardBins: 4 });
const input = tf.gather(
  tf.tensor3d(ds.counts.data, [...ds.counts.shape]),
  Array.from(ds.heldIn),
  2,
);
const DEEP = 100;

/** A narrow model of `depth` blocks sized for `ds`. */
function deepModel(depth: number, extra: ModelPreset = {}): HybridModel {
  return transformerFor(ds, {
    dModel: 16,
    nHeads: 2,
    dFF: 32,
    nLayers: depth,
    timesteps: 4,
    dropout: 0,
    embedDropout: 0,
    rateDropout: 0,
    ...extra,
  }, { kind: "hybrid" }) as HybridModel;
}

function std(x: tf.Tensor): number {
  return tf.tidy(() => Math.sqrt(tf.moments(x).variance.dataSync()[0]));
}

/**
 * The forward pass of `mode` (inference) composed from the model's own block functions, as
 * lib/model/hybrid.ts composes them, returning the residual stream's standard deviation at the
 * input and after every block, and the log-rates (checked against `apply`).
 */
function streamStds(
  m: HybridModel,
  p: HybridParams,
  mode: Mode,
): { stds: number[]; out: tf.Tensor } {
  const c = m.config;
  const tables = modelTables(c);
  const f = blockFunctions(mode);
  return tf.tidy(() => {
    let x = embedding(p, { input }, c, { tables });
    if (mode === "spiking") {
      x = tf.concat(Array.from({ length: c.timesteps }, () => tf.expandDims(x, 0)), 0);
      if (c.residual !== "membrane") x = normLif("embed", p.snEmbed!, x, c, {});
    }
    const stds = [std(x)];
    for (let i = 0; i < c.nLayers; i++) {
      const b = p.blocks[String(i)];
      const ctx = { training: false, index: i, name: `block${i}`, tables, keys: {} };
      const a = f.attention(b, x, c, ctx);
      x = mode === "spiking"
        ? spikingResidual(x, a, b.sn!.o, c, { ...ctx, site: `block${i}.proj` })
        : standardResidual(x, a, 0, ctx);
      const h = f.mlp(b, x, c, ctx);
      x = mode === "spiking"
        ? spikingResidual(x, h, b.sn!.ff2, c, { ...ctx, site: `block${i}.ff2` })
        : standardResidual(x, h, 0, ctx);
      stds.push(std(x));
    }
    const out = readout(p, mode === "spiking" ? tf.mean(x, 0) : x, c, { training: false });
    return { stds, out: tf.keep(out) };
  });
}

async function assertFinite(t: tf.Tensor, what: string): Promise<void> {
  const v = await t.data();
  for (let i = 0; i < v.length; i++) assert.ok(Number.isFinite(v[i]), `${what}: element ${i}`);
}

Deno.test("branchGain: the initial gain of each residual branch's last norm; absent changes nothing", () => {
  const sizes = { nInputs: 3, nOutputs: 4, bins: 6, dModel: 8, nLayers: 2 };
  const plain = resolveHybridConfig(sizes);
  assert.equal("branchGain" in plain, false, "configs without it resolve as before");
  const p0 = initHybridParams(key(0), plain);
  for (const residual of ["add", "membrane"] as const) {
    const c = resolveHybridConfig({ ...sizes, residual, branchGain: 0.25 });
    assert.equal(c.branchGain, 0.25);
    const p = initHybridParams(key(0), c);
    for (const leaf of flatten(p)) {
      const v = leaf.tensor.dataSync();
      const before = flatten(p0).find((l) => l.path === leaf.path)?.tensor.dataSync();
      if (/^blocks\.\d\.sn\.(o|ff2)\.g$/.test(leaf.path)) {
        assert.ok(v.every((x) => x === 0.25), leaf.path);
      } else if (before) {
        // every other leaf, weights included, is what it was (same key, same draws)
        assert.deepEqual(v, before, leaf.path);
      }
    }
    disposeTree(p);
  }
  assert.equal(resolveHybridConfig({ ...sizes, branchGain: 0 }).branchGain, 0);
  for (const bad of [-1, NaN, Infinity, "0.1", null]) {
    assert.throws(
      () => resolveHybridConfig({ ...sizes, branchGain: bad as number }),
      /model config "branchGain" must be a finite number >= 0, found/,
      String(bad),
    );
  }
  disposeTree(p0);
});

Deno.test(`${DEEP} blocks, standard mode: finite, the stream's scale stays within 2x of the embedding's`, async () => {
  const m = deepModel(DEEP);
  const p = m.init(key(0));
  const { stds, out } = streamStds(m, p, "standard");
  const ref = m.apply(p, { input }, { training: false, mode: "standard" });
  await assertFinite(ref, "log-rates");
  // the composition above is the model's own forward pass
  assert.ok(tf.max(tf.abs(tf.sub(out, ref))).dataSync()[0] < 1e-4);
  for (const [i, s] of stds.entries()) {
    assert.ok(s > 0.5 * stds[0] && s < 2 * stds[0], `block ${i}: std ${s} vs input ${stds[0]}`);
  }
  tf.dispose([out, ref]);
  disposeTree(p);
});

for (
  const [residual, gain] of [["add", undefined], ["add", 0.1], ["membrane", 0.003]] as const
) {
  Deno.test(`${DEEP} blocks, spiking mode, ${residual} residual, branchGain ${gain ?? 1}: finite, last blocks fire, not saturated`, async () => {
    const m = deepModel(DEEP, { residual, ...(gain === undefined ? {} : { branchGain: gain }) });
    const p = m.init(key(0));
    const { stds, out } = streamStds(m, p, "spiking");
    const ref = m.apply(p, { input }, { training: false, mode: "spiking" });
    await assertFinite(ref, "log-rates");
    assert.ok(tf.max(tf.abs(tf.sub(out, ref))).dataSync()[0] < 1e-4);
    if (residual === "membrane") {
      // a real-valued stream: its scale stays near the embedding's
      for (const [i, s] of stds.entries()) {
        assert.ok(s > 0.5 * stds[0] && s < 2 * stds[0], `block ${i}: std ${s} vs ${stds[0]}`);
      }
    }
    const d = await spikeDiagnostics(m, p, { input });
    for (let i = DEEP - 5; i < DEEP; i++) {
      const r = d.firingRates[`block${i}`], dead = d.deadFraction[`block${i}`];
      assert.ok(r > 0.005 && r < 0.3, `block${i}: firing rate ${r}`);
      assert.ok(dead < 0.6, `block${i}: dead fraction ${dead}`);
    }
    tf.dispose([out, ref]);
    disposeTree(p);
  });
}

Deno.test(`${DEEP} blocks, spiking membrane shortcut at gain 1: the stream outgrows the embedding`, () => {
  // why the membrane shortcut wants a small branchGain: every addend has unit scale
  const m = deepModel(DEEP, { residual: "membrane" });
  const p = m.init(key(0));
  const { stds, out } = streamStds(m, p, "spiking");
  assert.ok(stds[DEEP] > 5 * stds[0], `std ${stds[DEEP]} after ${DEEP} blocks vs ${stds[0]}`);
  out.dispose();
  disposeTree(p);
});

/**
 * Pre-clip gradient norm of every block at initialisation: one spiking step of the depth
 * experiment's model (the hybrid's components, `HYBRID_COMPONENTS`) at its width (32).
 */
async function initGradNorms(depth: number, extra: ModelPreset): Promise<number[]> {
  const hybrid = { ...HYBRID_COMPONENTS, dModel: 32, dFF: 64, nLayers: depth };
  const m = deepModel(depth, { ...hybrid, ...extra });
  const optimizer = adamw({ lr: 1e-3 });
  const params = m.init(key(0));
  const batch = maskedBatch(ds, ds.split.train.subarray(0, 4), { key: key(1) });
  const r = await trainStep(m, { params, state: optimizer.init(params) }, batch, {
    optimizer,
    key: key(2),
    mode: "spiking",
    remat: true,
    groupNorms: true,
  });
  disposeBatch(batch);
  disposeTree(r.params);
  disposeTree(r.state.mu);
  disposeTree(r.state.nu);
  return Array.from({ length: depth }, (_, i) => r.groupNorms![`block${i}`]);
}

Deno.test(`${DEEP} blocks, spiking mode: with branchGain the gradient reaches the first block at the last one's scale`, async () => {
  for (const [residual, gain] of [["add", 0.1], ["membrane", 0.003]] as const) {
    const g = await initGradNorms(DEEP, { residual, branchGain: gain });
    assert.ok(g.every((x) => Number.isFinite(x) && x > 0), `${residual}: ${g}`);
    const ratio = g[0] / g[DEEP - 1];
    assert.ok(ratio > 0.1 && ratio < 10, `${residual}: block0 / block${DEEP - 1} = ${ratio}`);
  }
  // and without it the first blocks' gradients are orders of magnitude larger (about 1e12 here;
  // the membrane shortcut's overflow)
  const g1 = await initGradNorms(DEEP, { residual: "add" });
  assert.ok(!(g1[0] / g1[DEEP - 1] < 1e3), `add at gain 1: ratio ${g1[0] / g1[DEEP - 1]}`);
});

Deno.test("deno task depth --quick: results.json with finite scores, costs, diagnostics and figures", async () => {
  const dir = await Deno.makeTempDir();
  const r = await runScript("depth.ts", ["--quick", "--quiet", "--out", dir]);
  assert.equal(r.code, 0, r.out + r.err);
  const res = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
  assert.equal(res.kind, "depth");
  assert.equal(res.quick, true);
  assert.deepEqual(res.settings.depths, [1, 2]);
  const forms = res.settings.forms as string[];
  // standard once per depth; spiking one mode, alternate two, per form
  assert.equal(res.runs.length, 2 * (1 + forms.length * 3));
  for (const run of res.runs) {
    for (const k of ["coBps", "trainSeconds", "secondsPerStep", "lossFirst", "lossLast"]) {
      assert.ok(Number.isFinite(run[k]), `${k} of ${JSON.stringify(run)}`);
    }
    assert.equal(run.skippedSteps, 0);
  }
  // gradient norms of every block at init and at the end, per trained mode
  const inits = res.gradients.filter((g: { when: string }) => g.when === "init");
  assert.equal(inits.length, 2 * (1 + forms.length * 3));
  for (const g of res.gradients) {
    assert.equal(g.gradNorms.length, g.depth);
    for (const x of [...g.gradNorms, ...(g.firingRates ?? []), ...(g.deadFraction ?? [])]) {
      assert.ok(Number.isFinite(x), JSON.stringify(g));
    }
    assert.equal(g.mode === "spiking", g.firingRates !== undefined);
  }
  // one step's time and memory at the largest depth, both modes: train steps with and without
  // remat, and inference on predict's 64-trial batch
  assert.deepEqual(
    res.cost.rows.map((c: { mode: string; kind: string; remat: boolean }) =>
      `${c.mode}/${c.kind}/${c.remat}`
    ),
    [
      "standard/train/false",
      "standard/train/true",
      "standard/inference/false",
      "spiking/train/false",
      "spiking/train/true",
      "spiking/inference/false",
    ],
  );
  for (const c of res.cost.rows) {
    assert.ok(c.secondsPerStep > 0 && c.peakBytes > 0, JSON.stringify(c));
  }
  for (const f of ["co_bps_depth", "grad_norms", "firing"]) {
    const png = await Deno.readFile(`${dir}/${f}.png`);
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], f);
  }
  assert.match(await Deno.readTextFile(`${dir}/report.md`), /quick smoke run: not results/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task depth: flags are checked before any run", async () => {
  for (
    const [args, re] of [
      [["--depths", "4,x"], /--depths must be an integer >= 1, found "x"/],
      [["--forms", "add,sideways"], /--forms must name some of add, membrane/],
      [["--schedules", "sleep"], /--schedules must name some of standard, spiking, alternate/],
      [["--remat", "sometimes"], /--remat must be auto, on or off, found "sometimes"/],
      [["--width", "15"], /--width 15: .*divisible/],
      [["--lr-scaling", "cubic"], /--lr-scaling must be sqrt or none, found "cubic"/],
    ] as const
  ) {
    const r = await runScript("depth.ts", [...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
  }
  if (!formAvailable("plain")) {
    // the plain spiking residual is not in the model yet: asked for, it is refused by name
    const r = await runScript("depth.ts", ["--forms", "add,plain"]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /residual form "plain" is not in this hest's model yet/);
  }
});

Deno.test("depth: the peak learning rate shrinks as 1/sqrt(blocks) past 4 blocks, or not at all", () => {
  const s = { lr: 3e-3, lrScaling: "sqrt" } as const;
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  close(lrForDepth(s, 1), 3e-3);
  close(lrForDepth(s, 4), 3e-3);
  close(lrForDepth(s, 16), 1.5e-3);
  close(lrForDepth(s, 100), 6e-4);
  close(lrForDepth({ ...s, lrScaling: "none" }, 100), 3e-3);
  // and it is what each run trains with
  const settings: DepthSettings = {
    depths: [4, 16, 100],
    forms: ["add"],
    schedules: ["standard", "spiking"],
    seeds: [0],
    steps: 10,
    width: 32,
    lr: 3e-3,
    lrScaling: "sqrt",
    batchSize: 16,
    remat: "auto",
    data: { kind: "lorenz" },
  };
  const lrs = (x: DepthSettings) =>
    depthVariants(x).map((v) => [v.variant.name, v.variant.train!.lr]);
  const scaled = lrs(settings);
  assert.deepEqual(scaled.map(([n]) => n), [
    "d4_standard",
    "d4_spiking_add",
    "d16_standard",
    "d16_spiking_add",
    "d100_standard",
    "d100_spiking_add",
  ]);
  for (const [name, lr] of scaled) {
    close(lr as number, lrForDepth(settings, Number((name as string).slice(1).split("_")[0])));
  }
  assert.ok(lrs({ ...settings, lrScaling: "none" }).every(([, lr]) => lr === 3e-3));
});
