/**
 * The dropout kernel (kernels/dropout.ts) against `tf.dropout` itself: the same outputs and
 * gradients bit for bit on the wasm backend, for sizes that are and are not multiples of four,
 * several rates and seeds; its fallback with the kernels off; its refusals; and the layer
 * `dropout` that calls it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { aleaSeedState, dropoutKernel } from "../kernels/dropout.ts";
import { dropout } from "../lib/nn/layers.ts";
import { key, tfSeed } from "../lib/core/random.ts";
import { randomTensors, withoutKernels } from "./_kernel_util.ts";

await useBackend("wasm");

function bits(t: tf.Tensor): number[] {
  return Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
}

Deno.test("dropoutKernel: tf.dropout's values and gradients bit for bit", () => {
  const r = randomTensors(11);
  const cases: [number[], number, number][] = [
    [[7], 0.5, 0],
    [[3, 5, 6], 0.1, 1234567],
    [[4, 32, 13, 8], 0.2, 2 ** 31 - 1],
    [[2, 1, 9], 0.95, 42],
    [[64, 64], 0.3, 99],
  ];
  for (const [shape, rate, seed] of cases) {
    const what = `[${shape}] rate ${rate} seed ${seed}`;
    const x = r.randn(shape, 2);
    const w = r.randn(shape);
    const got = dropoutKernel(x, rate, seed);
    const want = tf.dropout(x, rate, undefined, seed);
    assert.deepEqual(bits(got), bits(want), what);
    // some elements dropped and some kept, at about the rate
    const kept = got.dataSync().filter((v) => v !== 0).length / x.size;
    if (x.size >= 1000) assert.ok(Math.abs(kept - (1 - rate)) < 0.05, `${what}: kept ${kept}`);
    const gGot = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(dropoutKernel(a, rate, seed), w)))(x);
    const gWant = tf.grad((a: tf.Tensor) =>
      tf.sum(tf.mul(tf.dropout(a, rate, undefined, seed), w))
    )(x);
    assert.deepEqual(bits(gGot), bits(gWant), `${what} gradient`);
    tf.dispose([x, w, got, want, gGot, gWant]);
  }
});

Deno.test("dropoutKernel: hand-checked multiplier, another seed's mask, rate 0, kernels off", () => {
  const x = tf.ones([1000]);
  const y = Array.from(dropoutKernel(x, 0.2, 5).dataSync());
  // kept elements are 1 / fround(0.8), dropped ones 0
  const scale = Math.fround(1 / Math.fround(0.8));
  assert.ok(y.every((v) => v === 0 || v === scale), "values are 0 or 1/keep");
  const other = Array.from(dropoutKernel(x, 0.2, 6).dataSync());
  assert.notDeepEqual(other, y, "another seed draws another mask");
  assert.deepEqual(Array.from(dropoutKernel(x, 0, 5).dataSync()), Array(1000).fill(1));
  const off = withoutKernels(() => dropoutKernel(x, 0.2, 5));
  assert.deepEqual(Array.from(off.dataSync()), y, "kernels off: tf.dropout, the same values");
  // the generator's seeding: Mash of the seed's decimal string, carry 1
  const st = aleaSeedState(5);
  assert.equal(st.c, 1);
  for (const s of [st.s0, st.s1, st.s2]) assert.ok(s >= 0 && s < 1);
  assert.deepEqual(aleaSeedState("5"), st);
  tf.dispose([x]);
});

Deno.test("dropoutKernel: on the cpu backend (the kernels' own memory) too", async () => {
  await useBackend("cpu");
  try {
    const x = randomTensors(5).randn([3, 17, 5]);
    const w = randomTensors(6).randn([3, 17, 5]);
    assert.deepEqual(bits(dropoutKernel(x, 0.3, 77)), bits(tf.dropout(x, 0.3, undefined, 77)));
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(dropoutKernel(a, 0.3, 77), w)))(x);
    const h = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.dropout(a, 0.3, undefined, 77), w)))(x);
    assert.deepEqual(bits(g), bits(h));
  } finally {
    await useBackend("wasm");
  }
});

Deno.test("dropoutKernel: refuses a rate outside [0, 1), a non-float tensor, a bad seed", () => {
  const x = tf.ones([4]);
  assert.throws(() => dropoutKernel(x, 1, 0), /rate must lie in \[0, 1\), found 1/);
  assert.throws(() => dropoutKernel(x, -0.1, 0), /rate must lie in \[0, 1\), found -0.1/);
  assert.throws(() => dropoutKernel(x, NaN, 0), /found NaN/);
  assert.throws(() => dropoutKernel(tf.ones([4], "int32"), 0.5, 0), /expects a float32 tensor/);
  assert.throws(() => dropoutKernel(x, 0.5, Infinity), /seed must be a finite number/);
});

Deno.test("dropout layer: the kernel with tfSeed(key), inactive outside training", () => {
  const x = randomTensors(3).randn([2, 10, 16]);
  const k = key(9);
  const y = dropout(x, 0.25, { training: true, key: k });
  assert.deepEqual(bits(y), bits(tf.dropout(x, 0.25, undefined, tfSeed(k))));
  assert.equal(dropout(x, 0.25, { training: false, key: k }), x);
});
