import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import {
  applyTim,
  applyTimWithState,
  initTim,
  type TimOptions,
  type TimParams,
} from "../lib/snn/tim.ts";
import { key, uniform } from "../lib/core/random.ts";
import { setKernelsEnabled } from "../kernels/wasm.ts";

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

/** TIM params whose conv is the identity: centre tap 1 for channel i → i, bias 0. */
function identityTim(d: number, kernel = 5): TimParams {
  const w = new Float32Array(kernel * d * d);
  const c = Math.floor(kernel / 2);
  for (let i = 0; i < d; i++) w[c * d * d + i * d + i] = 1;
  return { w: tf.tensor3d(w, [kernel, d, d]), b: tf.zeros([d]) as tf.Tensor1D };
}

/** Random 0/1 spikes of `shape` from `seed`. */
function spikes(seed: number, shape: number[], rate = 0.5): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from(uniform(key(seed), n), (u) => (u < rate ? 1 : 0)), shape);
}

/** Run a single element q over T = 4 through TIM with the identity conv. */
async function single(q: number[], opts: TimOptions): Promise<number[]> {
  const out = applyTim(identityTim(1), tf.tensor3d(q, [q.length, 1, 1]), opts);
  return Array.from(await out.data());
}

const INTENDED: TimOptions = { inThreshold: 0.3, outThreshold: 0.5 };
const REFERENCE: TimOptions = { inThreshold: 1, outThreshold: 1 };

Deno.test("tim: E.7 vectors, single element with an identity conv", async () => {
  assert.deepEqual(await single([1, 1, 1, 1], INTENDED), [1, 1, 1, 1]);
  assert.deepEqual(await single([1, 1, 1, 1], REFERENCE), [1, 0, 0, 0]);
  assert.deepEqual(await single([1, 0, 0, 0], INTENDED), [1, 0, 0, 0]);
  assert.deepEqual(await single([1, 0, 0, 0], REFERENCE), [1, 0, 0, 0]);
  assert.deepEqual(await single([0, 1, 1, 1], INTENDED), [0, 0, 0, 0]);
  assert.deepEqual(await single([0, 1, 1, 1], REFERENCE), [0, 0, 0, 0]);
  // The defaults are the intended thresholds (0.3, 0.5) and α = 0.5.
  assert.deepEqual(await single([1, 1, 1, 1], {}), [1, 1, 1, 1]);
});

Deno.test("tim: E.7 trace for [1, 1, 1, 1] with (0.3, 0.5)", async () => {
  const s = applyTimWithState(identityTim(1), tf.tensor3d([1, 1, 1, 1], [4, 1, 1]), INTENDED);
  // Paper step t = 2 is index 1: C = 1, v_in = 0.5, I = 1; M = 1, v_out = 0.5 → spike.
  close(await s.conv.data(), [0, 1, 1, 1], 1e-7, "C");
  close(await s.hIn.data(), [0, 0.5, 0.5, 0.5], 1e-7, "v_in");
  assert.deepEqual(Array.from(await s.inSpikes.data()), [0, 1, 1, 1]);
  close(await s.mix.data(), [0, 1, 1, 1], 1e-7, "M");
  close(await s.hOut.data(), [0, 0.5, 0.5, 0.5], 1e-7, "v_out");
  assert.deepEqual(Array.from(await s.out.data()), [1, 1, 1, 1]);
});

Deno.test("tim: with thresholds 1.0 the membranes stay below 1 and nothing fires after t = 0", async () => {
  const s = applyTimWithState(identityTim(1), tf.tensor3d([1, 1, 1, 1], [4, 1, 1]), REFERENCE);
  close(await s.hIn.data(), [0, 0.5, 0.25, 0.125], 1e-7, "v_in");
  close(await s.hOut.data(), [0, 0.25, 0.375, 0.4375], 1e-7, "v_out");
  // Random spikes and a random conv over T = 10: still only t = 0 fires (components.md E.2).
  const q = spikes(5, [10, 2, 4, 12, 8]);
  const out = applyTim(initTim(key(6), { channels: 8 }), q, REFERENCE);
  const perStep = await tf.sum(out, [1, 2, 3, 4]).data();
  assert.equal(perStep[0], await tf.sum(tf.slice(q, [0], [1])).data().then((v) => v[0]));
  assert.deepEqual(Array.from(perStep.slice(1)), new Array(9).fill(0));
  const intended = await tf.sum(applyTim(initTim(key(6), { channels: 8 }), q), [1, 2, 3, 4]).data();
  // With the intended thresholds Q̃[1] fires (at this init the activity then decays, because
  // Q̃[t] needs I[t] = 1, i.e. a large conv of a sparser Q̃[t−1]).
  assert.ok(intended[1] > 0, `intended thresholds fire at t = 1: ${intended}`);
});

