import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { array3d, spikeDataset } from "../lib/data/dataset.ts";
import { maskCounts, maskedBatch, resolveMasking } from "../lib/train/masking.ts";
import { key } from "../lib/core/random.ts";
import { transformer } from "../lib/model/transformer.ts";
import { countParams, disposeTree, flatten } from "../lib/core/tree.ts";

await useBackend("cpu");

const base = { nInputs: 3, nOutputs: 5, bins: 6, forwardBins: 2, dModel: 8, nHeads: 2, nLayers: 2 };

Deno.test("transformer: output shape covers all neurons and the forward window", () => {
  const m = transformer(base);
  const p = m.init(key(0));
  const y = m.apply(p, { input: tf.zeros([4, 6, 3]) }, { training: false });
  assert.deepEqual(y.shape, [4, 8, 5]);
  // embed 3*8+8, pos 8*8, 2 blocks of (2*8 ln + 8*24+24 + 8*8+8 + 2*8 + 8*32+32 + 32*8+8), lnFinal 16, readout 8*5+5
  const block = 16 + (8 * 24 + 24) + (8 * 8 + 8) + 16 + (8 * 32 + 32) + (32 * 8 + 8);
  assert.equal(countParams(p), 3 * 8 + 8 + 64 + 2 * block + 16 + 8 * 5 + 5);
  assert.throws(
    () => m.apply(p, { input: tf.zeros([4, 5, 3]) }, { training: false }),
    /\[batch, 6, 3\]/,
  );
});

Deno.test("transformer: config validation names the bad key", () => {
  assert.throws(
    () => transformer({ ...base, nHead: 2 } as never),
    /unknown model config key "nHead"/,
  );
  assert.throws(() => transformer({ ...base, dModel: 10, nHeads: 4 }), /divisible/);
  assert.throws(
    () => transformer({ ...base, dropout: 1.5 }),
    /"dropout" must be a number in \[0, 1\)/,
  );
  assert.throws(() => transformer({ ...base, position: "rotary" as never }), /"position"/);
  assert.throws(() => transformer({ ...base, outputBias: [0] }), /outputBias/);
});

Deno.test("transformer: init and dropout are deterministic in their keys", async () => {
  const m = transformer({ ...base, dropout: 0.3 });
  const a = flatten(m.init(key(1)));
  const b = flatten(m.init(key(1)));
  const c = flatten(m.init(key(2)));
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(await a[i].tensor.data(), await b[i].tensor.data());
  }
  assert.notDeepEqual(await a[1].tensor.data(), await c[1].tensor.data());
  const p = m.init(key(1));
  const x = tf.randomUniform([2, 6, 3], 0, 3, "float32", 1);
  const y1 = await m.apply(p, { input: x }, { training: true, key: key(5) }).data();
  const y2 = await m.apply(p, { input: x }, { training: true, key: key(5) }).data();
  const y3 = await m.apply(p, { input: x }, { training: true, key: key(6) }).data();
  const e1 = await m.apply(p, { input: x }, { training: false }).data();
  const e2 = await m.apply(p, { input: x }, { training: false }).data();
  assert.deepEqual(y1, y2);
  assert.notDeepEqual(y1, y3);
  assert.deepEqual(e1, e2);
  assert.throws(() => m.apply(p, { input: x }, { training: true }), /ctx.key/);
});

Deno.test("transformer: a bin's prediction depends on other bins, unless the context forbids it", async () => {
  const x = tf.tensor3d(Array.from({ length: 6 * 3 }, (_, i) => i % 4), [1, 6, 3]);
  const x2 = tf.tensor3d(Array.from({ length: 6 * 3 }, (_, i) => (i < 3 ? 5 : i % 4)), [1, 6, 3]);
  for (
    const [context, shouldChange] of [[undefined, true], [
      { backward: 0, forward: 0 },
      false,
    ]] as const
  ) {
    const m = transformer({ ...base, context });
    const p = m.init(key(3));
    const a = await m.apply(p, { input: x }, { training: false }).data();
    const b = await m.apply(p, { input: x2 }, { training: false }).data();
    // bin 4 (not the changed bin 0) of every neuron
    const diff = Math.max(...[0, 1, 2, 3, 4].map((n) => Math.abs(a[4 * 5 + n] - b[4 * 5 + n])));
    assert.equal(diff > 1e-6, shouldChange, `context ${JSON.stringify(context)}: diff ${diff}`);
    disposeTree(p);
  }
});

