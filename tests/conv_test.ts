import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import {
  applyCausalConv,
  bandMask,
  type CausalConvOptions,
  type CausalConvParams,
  causalMask,
  initCausalConv,
} from "../lib/nn/conv.ts";
import { applyLinear } from "../lib/nn/layers.ts";
import { key, normal } from "../lib/core/random.ts";

await useBackend("cpu");

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = ""): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])),
      `${what}[${i}]: ${a[i]} vs ${b[i]}`,
    );
  }
}

function randn(seed: number, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from(normal(key(seed), n)), shape);
}

function randomParams(seed: number, kernel: number, cIn: number, cOut: number): CausalConvParams {
  return {
    w: randn(seed, [kernel, cIn, cOut]) as tf.Tensor3D,
    b: randn(seed + 1, [cOut]) as tf.Tensor1D,
  };
}

/** Reference: zero-pad along L and run tf.conv1d (forward only; cpu). */
function reference(p: CausalConvParams, x: tf.Tensor3D, centered: boolean): tf.Tensor {
  const k = p.w.shape[0];
  const left = centered ? Math.floor(k / 2) : k - 1;
  const xp = tf.pad(x, [[0, 0], [left, k - 1 - left], [0, 0]]) as tf.Tensor3D;
  return tf.add(tf.conv1d(xp, p.w, 1, "valid"), p.b);
}

Deno.test("conv: C.7 vector, convolutional self-attention with a (1, 1) causal kernel", async () => {
  const p: CausalConvParams = {
    w: tf.tensor3d([1, 1], [2, 1, 1]),
    b: tf.zeros([1]) as tf.Tensor1D,
  };
  const x = tf.tensor3d([1, 2, 3], [1, 3, 1]); // [B, L, d]
  const q = applyCausalConv(p, x);
  const k = applyCausalConv(p, x);
  assert.deepEqual(q.shape, [1, 3, 1]);
  assert.deepEqual(Array.from(await q.data()), [1, 3, 5]);
  // Scores Q Kᵀ (no scaling), causal mask, softmax, times V = x.
  const scores = tf.add(tf.matMul(q, k, false, true), causalMask(3));
  const att = tf.softmax(scores, -1);
  close(
    await att.data(),
    [1, 0, 0, 0.00247262, 0.99752738, 0, 2.061e-9, 4.53979e-5, 0.9999546],
    1e-6,
    "P",
  );
  const out = tf.matMul(att, x);
  close(await out.data(), [1, 1.99752738, 2.9999546], 1e-6, "out");
});

Deno.test("conv: matches zero-padded tf.conv1d (causal and centred, odd and even k)", async () => {
  const x = randn(10, [3, 11, 4]) as tf.Tensor3D;
  for (const k of [1, 2, 3, 4, 5]) {
    const p = randomParams(20 + k, k, 4, 6);
    for (const centered of [false, true]) {
      const y = applyCausalConv(p, x, { centered });
      assert.deepEqual(y.shape, [3, 11, 6]);
      close(await y.data(), await reference(p, x, centered).data(), 1e-5, `k=${k} c=${centered}`);
    }
  }
});

Deno.test("conv: kernel = 1 is a linear map over the last axis", async () => {
  const p = randomParams(30, 1, 5, 3);
  const x = randn(31, [2, 7, 5]);
  const lin = { w: tf.reshape(p.w, [5, 3]) as tf.Tensor2D, b: p.b };
  const expected = await applyLinear(lin, x).data();
  close(await applyCausalConv(p, x).data(), expected, 1e-6, "causal");
  close(await applyCausalConv(p, x, { centered: true }).data(), expected, 1e-6, "centred");
});

Deno.test("conv: causality, changing bins > t never changes outputs <= t", async () => {
  const L = 10;
  const p = randomParams(40, 3, 3, 2);
  const x = randn(41, [2, L, 3]);
  const y = await applyCausalConv(p, x).array() as number[][][];
  for (let t = 0; t < L - 1; t++) {
    // Replace every bin after t with new values.
    const keep = tf.slice(x, [0, 0, 0], [2, t + 1, 3]);
    const fresh = randn(100 + t, [2, L - t - 1, 3]);
    const y2 = await applyCausalConv(p, tf.concat([keep, fresh], 1)).array() as number[][][];
    for (let b = 0; b < 2; b++) {
      for (let s = 0; s <= t; s++) assert.deepEqual(y2[b][s], y[b][s], `t=${t} b=${b} s=${s}`);
      assert.notDeepEqual(y2[b][t + 1], y[b][t + 1], `t=${t}: bin t+1 must see the change`);
    }
  }
});

