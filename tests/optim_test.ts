import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import {
  adamw,
  clipByGlobalNorm,
  cosineWarmup,
  defaultDecayMask,
  type OptState,
} from "../lib/train/optim.ts";
import { disposeTree, flatten, getLeaf, type Params } from "../lib/core/tree.ts";

await useBackend("cpu");

function close(a: number, b: number, tol: number, what = ""): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
}

async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

function disposeState(s: OptState): void {
  disposeTree(s.mu);
  disposeTree(s.nu);
}

/** Independent float64 PyTorch AdamW (documented algorithm), one leaf. */
function refAdamW(
  theta0: number[],
  grads: number[][],
  o: { lr: (s: number) => number; b1: number; b2: number; eps: number; wd: number },
): number[] {
  const th = [...theta0], m = th.map(() => 0), v = th.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1, lr = o.lr(s);
    for (let i = 0; i < th.length; i++) {
      th[i] -= lr * o.wd * th[i];
      m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
      v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
      const mh = m[i] / (1 - o.b1 ** t), vh = v[i] / (1 - o.b2 ** t);
      th[i] -= lr * mh / (Math.sqrt(vh) + o.eps);
    }
  });
  return th;
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`adamw: K.7 vector (θ0=1, g=0.5, lr 0.1, wd 0.01) on ${backend}`, async () => {
    await useBackend(backend);
    const opt = adamw({ lr: 0.1, weightDecay: 0.01 });
    let params: Params = { w: tf.ones([1, 1]) };
    let state = opt.init(params);
    assert.equal(state.step, 0);
    const grads = { w: tf.fill([1, 1], 0.5) };
    const expected = [0.899000002, 0.798101004];
    for (let s = 0; s < 2; s++) {
      const next = opt.update(grads, state, params);
      disposeTree(params);
      disposeState(state);
      ({ params, state } = next);
      assert.equal(state.step, s + 1);
      close((await values(getLeaf(params, "w")))[0], expected[s], 1e-6, `step ${s + 1}`);
    }
    // the float64 reference agrees with the published numbers
    const ref = refAdamW([1], [[0.5], [0.5]], {
      lr: () => 0.1,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      wd: 0.01,
    });
    close(ref[0], 0.798101004, 1e-9, "reference");
    disposeTree(params);
    disposeState(state);
    disposeTree(grads);
    await useBackend("cpu");
  });
}

Deno.test("adamw: matches a float64 reference over 20 steps with a schedule", async () => {
  const n = 6, steps = 20;
  const theta0 = Array.from({ length: n }, (_, i) => Math.sin(i + 1));
  const gs = Array.from(
    { length: steps },
    (_, s) => Array.from({ length: n }, (_, i) => Math.cos(3 * s + i) * (i + 1) * 0.3),
  );
  const lr = (s: number): number =>
    cosineWarmup(s, { totalSteps: steps, warmupSteps: 3, peakLr: 0.05 });
  const o = { lr, b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0.1 };
  const ref = refAdamW(theta0, gs, o);
  const opt = adamw({ lr, b1: o.b1, b2: o.b2, eps: o.eps, weightDecay: o.wd });
  let params: Params = { layer: { w: tf.tensor2d(theta0, [2, 3]) } };
  let state = opt.init(params);
  for (const g of gs) {
    const grads = { layer: { w: tf.tensor2d(g, [2, 3]) } };
    const next = opt.update(grads, state, params);
    disposeTree(params);
    disposeState(state);
    disposeTree(grads);
    ({ params, state } = next);
  }
  const got = await values(getLeaf(params, "layer.w"));
  got.forEach((x, i) => close(x, ref[i], 2e-6, `θ[${i}]`));
  disposeTree(params);
  disposeState(state);
});

Deno.test("adamw: the schedule sees the 0-based step being taken", () => {
  const seen: number[] = [];
  const opt = adamw({ lr: (s) => (seen.push(s), 0.01) });
  let params: Params = { w: tf.ones([2, 2]) };
  let state = opt.init(params);
  const grads = { w: tf.ones([2, 2]) };
  for (let i = 0; i < 3; i++) {
    const next = opt.update(grads, state, params);
    disposeTree(params);
    disposeState(state);
    ({ params, state } = next);
  }
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(state.step, 3);
  disposeTree(params);
  disposeState(state);
  disposeTree(grads);
});

