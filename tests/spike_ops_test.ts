import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { foldIn, key } from "../lib/core/random.ts";
import {
  firingRate,
  randomSpikeMask,
  sew,
  type SewMode,
  significanceMask,
  type SignificanceMaskOptions,
  spikeCount,
} from "../lib/snn/spike_ops.ts";

await useBackend("cpu");

async function values(t: tf.Tensor): Promise<number[]> {
  // `+ 0` turns −0 into 0 so that deepEqual compares values.
  return Array.from(await t.data(), (v) => v + 0);
}

Deno.test("SEW truth table (F.7): ADD, AND, IAND with O = g(A, S)", async () => {
  // (A, S) ∈ {(0,0), (0,1), (1,0), (1,1)}
  const a = tf.tensor1d([0, 0, 1, 1]);
  const s = tf.tensor1d([0, 1, 0, 1]);
  assert.deepEqual(await values(sew(s, a, { mode: "add" })), [0, 1, 1, 2]);
  assert.deepEqual(await values(sew(s, a, { mode: "and" })), [0, 0, 0, 1]);
  assert.deepEqual(await values(sew(s, a, { mode: "iand" })), [0, 1, 0, 0]);
  assert.deepEqual(await values(sew(s, a)), [0, 1, 1, 2], "default mode is add");
  // SEW-ADD identity: a zero residual branch returns S unchanged.
  assert.deepEqual(await values(sew(s, tf.zerosLike(s))), [0, 1, 0, 1]);
});

Deno.test("SEW is differentiable in both inputs", async () => {
  const a = tf.tensor1d([0, 0, 1, 1]);
  const s = tf.tensor1d([0, 1, 0, 1]);
  const want: Record<SewMode, [number[], number[]]> = {
    add: [[1, 1, 1, 1], [1, 1, 1, 1]],
    and: [[0, 0, 1, 1], [0, 1, 0, 1]], // d/dS = A, d/dA = S
    iand: [[1, 1, 0, 0], [0, -1, 0, -1]], // d/dS = 1 − A, d/dA = −S
  };
  for (const mode of ["add", "and", "iand"] as const) {
    const [gs, ga] = tf.grads((ss: tf.Tensor, aa: tf.Tensor) => tf.sum(sew(ss, aa, { mode })))([
      s,
      a,
    ]);
    assert.deepEqual(await values(gs), want[mode][0], `${mode} d/dS`);
    assert.deepEqual(await values(ga), want[mode][1], `${mode} d/dA`);
  }
  assert.throws(
    () => sew(s, a, { mode: "or" as unknown as SewMode }),
    /"mode" must be one of "add", "and", "iand", found "or"/,
  );
  assert.throws(
    () => sew(s, a, { kind: "add" } as unknown as { mode: SewMode }),
    /unknown sew option "kind"/,
  );
});

Deno.test("RSM (G.7): limits, no rescaling, statistics over 1e6 ones", async () => {
  const x = tf.tensor1d([1, 1, 0, 1]);
  assert.equal(randomSpikeMask(x, { p: 0, key: key(0) }), x, "p = 0 returns x itself");
  assert.equal(randomSpikeMask(x, { p: 0 }), x, "p = 0 needs no key");
  assert.deepEqual(await values(randomSpikeMask(x, { p: 1 })), [0, 0, 0, 0]);

  const n = 1_000_000;
  const ones = tf.ones([n]);
  for (const p of [0.25, 0.75]) {
    const y = randomSpikeMask(ones, { p, key: key(42) });
    const v = await values(y);
    let sum = 0;
    let max = -Infinity;
    for (const e of v) {
      sum += e;
      if (e > max) max = e;
      assert.ok(e === 0 || e === 1);
    }
    const mean = sum / n;
    const band = 3 * Math.sqrt(p * (1 - p) / n);
    assert.ok(
      Math.abs(mean - (1 - p)) <= band,
      `p=${p}: mean ${mean}, expected ${1 - p} ± ${band}`,
    );
    assert.ok(max <= 1, `p=${p}: max ${max} > 1 (dropout-style rescaling?)`);
    y.dispose();
  }
  ones.dispose();
});