Deno.test("conv: receptive fields, causal t−k+1..t and centred t−⌊k/2⌋..t+k−1−⌊k/2⌋", async () => {
  const L = 12;
  const s = 6; // an impulse at bin s
  const x = tf.tensor3d(Array.from({ length: L }, (_, i) => (i === s ? 1 : 0)), [1, L, 1]);
  const ones = (k: number): CausalConvParams => ({
    w: tf.ones([k, 1, 1]) as tf.Tensor3D,
    b: tf.zeros([1]) as tf.Tensor1D,
  });
  const seen = async (k: number, opts: CausalConvOptions): Promise<number[]> => {
    const y = await applyCausalConv(ones(k), x, opts).data();
    return Array.from(y).flatMap((v, t) => (v !== 0 ? [t] : []));
  };
  assert.deepEqual(await seen(3, {}), [6, 7, 8]); // output t sees s when s ∈ [t−2, t]
  assert.deepEqual(await seen(5, { centered: true }), [4, 5, 6, 7, 8]);
  assert.deepEqual(await seen(4, { centered: true }), [5, 6, 7, 8]); // left 2, right 1
});

Deno.test("conv: leading dims [T, B, L, C] match per-slice [B, L, C]", async () => {
  const p = randomParams(50, 3, 4, 5);
  const x = randn(51, [3, 2, 9, 4]);
  for (const centered of [false, true]) {
    const y = applyCausalConv(p, x, { centered });
    assert.deepEqual(y.shape, [3, 2, 9, 5]);
    const slices = tf.unstack(x, 0).map((xt) => applyCausalConv(p, xt, { centered }));
    close(await y.data(), await tf.stack(slices, 0).data(), 1e-6, `centered=${centered}`);
  }
  // A single sequence [L, C] works too.
  const single = applyCausalConv(p, randn(52, [9, 4]));
  assert.deepEqual(single.shape, [9, 5]);
});

/** Loss ½Σ(y·r)² so the gradient is not trivially constant. */
function lossOf(p: CausalConvParams, x: tf.Tensor, r: tf.Tensor, centered: boolean): tf.Scalar {
  return tf.mul(tf.sum(tf.square(tf.mul(applyCausalConv(p, x, { centered }), r))), 0.5);
}

function gradients(
  p: CausalConvParams,
  x: tf.Tensor,
  r: tf.Tensor,
  centered: boolean,
): Promise<Float32Array[]> {
  const g = tf.grads((xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
    lossOf({ w: w as tf.Tensor3D, b: b as tf.Tensor1D }, xx, r, centered)
  )([x, p.w, p.b]);
  return Promise.all(g.map(async (t) => Float32Array.from(await t.data())));
}

Deno.test("conv: gradients match central finite differences", async () => {
  const x = randn(60, [2, 6, 3]);
  const p = randomParams(61, 3, 3, 2);
  const r = randn(62, [2, 6, 2]);
  for (const centered of [false, true]) {
    const [gx, gw, gb] = await gradients(p, x, r, centered);
    const eps = 1e-2;
    // The loss is quadratic, so central differences are exact up to float32 rounding.
    const fd = async (t: tf.Tensor, build: (t2: tf.Tensor) => number): Promise<number[]> => {
      const base = await t.data();
      const out: number[] = [];
      for (let i = 0; i < base.length; i++) {
        const plus = Float64Array.from(base);
        plus[i] += eps;
        const minus = Float64Array.from(base);
        minus[i] -= eps;
        const lp = build(tf.tensor(Float32Array.from(plus), t.shape));
        const lm = build(tf.tensor(Float32Array.from(minus), t.shape));
        out.push((lp - lm) / (2 * eps));
      }
      return out;
    };
    const ex = await fd(x, (t2) => lossOf(p, t2, r, centered).dataSync()[0]);
    const ew = await fd(
      p.w,
      (t2) => lossOf({ ...p, w: t2 as tf.Tensor3D }, x, r, centered).dataSync()[0],
    );
    const eb = await fd(
      p.b,
      (t2) => lossOf({ ...p, b: t2 as tf.Tensor1D }, x, r, centered).dataSync()[0],
    );
    close(gx, ex, 2e-3, `dx centered=${centered}`);
    close(gw, ew, 2e-3, `dw centered=${centered}`);
    close(gb, eb, 2e-3, `db centered=${centered}`);
  }
});

Deno.test("conv: differentiable on the wasm backend, matching cpu", async () => {
  const xs = Array.from(normal(key(70), 2 * 8 * 4));
  const ws = Array.from(normal(key(71), 3 * 4 * 5));
  const rs = Array.from(normal(key(72), 2 * 8 * 5));
  const run = async (): Promise<Float32Array[]> => {
    const p = { w: tf.tensor3d(ws, [3, 4, 5]), b: tf.zeros([5]) as tf.Tensor1D };
    return await gradients(p, tf.tensor3d(xs, [2, 8, 4]), tf.tensor3d(rs, [2, 8, 5]), false);
  };
  const cpu = await run();
  try {
    await useBackend("wasm");
    const wasm = await run();
    close(wasm[0], cpu[0], 1e-4, "dx");
    close(wasm[1], cpu[1], 1e-4, "dw");
    close(wasm[2], cpu[2], 1e-4, "db");
  } finally {
    await useBackend("cpu");
  }
});

Deno.test("conv: init shapes, Glorot limit, zero bias, determinism", async () => {
  const p = initCausalConv(key(1), { channelsIn: 8, channelsOut: 16, kernel: 3 });
  assert.deepEqual(p.w.shape, [3, 8, 16]);
  assert.deepEqual(p.b.shape, [16]);
  assert.deepEqual(Array.from(await p.b.data()), new Array(16).fill(0));
  const w = await p.w.data();
  const limit = Math.sqrt(6 / (3 * 8 + 3 * 16));
  assert.ok(w.every((v) => Math.abs(v) <= limit));
  assert.ok(Math.max(...Array.from(w, Math.abs)) > 0.9 * limit);
  const again = initCausalConv(key(1), { channelsIn: 8, channelsOut: 16, kernel: 3 });
  assert.deepEqual(await again.w.data(), w);
  const other = initCausalConv(key(2), { channelsIn: 8, channelsOut: 16, kernel: 3 });
  assert.notDeepEqual(await other.w.data(), w);
  assert.deepEqual(initCausalConv(key(1), { channelsIn: 2, channelsOut: 2 }).w.shape, [3, 2, 2]);
  const halved = await initCausalConv(key(1), {
    channelsIn: 8,
    channelsOut: 16,
    kernel: 3,
    gain: 0.5,
  })
    .w.data();
  close(halved, Array.from(w, (v) => v * 0.5), 1e-6, "gain");
});

Deno.test("conv: band mask is tridiagonal for L = 5, M = 3; causal mask", async () => {
  const band = await bandMask(5, { window: 3 }).array();
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 5; j++) {
      assert.equal(band[i][j], Math.abs(i - j) <= 1 ? 0 : -1e9, `band (${i}, ${j})`);
    }
  }
  const wide = await bandMask(12, { window: 11 }).array();
  assert.equal(wide[0][5], 0);
  assert.equal(wide[0][6], -1e9);
  // An even window gives the band of window + 1; window 1 keeps the diagonal only.
  assert.deepEqual(
    await bandMask(6, { window: 2 }).array(),
    await bandMask(6, { window: 3 }).array(),
  );
  const diag = await bandMask(3, { window: 1 }).array();
  assert.deepEqual(diag, [[0, -1e9, -1e9], [-1e9, 0, -1e9], [-1e9, -1e9, 0]]);
  assert.deepEqual(await causalMask(3).array(), [[0, -1e9, -1e9], [0, 0, -1e9], [0, 0, 0]]);
});

