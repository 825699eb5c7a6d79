// Multi-level spikes (`lif.levels`): the neuron's formula on hand-computed vectors, the kernels
// against the composite ops, the surrogate sum, the model and energy knobs, and the refusals.
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { lif, type LifOptions, lifWithState } from "../lib/snn/neurons.ts";
import { sampleSpikeNormLif, spikeNormLif } from "../lib/snn/spike_norm.ts";
import { surrogateGrad } from "../lib/snn/surrogates.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import { resolveHybridConfig } from "../lib/model/config.ts";
import { energyReport, opsCounter } from "../lib/eval/energy.ts";
import { streamEngine } from "../kernels/stream_engine.ts";
import { key } from "../lib/core/random.ts";
import { kernelsActive } from "../kernels/wasm.ts";
import { close, randomTensors, valuesAndGrads, withoutKernels } from "./_kernel_util.ts";
import type { LayerNormParams } from "../lib/nn/layers.ts";

await useBackend("cpu");

Deno.test("lif levels: a hand-computed trace (τ 2, V_th 1, soft reset, 3 levels), kernel and composite", () => {
  // H = V/2 + x/2; S = #{l ≤ 3 : H ≥ l}; V = H − S
  // t1: H 2.5 → S 2, V 0.5; t2: H 0.75 → 0; t3: H 0.375 → 0; t4: H 4.1875 → 3 (capped), V 1.1875
  const x = tf.tensor2d([[5], [1], [0], [8]]);
  const o: LifOptions = { vReset: null, levels: 3 };
  const want = {
    spikes: [2, 0, 0, 3],
    h: [2.5, 0.75, 0.375, 4.1875],
    v: [0.5, 0.75, 0.375, 1.1875],
  };
  assert.deepEqual(Array.from(lif(x, o).dataSync()), want.spikes);
  assert.deepEqual(Array.from(withoutKernels(() => lif(x, o)).dataSync()), want.spikes);
  const st = lifWithState(x, o);
  assert.deepEqual(Array.from(st.h.dataSync()), want.h);
  assert.deepEqual(Array.from(st.v.dataSync()), want.v);
  // one level is today's binary neuron: t1 fires 1 and keeps V 1.5, which fires t2 too
  assert.deepEqual(Array.from(lif(x, { vReset: null }).dataSync()), [1, 1, 0, 1]);
});

Deno.test("lif levels: the gradient is the sum of one surrogate per level (T = 1, by formula)", () => {
  const xs = [0.3, 1.9, 2.2, 4.1, 6.5, -1];
  for (const surrogate of [undefined, { kind: "atan" as const, alpha: 2 }]) {
    const o: LifOptions = { vReset: null, levels: 3, vThreshold: 0.7, surrogate };
    const x = tf.tensor2d([xs]);
    const g = tf.grad((xx: tf.Tensor) => tf.sum(lif(xx, o)))(x).dataSync();
    const gOff = withoutKernels(() => tf.grad((xx: tf.Tensor) => tf.sum(lif(xx, o)))(x).dataSync());
    xs.forEach((xi, i) => {
      const h = xi / 2; // decayInput: H = x·k with k = 1/τ = 1/2
      let want = 0;
      for (let l = 1; l <= 3; l++) {
        want += surrogateGrad(tf.scalar(h - Math.fround(l * Math.fround(0.7))), surrogate)
          .dataSync()[0];
      }
      want *= 0.5;
      assert.ok(
        Math.abs(g[i] - want) <= 1e-6 * (1 + Math.abs(want)),
        `kernel x=${xi}: ${g[i]} vs ${want}`,
      );
      assert.ok(Math.abs(gOff[i] - want) <= 1e-6 * (1 + Math.abs(want)), `composite x=${xi}`);
    });
  }
});

