import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import * as hybridLib from "../lib/model/hybrid.ts";
import type { HybridModel } from "../lib/model/hybrid.ts";
import type { HybridConfig } from "../lib/model/config.ts";
import { key, stream as randomStream } from "../lib/core/random.ts";
import { initLayerNorm } from "../lib/nn/layers.ts";
import type { Mode } from "../lib/nn/types.ts";
import { spikeNorm } from "../lib/snn/spike_norm.ts";
import { disposeStreamState, streamer, type StreamState } from "../lib/infer/stream.ts";
import { streamBlocker } from "../lib/infer/stream_setup.ts";
import { causalSpikeNorm } from "../lib/snn/spike_norm.ts";
import { transformer } from "../lib/model/transformer.ts";
import { disposeTree, type Params } from "../lib/core/tree.ts";
import { newKernelInstance, setKernelsEnabled } from "../kernels/wasm.ts";
import { type StreamEngine, streamEngine } from "../kernels/stream_engine.ts";
import { runScript } from "./_script_util.ts";

await useBackend("wasm");

const spikingHybrid = hybridLib.hybridTransformer;

const B = 2;
const L = 9;
const F = 2;
const N_IN = 4;
const N_OUT = 6;
const base: HybridConfig = {
  nInputs: N_IN,
  nOutputs: N_OUT,
  bins: L,
  forwardBins: F,
  dModel: 16,
  nLayers: 2,
  nHeads: 2,
  dFF: 24,
  dropout: 0,
  embedDropout: 0,
  rateDropout: 0,
  timesteps: 3,
  causal: true,
};

function randomCounts(seed: number, n = B * L * N_IN): Float32Array {
  const s = randomStream(key(seed));
  return new Float32Array(n).map(() => s.poisson(1.3));
}

/** Counts of bin l, `[B, N_IN]` (zeros in the forward window, as the full forward feeds). */
function binCounts(counts: Float32Array, l: number): Float32Array {
  const row = new Float32Array(B * N_IN);
  if (l >= L) return row;
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N_IN; n++) row[b * N_IN + n] = counts[(b * L + l) * N_IN + n];
  }
  return row;
}

/** Stream every bin (bins + forward window); log-rates `[B, L + F, N_OUT]` as a flat array. */
async function streamAll(
  model: HybridModel,
  params: Params,
  counts: Float32Array,
  mode: Mode,
): Promise<Float32Array> {
  const s = streamer(model, params, { mode, batch: B });
  let state = s.init();
  const out = new Float32Array(B * (L + F) * N_OUT);
  for (let l = 0; l < L + F; l++) {
    const r = s.step(state, binCounts(counts, l));
    state = r.state;
    const y = await r.logRates.data();
    r.logRates.dispose();
    for (let b = 0; b < B; b++) {
      for (let o = 0; o < N_OUT; o++) out[(b * (L + F) + l) * N_OUT + o] = y[b * N_OUT + o];
    }
  }
  disposeStreamState(state);
  s.dispose();
  return out;
}