Deno.test("RSM is deterministic in the key, keys differ, and it masks a fixed pattern", async () => {
  const x = tf.ones([64, 32]);
  const a = await values(randomSpikeMask(x, { p: 0.5, key: key(1) }));
  const b = await values(randomSpikeMask(x, { p: 0.5, key: key(1) }));
  const c = await values(randomSpikeMask(x, { p: 0.5, key: foldIn(key(1), 1) }));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // Zeros stay zero; nonzero values are kept unscaled or dropped.
  const z = tf.tensor1d([1, 1, 0, 1, 2.5, -3]);
  const y = await values(randomSpikeMask(z, { p: 0.5, key: key(3) }));
  const src = await values(z);
  assert.equal(y[2], 0);
  for (let i = 0; i < y.length; i++) assert.ok(y[i] === 0 || y[i] === src[i], `element ${i}`);
  // The gradient is the mask itself.
  const g = await values(
    tf.grad((t: tf.Tensor) => tf.sum(randomSpikeMask(t, { p: 0.5, key: key(3) })))(z),
  );
  for (let i = 0; i < y.length; i++) {
    if (src[i] !== 0) assert.equal(g[i], y[i] === 0 ? 0 : 1);
  }
});

Deno.test("RSM option validation", () => {
  const x = tf.ones([4]);
  assert.throws(
    () => randomSpikeMask(x, { p: 1.5, key: key(0) }),
    /"p" must be a number in \[0, 1\], found 1.5/,
  );
  assert.throws(() => randomSpikeMask(x, { p: -0.1, key: key(0) }), /found -0.1/);
  assert.throws(() => randomSpikeMask(x, { p: NaN, key: key(0) }), /found NaN/);
  assert.throws(() => randomSpikeMask(x, { p: 0.5 }), /needs a random "key" when 0 < p < 1/);
  assert.throws(
    () => randomSpikeMask(x, { p: 0.5, seed: 1 } as unknown as { p: number }),
    /unknown randomSpikeMask option "seed"/,
  );
});

Deno.test("firingRate and spikeCount", async () => {
  const s = tf.tensor3d([[[0, 1], [1, 1]], [[0, 0], [0, 1]]]); // [T=2, B=2, N=2]
  assert.equal(await spikeCount(s), 4);
  assert.equal(await firingRate(s), 0.5);
  assert.equal(await firingRate(tf.zeros([3, 3])), 0);
  assert.equal(await spikeCount(tf.tensor1d([1, 0, 1], "int32")), 2);
  await assert.rejects(() => firingRate(tf.zeros([0])), /non-empty tensor, found shape \[0\]/);
  const before = tf.memory().numTensors;
  await firingRate(s);
  assert.equal(tf.memory().numTensors, before, "firingRate leaks no tensors");
});

// ---------------------------------------------------------------------------------------------
// Significance-based spike masking on Q/K spikes [T, B, H, L, d]

type Shape5 = [number, number, number, number, number];

/** A [T, B, H, L, d] 0/1 tensor with spike(t, b, h, l, j) at each element. */
function spikes5(
  shape: Shape5,
  spike: (t: number, b: number, h: number, l: number, j: number) => boolean,
): tf.Tensor {
  const [T, B, H, L, d] = shape;
  const v: number[] = [];
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let l = 0; l < L; l++) {
          for (let j = 0; j < d; j++) v.push(spike(t, b, h, l, j) ? 1 : 0);
        }
      }
    }
  }
  return tf.tensor(v, shape);
}

/** x with the elements where masked(b, h, l, j) zeroed, in the same row-major order. */
async function expectMasked(
  x: tf.Tensor,
  masked: (b: number, h: number, l: number, j: number) => boolean,
): Promise<number[]> {
  const [T, B, H, L, d] = x.shape as Shape5;
  const v = await values(x);
  let i = 0;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let l = 0; l < L; l++) {
          for (let j = 0; j < d; j++, i++) if (masked(b, h, l, j)) v[i] = 0;
        }
      }
    }
  }
  return v;
}

/**
 * Spatial case: T = 2, B = 2, H = 2, L = 3, d = 2, so D = 4 channels c = h·d + j, each with
 * T·B·L = 12 positions (t, b, l), position index q = (t·B + b)·L + l. Channel c fires at its
 * first n_c positions: n = [7, 2, 11, 5] → rates 7/12, 2/12, 11/12, 5/12.
 */
