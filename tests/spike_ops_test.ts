import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { foldIn, key } from "../lib/core/random.ts";
import {
  firingRate,
  randomSpikeMask,
  sew,
  type SewMode,
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
