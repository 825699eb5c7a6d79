import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import {
  convTaps,
  type CountingModel,
  energyReport,
  energyTable,
  opsCounter,
} from "../lib/eval/energy.ts";
import {
  ENERGY_PER_OP_PJ,
  energyPerOp,
  OP_COMPOSITION,
  resolveEnergyConstants,
} from "../lib/eval/energy_constants.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import { transformer } from "../lib/model/transformer.ts";
import { key } from "../lib/core/random.ts";
import { disposeTree } from "../lib/core/tree.ts";

function close(a: number, b: number, rel = 1e-9, msg = "") {
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`);
}

Deno.test("energy: Spikingformer linear-layer vectors (64 → 128, 100 tokens, T = 4)", async () => {
  await useBackend("cpu");
  // exactly 10 % ones: SOP = 0.1 · 4 · 819,200 = 327,680 ACs → 0.294912 µJ at 0.9 pJ
  const n = 4 * 100 * 64;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i += 10) data[i] = 1;
  const ops = opsCounter();
  ops.linear("spikes", tf.tensor3d(data, [4, 100, 64]), 128);
  // the same layer on real-valued input for 4 steps: 4 × 819,200 MACs → 15.07328 µJ
  ops.linear("real", tf.fill([4, 100, 64], 0.5), 128);
  const [s, r] = await ops.rows();
  assert.equal(s.spikeInput, true);
  assert.equal(s.acs, 327_680);
  assert.equal(s.macs, 0);
  close(s.firingRate, 0.1);
  close(s.energyPj / 1e6, 0.294912, 1e-9, "spike energy µJ");
  assert.equal(r.spikeInput, false);
  assert.equal(r.macs, 4 * 819_200);
  close(r.energyPj / 1e6, 15.07328, 1e-9, "dense energy µJ");
  // the Spikingformer log: 0.347329512 G MAC + 6.51754094 G AC = 7.463502602 mJ
  close((0.347329512e9 * 4.6 + 6.51754094e9 * 0.9) / 1e9, 7.463502602, 1e-9, "mJ");
});

Deno.test("energy: a value of 2 (a SEW-ADD sum) makes the whole input count as MACs", async () => {
  await useBackend("cpu");
  const ops = opsCounter();
  ops.linear("sum", tf.tensor2d([[0, 1, 2, 0]]), 3);
  const [row] = await ops.rows({ macPj: 2, acPj: 1 });
  assert.deepEqual([row.spikeInput, row.macs, row.acs, row.energyPj], [false, 12, 0, 24]);
});

Deno.test("energy: convolution taps at the edges, by hand", async () => {
  await useBackend("cpu");
  // L = 5, k = 3. Centred (pad 1 | 1): bin 0 reaches outputs 0, 1; bins 1-3 three; bin 4 two.
  assert.deepEqual([...convTaps(5, { kernel: 3, centered: true })], [2, 3, 3, 3, 2]);
  // Causal (pad 2 | 0): bin m reaches outputs m..m+2 within 0..4.
  assert.deepEqual([...convTaps(5, { kernel: 3, centered: false })], [3, 3, 3, 2, 1]);
  // x [1, 5, 2]: ones at bin 0 (both channels) and bin 3 (one channel); 4 output channels:
  // centred ACs = (2·2 + 1·3)·4 = 28; causal (2·3 + 1·2)·4 = 32; dense MACs = 10·3·4 = 120.
  const x = tf.tensor3d([[[1, 1], [0, 0], [0, 0], [0, 1], [0, 0]]]);
  const ops = opsCounter();
  ops.conv("c", x, 4, { kernel: 3, centered: true });
  ops.conv("k", x, 4, { kernel: 3, centered: false });
  ops.conv("dense", tf.mul(x, 0.5), 4, { kernel: 3, centered: true });
  const [c, k, dense] = await ops.rows();
  assert.equal(c.acs, 28);
  assert.equal(k.acs, 32);
  assert.equal(dense.macs, 120);
  assert.equal(c.denseMacs, 120);
});

Deno.test("energy: matmul counts the cheaper binary operand's events", async () => {
  await useBackend("cpu");
  // a [2, 3] with 1 non-zero (binary), b [3, 4] with 6 non-zeros (binary):
  // a-events: 1 · N(4) = 4 ACs; b-events: 6 · M(2) = 12 → 4. Dense: 2·3·4 = 24 MACs.
  const a = tf.tensor2d([[0, 1, 0], [0, 0, 0]]);
  const b = tf.tensor2d([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]]);
  const ops = opsCounter();
  ops.matmul("both", a, b);
  ops.matmul("bOnly", tf.mul(a, 3), b); // a is not binary: b's events, 12 ACs
  ops.matmul("bT", tf.mul(a, 3), tf.transpose(b), { transposeB: true });
  ops.matmul("none", tf.mul(a, 3), tf.mul(b, 3));
  const [both, bOnly, bT, none] = await ops.rows();
  assert.deepEqual([both.acs, both.macs, both.denseMacs], [4, 0, 24]);
  assert.deepEqual([bOnly.acs, bOnly.macs], [12, 0]);
  assert.deepEqual([bT.acs, bT.macs, bT.denseMacs], [12, 0, 24]);
  assert.deepEqual([none.acs, none.macs], [0, 24]);
});

Deno.test("energyReport: hand counts on a tiny hybrid model in both modes", async () => {
  await useBackend("cpu");
  const [B, L, N, D, H, F, T, nOut] = [2, 6, 3, 8, 2, 16, 3, 5];
  const model = hybridTransformer({
    nInputs: N,
    nOutputs: nOut,
    bins: L,
    dModel: D,
    nHeads: H,
    dFF: F,
    nLayers: 1,
    timesteps: T,
    residual: "membrane",
    dropout: 0,
    embedDropout: 0,
    rateDropout: 0,
  });
  const params = model.init(key(0));
  // a strong embedding so the membrane-shortcut LIFs fire at init (they read the raw stream)
  const emb = params.embed as { w: tf.Tensor };
  const w0 = emb.w;
  emb.w = tf.mul(w0, 20);
  w0.dispose();
  const input = tf.tensor3d(
    Array.from({ length: B * L * N }, (_, i) => Math.floor(((i * 2654435761) % 1000) / 250)),
    [B, L, N],
  );
  const std = await energyReport(model, params, { input }, { mode: "standard" });
  // standard: every site is MACs. Per token: embed N·D, qkv D·3D, o D·D, ff D·F + F·D, readout
  // D·nOut; attention 2·L·D per token (QKᵀ and AV over H heads of d = D/H).
  const perToken = N * D + 3 * D * D + D * D + 2 * D * F + D * nOut + 2 * L * D;
  assert.equal(std.total.macs, B * L * perToken);
  assert.equal(std.total.acs, 0);
  close(std.perSample.energyByKindPj.mac, L * perToken * 4.6);
  assert.equal(std.perSample.effectiveAcs, 0);
  close(std.perBin.macs, perToken);
  // the NDT transformer of the same sizes counts the same MACs
  const ndt = transformer({
    nInputs: N,
    nOutputs: nOut,
    bins: L,
    dModel: D,
    nHeads: H,
    dFF: F,
    nLayers: 1,
  });
  const ndtParams = ndt.init(key(1));
  const ndtReport = await energyReport(ndt, ndtParams, { input });
  assert.equal(ndtReport.total.macs, B * L * perToken);
  assert.ok(ndtReport.rows.some((r) => r.name === "block0.attn.qk"));
  disposeTree(ndtParams);

  // spiking: record the LIF outputs to count events independently
  const spikes = new Map<string, tf.Tensor>();
  const stats = { record: (n: string, s: tf.Tensor) => spikes.set(n, tf.keep(s.clone())) };
  tf.tidy(() => model.apply(params, { input }, { training: false, mode: "spiking", stats }));
  const nnz = async (n: string) => (await tf.sum(spikes.get(n)!).data())[0];
  const spk = await energyReport(model, params, { input }, { mode: "spiking" });
  const row = (n: string) => spk.rows.find((r) => r.name === n)!;
  // embedding: real-valued counts, computed once (not per timestep)
  assert.deepEqual([row("embed").spikeInput, row("embed").macs], [false, B * L * N * D]);
  // Q/K/V from the shortcut LIF's spikes: nnz · 3D ACs
  const fired = [await nnz("block0.shortcut"), await nnz("block0.mlpIn"), await nnz("block0.v")];
  assert.ok(fired.every((n) => n > 0), `spikes at shortcut, mlpIn, v: ${fired}`);
  assert.equal(row("block0.qkv").acs, (await nnz("block0.shortcut")) * 3 * D);
  assert.equal(row("block0.o").acs, (await nnz("block0.attn")) * D);
  assert.equal(row("block0.ff1").acs, (await nnz("block0.mlpIn")) * F);
  assert.equal(row("block0.ff2").acs, (await nnz("block0.ff1")) * D);
  // QKᵀ: binary Q and K, each event adds a row of L: min(nnz Q, nnz K) · L
  const qk = Math.min(await nnz("block0.q"), await nnz("block0.k")) * L;
  assert.equal(row("block0.attn.qk").acs, qk);
  // AV: V's events (the attention map is not binary), each reaching L outputs
  assert.equal(row("block0.attn.av").acs, (await nnz("block0.v")) * L);
  // read-out of the T-averaged membrane stream: real-valued MACs
  assert.deepEqual([row("readout").spikeInput, row("readout").macs], [false, B * L * D * nOut]);
  assert.ok(spk.perSample.energyByKindPj.ac < std.perSample.energyByKindPj.mac);
  // the total is the sum of the kinds, whatever element-wise sites the model reports
  const elementPj = spk.elementwise.reduce((s, e) => s + e.energyPj, 0) / B;
  close(spk.perSample.energyPj, spk.perSample.macs * 4.6 + spk.perSample.acs * 0.9 + elementPj);
  close(
    spk.perSample.energyPj,
    Object.values(spk.perSample.energyByKindPj).reduce((a, b) => a + b, 0),
  );
  // spike sites' effective ACs are at most their ACs (a row of the other operand may hold zeros)
  assert.ok(spk.total.effectiveAcs > 0 && spk.total.effectiveAcs <= spk.total.acs);
  assert.match(energyTable(spk), /\| block0\.qkv \| linear \| spikes \|/);
  await assert.rejects(
    () => energyReport(model, params, { input }, { modes: "x" } as never),
    /unknown energyReport option "modes"/,
  );
  for (const s of spikes.values()) s.dispose();
  disposeTree(params);
});

Deno.test("energy: the per-op table is Horowitz's add 0.9 pJ and mult 3.7 pJ times each make-up", () => {
  // by hand: norm 3 m + 4 a, neuron 2 m + 3 a, softmax 7 m + 10 a, GELU 13 m + 11 a
  const expected = {
    mac: 3.7 + 0.9,
    ac: 0.9,
    norm: 3 * 3.7 + 4 * 0.9, // 14.7
    neuron: 2 * 3.7 + 3 * 0.9, // 10.1
    softmax: 7 * 3.7 + 10 * 0.9, // 34.9
    gelu: 13 * 3.7 + 11 * 0.9, // 58.0
    add: 0.9,
    mul: 3.7,
  };
  for (const [k, v] of Object.entries(expected)) {
    close(ENERGY_PER_OP_PJ[k as keyof typeof expected], v, 1e-12, k);
  }
  assert.deepEqual([ENERGY_PER_OP_PJ.norm, ENERGY_PER_OP_PJ.gelu], [14.7, 58]);
  assert.deepEqual(OP_COMPOSITION.softmax, { mult: 7, add: 10 });
  // the 45 nm INT8 figures (add 0.03, mult 0.2): GELU = 13·0.2 + 11·0.03 = 2.93
  const int8 = energyPerOp({ addPj: 0.03, multPj: 0.2 });
  close(int8.gelu, 2.93, 1e-12);
  close(int8.mac, 0.23, 1e-12);
  assert.equal(int8.ac, 0.03);
});

Deno.test("energy: element-wise sites, hand counts per kind", () => {
  const ops = opsCounter();
  ops.elementwise("ln1", "norm", 10);
  ops.elementwise("lif", "neuron", 20);
  ops.elementwise("attn.softmax", "softmax", 4);
  ops.elementwise("lif", "neuron", 5); // same site and kind: merged into 25
  ops.elementwise("ff.gelu", "gelu", 3);
  ops.elementwise("residual", "add", 7);
  ops.elementwise("scale", "mul", 2);
  ops.elementwise("lif", "add", 1); // same name, other kind: its own row
  const rows = ops.elementwiseRows();
  assert.deepEqual(
    rows.map((r) => [r.name, r.kind, r.count]),
    [
      ["ln1", "norm", 10],
      ["lif", "neuron", 25],
      ["attn.softmax", "softmax", 4],
      ["ff.gelu", "gelu", 3],
      ["residual", "add", 7],
      ["scale", "mul", 2],
      ["lif", "add", 1],
    ],
  );
  // 10·14.7 = 147, 25·10.1 = 252.5, 4·34.9 = 139.6, 3·58 = 174, 7·0.9 = 6.3, 2·3.7 = 7.4, 0.9
  const pj = [147, 252.5, 139.6, 174, 6.3, 7.4, 0.9];
  rows.forEach((r, i) => close(r.energyPj, pj[i], 1e-12, r.name));
  // overrides apply per kind
  const cheap = opsCounter();
  cheap.elementwise("n", "neuron", 4);
  assert.equal(cheap.elementwiseRows({ neuronPj: 0.5 })[0].energyPj, 2);
});

/** A model that reports a fixed, hand-made sequence of operations (and keeps the key it got). */
function fakeModel(keys: unknown[] = []): CountingModel {
  return {
    modes: ["spiking"],
    apply(_params, batch, ctx) {
      keys.push(ctx.key);
      const ops = ctx.ops!;
      // linear on real input, 2 of 4 non-zero, N = 3: 12 MACs, 6 effective MACs, 2 zeros
      ops.linear("embed", tf.tensor2d([[0.5, 0, 2, 0]]), 3);
      // linear on spikes, 3 of 8 non-zero, N = 5: 15 ACs (= effective), 5 zeros
      ops.linear("fc", tf.tensor2d([[0, 1, 1, 0], [1, 0, 0, 0]]), 5);
      // binary a [2, 3] (1 nnz), binary b [3, 4] (6 nnz): ACs min(1·4, 6·2) = 4. Effective: A's
      // column 1 meets B's row 1 (2 non-zeros): 2. Zeros 5 + 6 = 11 of 18.
      ops.matmul(
        "qk",
        tf.tensor2d([[0, 1, 0], [0, 0, 0]]),
        tf.tensor2d([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]]),
      );
      ops.elementwise("ln", "norm", 8);
      ops.elementwise("lif", "neuron", 6);
      ops.elementwise("softmax", "softmax", 6);
      ops.elementwise("gelu", "gelu", 2);
      ops.elementwise("res", "add", 4);
      ops.elementwise("mask", "mul", 4);
      return tf.zeros([batch.input.shape[0], 3, 2]);
    },
  };
}

Deno.test("energyReport: kinds, totals and NeuroBench counts on a hand-made sequence", async () => {
  await useBackend("cpu");
  const input = tf.zeros([2, 3, 1]); // batch of 2 trials, 3 bins
  const r = await energyReport(fakeModel(), {}, { input });
  const t = r.total;
  assert.deepEqual(t.opsByKind, { mac: 12, ac: 19, norm: 8, neuron: 6, softmax: 6, other: 10 });
  assert.deepEqual(t.opsByOp, {
    mac: 12,
    ac: 19,
    norm: 8,
    neuron: 6,
    softmax: 6,
    gelu: 2,
    add: 4,
    mul: 4,
  });
  // pJ by hand: mac 12·4.6 = 55.2; ac 19·0.9 = 17.1; norm 8·14.7 = 117.6; neuron 6·10.1 = 60.6;
  // softmax 6·34.9 = 209.4; other 2·58 + 4·0.9 + 4·3.7 = 116 + 3.6 + 14.8 = 134.4
  const byKind = { mac: 55.2, ac: 17.1, norm: 117.6, neuron: 60.6, softmax: 209.4, other: 134.4 };
  for (const [k, v] of Object.entries(byKind)) {
    close(t.energyByKindPj[k as keyof typeof byKind], v, 1e-12, k);
  }
  close(t.energyPj, 55.2 + 17.1 + 117.6 + 60.6 + 209.4 + 134.4, 1e-12, "total"); // 594.3
  assert.equal(t.denseMacs, 12 + 40 + 24);
  assert.deepEqual([t.effectiveMacs, t.effectiveAcs], [6, 15 + 2]);
  // zeros 2 + 5 + 11 = 18 over 4 + 8 + 18 = 30 input elements
  close(t.activationSparsity, 18 / 30, 1e-12);
  // per sample halves every count and energy; per bin divides by 3 more; sparsity is a ratio
  close(r.perSample.energyPj, 594.3 / 2, 1e-12);
  assert.deepEqual(r.perSample.opsByKind, {
    mac: 6,
    ac: 9.5,
    norm: 4,
    neuron: 3,
    softmax: 3,
    other: 5,
  });
  assert.equal(r.perSample.effectiveAcs, 8.5);
  close(r.perBin.energyByKindPj.softmax, 209.4 / 6, 1e-12);
  close(r.perBin.activationSparsity, 18 / 30, 1e-12);
  assert.equal(r.mode, "spiking");
  assert.deepEqual(r.elementwise.map((e) => e.kind), [
    "norm",
    "neuron",
    "softmax",
    "gelu",
    "add",
    "mul",
  ]);
  const table = energyTable(r);
  assert.match(table, /\| softmax \| softmax \| - \| - \| - \| - \| 3\.0 \| 0\.105 \|/);
  assert.match(table, /\| gelu \(other\) \| 1\.0 \| 58 \| 0\.058 \| 19\.5 % \|/);
  // overrides: softmax at 1 pJ removes 6·33.9 pJ from the total
  const keys: unknown[] = [];
  const o = await energyReport(fakeModel(keys), {}, { input }, {
    softmaxPj: 1,
    mode: "standard",
    seed: 3,
  });
  // the forward pass gets the seed's key (models that mask at inference need one)
  assert.deepEqual(keys, [key(3)]);
  close(o.total.energyPj, 594.3 - 6 * 33.9, 1e-12);
  assert.equal(o.constants.softmaxPj, 1);
  assert.equal(o.constants.macPj, 4.6);
  input.dispose();
});

Deno.test("energy: NeuroBench effective MACs/ACs and sparsity of convolutions and matmuls", async () => {
  await useBackend("cpu");
  const ops = opsCounter();
  // conv (the taps test's x): effective = Σ nnz(bin)·taps·C_out = (2·2 + 1·3)·4 = 28
  const x = tf.tensor3d([[[1, 1], [0, 0], [0, 0], [0, 1], [0, 0]]]);
  ops.conv("spikes", x, 4, { kernel: 3, centered: true });
  ops.conv("real", tf.mul(x, 0.5), 4, { kernel: 3, centered: true });
  // real a·b: non-zero products a[1,0]·b[0,0] and a[0,1]·b[1,{0,1,3}]: 4 of 2·3·4 = 24
  ops.matmul(
    "realMM",
    tf.tensor2d([[0, 3, 0], [2, 0, 0]]),
    tf.tensor2d([[0.5, 0, 0, 0], [1, 2, 0, 3], [0, 0, 0, 0]]),
  );
  // batched binary a [2, 1, 2] · bᵀ with b [2, 3, 2]: batch 0 pairs 1·1, batch 1 1·2 + 1·1 → 4;
  // ACs min(nnz a 3 · N 3, nnz b 6 · M 1) = 6
  ops.matmul(
    "batchedT",
    tf.tensor3d([[[1, 0]], [[1, 1]]]),
    tf.tensor3d([[[1, 1], [0, 1], [0, 0]], [[1, 0], [1, 0], [0, 1]]]),
    { transposeB: true },
  );
  const [spikes, real, realMM, batchedT] = await ops.rows();
  assert.deepEqual([spikes.effectiveAcs, spikes.effectiveMacs, spikes.acs], [28, 0, 28]);
  assert.deepEqual([real.effectiveMacs, real.effectiveAcs, real.macs], [28, 0, 120]);
  assert.deepEqual([spikes.inputNumel, spikes.inputZeros], [10, 7]);
  assert.deepEqual([realMM.spikeInput, realMM.macs, realMM.effectiveMacs], [false, 24, 4]);
  assert.deepEqual([realMM.inputNumel, realMM.inputZeros], [6 + 12, 4 + 8]);
  assert.deepEqual([batchedT.spikeInput, batchedT.acs, batchedT.effectiveAcs], [true, 6, 4]);
  assert.deepEqual([batchedT.inputNumel, batchedT.inputZeros, batchedT.denseMacs], [16, 7, 12]);
});

Deno.test("energy: constants and element-wise records are validated", async () => {
  assert.throws(
    () => resolveEnergyConstants({ fooPj: 1 } as never),
    /unknown energy constant "fooPj"/,
  );
  assert.throws(() => resolveEnergyConstants({ normPj: -1 }), RangeError);
  assert.throws(() => resolveEnergyConstants({ geluPj: Infinity }), RangeError);
  assert.throws(() => resolveEnergyConstants({ addPj: "1" } as never), TypeError);
  assert.throws(() => energyPerOp({ multPj: -0.1 }), RangeError);
  assert.throws(() => energyPerOp({ divPj: 1 } as never), /unknown primitive energy "divPj"/);
  assert.equal(resolveEnergyConstants({ mulPj: 0 }).mulPj, 0);
  const ops = opsCounter();
  assert.throws(() => ops.elementwise("x", "exp" as never, 1), TypeError);
  assert.throws(() => ops.elementwise("x", "add", -1), RangeError);
  assert.throws(() => ops.elementwise("x", "add", NaN), RangeError);
  await assert.rejects(() => ops.rows({ acPj: -0.9 }), RangeError);
  await assert.rejects(
    () => energyReport(fakeModel(), {}, { input: tf.zeros([1, 3, 1]) }, { normPj: -2 }),
    RangeError,
  );
});