Deno.test("adamw: a parameter without a gradient keeps its own step count (PyTorch per-parameter step)", async () => {
  // Two 1×1 parameters (so both are weight-decayed), lr(s) = 0.1·(s+1) on the global step,
  // b1 0.9, b2 0.999, eps 1e-8, weight decay 0.1. Global steps 1..4: `a` has gradient 1 in all
  // four; `b` has gradient 0.5 in step 1, none in steps 2 and 3 (k = 2 skipped), 2 in step 4.
  const lr = (s: number): number => 0.1 * (s + 1);
  const opt = adamw({ lr, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0.1 });
  let params: Params = { a: tf.fill([1, 1], 2), b: tf.ones([1, 1]) };
  let state = opt.init(params);
  assert.deepEqual(state.paramSteps, { a: 0, b: 0 });
  const gb = [0.5, undefined, undefined, 2];
  const seenB: number[] = [], counts: number[] = [];
  for (let s = 0; s < 4; s++) {
    const grads: Params = { a: tf.ones([1, 1]) };
    if (gb[s] !== undefined) grads.b = tf.fill([1, 1], gb[s]!);
    const bBefore = await values(getLeaf(params, "b"));
    const muB = await values(getLeaf(state.mu, "b")), nuB = await values(getLeaf(state.nu, "b"));
    const next = opt.update(grads, state, params);
    if (gb[s] === undefined) {
      // skipped: value, moments and count exactly as before (no decay either)
      assert.deepEqual(await values(getLeaf(next.params, "b")), bBefore);
      assert.deepEqual(await values(getLeaf(next.state.mu, "b")), muB);
      assert.deepEqual(await values(getLeaf(next.state.nu, "b")), nuB);
    }
    disposeTree(params);
    disposeState(state);
    disposeTree(grads);
    ({ params, state } = next);
    seenB.push(state.paramSteps.b);
    counts.push(tf.memory().numTensors);
  }
  assert.ok(counts.every((c) => c === counts[0]), `numTensors: ${counts.join(",")}`);
  assert.equal(state.step, 4);
  assert.deepEqual(state.paramSteps, { a: 4, b: 2 });
  assert.deepEqual(seenB, [1, 1, 1, 2]);
  // a: constant gradient, so m̂ = v̂ = 1 every step and θ ← θ·(1 − 0.1·lr) − lr/(1 + 1e-8):
  //   2·0.99 − 0.1/(1+1e-8)                   = 1.880000001
  //   1.880000001·0.98 − 0.2/(1+1e-8)          = 1.64240000298
  //   1.64240000298·0.97 − 0.3/(1+1e-8)        = 1.2931280058906
  //   1.2931280058906·0.96 − 0.4/(1+1e-8)      = 0.84140288965498
  close((await values(getLeaf(params, "a")))[0], 0.84140288965498, 2e-6, "a after 4 steps");
  // b, step 1 (t_b = 1, lr 0.1): m = 0.05, v = 0.00025, m̂ = 0.5, √v̂ = 0.5,
  //   b = 1·0.99 − 0.1·0.5/(0.5 + 1e-8) = 0.890000002
  // b, step 4 (t_b = 2, lr(3) = 0.4): decay 0.890000002·0.96 = 0.85440000192,
  //   m = 0.9·0.05 + 0.1·2 = 0.245,      m̂ = 0.245/(1 − 0.9²)      = 1.2894736842
  //   v = 0.999·0.00025 + 0.001·4 = 0.00424975, v̂ = 0.00424975/(1 − 0.999²) = 2.1259379690,
  //   √v̂ = 1.4580596589,  b = 0.85440000192 − 0.4·1.2894736842/(1.4580596589 + 1e-8)
  //                          = 0.5006494081
  // (with the global step t = 4 the bias correction would give 0.5781409913 instead)
  close((await values(getLeaf(params, "b")))[0], 0.5006494081, 2e-6, "b after 4 steps");
  close((await values(getLeaf(state.mu, "b")))[0], 0.245, 1e-7, "m_b");
  close((await values(getLeaf(state.nu, "b")))[0], 0.00424975, 1e-9, "v_b");
  disposeTree(params);
  disposeState(state);
});

