/**
 * The stream on the trained causal checkpoint committed in results/hybrid_causal: bin by bin,
 * both the TF.js streamer (the model's own block functions with a cache) and the WASM stream
 * engine must give the full forward's log-rates, in both modes, on real test trials of the data
 * the run was trained on. Trained weights fire where random ones do not, so this exercises the
 * caches the way a user's stream does.
 */
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key } from "../lib/core/random.ts";
import { disposeTree } from "../lib/core/tree.ts";
import { loadRun } from "../lib/experiments/run.ts";
import { disposeStreamState, streamer } from "../lib/infer/stream.ts";
import type { HybridModel } from "../lib/model/hybrid.ts";
import type { Mode } from "../lib/nn/types.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { streamEngine } from "../kernels/stream_engine.ts";

await useBackend("wasm");

const RUN = new URL("../results/hybrid_causal", import.meta.url).pathname;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

Deno.test("results/hybrid_causal: the committed run is a trained causal hybrid that predicts its test split", async () => {
  const metrics = JSON.parse(await Deno.readTextFile(`${RUN}/metrics.json`));
  const rows = metrics.results as { mode: string; split: string; coBps: number }[];
  for (const mode of ["standard", "spiking"]) {
    const r = rows.find((x) => x.mode === mode);
    assert.ok(r, `metrics.json has a ${mode} row`);
    assert.equal(r.split, "test");
    assert.ok(r.coBps > 0.4, `${mode} co-bps ${r.coBps}`);
  }
  const cfg = JSON.parse(await Deno.readTextFile(`${RUN}/config.json`));
  assert.equal(cfg.preset, "hybrid-causal");
});

for (const mode of ["standard", "spiking"] as Mode[]) {
  Deno.test(`stream of the trained hybrid-causal run (${mode} mode): streamer and WASM engine equal the full forward`, async () => {
    const { model: m, params, dataset: ds } = await loadRun(RUN);
    const model = m as HybridModel;
    const c = model.config;
    const B = 3;
    const batch = maskedBatch(ds, ds.split.test.slice(0, B), { key: key(0), unmasked: true });
    const total = c.bins + c.forwardBins;
    const N = c.nInputs;
    const O = c.nOutputs;
    const rates: number[] = [];
    const full = model.apply(params, { input: batch.input }, {
      training: false,
      mode,
      key: key(0),
      stats: {
        record(_site: string, s: tf.Tensor) {
          rates.push(tf.tidy(() => tf.mean(s).dataSync()[0]));
        },
      },
    });
    const want = await full.data() as Float32Array;
    const x = await batch.input.data() as Float32Array;
    full.dispose();
    disposeBatch(batch);
    if (mode === "spiking") {
      // trained neurons fire: every site is active, none saturated
      assert.ok(rates.length > 10 && rates.every((r) => r > 0.005 && r < 0.9), `${rates}`);
    }
    const rowOf = (l: number): Float32Array => {
      const row = new Float32Array(B * N);
      if (l < c.bins) {
        for (let b = 0; b < B; b++) {
          row.set(x.subarray((b * c.bins + l) * N, (b * c.bins + l + 1) * N), b * N);
        }
      }
      return row;
    };
    const place = (out: Float32Array, l: number, y: ArrayLike<number>) => {
      for (let b = 0; b < B; b++) {
        for (let o = 0; o < O; o++) out[(b * total + l) * O + o] = y[b * O + o];
      }
    };
    const viaStreamer = new Float32Array(want.length);
    const s = streamer(model, params, { mode, batch: B });
    let state = s.init();
    for (let l = 0; l < total; l++) {
      const r = s.step(state, rowOf(l));
      state = r.state;
      place(viaStreamer, l, await r.logRates.data());
      r.logRates.dispose();
    }
    disposeStreamState(state);
    s.dispose();
    const viaEngine = new Float32Array(want.length);
    const engine = streamEngine(model, params, { mode, batch: B });
    for (let l = 0; l < total; l++) place(viaEngine, l, engine.step(rowOf(l)));
    disposeTree(params);
    const dStreamer = maxAbsDiff(want, viaStreamer);
    const dEngine = maxAbsDiff(want, viaEngine);
    assert.ok(dStreamer <= 1e-5, `streamer max |Δ| ${dStreamer}`);
    assert.ok(dEngine <= 1e-4, `engine max |Δ| ${dEngine}`);
  });
}