Deno.test('transformer: context forecast "all" lets the forward window read the whole trial, only it', async () => {
  const x = tf.tensor3d(Array.from({ length: 6 * 3 }, (_, i) => i % 4), [1, 6, 3]);
  const x2 = tf.tensor3d(Array.from({ length: 6 * 3 }, (_, i) => (i < 3 ? 5 : i % 4)), [1, 6, 3]);
  // change at bin 0; bin 4 is observed, bin 7 the last forward bin (6 bins + 2 forward)
  const diffAt = (a: Float32Array, b: Float32Array, bin: number) =>
    Math.max(...[0, 1, 2, 3, 4].map((n) => Math.abs(a[bin * 5 + n] - b[bin * 5 + n])));
  for (const forecast of ["local", "all"] as const) {
    const m = transformer({ ...base, context: { backward: 0, forward: 0, forecast } });
    const p = m.init(key(3));
    const a = await m.apply(p, { input: x }, { training: false }).data() as Float32Array;
    const b = await m.apply(p, { input: x2 }, { training: false }).data() as Float32Array;
    assert.ok(diffAt(a, b, 4) < 1e-6, `${forecast}: observed bin 4 must not see bin 0`);
    assert.equal(diffAt(a, b, 7) > 1e-6, forecast === "all", `${forecast}: forecast bin 7`);
    disposeTree(p);
  }
  assert.throws(
    () => transformer({ ...base, context: { backward: 1, forward: 0, forecast: "x" as "all" } }),
    /"context.forecast" must be "local" or "all", found "x"/,
  );
  assert.throws(
    () => transformer({ ...base, context: { backward: 1, forward: 0, back: 2 } as never }),
    /unknown model config key "context.back"/,
  );
});

Deno.test("transformer: gradient w.r.t. the embedding matches finite differences", async () => {
  const m = transformer({ ...base, dropout: 0, embedDropout: 0, rateDropout: 0 });
  const p = m.init(key(4));
  const x = tf.tensor3d(Array.from({ length: 2 * 6 * 3 }, (_, i) => (i * 7) % 3), [2, 6, 3]);
  const y = tf.tensor3d(Array.from({ length: 2 * 8 * 5 }, (_, i) => (i * 5) % 4), [2, 8, 5]);
  const embed = p.embed as { w: tf.Tensor2D; b: tf.Tensor1D };
  const loss = (w: tf.Tensor) => {
    const lr = m.apply({ ...p, embed: { w, b: embed.b } }, { input: x }, { training: false });
    return tf.mean(tf.sub(tf.exp(lr), tf.mul(y, lr)));
  };
  const g = await tf.grad(loss)(embed.w).data();
  const w0 = await embed.w.data();
  const eps = 5e-3;
  for (const idx of [0, 7, 13, 23]) {
    const plus = w0.slice();
    plus[idx] += eps;
    const minus = w0.slice();
    minus[idx] -= eps;
    const fd = ((await loss(tf.tensor2d(plus, [3, 8])).data())[0] -
      (await loss(tf.tensor2d(minus, [3, 8])).data())[0]) / (2 * eps);
    assert.ok(
      Math.abs(fd - g[idx]) < 2e-3 + 2e-2 * Math.abs(fd),
      `w[${idx}]: ${g[idx]} vs fd ${fd}`,
    );
  }
});

function toyDataset() {
  const counts = new Float32Array(4 * 5 * 4);
  counts.forEach((_, i) => (counts[i] = i % 3));
  const fwd = new Float32Array(4 * 2 * 4).fill(7);
  return spikeDataset({
    name: "toy",
    binSizeMs: 10,
    counts: array3d(counts, [4, 5, 4]),
    forwardCounts: array3d(fwd, [4, 2, 4]),
    heldOut: [1],
    split: { train: [0, 1, 2], val: [3], test: [] },
  });
}