const SPATIAL_SHAPE: Shape5 = [2, 2, 2, 3, 2];
const SPATIAL_COUNTS = [7, 2, 11, 5];
function spatialSpikes(counts = SPATIAL_COUNTS): tf.Tensor {
  return spikes5(SPATIAL_SHAPE, (t, b, h, l, j) => (t * 2 + b) * 3 + l < counts[h * 2 + j]);
}

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`significanceMask spatial: zeroes the ⌊p·D⌋ channels with the lowest rate (${backend})`, async () => {
    await useBackend(backend);
    const x = spatialSpikes();
    // lowest rates: channel 1 (2), then 3 (5), then 0 (7), then 2 (11)
    const cases: [number, number[]][] = [
      [0.25, [1]], // ⌊0.25·4⌋ = 1
      [0.5, [1, 3]],
      [0.6, [1, 3]], // ⌊2.4⌋ = 2
      [0.75, [1, 3, 0]],
      [1, [0, 1, 2, 3]],
    ];
    for (const [p, chans] of cases) {
      for (const k of [key(0), key(1), foldIn(key(2), 7)]) {
        const y = significanceMask(x, { p, mode: "spatial", key: k });
        assert.deepEqual(y.shape, x.shape);
        const want = await expectMasked(x, (_b, h, _l, j) => chans.includes(h * 2 + j));
        assert.deepEqual(await values(y), want, `p ${p}: channels ${chans} masked`);
      }
    }
    await useBackend("cpu");
  });

  Deno.test(`significanceMask temporal: per trial, zeroes the ⌊p·L⌋ bins with the lowest rate (${backend})`, async () => {
    await useBackend(backend);
    // T = 2, B = 2, H = 2, L = 4, d = 2: each (b, l) has T·H·d = 8 positions, index
    // r = (t·H + h)·d + j; bin l of trial b fires at its first counts[b][l] positions.
    const counts = [[5, 1, 8, 3], [2, 7, 0, 6]];
    const x = spikes5([2, 2, 2, 4, 2], (t, b, h, l, j) => (t * 2 + h) * 2 + j < counts[b][l]);
    const cases: [number, number[][]][] = [
      [0.25, [[1], [2]]], // ⌊0.25·4⌋ = 1 bin per trial
      [0.5, [[1, 3], [2, 0]]],
      [0.75, [[1, 3, 0], [2, 0, 3]]],
    ];
    for (const [p, bins] of cases) {
      const y = significanceMask(x, { p, mode: "temporal", key: key(5) });
      const want = await expectMasked(x, (b, _h, l) => bins[b].includes(l));
      assert.deepEqual(await values(y), want, `p ${p}: bins ${JSON.stringify(bins)} masked`);
    }
    await useBackend("cpu");
  });
}

Deno.test("significanceMask: ties are broken by the key, deterministically; one spike always wins", async () => {
  // all four channels fire 5 of 12 times: which one is masked depends on the key only
  const tied = spatialSpikes([5, 5, 5, 5]);
  const maskedChannels = async (x: tf.Tensor, opts: SignificanceMaskOptions) => {
    const y = await values(significanceMask(x, opts));
    const src = await values(x);
    // a channel is masked when all its spikes are gone
    const out: number[] = [];
    for (let c = 0; c < 4; c++) {
      let had = 0, kept = 0;
      for (let i = 0; i < src.length; i++) {
        if ((i % 2) + 2 * (Math.floor(i / 6) % 2) !== c) continue; // j = i mod 2, h = ⌊i/6⌋ mod 2
        had += src[i];
        kept += y[i];
      }
      assert.ok(kept === 0 || kept === had, `channel ${c} wholly kept or masked`);
      if (had > 0 && kept === 0) out.push(c);
    }
    return out;
  };
  const seen = new Set<number>();
  for (let s = 0; s < 24; s++) {
    const opts: SignificanceMaskOptions = { p: 0.25, mode: "spatial", key: key(s) };
    const m = await maskedChannels(tied, opts);
    assert.equal(m.length, 1, `key ${s}: one channel masked`);
    assert.deepEqual(await maskedChannels(tied, opts), m, `key ${s}: the same mask again`);
    seen.add(m[0]);
  }
  assert.ok(seen.size >= 2, `the key decides the tie: masked ${[...seen]}`);
  // a single spike less (rate 4/12 vs 5/12) is masked whatever the key
  const nearTie = spatialSpikes([5, 5, 4, 5]);
  for (let s = 0; s < 24; s++) {
    assert.deepEqual(await maskedChannels(nearTie, { p: 0.25, mode: "spatial", key: key(s) }), [2]);
  }
  // temporal: a one-spike difference in T·H·d = 8 positions of a bin decides too
  const counts = [[4, 4, 3, 4]];
  const xt = spikes5([2, 1, 2, 4, 2], (t, b, h, l, j) => (t * 2 + h) * 2 + j < counts[b][l]);
  for (let s = 0; s < 24; s++) {
    const y = significanceMask(xt, { p: 0.25, mode: "temporal", key: key(s) });
    assert.deepEqual(await values(y), await expectMasked(xt, (_b, _h, l) => l === 2));
  }
});