async function fullForward(
  model: HybridModel,
  params: Params,
  counts: Float32Array,
  mode: Mode,
): Promise<Float32Array> {
  const input = tf.tensor3d(counts, [B, L, N_IN]);
  const y = model.apply(params, { input }, { training: false, mode, key: key(0) });
  const d = await y.data() as Float32Array;
  tf.dispose([input, y]);
  return d;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("causalSpikeNorm: running mean and variance over T and the bins so far (hand-computed)", async () => {
  // x [T = 2, B = 1, L = 3, C = 1]: timestep 0 holds 1, 2, 4 and timestep 1 holds 3, 6, 0.
  const x = tf.tensor4d([1, 2, 4, 3, 6, 0], [2, 1, 3, 1]);
  const p = { g: tf.tensor1d([2]), b: tf.tensor1d([0.5]) };
  const y = await causalSpikeNorm(p, x).data();
  // bin 0: {1, 3}: μ 2, σ² 1; bin 1: {1, 3, 2, 6}: μ 3, σ² 12.5 − 9 = 3.5;
  // bin 2: {1, 3, 2, 6, 4, 0}: μ 8/3, σ² 11 − 64/9 = 35/9.
  const mu = [2, 3, 8 / 3];
  const v = [1, 3.5, 35 / 9];
  const xs = [[1, 2, 4], [3, 6, 0]];
  for (let t = 0; t < 2; t++) {
    for (let l = 0; l < 3; l++) {
      const want = ((xs[t][l] - mu[l]) / Math.sqrt(v[l] + 1e-5)) * 2 + 0.5;
      assert.ok(
        Math.abs(y[t * 3 + l] - want) < 1e-5,
        `t ${t} bin ${l}: ${y[t * 3 + l]} vs ${want}`,
      );
    }
  }
  // at the last bin the statistics are the whole trial's: equal to spikeNorm there
  const whole = await spikeNorm(p, x).data();
  for (const i of [2, 5]) assert.ok(Math.abs(y[i] - whole[i]) < 1e-5);
  const long = tf.randomNormal([4, 2, 30, 3], 2, 3, "float32", 7);
  const last = (t: tf.Tensor) => tf.slice(t, [0, 0, 29, 0], [4, 2, 1, 3]).data();
  const lastC = await last(causalSpikeNorm(initLayerNorm(3), long));
  const lastT = await last(spikeNorm(initLayerNorm(3), long));
  assert.ok(maxAbsDiff(lastC as Float32Array, lastT as Float32Array) < 1e-4);
  // causal: a later bin does not change earlier outputs (bit for bit), and is differentiable
  const x2 = tf.tensor4d([1, 2, -7, 3, 6, 9], [2, 1, 3, 1]);
  const y2 = await causalSpikeNorm(p, x2).data();
  for (const i of [0, 1, 3, 4]) assert.equal(y2[i], y[i]);
  assert.notEqual(y2[2], y[2]);
  // gradient: the same as autodiff through a per-bin reference (moments of the prefix, no cumsum)
  const p4 = { g: tf.tensor1d([1, 2, 0.5, 1]), b: tf.zeros([4]) as tf.Tensor1D };
  const reference = (z: tf.Tensor) => {
    const [t, b, l, ch] = z.shape;
    const rows: tf.Tensor[] = [];
    for (let j = 0; j < l; j++) {
      const prefix = tf.slice(z, [0, 0, 0, 0], [t, b, j + 1, ch]);
      const { mean, variance } = tf.moments(prefix, [0, 2], true);
      const zj = tf.slice(z, [0, 0, j, 0], [t, b, 1, ch]);
      rows.push(
        tf.add(tf.mul(tf.div(tf.sub(zj, mean), tf.sqrt(tf.add(variance, 1e-5))), p4.g), p4.b),
      );
    }
    return tf.concat(rows, 2);
  };
  const z = tf.randomNormal([3, 2, 5, 4], 0, 1, "float32", 1);
  const w = tf.randomNormal([3, 2, 5, 4], 0, 1, "float32", 2);
  const loss = (f: (z: tf.Tensor) => tf.Tensor) => (zz: tf.Tensor) => tf.sum(tf.mul(f(zz), w));
  const g = await tf.grad(loss((zz) => causalSpikeNorm(p4, zz)))(z).data();
  const gRef = await tf.grad(loss(reference))(z).data();
  assert.ok(maxAbsDiff(g as Float32Array, gRef as Float32Array) < 1e-3);
  assert.ok(g.some((v) => Math.abs(v) > 0.1));
});

const standardVariants: [string, Partial<HybridConfig>][] = [
  ["dot attention, learned positions", {}],
  ["causal conv attention + CPG concat", { attention: "conv", convKernel: 3, cpg: { dims: 6 } }],
  ["local window + sinusoidal + CPG add", {
    localWindow: 5,
    position: "sinusoidal",
    cpg: { fusion: "add" },
  }],
  ["context window, log1p off", { context: { backward: 3, forward: 2 }, inputTransform: "none" }],
];

for (const [name, over] of standardVariants) {
  Deno.test(`stream (standard mode, ${name}) equals the full causal forward, bin by bin`, async () => {
    const model = hybridLib.hybridTransformer({ ...base, ...over });
    const params = model.init(key(1));
    const counts = randomCounts(3);
    const full = await fullForward(model, params, counts, "standard");
    const streamed = await streamAll(model, params, counts, "standard");
    assert.ok(maxAbsDiff(full, streamed) < 1e-5, `max |Δ| ${maxAbsDiff(full, streamed)}`);
    // the stream carries history: changing bin 0 (trial 0) moves bin 2's output, and, with a
    // limited attention window, nothing beyond the receptive field (nLayers × window)
    const changed = counts.slice();
    for (let n = 0; n < N_IN; n++) changed[n] += 3;
    const streamed2 = await streamAll(model, params, changed, "standard");
    const full2 = await fullForward(model, params, changed, "standard");
    assert.ok(maxAbsDiff(full2, streamed2) < 1e-5);
    assert.ok(Math.abs(streamed2[2 * N_OUT] - streamed[2 * N_OUT]) > 1e-4);
    const back = over.localWindow ? Math.floor(over.localWindow / 2) : over.context?.backward;
    if (back !== undefined) {
      for (let l = back * base.nLayers! + 1; l < L + F; l++) {
        for (let o = 0; o < N_OUT; o++) {
          assert.equal(streamed2[l * N_OUT + o], streamed[l * N_OUT + o]);
        }
      }
    }
    disposeTree(params);
  });
}

/** Thresholds low enough that TIM and the attention LIF fire at init (so the caches matter). */
const lively: Partial<HybridConfig> = {
  attnThreshold: 0.2,
  tim: { inThreshold: 0.1, outThreshold: 0.2 },
};
const spikingVariants: [string, Partial<HybridConfig>][] = [
  ["hybrid preset switches: conv + CPG + TIM + random RSM", {
    ...lively,
    attention: "conv",
    cpg: { dims: 6 },
    rsm: { ratio: [0.25, 0.5] },
  }],
  ["dot attention, SEW iand, local window", {
    attnThreshold: 0.2,
    residual: "iand",
    localWindow: 5,
  }],
  ["membrane shortcut, conv kernel 2, TIM kernel 1", {
    ...lively,
    residual: "membrane",
    attention: "conv",
    convKernel: 2,
    tim: { kernel: 1, inThreshold: 0.1, outThreshold: 0.2 },
  }],
];

for (const [name, over] of spikingVariants) {
  Deno.test({
    name: `stream (spiking mode, causal norm, ${name}) equals the full causal forward bit for bit`,
    async fn() {
      const model = spikingHybrid({ ...base, ...over, norm: "causal" } as HybridConfig);
      const params = model.init(key(2));
      const counts = randomCounts(4);
      // every attention LIF fires, so the key/value caches and the TIM windows are exercised
      const rates = new Map<string, number>();
      const input = tf.tensor3d(counts, [B, L, N_IN]);
      const y = model.apply(params, { input }, {
        training: false,
        mode: "spiking",
        key: key(0),
        stats: {
          record(site: string, s: tf.Tensor) {
            rates.set(site, tf.tidy(() => tf.mean(s).dataSync()[0]));
          },
        },
      });
      tf.dispose([input, y]);
      for (const site of ["block0.attn", "block1.attn", "block0.v", "block1.k"]) {
        assert.ok((rates.get(site) ?? 0) > 0.01, `${site} fires at ${rates.get(site)}`);
      }
      const full = await fullForward(model, params, counts, "spiking");
      const streamed = await streamAll(model, params, counts, "spiking");
      assert.ok(maxAbsDiff(full, streamed) <= 1e-6, `max |Δ| ${maxAbsDiff(full, streamed)}`);
      disposeTree(params);
    },
  });
}

Deno.test({
  name: "stream (spiking mode) equals the full forward with the WASM kernels off (composite ops)",
  async fn() {
    setKernelsEnabled(false);
    try {
      const model = spikingHybrid({ ...base, ...lively, norm: "causal" } as HybridConfig);
      const params = model.init(key(5));
      const counts = randomCounts(6);
      const full = await fullForward(model, params, counts, "spiking");
      const streamed = await streamAll(model, params, counts, "spiking");
      assert.ok(maxAbsDiff(full, streamed) <= 1e-6, `max |Δ| ${maxAbsDiff(full, streamed)}`);
      disposeTree(params);
    } finally {
      setKernelsEnabled(true);
    }
  },
});

Deno.test("stream: models and modes that cannot stream are refused, saying why", () => {
  const nonCausal = hybridLib.hybridTransformer({ ...base, causal: false });
  const params = nonCausal.init(key(0));
  assert.throws(() => streamer(nonCausal, params), /not causal.*causal: true/);
  const causal = hybridLib.hybridTransformer(base);
  const cp = causal.init(key(0));
  // the default spiking norm spans the whole trial
  assert.match(streamBlocker(causal.config, "spiking") ?? "", /norm "trial".*causal/);
  const withNorm = { ...causal.config, norm: "causal" } as typeof causal.config;
  assert.equal(streamBlocker(withNorm, "spiking"), undefined);
  assert.match(
    streamBlocker({ ...withNorm, rsm: { ratio: [0.5, 0.5], mode: "spatial" } }, "spiking") ?? "",
    /"spatial" spike masking.*random/,
  );
  assert.match(streamBlocker({ ...withNorm, encoding: "poisson" }, "spiking") ?? "", /encoding/);
  assert.match(streamBlocker({ ...withNorm, modes: ["standard"] }, "spiking") ?? "", /modes/);
  assert.throws(() => streamer(causal, cp, { batch: 0 }), /"batch" must be a positive integer/);
  assert.throws(
    () => streamer(causal, cp, { mode: "standard", batch: 1, x: 1 } as never),
    /unknown streamer option "x"/,
  );
  // the NDT-style transformer is the hybrid in standard mode: refused for not being causal
  const ndt = transformer({ nInputs: 2, nOutputs: 2, bins: 4 });
  assert.throws(() => streamer(ndt as never, cp), /not causal/);
  assert.throws(() => streamer({ config: {} } as never, cp), /hybridTransformer/);
  const s = streamer(causal, cp, { batch: B });
  const state = s.init();
  assert.throws(() => s.step(state, [1, 2, 3]), /2 × 4 = 8 numbers, found 3/);
  assert.throws(() => s.step(state, tf.zeros([B, 3])), /\[2, 4\].*found \[2, 3\]/);
  // past the last position: bins + forward bins
  let st: StreamState = state;
  for (let l = 0; l < L + F; l++) {
    const r = s.step(st, binCounts(randomCounts(1), l));
    r.logRates.dispose();
    st = r.state;
  }
  assert.throws(() => s.step(st, binCounts(randomCounts(1), 0)), /consumed all 11 bins/);
  disposeStreamState(st);
  s.dispose();
  disposeTree(params);
  disposeTree(cp);
});

Deno.test("stream: step consumes its state (bounded memory), keep: true branches, tensor or array counts", async () => {
  const model = hybridLib.hybridTransformer({ ...base, attention: "conv" });
  const params = model.init(key(7));
  const counts = randomCounts(8);
  const s = streamer(model, params, { batch: B });
  let state = s.init();
  const live: number[] = [];
  for (let l = 0; l < 5; l++) {
    const r = s.step(state, binCounts(counts, l));
    r.logRates.dispose();
    state = r.state;
    live.push(tf.memory().numTensors);
  }
  // the caches are replaced, not added to: the tensor count is flat after the first bin
  assert.deepEqual(live.slice(1), Array(4).fill(live[1]));
  // branch: two different next bins from one kept state; each equals a straight stream
  const other = binCounts(randomCounts(9), 5);
  const a = s.step(state, binCounts(counts, 5), { keep: true });
  const b = s.step(state, tf.tensor2d(other, [B, N_IN]), { keep: true });
  const viaTensor = await a.logRates.data();
  const straight = await streamAll(model, params, counts, "standard");
  for (let bb = 0; bb < B; bb++) {
    for (let o = 0; o < N_OUT; o++) {
      assert.ok(
        Math.abs(viaTensor[bb * N_OUT + o] - straight[(bb * (L + F) + 5) * N_OUT + o]) < 1e-6,
      );
    }
  }
  assert.ok(maxAbsDiff(viaTensor as Float32Array, await b.logRates.data() as Float32Array) > 1e-4);
  for (const r of [a, b]) {
    r.logRates.dispose();
    disposeStreamState(r.state);
  }
  disposeStreamState(state);
  s.dispose();
  disposeTree(params);
});

Deno.test("scripts/stream.ts replays Lorenz test trials bin by bin, timed and checked against the full forward", async () => {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const r = await runScript("stream.ts", ["--trials", "2", "--preset", "tiny", "--out", out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /step latency: median [\d.]+ ms, p99 [\d.]+ ms/);
    const j = JSON.parse(await Deno.readTextFile(out));
    assert.equal(j.equal, true);
    assert.equal(j.steps, 2 * (50 + 10)); // 2 trials × (50 bins + 10 forward bins)
    assert.ok(j.maxAbsDiff < 1e-4 && j.stepMedianMs > 0 && j.stepP99Ms >= j.stepMedianMs);
    assert.equal(j.engine, "wasm"); // the default on the wasm backend
    // the TF.js path, in spiking mode: bit for bit
    const t = await runScript("stream.ts", [
      "--trials",
      "1",
      "--preset",
      "tiny",
      "--mode",
      "spiking",
      "--engine",
      "tfjs",
      "--out",
      out,
    ]);
    assert.equal(t.code, 0, t.err);
    const jt = JSON.parse(await Deno.readTextFile(out));
    assert.deepEqual([jt.engine, jt.mode, jt.equal, jt.tolerance], ["tfjs", "spiking", true, 1e-5]);
  } finally {
    await Deno.remove(out);
  }
  const bad = await runScript("stream.ts", ["--mode", "sideways"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--mode must be standard or spiking, found "sideways"/);
  const badEngine = await runScript("stream.ts", ["--engine", "gpu"]);
  assert.equal(badEngine.code, 2);
  assert.match(badEngine.err, /--engine must be wasm or tfjs, found "gpu"/);
});

// --- the WASM streaming engine (kernels/stream_engine.ts) --------------------------------------

/** Stream every bin through the WASM engine; log-rates `[B, L + F, N_OUT]` as a flat array. */
function engineAll(engine: StreamEngine, counts: Float32Array): Float32Array {
  const out = new Float32Array(B * (L + F) * N_OUT);
  for (let l = 0; l < L + F; l++) {
    const y = engine.step(binCounts(counts, l));
    assert.equal(y.length, B * N_OUT);
    for (let b = 0; b < B; b++) {
      for (let o = 0; o < N_OUT; o++) out[(b * (L + F) + l) * N_OUT + o] = y[b * N_OUT + o];
    }
  }
  return out;
}

Deno.test("matvec kernel: y = x · W + b row by row, zeros skipped, bias optional (hand-computed)", () => {
  const ex = newKernelInstance();
  // 2 rows, in 3, out 19 (one block of 16 columns and a remainder of 3)
  const rows = 2, inD = 3, outD = 19;
  const x = [1, 0, 2, 0, 0.5, -1];
  const w = Array.from({ length: inD * outD }, (_, i) => (i % 7) - 3 + i / 100);
  const b = Array.from({ length: outD }, (_, j) => j / 10);
  const base = (ex.__heap_base.value as number + 15) & ~15;
  const [px, pw, pb, py] = [base, base + 64, base + 64 + 4 * 64, base + 64 + 4 * 64 + 128];
  const f = (p: number, n: number) => new Float32Array(ex.memory.buffer, p, n);
  f(px, 6).set(x);
  f(pw, inD * outD).set(w);
  f(pb, outD).set(b);
  for (const withBias of [true, false]) {
    ex.matvec(px, pw, withBias ? pb : 0, py, rows, inD, outD, base + 1024);
    const y = f(py, rows * outD);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < outD; j++) {
        let want = withBias ? b[j] : 0;
        for (let i = 0; i < inD; i++) want += x[r * inD + i] * w[i * outD + j];
        assert.ok(Math.abs(y[r * outD + j] - want) < 1e-5, `row ${r} col ${j}: ${y[r * outD + j]}`);
      }
    }
  }
});