Deno.test("masking: timestep, neuron and element modes and the replacement rule", () => {
  const c = array3d(new Float32Array(200 * 10 * 6).fill(2), [200, 10, 6]);
  const ts = maskCounts(key(1), c, { mode: "timestep", ratio: 0.25 });
  let frac = 0;
  for (let t = 0; t < 200; t++) {
    for (let j = 0; j < 10; j++) {
      const row = ts.mask.data.subarray((t * 10 + j) * 6, (t * 10 + j + 1) * 6);
      assert.ok(row.every((v) => v === row[0]), "a timestep mask covers every neuron of the bin");
      frac += row[0];
    }
  }
  frac /= 2000;
  assert.ok(Math.abs(frac - 0.25) < 0.04, `masked fraction ${frac}`);
  // zeroRatio 1: every masked entry is 0, every unmasked one unchanged
  ts.mask.data.forEach((m, i) => assert.equal(ts.input.data[i], m ? 0 : 2));
  const nm = maskCounts(key(2), c, { mode: "neuron", ratio: 0.5 });
  for (let t = 0; t < 5; t++) {
    for (let n = 0; n < 6; n++) {
      const col = [...Array(10).keys()].map((j) => nm.mask.data[(t * 10 + j) * 6 + n]);
      assert.ok(col.every((v) => v === col[0]), "a neuron mask covers every bin");
    }
  }
  // zeroRatio 0, randomRatio 1: masked entries get random counts in [0, max) = [0, 2)
  const rnd = maskCounts(key(3), c, { mode: "element", ratio: 0.5, zeroRatio: 0, randomRatio: 1 });
  rnd.mask.data.forEach((m, i) => {
    if (m) assert.ok(rnd.input.data[i] === 0 || rnd.input.data[i] === 1);
    else assert.equal(rnd.input.data[i], 2);
  });
  assert.deepEqual(maskCounts(key(1), c).mask.data, ts.mask.data);
  assert.throws(() => resolveMasking({ ratio: 2 }), /"ratio" must be in \[0, 1\]/);
  assert.throws(() => resolveMasking({ rate: 0.1 } as never), /unknown masking option "rate"/);
});

Deno.test("maskedBatch: held-out neurons are never input; loss weights follow NDT", async () => {
  const ds = toyDataset();
  const b = maskedBatch(ds, [0, 2], {
    key: key(0),
    masking: { ratio: 0.5, unmaskedLossScale: 0.1 },
  });
  assert.deepEqual(b.input.shape, [2, 5, 3]);
  assert.deepEqual(b.target.shape, [2, 7, 4]);
  const input = await b.input.data();
  const target = await b.target.data();
  const w = await b.weight.data();
  for (let t = 0; t < 2; t++) {
    for (let j = 0; j < 7; j++) {
      const row = (t * 7 + j) * 4;
      if (j >= 5) {
        // forward window: target = forward counts, always in the loss
        for (let n = 0; n < 4; n++) assert.equal(target[row + n], 7);
        for (let n = 0; n < 4; n++) assert.equal(w[row + n], 1);
        continue;
      }
      assert.equal(w[row + 1], 1, "held-out neuron 1 always in the loss");
      const masked = input[(t * 5 + j) * 3] === 0 && w[row] === 1;
      for (const [pos, n] of [[0, 0], [1, 2], [2, 3]]) {
        const inVal = input[(t * 5 + j) * 3 + pos];
        assert.ok(w[row + n] === 1 || Math.abs(w[row + n] - 0.1) < 1e-7);
        if (w[row + n] === 1) assert.equal(inVal, 0);
        else assert.equal(inVal, target[row + n]);
      }
      void masked;
    }
  }
  // unmasked batches (inference) carry the held-in counts unchanged
  const u = maskedBatch(ds, [3], { key: key(0), unmasked: true });
  const ui = await u.input.data();
  const raw = ds.counts.data.subarray(3 * 20, 4 * 20);
  for (let j = 0; j < 5; j++) {
    assert.deepEqual([ui[j * 3], ui[j * 3 + 1], ui[j * 3 + 2]], [
      raw[j * 4],
      raw[j * 4 + 2],
      raw[j * 4 + 3],
    ]);
  }
});
