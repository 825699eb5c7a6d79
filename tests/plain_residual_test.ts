/**
 * The plain (non-SEW) spiking residual: LIF of the input spikes plus the branch's normed output,
 * checked against that formula, in a whole model (spikes between blocks, finite output), in the
 * stream (equal to the full causal forward) and refused by the WASM engine, which lacks it.
 */
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key } from "../lib/core/random.ts";
import { disposeTree } from "../lib/core/tree.ts";
import { resolveHybridConfig } from "../lib/model/config.ts";
import { spikingResidual } from "../lib/model/blocks.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import { initLayerNorm } from "../lib/nn/layers.ts";
import { lif } from "../lib/snn/neurons.ts";
import { spikeNorm } from "../lib/snn/spike_norm.ts";
import { disposeStreamState, streamer } from "../lib/infer/stream.ts";
import { streamEngine } from "../kernels/stream_engine.ts";

await useBackend("wasm");

Deno.test("plain residual: LIF(x + norm(y)) on the input spikes, counted as norm, add and neuron work", async () => {
  const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 5, dModel: 4, residual: "plain" });
  const x = tf.cast(tf.greater(tf.randomUniform([3, 2, 5, 4], 0, 1, "float32", 1), 0.6), "float32");
  const y = tf.randomNormal([3, 2, 5, 4], 0, 1, "float32", 2);
  const p = initLayerNorm(4);
  const counted: Record<string, number> = {};
  const out = spikingResidual(x, y, p, c, {
    training: false,
    site: "block0.ff2",
    ops: {
      linear() {},
      conv() {},
      matmul() {},
      elementwise(_name: string, kind: string, n: number) {
        counted[kind] = (counted[kind] ?? 0) + n;
      },
    },
  });
  const want = lif(tf.add(x, spikeNorm(p, y)), c.lif);
  assert.deepEqual(Array.from(await out.data()), Array.from(await want.data()));
  assert.ok((await out.data()).every((v) => v === 0 || v === 1));
  assert.deepEqual(counted, { norm: 120, add: 120, neuron: 120 });
  // differs from SEW ADD on the same inputs
  const sewAdd = spikingResidual(
    x,
    y,
    p,
    resolveHybridConfig({
      nInputs: 3,
      nOutputs: 4,
      bins: 5,
      dModel: 4,
      residual: "add",
    }),
    { training: false, site: "s" },
  );
  assert.ok((await sewAdd.data()).some((v, i) => v !== (out.dataSync())[i]));
  tf.dispose([x, y, out, want, sewAdd]);
});

Deno.test("plain residual: a causal model streams it equal to the full forward; the WASM engine refuses it", async () => {
  const model = hybridTransformer({
    nInputs: 3,
    nOutputs: 4,
    bins: 8,
    dModel: 16,
    nLayers: 3,
    nHeads: 2,
    dFF: 24,
    residual: "plain",
    causal: true,
    norm: "causal",
    attnThreshold: 0.2,
  });
  const params = model.init(key(3));
  const counts = tf.tensor3d(Float32Array.from({ length: 24 }, (_, i) => (i * 7) % 4), [1, 8, 3]);
  const full = model.apply(params, { input: counts }, {
    training: false,
    mode: "spiking",
    key: key(0),
  });
  const want = await full.data();
  assert.ok(want.every(Number.isFinite));
  const s = streamer(model, params, { mode: "spiking", batch: 1 });
  let state = s.init();
  const rows = await counts.data();
  for (let l = 0; l < 8; l++) {
    const r = s.step(state, rows.subarray(l * 3, l * 3 + 3));
    state = r.state;
    const got = await r.logRates.data();
    for (let o = 0; o < 4; o++) assert.ok(Math.abs(got[o] - want[l * 4 + o]) <= 1e-6, `bin ${l}`);
    r.logRates.dispose();
  }
  disposeStreamState(state);
  s.dispose();
  assert.throws(() => streamEngine(model, params, { mode: "spiking" }), /"plain" spiking residual/);
  tf.dispose([counts, full]);
  disposeTree(params);
});