Deno.test("adamw: decay mask (default rank ≥ 2, custom by path)", async () => {
  // zero gradients: the Adam step is 0, so only the decoupled decay moves θ
  const params = { w: tf.fill([2, 2], 2), b: tf.fill([2], 2), g: tf.scalar(2) };
  const grads = { w: tf.zeros([2, 2]), b: tf.zeros([2]), g: tf.scalar(0) };
  const lr = 0.1, wd = 0.5;
  assert.equal(defaultDecayMask("w", params.w), true);
  assert.equal(defaultDecayMask("b", params.b), false);
  const opt = adamw({ lr, weightDecay: wd });
  const state = opt.init(params);
  const r = opt.update(grads, state, params);
  close((await values(getLeaf(r.params, "w")))[0], 2 * (1 - lr * wd), 1e-6, "w decayed");
  assert.deepEqual(await values(getLeaf(r.params, "b")), [2, 2]);
  assert.deepEqual(await values(getLeaf(r.params, "g")), [2]);

  const custom = adamw({ lr, weightDecay: wd, decayMask: (path) => path === "b" });
  const r2 = custom.update(grads, state, params);
  assert.deepEqual(await values(getLeaf(r2.params, "w")), [2, 2, 2, 2]);
  close((await values(getLeaf(r2.params, "b")))[0], 2 * (1 - lr * wd), 1e-6, "b decayed");

  // weightDecay 0 never decays
  const r3 = adamw({ lr, weightDecay: 0 }).update(grads, state, params);
  assert.deepEqual(await values(getLeaf(r3.params, "w")), [2, 2, 2, 2]);
  for (const x of [r, r2, r3]) {
    disposeTree(x.params);
    disposeState(x.state);
  }
  disposeTree(params);
  disposeTree(grads);
  disposeState(state);
});

Deno.test("adamw: update disposes none of its inputs and returns new tensors", () => {
  const opt = adamw({ lr: 1e-3 });
  const params = { a: { w: tf.ones([3, 2]) }, b: tf.zeros([2]) };
  const state = opt.init(params);
  const grads = { a: { w: tf.ones([3, 2]) }, b: tf.ones([2]) };
  const r = opt.update(grads, state, params);
  const inputs = [params, grads, state.mu, state.nu].flatMap((t) => flatten(t));
  assert.ok(inputs.every((l) => !l.tensor.isDisposed));
  const outputs = [r.params, r.state.mu, r.state.nu].flatMap((t) => flatten(t));
  const inputIds = new Set(inputs.map((l) => l.tensor.id));
  assert.ok(outputs.every((l) => !inputIds.has(l.tensor.id)));
  assert.deepEqual(flatten(r.params).map((l) => l.path), ["a.w", "b"]);
  assert.equal(state.step, 0, "the input state is not mutated");
  for (const t of [params, grads, r.params]) disposeTree(t);
  disposeState(state);
  disposeState(r.state);
});

Deno.test("adamw: 50 updates leak no tensors", () => {
  const opt = adamw({ lr: (s) => cosineWarmup(s, { totalSteps: 50, peakLr: 1e-2 }) });
  let params: Params = { l0: { w: tf.ones([4, 4]), b: tf.zeros([4]) }, out: tf.ones([4, 1]) };
  let state = opt.init(params);
  const counts: number[] = [];
  for (let i = 0; i < 50; i++) {
    const grads = {
      l0: { w: tf.randomNormal([4, 4]), b: tf.randomNormal([4]) },
      out: tf.ones([4, 1]),
    };
    const next = opt.update(grads, state, params);
    disposeTree(params);
    disposeState(state);
    disposeTree(grads);
    ({ params, state } = next);
    counts.push(tf.memory().numTensors);
  }
  assert.ok(counts.every((c) => c === counts[0]), `numTensors: ${counts.join(",")}`);
  disposeTree(params);
  disposeState(state);
});