Deno.test("tim: identity conv across [T, B, H, L, d] acts elementwise", async () => {
  // Every element follows its own single-element recurrence when the conv is the identity.
  const q = spikes(7, [6, 2, 3, 5, 4]);
  const out = await applyTim(identityTim(4), q).data();
  const qv = await q.data();
  const stride = qv.length / 6;
  for (let e = 0; e < stride; e += 7) {
    const series = Array.from({ length: 6 }, (_, t) => qv[t * stride + e]);
    const expected = await single(series, {});
    const got = Array.from({ length: 6 }, (_, t) => out[t * stride + e]);
    assert.deepEqual(got, expected, `element ${e}: q ${series}`);
  }
});

Deno.test("tim: shapes preserved; t = 0 passes through; T = 1 is the identity", async () => {
  const p = initTim(key(1), { channels: 8 });
  for (const shape of [[4, 2, 3, 10, 8], [4, 2, 10, 8], [3, 10, 8]]) {
    const q = spikes(2, shape);
    const out = applyTim(p, q);
    assert.deepEqual(out.shape, shape);
    assert.equal(out.dtype, "float32");
    const v = await out.data();
    assert.ok(v.every((x) => x === 0 || x === 1));
    const n = v.length / shape[0];
    assert.deepEqual(v.slice(0, n), (await q.data()).slice(0, n));
  }
  const q1 = spikes(3, [1, 2, 10, 8]);
  assert.deepEqual(await applyTim(p, q1).data(), await q1.data());
});

Deno.test("tim: the conv slides along the bins (centred by default, causal on request)", async () => {
  // d = 1, a kernel that copies bin l+1 → l (tap 3 of 5). Q[0] has one spike at bin 4.
  const w = new Float32Array(5);
  w[3] = 1;
  const p: TimParams = { w: tf.tensor3d(w, [5, 1, 1]), b: tf.zeros([1]) as tf.Tensor1D };
  const q0 = Array.from({ length: 8 }, (_, l) => (l === 4 ? 1 : 0));
  const q = tf.tensor3d([...q0, ...new Array(8).fill(0)], [2, 8, 1]);
  const s = applyTimWithState(p, q);
  assert.deepEqual(Array.from((await s.conv.data()).slice(8)), [0, 0, 0, 1, 0, 0, 0, 0]);
  // Causal: tap 3 of 5 multiplies bin l − 1, so the spike moves to bin 5.
  const c = applyTimWithState(p, q, { causal: true });
  assert.deepEqual(Array.from((await c.conv.data()).slice(8)), [0, 0, 0, 0, 0, 1, 0, 0]);
});

Deno.test("tim: gradients flow to q and to the conv weights (finite, nonzero)", async () => {
  const p = initTim(key(11), { channels: 6 });
  const q = spikes(12, [5, 2, 2, 9, 6]);
  const r = tf.tensor(Float32Array.from(uniform(key(13), 5 * 2 * 2 * 9 * 6)), q.shape);
  for (const detachMembrane of [true, false]) {
    const [gq, gw, gb] = tf.grads((qq: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
      tf.sum(
        tf.mul(applyTim({ w: w as tf.Tensor3D, b: b as tf.Tensor1D }, qq, { detachMembrane }), r),
      )
    )([q, p.w, p.b]);
    assert.deepEqual(gq.shape, q.shape);
    assert.deepEqual(gw.shape, p.w.shape);
    for (const [name, g] of [["q", gq], ["w", gw], ["b", gb]] as const) {
      const v = await g.data();
      assert.ok(v.every(Number.isFinite), `d${name} finite (detach=${detachMembrane})`);
      assert.ok(v.some((x) => x !== 0), `d${name} nonzero (detach=${detachMembrane})`);
    }
    // Q[T−1] reaches the output only through M[T−1]: its gradient is nonzero too.
    const last = await tf.slice(gq, [4], [1]).data();
    assert.ok(last.some((x) => x !== 0));
  }
});

Deno.test("tim: detachMembrane changes gradients, not the forward pass", async () => {
  const p = initTim(key(21), { channels: 4 });
  const q = spikes(22, [6, 2, 10, 4]);
  const f = (detachMembrane: boolean) => (w: tf.Tensor): tf.Scalar =>
    tf.sum(applyTim({ w: w as tf.Tensor3D, b: p.b }, q, { detachMembrane }));
  assert.deepEqual(
    await applyTim(p, q, { detachMembrane: true }).data(),
    await applyTim(p, q, { detachMembrane: false }).data(),
  );
  const a = await tf.grad(f(true))(p.w).data();
  const b = await tf.grad(f(false))(p.w).data();
  assert.notDeepEqual(a, b);
});

Deno.test("tim: init and apply are deterministic", async () => {
  const a = initTim(key(31), { channels: 8 });
  const b = initTim(key(31), { channels: 8 });
  assert.deepEqual(a.w.shape, [5, 8, 8]);
  assert.deepEqual(a.b.shape, [8]);
  assert.deepEqual(await a.w.data(), await b.w.data());
  assert.deepEqual(initTim(key(31), { channels: 8, kernel: 3 }).w.shape, [3, 8, 8]);
  const q = spikes(32, [4, 2, 3, 10, 8]);
  assert.deepEqual(await applyTim(a, q).data(), await applyTim(b, q).data());
});

Deno.test("tim: option and input validation", () => {
  const p = initTim(key(41), { channels: 4 });
  const q = tf.zeros([3, 2, 5, 4]);
  assert.throws(() => applyTim(p, q, { alpha: 1.5 }), /"alpha" must be in \[0, 1\], found 1.5/);
  assert.throws(
    () => applyTim(p, q, { inThreshold: NaN }),
    /"inThreshold" must be a finite number, found NaN/,
  );
  assert.throws(() => applyTim(p, q, { tau: 1 }), /"tau" must be > 1, found 1/);
  assert.throws(
    () => applyTim(p, q, { detachMembrane: "yes" } as never),
    /"detachMembrane" must be a boolean, found "yes"/,
  );
  assert.throws(
    () => applyTim(p, q, { fused: 1 } as never),
    /"fused" must be a boolean, found 1/,
  );
  assert.throws(
    () => applyTim(p, q, { vThreshold: 0.3 } as never),
    /unknown TIM option "vThreshold": expected one of alpha, inThreshold/,
  );
  assert.throws(
    () => applyTim(p, q, { surrogate: "relu" } as never),
    /TIM option "surrogate": unknown surrogate "relu"/,
  );
  assert.throws(() => applyTim(p, tf.zeros([5, 4])), /rank >= 3, T >= 1\), found shape \[5, 4\]/);
  assert.throws(
    () => applyTim(p, tf.zeros([3, 5, 6])),
    /conv taps \[kernel, 6, 6\] for head width 6, found \[5, 4, 4\]/,
  );
  assert.throws(
    () => applyTim(p, tf.zeros([3, 5, 4], "int32")),
    /float32 Q spikes, found dtype int32/,
  );
  assert.throws(
    () => initTim(key(0), { channels: 0 }),
    /"channels" must be a positive integer, found 0/,
  );
  assert.throws(
    () => initTim(key(0), { channels: 4, kernel: 0 }),
    /"kernel" must be a positive integer, found 0/,
  );
});