for (const [name, over] of standardVariants) {
  Deno.test(`stream engine (standard mode, ${name}) equals the full causal forward`, async () => {
    const model = hybridLib.hybridTransformer({ ...base, ...over });
    const params = model.init(key(1));
    const counts = randomCounts(3);
    const full = await fullForward(model, params, counts, "standard");
    const engine = streamEngine(model, params, { mode: "standard", batch: B });
    const got = engineAll(engine, counts);
    assert.ok(maxAbsDiff(full, got) < 1e-4, `max |Δ| ${maxAbsDiff(full, got)}`);
    // reset starts a new stream: the same counts give the same outputs
    engine.reset();
    assert.equal(engine.bin, 0);
    assert.deepEqual(engineAll(engine, counts), got);
    disposeTree(params);
  });
}

for (const [name, over] of spikingVariants) {
  Deno.test(`stream engine (spiking mode, causal norm, ${name}) equals the full causal forward`, async () => {
    const model = spikingHybrid({ ...base, ...over, norm: "causal" } as HybridConfig);
    const params = model.init(key(2));
    const counts = randomCounts(4);
    const full = await fullForward(model, params, counts, "spiking");
    const engine = streamEngine(model, params, { mode: "spiking", batch: B });
    const got = engineAll(engine, counts);
    assert.ok(maxAbsDiff(full, got) < 1e-4, `max |Δ| ${maxAbsDiff(full, got)}`);
    disposeTree(params);
  });
}