Deno.test("adamw: validation names what was expected and found", () => {
  assert.throws(
    () => adamw({ lr: -1 }),
    /adamw lr: expected a finite number in \[0, Infinity\], found -1/,
  );
  assert.throws(() => adamw({ b1: 1 }), /expected values below 1/);
  assert.throws(() => adamw({ b2: 1.5 }), /adamw b2: expected .* found 1.5/);
  assert.throws(() => adamw({ weightDecay: NaN }), /weightDecay: expected .* found NaN/);
  assert.throws(() => adamw({ learningRate: 1 } as never), /unknown adamw option "learningRate"/);
  const opt = adamw();
  const params = { w: tf.ones([2, 2]), b: tf.ones([2]) };
  const state = opt.init(params);
  const extra = { w: tf.ones([2, 2]), b: tf.ones([2]), c: tf.ones([1]) };
  assert.throws(() => opt.update(extra, state, params), /gradients: .*unexpected "c"/);
  const wrong = { w: tf.ones([2, 3]), b: tf.ones([2]) };
  assert.throws(
    () => opt.update(wrong, state, params),
    /gradients "w": expected shape \[2,2\] like the parameter, found \[2,3\]/,
  );
  const bad = adamw({ lr: () => NaN });
  assert.throws(() => bad.update(params, state, params), /finite number ≥ 0 at step 0, found NaN/);
  // per-parameter step counts: one integer ≥ 0 per parameter path
  const noCounts = { step: 0, mu: state.mu, nu: state.nu } as unknown as OptState;
  assert.throws(
    () => opt.update(params, noCounts, params),
    (e: Error) =>
      e instanceof TypeError && /paramSteps: expected an object .*found undefined/.test(e.message),
  );
  assert.throws(
    () => opt.update(params, { ...state, paramSteps: { w: 0 } }, params),
    /paramSteps: expected one step count per parameter path, found missing "b"/,
  );
  assert.throws(
    () => opt.update(params, { ...state, paramSteps: { w: 0, b: 0, c: 0 } }, params),
    /found unexpected "c"/,
  );
  assert.throws(
    () => opt.update(params, { ...state, paramSteps: { w: 0, b: 1.5 } }, params),
    (e: Error) =>
      e instanceof RangeError &&
      /paramSteps "b": expected an integer ≥ 0, found 1.5/.test(e.message),
  );
  for (const t of [params, extra, wrong]) disposeTree(t);
  disposeState(state);
});

Deno.test("cosineWarmup: K.7 vector and shape of the schedule", () => {
  const o = { totalSteps: 100, warmupSteps: 10, peakLr: 1 };
  const got = [0, 5, 10, 55, 100].map((s) => cosineWarmup(s, o));
  [0, 0.5, 1, 0.5, 0].forEach((e, i) => close(got[i], e, 1e-12, `s=${[0, 5, 10, 55, 100][i]}`));
  // clamped after totalSteps
  assert.equal(cosineWarmup(150, o), 0);
  // floor and peak scale
  const f = { totalSteps: 100, warmupSteps: 10, peakLr: 3e-4, minLr: 1e-5 };
  close(cosineWarmup(10, f), 3e-4, 1e-15);
  close(cosineWarmup(55, f), 1e-5 + 0.5 * (3e-4 - 1e-5), 1e-15);
  close(cosineWarmup(100, f), 1e-5, 1e-15);
  close(cosineWarmup(1000, f), 1e-5, 1e-15);
  close(cosineWarmup(5, f), 1.5e-4, 1e-15, "warm-up starts at 0, not at minLr");
  // monotone decreasing after the warm-up
  for (let s = 11; s <= 100; s++) assert.ok(cosineWarmup(s, f) <= cosineWarmup(s - 1, f));
});

Deno.test("cosineWarmup: default warm-up is round(3 %) and edge cases", () => {
  // 3 % of 200 = 6 steps
  close(cosineWarmup(3, { totalSteps: 200, peakLr: 1 }), 0.5, 1e-12);
  close(cosineWarmup(6, { totalSteps: 200, peakLr: 1 }), 1, 1e-12);
  // 3 % of 10 rounds to 0: no warm-up, peak at step 0
  close(cosineWarmup(0, { totalSteps: 10, peakLr: 2 }), 2, 1e-12);
  // warm-up over the whole schedule: linear then minLr
  close(cosineWarmup(9, { totalSteps: 10, warmupSteps: 10, peakLr: 1 }), 0.9, 1e-12);
  close(cosineWarmup(10, { totalSteps: 10, warmupSteps: 10, peakLr: 1 }), 1, 1e-12);
  close(cosineWarmup(11, { totalSteps: 10, warmupSteps: 10, peakLr: 1 }), 0, 1e-12);
});