Deno.test("tim: no tensor leaks", () => {
  const p = initTim(key(51), { channels: 4 });
  const q = spikes(52, [4, 2, 6, 4]);
  const before = tf.memory().numTensors;
  applyTim(p, q).dispose();
  const s = applyTimWithState(p, q);
  Object.values(s).forEach((t) => t.dispose());
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("tim: the fused step kernel = the composite path, spikes bit for bit and gradients (wasm, cpu)", async () => {
  for (const backend of ["wasm", "cpu"]) {
    await useBackend(backend);
    try {
      const q = spikes(11, [4, 2, 3, 12, 8], 0.4); // [T, B, H, L, d]
      const w = tf.randomNormal(q.shape, 0, 1, "float32", 12);
      const cases: [TimOptions, number][] = [
        [{}, 5],
        [{ causal: true, inThreshold: 0.2, outThreshold: 0.35 }, 5],
        [{ surrogate: "atan", alpha: 0.3 }, 3],
        [{ tau: 3 }, 5],
      ];
      for (const [base, kernel] of cases) {
        let opts: TimOptions = { ...base, fused: true };
        const p = initTim(key(3), { channels: 8, kernel });
        const run = () =>
          tf.tidy(() => {
            const y = applyTim(p, q, opts);
            const loss = (qq: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
              tf.sum(tf.mul(applyTim({ w: ww as tf.Tensor3D, b: bb as tf.Tensor1D }, qq, opts), w));
            const [gq, gw, gb] = tf.grads(loss)([q, p.w, p.b]);
            return [y, gq, gw, gb].map((t) => t.dataSync() as Float32Array);
          });
        const fused = run();
        opts = { ...opts, fused: false };
        setKernelsEnabled(false);
        let composite;
        try {
          composite = run();
        } finally {
          setKernelsEnabled(true);
        }
        const what = `${backend} ${JSON.stringify(opts)}`;
        assert.deepEqual(Array.from(fused[0]), Array.from(composite[0]), `spikes ${what}`);
        const fired = fused[0].reduce((a, v) => a + v, 0);
        assert.ok(fired > 0 && fired < fused[0].length, `some spikes ${what}: ${fired}`);
        close(fused[1], composite[1], 1e-5, `dq ${what}`);
        close(fused[2], composite[2], 1e-4, `dw ${what}`);
        close(fused[3], composite[3], 1e-4, `db ${what}`);
        assert.ok(fused[2].some((v) => Math.abs(v) > 1e-3), `dw nonzero ${what}`);
      }
    } finally {
      await useBackend("cpu");
    }
  }
});
