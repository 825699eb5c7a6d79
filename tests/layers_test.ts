import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import {
  applyAttention,
  applyLayerNorm,
  applyLinear,
  contextMask,
  gelu,
  initAttention,
  initLayerNorm,
  initLinear,
  sinusoidalEncoding,
} from "../lib/nn/layers.ts";
import { key } from "../lib/core/random.ts";

await useBackend("cpu");

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = ""): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])),
      `${what}[${i}]: ${a[i]} vs ${b[i]}`,
    );
  }
}

Deno.test("linear layer computes x·w + b over the last axis", async () => {
  const p = { w: tf.tensor2d([[1, 2], [3, 4], [5, 6]]), b: tf.tensor1d([0.5, -1]) };
  const y = applyLinear(p, tf.tensor3d([[[1, 0, -1]], [[2, 1, 0]]]));
  assert.deepEqual(y.shape, [2, 1, 2]);
  close(await y.data(), [1 - 5 + 0.5, 2 - 6 - 1, 2 + 3 + 0.5, 4 + 4 - 1], 1e-6);
  assert.throws(() => applyLinear(p, tf.ones([2, 4])), /last dim 3/);
  const init = initLinear(key(0), [100, 50]);
  const w = await init.w.data();
  const limit = Math.sqrt(6 / 150);
  assert.ok(w.every((x) => Math.abs(x) <= limit));
  assert.ok((await init.b.data()).every((x) => x === 0));
});

Deno.test("layer norm matches the hand-computed normalisation", async () => {
  const y = applyLayerNorm(initLayerNorm(3), tf.tensor2d([[1, 2, 3]]));
  const s = Math.sqrt(2 / 3 + 1e-5);
  close(await y.data(), [-1 / s, 0, 1 / s], 1e-5);
});

Deno.test("gelu is the exact erf form", async () => {
  close(
    await gelu(tf.tensor1d([-1, 0, 1, 2])).data(),
    [-0.15865525, 0, 0.84134475, 1.95449974],
    1e-5,
  );
});

Deno.test("sinusoidal encoding and context mask", async () => {
  const pe = await sinusoidalEncoding(5, 4).data();
  close(
    [pe[3 * 4], pe[3 * 4 + 1], pe[3 * 4 + 2]],
    [Math.sin(3), Math.cos(3), Math.sin(3 / 100)],
    1e-6,
  );
  const m = await contextMask(3, { backward: 1, forward: 0 }).data();
  assert.deepEqual([...m].map((x) => (x === 0 ? 1 : 0)), [1, 0, 0, 1, 1, 0, 0, 1, 1]);
  // rows past `observed` (a forward window) see every key
  const f = await contextMask(3, { backward: 0, forward: 0, observed: 2 }).data();
  assert.deepEqual([...f].map((x) => (x === 0 ? 1 : 0)), [1, 0, 0, 0, 1, 0, 1, 1, 1]);
});

Deno.test("attention equals a float64 reference (2 heads)", async () => {
  const dim = 4, heads = 2, L = 3;
  const p = initAttention(key(1), dim);
  const xv = [0.1, -0.2, 0.3, 0.5, 1, 0.4, -0.7, 0.2, -0.3, 0.8, 0.6, -0.1];
  const y = await applyAttention(p, tf.tensor3d(xv, [1, L, dim]), { training: false }, { heads })
    .data();
  const wqkv = await p.qkv.w.data(), bqkv = await p.qkv.b.data();
  const wo = await p.o.w.data(), bo = await p.o.b.data();
  const proj = (
    x: number[],
    w: ArrayLike<number>,
    b: ArrayLike<number>,
    _nin: number,
    nout: number,
  ) =>
    Array.from(
      { length: nout },
      (_, j) => b[j] + x.reduce((s, xi, i) => s + xi * w[i * nout + j], 0),
    );
  const rows = [0, 1, 2].map((i) =>
    proj(xv.slice(i * dim, i * dim + dim), wqkv, bqkv, dim, 3 * dim)
  );
  const d = dim / heads;
  const ref: number[] = [];
  for (let i = 0; i < L; i++) {
    const cat: number[] = [];
    for (let h = 0; h < heads; h++) {
      const q = rows[i].slice(h * d, h * d + d);
      const sc = [0, 1, 2].map((j) =>
        q.reduce((s, qi, t) => s + qi * rows[j][dim + h * d + t], 0) / Math.sqrt(d)
      );
      const mx = Math.max(...sc);
      const e = sc.map((s) => Math.exp(s - mx));
      const z = e.reduce((a, b) => a + b, 0);
      for (let t = 0; t < d; t++) {
        cat.push([0, 1, 2].reduce((s, j) => s + (e[j] / z) * rows[j][2 * dim + h * d + t], 0));
      }
    }
    ref.push(...proj(cat, wo, bo, dim, dim));
  }
  close(y, ref, 1e-5, "attention");
});

Deno.test("gradients of a composite block match central finite differences", async () => {
  const dim = 4;
  const att = initAttention(key(2), dim);
  const ln = initLayerNorm(dim);
  const ff = initLinear(key(3), [dim, dim]);
  const x = tf.tensor3d(Array.from({ length: 2 * 3 * dim }, (_, i) => Math.sin(i * 1.3)), [
    2,
    3,
    dim,
  ]);
  const mix = tf.tensor3d(Array.from({ length: 2 * 3 * dim }, (_, i) => Math.cos(i * 0.7)), [
    2,
    3,
    dim,
  ]);
  const f = (w: tf.Tensor) =>
    tf.sum(tf.mul(
      gelu(applyLinear(
        ff,
        applyLayerNorm(
          ln,
          applyAttention(
            { qkv: { w: w as tf.Tensor2D, b: att.qkv.b }, o: att.o },
            x,
            { training: false },
            { heads: 2 },
          ),
        ),
      )),
      mix,
    ));
  const g = await tf.grad(f)(att.qkv.w).data();
  const w0 = await att.qkv.w.data();
  const eps = 1e-2;
  for (const idx of [0, 5, 17, 30, 47]) {
    const plus = w0.slice();
    plus[idx] += eps;
    const minus = w0.slice();
    minus[idx] -= eps;
    const fp = (await f(tf.tensor2d(plus, att.qkv.w.shape)).data())[0];
    const fm = (await f(tf.tensor2d(minus, att.qkv.w.shape)).data())[0];
    const fd = (fp - fm) / (2 * eps);
    assert.ok(
      Math.abs(fd - g[idx]) < 5e-3 + 2e-2 * Math.abs(fd),
      `w[${idx}]: grad ${g[idx]} vs fd ${fd}`,
    );
  }
});
