import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { convTaps, energyReport, energyTable, opsCounter } from "../lib/eval/energy.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import { transformer } from "../lib/model/transformer.ts";
import { key } from "../lib/core/random.ts";
import { disposeTree } from "../lib/core/tree.ts";

function close(a: number, b: number, rel = 1e-9, msg = "") {
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${msg} ${a} vs ${b}`);
}

Deno.test("energy: components.md H.7 linear-layer vectors (64 → 128, 100 tokens, T = 4)", async () => {
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
  close(std.perSample.energyPj, L * perToken * 4.6);
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
  assert.ok(spk.perSample.energyPj < std.perSample.energyPj);
  assert.match(energyTable(spk), /\| block0\.qkv \| linear \| spikes \|/);
  await assert.rejects(
    () => energyReport(model, params, { input }, { modes: "x" } as never),
    /unknown energyReport option "modes"/,
  );
  for (const s of spikes.values()) s.dispose();
  disposeTree(params);
});