Deno.test("stream engine refuses what cannot stream and bad counts, naming the problem", () => {
  const nonCausal = hybridLib.hybridTransformer({ ...base, causal: false });
  const p0 = nonCausal.init(key(0));
  assert.throws(() => streamEngine(nonCausal, p0), /not causal.*causal: true/);
  const model = hybridLib.hybridTransformer(base);
  const params = model.init(key(0));
  assert.throws(() => streamEngine(model, params, { mode: "spiking" }), /norm "trial"/);
  assert.throws(
    () => streamEngine(model, params, { batch: 0 }),
    /"batch" must be a positive integer, found 0/,
  );
  assert.throws(
    () => streamEngine(model, params, { mdoe: "standard" } as never),
    /unknown streamEngine option "mdoe"/,
  );
  assert.throws(() => streamEngine(model, { blocks: {} } as Params), /must hold "embed.w"/);
  const engine = streamEngine(model, params, { batch: 1 });
  assert.throws(() => engine.step([1, 2]), /batch × nInputs = 1 × 4 = 4 numbers, found 2/);
  assert.throws(() => engine.step([1, NaN, 0, 0]), /finite numbers, found NaN at index 1/);
  for (let l = 0; l < L + F; l++) engine.step([0, 0, 0, 0]);
  assert.throws(() => engine.step([0, 0, 0, 0]), /consumed all 11 bins.*reset\(\)/);
  disposeTree([p0, params] as unknown as Params);
});