Deno.test("significanceMask: p = 0 (or too small to mask one unit) is the identity", async () => {
  const x = spatialSpikes();
  assert.equal(significanceMask(x, { p: 0, mode: "spatial", key: key(0) }), x);
  assert.equal(significanceMask(x, { p: 0, mode: "temporal", key: key(0) }), x);
  // ⌊0.2·4⌋ = 0 channels; ⌊0.3·3⌋ = 0 bins
  assert.equal(significanceMask(x, { p: 0.2, mode: "spatial", key: key(0) }), x);
  assert.equal(significanceMask(x, { p: 0.3, mode: "temporal", key: key(0) }), x);
  // ⌊0.34·3⌋ = 1 bin: no longer the identity
  const y = significanceMask(x, { p: 0.34, mode: "temporal", key: key(0) });
  assert.notEqual(y, x);
  assert.notDeepEqual(await values(y), await values(x));
});

Deno.test("significanceMask: the gradient is dy · mask", async () => {
  const x = spatialSpikes();
  const n = x.size;
  // dy = w: distinct non-zero weights, so a wrong mask or a rescaled gradient shows
  const w = tf.tensor(Array.from({ length: n }, (_, i) => 1 + i / 8), x.shape);
  for (const mode of ["spatial", "temporal"] as const) {
    const opts: SignificanceMaskOptions = { p: 0.5, mode, key: key(3) };
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(significanceMask(t, opts), w)))(x);
    // spatial masks channels 1 and 3 (the two lowest rates). Temporal (L = 3, ⌊0.5·3⌋ = 1)
    // masks bin 2 in both trials: counting (t, h, j) spikes per bin, trial 0 has bins 6, 5, 4
    // and trial 1 has 4, 4, 2 (channel c fires at positions q = (t·2 + b)·3 + l < n_c).
    const masked = mode === "spatial"
      ? (_b: number, h: number, _l: number, j: number) => h * 2 + j === 1 || h * 2 + j === 3
      : (_b: number, _h: number, l: number) => l === 2;
    const want = await expectMasked(w, masked);
    assert.deepEqual(await values(g), want, `${mode}: gradient`);
    // and the forward value masks the same elements
    const y = await values(significanceMask(x, opts));
    assert.deepEqual(y, await expectMasked(x, masked), `${mode}: value`);
  }
});

Deno.test("significanceMask option validation", () => {
  const x = spatialSpikes();
  const k = key(0);
  const bad = (opts: unknown) => significanceMask(x, opts as SignificanceMaskOptions);
  for (const p of [-0.1, 1.5, NaN]) {
    assert.throws(
      () => bad({ p, mode: "spatial", key: k }),
      (e: Error) =>
        e instanceof RangeError &&
        /significanceMask option "p" must be a number in \[0, 1\], found/.test(e.message),
    );
  }
  assert.throws(
    () => bad({ p: 0.5, mode: "random", key: k }),
    (e: Error) =>
      e instanceof TypeError &&
      /"mode" must be "spatial" or "temporal", found "random"/.test(e.message),
  );
  assert.throws(
    () => significanceMask(tf.ones([2, 3, 4]), { p: 0.5, mode: "spatial", key: k }),
    (e: Error) =>
      e instanceof RangeError && /rank 5 \[T, B, H, L, d\], found shape \[2,3,4\]/.test(e.message),
  );
  assert.throws(
    () => significanceMask([1, 0] as unknown as tf.Tensor, { p: 0.5, mode: "spatial", key: k }),
    (e: Error) => e instanceof TypeError && /must be a tf.Tensor/.test(e.message),
  );
  assert.throws(
    () => bad({ p: 0.5, mode: "spatial", key: k, ratio: 1 }),
    /unknown significanceMask option "ratio"/,
  );
  assert.throws(() => bad({ p: 0.5, mode: "spatial", key: [1.5, 2] }), /expected a random key/);
});