const CASES: LifOptions[] = [
  { vReset: null, levels: 2 },
  { vReset: null, levels: 3, tau: 3, vThreshold: 1.3, surrogate: { kind: "atan", alpha: 2 } },
  { vReset: null, levels: 2, detachReset: false, decayInput: false, vThreshold: 0.8 },
  { vReset: null, levels: 4, detachMembrane: true },
];

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`lif levels: the kernel's spikes = the composite's bit for bit, gradients to rounding, in every lane (${backend})`, async () => {
    await useBackend(backend);
    try {
      assert.ok(kernelsActive());
      const r = randomTensors(9400);
      // 7 neurons: one four-lane group and a three-neuron scalar tail; 130: the model's widths
      for (const shape of [[4, 7], [6, 3, 130]]) {
        const x = r.randn(shape, 4, 2);
        const w = r.randn(shape);
        for (const o of CASES) {
          const what = `[${shape}] ${JSON.stringify(o)}`;
          const f = (xx: tf.Tensor) => tf.sum(tf.mul(lif(xx, o), w));
          const s = Array.from(await lif(x, o).data());
          const sOff = withoutKernels(() => Array.from(lif(x, o).dataSync()));
          assert.deepEqual(s, sOff, what);
          const levels = o.levels!;
          assert.ok(s.some((v) => v >= 2), `some spike reaches level 2 ${what}`);
          assert.ok(s.every((v) => Number.isInteger(v) && v >= 0 && v <= levels), what);
          const g = Array.from(await tf.grad(f)(x).data());
          const gOff = withoutKernels(() => Array.from(tf.grad(f)(x).dataSync()));
          close(g, gOff, 1e-5, `dx ${what}`);
          assert.ok(g.some((v) => v !== 0), `dx not all zero ${what}`);
        }
        tf.dispose([x, w]);
      }
    } finally {
      await useBackend("cpu");
    }
  });

  Deno.test(`lif levels: the fused norm-LIF kernels = the norm then the LIF (${backend})`, async () => {
    await useBackend(backend);
    try {
      const r = randomTensors(9500);
      const shape = [4, 3, 6, 9];
      const x = r.randn(shape, 1.5, 0.3);
      const w = r.randn(shape);
      const p = { g: r.randn([9], 0.5, 4), b: r.randn([9], 0.3, 1) } as LayerNormParams;
      for (const fused of [spikeNormLif, sampleSpikeNormLif]) {
        for (const o of CASES) {
          const what = `${fused.name} ${JSON.stringify(o)}`;
          const got = await valuesAndGrads((pp, xx) => fused(pp, xx, o), x, p, w);
          const want = withoutKernels(() => valuesAndGrads((pp, xx) => fused(pp, xx, o), x, p, w));
          const ref = await want;
          assert.deepEqual(got[0], ref[0], `spikes ${what}`);
          assert.ok(got[0].some((v) => v >= 2), `a spike of level 2 ${what}`);
          ["dx", "dg", "db"].forEach((name, i) =>
            close(got[i + 1], ref[i + 1], 2e-4, `${name} ${what}`)
          );
        }
      }
      tf.dispose([x, w, p.g, p.b]);
    } finally {
      await useBackend("cpu");
    }
  });
}

function tinyModel(levels: number, extra: Record<string, unknown> = {}) {
  return hybridTransformer({
    nInputs: 3,
    nOutputs: 4,
    bins: 8,
    dModel: 8,
    nHeads: 2,
    dFF: 16,
    residual: "membrane",
    norm: "sample",
    attention: "conv",
    lif: { vReset: null, levels },
    ...extra,
  });
}

Deno.test("lif levels: the model knob changes the spiking mode only, and multi-level spikes flow through it", () => {
  const input = tf.tensor3d(Array.from({ length: 2 * 8 * 3 }, (_, i) => (i * 7) % 4), [2, 8, 3]);
  const one = tinyModel(1), two = tinyModel(2);
  const params = one.init(key(3));
  const run = (m: typeof one, mode: "standard" | "spiking") =>
    Array.from(m.apply(params, { input }, { training: false, mode }).dataSync());
  assert.deepEqual(run(one, "standard"), run(two, "standard"));
  const maxima: Record<string, number> = {};
  const stats = {
    record(name: string, spikes: tf.Tensor) {
      maxima[name] = tf.max(spikes).dataSync()[0];
    },
  };
  two.apply(params, { input }, { training: false, mode: "spiking", stats }).dispose();
  assert.ok(Object.keys(maxima).length >= 8, `sites: ${Object.keys(maxima)}`);
  assert.ok(Object.values(maxima).every((m) => m <= 2), JSON.stringify(maxima));
  assert.ok(Object.values(maxima).some((m) => m === 2), JSON.stringify(maxima));
  const s1 = run(one, "spiking"), s2 = run(two, "spiking");
  assert.notDeepEqual(s1, s2);
  // the dense products the multi-level model runs give what the composite path gives
  const s2Off = withoutKernels(() => run(two, "spiking"));
  close(s2, s2Off, 1e-4, "levels 2, kernels vs composite");
  // gradients reach every parameter the spiking mode reads
  const g = tf.grads((w: tf.Tensor) => {
    const p = { ...params, readout: { ...(params.readout as object), w } };
    return tf.sum(two.apply(p as typeof params, { input }, { training: false, mode: "spiking" }));
  })([(params.readout as { w: tf.Tensor }).w]);
  assert.ok(Array.from(g[0].dataSync()).some((v) => v !== 0));
  assert.equal(two.spikeLevels, 2);
  assert.equal(one.spikeLevels, 1);
});

