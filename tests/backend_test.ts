import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key, uniform } from "../lib/core/random.ts";

await useBackend("wasm");

/** Values of `f()` on the cpu backend (TF.js's reference kernels), then back to wasm. */
async function onCpu<T>(f: () => T): Promise<T> {
  await useBackend("cpu");
  try {
    return f();
  } finally {
    await useBackend("wasm");
  }
}

function ramp(shape: number[], dtype: "float32" | "int32" = "float32"): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Array.from({ length: n }, (_, i) => i * 0.5 - 7),
    shape,
    dtype === "int32" ? "int32" : "float32",
  )
    .asType(dtype);
}

/** Integers in [0, n) drawn in turn from `count` seeded uniforms. */
function drawer(seed: number, count = 4000): (n: number) => number {
  const u = uniform(key(seed), count);
  let at = 0;
  return (n) => Math.floor(u[at++] * n);
}

Deno.test("backend: wasm Slice and SplitV equal the cpu kernels on random shapes, begins and sizes", async () => {
  const draw = drawer(3);
  for (let trial = 0; trial < 120; trial++) {
    const rank = 1 + draw(5);
    const shape = Array.from({ length: rank }, () => 1 + draw(6));
    const begin = shape.map((d) => draw(d));
    // size -1 (to the end) on some axes, whole axes on others, partial elsewhere
    const size = shape.map((d, i) => {
      const r = draw(3);
      return r === 0 ? -1 : r === 1 && begin[i] === 0 ? d : 1 + draw(d - begin[i]);
    });
    const dtype = trial % 4 === 3 ? "int32" : "float32";
    const x = ramp(shape, dtype);
    const got = tf.slice(x, begin, size);
    const xs = Array.from(x.dataSync());
    const want = await onCpu(() => {
      const xc = tf.tensor(xs, shape, dtype);
      const y = tf.slice(xc, begin, size);
      const r = { shape: y.shape, values: Array.from(y.dataSync()) };
      tf.dispose([xc, y]);
      return r;
    });
    const what = `slice of [${shape}] at [${begin}] size [${size}]`;
    assert.deepEqual(got.shape, want.shape, what);
    assert.equal(got.dtype, dtype, what);
    assert.deepEqual(Array.from(got.dataSync()), want.values, what);
    const axis = draw(rank);
    const parts = tf.split(x, shape[axis] > 1 ? [1, shape[axis] - 1] : 1, axis);
    const wantParts = await onCpu(() => {
      const xc = tf.tensor(xs, shape, dtype);
      const ys = tf.split(xc, shape[axis] > 1 ? [1, shape[axis] - 1] : 1, axis);
      const r = ys.map((y) => ({ shape: y.shape, values: Array.from(y.dataSync()) }));
      tf.dispose([xc, ...ys]);
      return r;
    });
    assert.equal(parts.length, wantParts.length);
    parts.forEach((p, i) => {
      assert.deepEqual(p.shape, wantParts[i].shape, `split ${i} of [${shape}] on axis ${axis}`);
      assert.deepEqual(Array.from(p.dataSync()), wantParts[i].values, `split ${i} on ${axis}`);
    });
    tf.dispose([x, got, ...parts]);
  }
});

Deno.test("backend: wasm Slice hand-checked, empty, scalar-like and bool; its gradient pads back", () => {
  const x = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(Array.from(tf.slice(x, [0, 1], [2, 2]).dataSync()), [2, 3, 5, 6]);
  assert.deepEqual(Array.from(tf.slice(x, [1, 0], [1, 3]).dataSync()), [4, 5, 6]);
  assert.deepEqual(tf.slice(x, [0, 1], [2, 0]).shape, [2, 0]);
  const b = tf.tensor1d([1, 0, 1, 1], "bool");
  const bs = tf.slice(b, [1], [2]);
  assert.equal(bs.dtype, "bool");
  assert.deepEqual(Array.from(bs.dataSync()), [0, 1]);
  const [q, k, v] = tf.split(tf.reshape(tf.range(0, 12), [2, 6]), 3, 1);
  assert.deepEqual(Array.from(q.dataSync()), [0, 1, 6, 7]);
  assert.deepEqual(Array.from(k.dataSync()), [2, 3, 8, 9]);
  assert.deepEqual(Array.from(v.dataSync()), [4, 5, 10, 11]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.slice(t, [0, 1], [2, 1]), 3)))(x);
  assert.deepEqual(Array.from(g.dataSync()), [0, 3, 0, 0, 3, 0]);
  const before = tf.memory().numTensors;
  tf.dispose(tf.split(x, [1, 2], 1));
  assert.equal(tf.memory().numTensors, before, "split leaked tensors");
});

Deno.test("backend: the gradients of sum and mean on wasm equal TF.js's formula on cpu", async () => {
  // TF.js's gradients multiply dy by a tensor of ones (and, for the mean, divide by the count);
  // hest's spread dy on the heap instead. Random ranks, shapes, axes and keepDims; dy is not
  // uniform (the reduced tensor is weighted before the final sum).
  const draw = drawer(17);
  for (let trial = 0; trial < 80; trial++) {
    const rank = 1 + draw(5);
    const shape = Array.from({ length: rank }, () => 1 + draw(5));
    const axes = trial % 7 === 0
      ? undefined
      : Array.from({ length: rank }, (_, i) => i).filter(() => draw(2) === 1)
        .map((a) => (draw(3) === 0 ? a - rank : a));
    const keepDims = draw(2) === 1;
    const mean = trial % 2 === 0;
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = Array.from({ length: n }, (_, i) => Math.sin(i + trial));
    const grad = () => {
      const x = tf.tensor(xs, shape);
      const g = tf.grad((a: tf.Tensor) => {
        const red = mean ? tf.mean(a, axes, keepDims) : tf.sum(a, axes, keepDims);
        const w = tf.tensor(Array.from({ length: red.size }, (_, i) => 0.3 + i * 0.7), red.shape);
        return tf.sum(tf.mul(red, w));
      })(x);
      return { shape: g.shape, values: Array.from(g.dataSync()) };
    };
    const got = grad();
    const want = await onCpu(grad);
    const what = `${mean ? "mean" : "sum"} of [${shape}] over ${JSON.stringify(axes)}`;
    assert.deepEqual(got.shape, shape, what);
    assert.deepEqual(got, want, what);
  }
});

Deno.test("backend: sum and mean gradients hand-checked", () => {
  const x = tf.tensor([[1, 2, 3], [4, 5, 6]]);
  const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.mean(a, 1), tf.tensor([1, 2]))))(x);
  assert.deepEqual(
    Array.from(g.dataSync()),
    [1, 1, 1, 2, 2, 2].map((v) => Math.fround(v / 3)),
  );
  const h = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.sum(a, 0), tf.tensor([1, 2, 3]))))(x);
  assert.deepEqual(Array.from(h.dataSync()), [1, 2, 3, 1, 2, 3]);
  const m = tf.grad((a: tf.Tensor) => tf.mean(a))(x);
  assert.deepEqual(Array.from(m.dataSync()), Array(6).fill(Math.fround(1 / 6)));
});