Deno.test("cosineWarmup: validation", () => {
  assert.throws(
    () => cosineWarmup(0, { totalSteps: 0, peakLr: 1 }),
    /totalSteps: expected an integer ≥ 1, found 0/,
  );
  assert.throws(() => cosineWarmup(0, { totalSteps: 1.5, peakLr: 1 }), /found 1.5/);
  assert.throws(
    () => cosineWarmup(0, { totalSteps: 10, warmupSteps: 11, peakLr: 1 }),
    /warmupSteps: expected an integer in \[0, 10\], found 11/,
  );
  assert.throws(() => cosineWarmup(0, { totalSteps: 10, peakLr: -1 }), /peakLr: expected/);
  assert.throws(
    () => cosineWarmup(0, { totalSteps: 10, peakLr: 1, minLr: 2 }),
    /minLr: expected a finite number in \[0, 1\], found 2/,
  );
  assert.throws(
    () => cosineWarmup(-1, { totalSteps: 10, peakLr: 1 }),
    /step: expected a finite number ≥ 0, found -1/,
  );
  assert.throws(
    () => cosineWarmup(0, { totalSteps: 10, peakLR: 1 } as never),
    /unknown cosineWarmup option "peakLR"/,
  );
});

Deno.test("clipByGlobalNorm: K.7 vector", async () => {
  const grads = { a: tf.tensor1d([3, 4]), b: tf.tensor1d([12]) };
  const before = tf.memory().numTensors;
  const r = await clipByGlobalNorm(grads, 1);
  assert.equal(r.norm, 13);
  assert.notEqual(r.grads, grads);
  const a = await values(getLeaf(r.grads, "a")), b = await values(getLeaf(r.grads, "b"));
  close(a[0], 0.2307692, 1e-7);
  close(a[1], 0.3076923, 1e-7);
  close(b[0], 0.9230769, 1e-7);
  // coef = 1/(13 + 1e-6), exactly torch's
  close(a[0], 3 / (13 + 1e-6), 1e-7);
  assert.equal(tf.memory().numTensors, before + 2, "only the two clipped leaves are new");
  assert.ok(!grads.a.isDisposed && !grads.b.isDisposed);
  disposeTree(r.grads);
  disposeTree(grads);
});

Deno.test("clipByGlobalNorm: within bounds, non-finite and empty trees are returned as is", async () => {
  const small = { w: tf.tensor2d([[0.3, 0.4]]) };
  const before = tf.memory().numTensors;
  const r = await clipByGlobalNorm(small);
  close(r.norm, 0.5, 1e-7);
  assert.equal(r.grads, small);
  assert.equal(tf.memory().numTensors, before, "nothing left behind");
  // default maxNorm is 1
  const r1 = await clipByGlobalNorm({ w: tf.tensor1d([2]) });
  close((await values(getLeaf(r1.grads, "w")))[0], 1, 1e-6);
  disposeTree(r1.grads);

  const nan = { a: tf.tensor1d([1, NaN]), b: tf.tensor1d([1]) };
  const rn = await clipByGlobalNorm(nan, 1);
  assert.ok(Number.isNaN(rn.norm));
  assert.equal(rn.grads, nan);
  const inf = { a: tf.tensor1d([1, Infinity]) };
  const ri = await clipByGlobalNorm(inf, 1);
  assert.equal(ri.norm, Infinity);
  assert.equal(ri.grads, inf);

  const empty = {};
  const re = await clipByGlobalNorm(empty);
  assert.equal(re.norm, 0);
  assert.equal(re.grads, empty);
  await assert.rejects(
    () => clipByGlobalNorm(small, 0),
    /maxNorm: expected a finite number in \(0, Infinity\], found 0/,
  );
  for (const t of [small, nan, inf]) disposeTree(t);
});