Deno.test("lif levels: energy counts a level-l spike as l events (l ACs per fan-out)", async () => {
  const x = tf.tensor2d([[0, 2, 1, 0], [0, 0, 2, 0]]);
  const two = opsCounter({ spikeLevels: 2 });
  two.linear("fc", x, 5);
  const [row] = await two.rows();
  assert.equal(row.spikeInput, true);
  assert.equal(row.acs, 5 * 5); // 5 events × 5 outputs
  assert.equal(row.macs, 0);
  assert.equal(row.firingRate, 5 / 8);
  const one = opsCounter();
  one.linear("fc", x, 5);
  const [dense] = await one.rows();
  assert.equal(dense.spikeInput, false);
  assert.equal(dense.macs, 8 * 5);
  // a value above the levels, or not an integer, is not a spike
  const over = opsCounter({ spikeLevels: 2 });
  over.linear("fc", tf.tensor2d([[0, 3]]), 5);
  over.matmul("mm", tf.tensor2d([[0.5, 1]]), tf.tensor2d([[1], [2]]));
  const rows = await over.rows();
  assert.deepEqual(rows.map((r) => r.spikeInput), [false, true]); // the matmul's B is spikes
  assert.equal(rows[1].acs, 3 * 1); // B's 3 events × M = 1
  assert.throws(() => opsCounter({ spikeLevels: 0 }), /spikeLevels.*integer >= 1, found 0/);
  // the report of a multi-level model counts its spiking weight products in ACs
  const m = tinyModel(2);
  const params = m.init(key(1));
  const input = tf.tensor3d(Array.from({ length: 2 * 8 * 3 }, (_, i) => ((i * 5) % 7) * 4), [
    2,
    8,
    3,
  ]);
  const rep = await energyReport(m, params, { input }, { mode: "spiking" });
  const spikeRows = rep.rows.filter((r) => r.spikeInput);
  assert.ok(spikeRows.length >= 4, `spike rows: ${spikeRows.map((r) => r.name)}`);
  assert.ok(spikeRows.some((r) => r.firingRate > 0));
  const names = rep.rows.filter((r) => !r.spikeInput).map((r) => r.name).sort();
  assert.deepEqual(names, ["embed", "readout"]);
  // each neuron update of a 2-level spike compares twice: one more add per update
  const count = (f: (r: { name: string; kind: string }) => boolean) =>
    rep.elementwise.filter(f).reduce((a, r) => a + r.count, 0);
  const updates = count((r) => r.kind === "neuron");
  assert.ok(updates > 0);
  assert.equal(count((r) => r.kind === "add" && r.name.endsWith(".levels")), updates);
  const std = await energyReport(m, params, { input }, { mode: "standard" });
  assert.ok(std.rows.every((r) => !r.spikeInput || r.name === "embed"));
});

Deno.test("lif levels: bad values and combinations are refused with the reason", () => {
  const x = tf.ones([2, 3]);
  assert.throws(
    () => lif(x, { vReset: null, levels: 0 }),
    /"levels" must be an integer from 1 to 255, found 0/,
  );
  assert.throws(() => lif(x, { vReset: null, levels: 1.5 }), /found 1.5/);
  assert.throws(() => lif(x, { levels: 2 }), /levels" 2 needs a soft reset \(vReset: null\)/);
  const base = { nInputs: 3, nOutputs: 4, bins: 8 };
  assert.throws(
    () => resolveHybridConfig({ ...base, lif: { levels: 2 } }),
    /model config "lif": .*needs a soft reset/,
  );
  assert.throws(
    () => resolveHybridConfig({ ...base, residual: "iand", lif: { vReset: null, levels: 2 } }),
    /"lif.levels" must be 1 with residual "iand"/,
  );
  assert.throws(
    () => resolveHybridConfig({ ...base, tim: {}, lif: { vReset: null, levels: 2 } }),
    /"lif.levels" must be 1 with tim/,
  );
  assert.throws(
    () => resolveHybridConfig({ ...base, lif: { vReset: null, levelz: 2 } as never }),
    /unknown key "levelz"/,
  );
  const m = tinyModel(2, { causal: true, norm: "causal", attention: "dot" });
  assert.throws(
    () => streamEngine(m, m.init(key(0)), { mode: "spiking" } as never),
    /streams binary spikes.*lif.levels 2/,
  );
});