Deno.test("conv: argument validation", () => {
  const p = randomParams(80, 3, 4, 2);
  assert.throws(
    () => initCausalConv(key(0), { channelsIn: 0, channelsOut: 2 }),
    /"channelsIn" must be a positive integer, found 0/,
  );
  assert.throws(
    () => initCausalConv(key(0), { channelsIn: 2, channelsOut: 2, kernel: 1.5 }),
    /"kernel" must be a positive integer, found 1.5/,
  );
  assert.throws(
    () => initCausalConv(key(0), { channelsIn: 2, channelsOut: 2, kernal: 3 } as never),
    /unknown initCausalConv option "kernal"/,
  );
  assert.throws(
    () => applyCausalConv(p, tf.zeros([2, 5, 3])),
    /expects x \[\.\.\., L, 4\] with L >= 1, found shape \[2, 5, 3\]/,
  );
  assert.throws(() => applyCausalConv(p, tf.zeros([4])), /found shape \[4\]/);
  assert.throws(
    () => applyCausalConv(p, tf.zeros([2, 5, 4]), { centred: true } as never),
    /unknown applyCausalConv option "centred": expected one of centered/,
  );
  assert.throws(
    () => applyCausalConv(p, tf.zeros([2, 5, 4]), { centered: 1 } as never),
    /"centered" must be a boolean, found 1/,
  );
  assert.throws(
    () => applyCausalConv({ ...p, b: tf.zeros([3]) as tf.Tensor1D }, tf.zeros([2, 5, 4])),
    /expects bias \[2\], found shape \[3\]/,
  );
  assert.throws(() => bandMask(5, { window: 0 }), /"window" must be a positive integer, found 0/);
  assert.throws(() => bandMask(0, { window: 3 }), /length must be a positive integer, found 0/);
  assert.throws(() => causalMask(-1), /causalMask length must be a positive integer, found -1/);
});

Deno.test("conv: no tensor leaks in apply", () => {
  const p = randomParams(90, 3, 4, 2);
  const x = randn(91, [2, 5, 4]);
  const before = tf.memory().numTensors;
  applyCausalConv(p, x).dispose();
  applyCausalConv(p, x, { centered: true }).dispose();
  assert.equal(tf.memory().numTensors, before);
});
