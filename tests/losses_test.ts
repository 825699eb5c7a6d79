import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { lgamma, negBinomialNll, poissonNll } from "../lib/train/losses.ts";

await useBackend("cpu");

function close(a: number, b: number, tol: number, what = ""): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
}

async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** Independent float64 lgamma: Lanczos (g = 7, n = 9), about 1e-15 relative for x > 0. */
function refLgamma(x: number): number {
  const c = [
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - refLgamma(1 - x);
  const xm = x - 1;
  let a = c[0];
  const t = xm + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (xm + i);
  return 0.5 * Math.log(2 * Math.PI) + (xm + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Independent float64 digamma: recurrence up to x ≥ 10, then the asymptotic series. */
function refDigamma(x: number): number {
  let r = 0;
  while (x < 10) r -= 1 / x++;
  const f = 1 / (x * x);
  return r + Math.log(x) - 0.5 / x -
    f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))));
}

/** Float64 Poisson NLL on log-rates, the same reduction as poissonNll. */
function refNll(l: number[], y: number[], w?: number[], full = false): number {
  let s = 0, ws = 0;
  for (let i = 0; i < l.length; i++) {
    const wi = w ? w[i] : 1;
    s += wi * (Math.exp(l[i]) - y[i] * l[i] + (full ? refLgamma(y[i] + 1) : 0));
    ws += wi;
  }
  return w ? s / Math.max(ws, 1) : s / l.length;
}

Deno.test("reference lgamma and digamma agree with tabulated values", () => {
  close(refLgamma(0.5), 0.5723649429247001, 1e-13);
  close(refLgamma(100), 359.1342053695754, 1e-10);
  close(refDigamma(1), -0.5772156649015329, 1e-12);
  // Γ(3.5) = 15√π/8, so lgamma(3.5) = ln(15√π/8) and digamma(3.5) = −γ − 2 ln 2 + 2 + 2/3 + 2/5
  close(refLgamma(3.5), Math.log(15 * Math.sqrt(Math.PI) / 8), 1e-13);
  close(refDigamma(3.5), -0.5772156649015329 - 2 * Math.LN2 + 2 + 2 / 3 + 2 / 5, 1e-12);
});

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`lgamma: known values on ${backend}`, async () => {
    await useBackend(backend);
    const xs = [0.5, 1, 2, 3.5, 10, 100];
    // lgamma(3.5) = ln(15√π/8) = 1.2009736 (1.2880225 in the brief is not lgamma(3.5))
    const want = [0.5723649, 0, 0, 1.2009736, 12.8018275, 359.1342054];
    const x = tf.tensor1d(xs);
    const y = lgamma(x);
    const got = await values(y);
    want.forEach((w, i) =>
      close(got[i], w, Math.max(1e-6, 1e-6 * Math.abs(w)), `lgamma(${xs[i]})`)
    );
    tf.dispose([x, y]);
    await useBackend("cpu");
  });
}

Deno.test("lgamma: ~1e-6 accurate across [1e-4, 1e10] against float64 Lanczos", async () => {
  const xs: number[] = [];
  for (let e = -4; e <= 10; e += 0.01) xs.push(10 ** e);
  for (let v = 0.005; v < 12; v += 0.005) xs.push(v);
  const x = tf.tensor1d(xs);
  const y = lgamma(x);
  const got = await values(y);
  let worst = 0;
  xs.forEach((xi, i) => {
    const xf = Math.fround(xi); // the float32 input actually evaluated
    const want = refLgamma(xf);
    const err = Math.abs(got[i] - want) / Math.max(1, Math.abs(want));
    worst = Math.max(worst, err);
    assert.ok(err <= 1.5e-6, `lgamma(${xf}) = ${got[i]}, want ${want} (scaled error ${err})`);
  });
  assert.ok(worst > 0);
  tf.dispose([x, y]);
  // lgamma(0) is +Infinity; negative arguments are outside the domain (NaN)
  const z = tf.tensor1d([0, -0.5]);
  const lz = lgamma(z);
  const [at0, atNeg] = await values(lz);
  assert.equal(at0, Infinity);
  assert.ok(Number.isNaN(atNeg));
  tf.dispose([z, lz]);
});

Deno.test("lgamma: gradient is digamma (analytic values and finite differences)", async () => {
  const xs = [0.1, 0.5, 1, 2, 3.5, 7.25, 10, 100, 1000];
  const x = tf.tensor1d(xs);
  const g = tf.grad((t: tf.Tensor) => tf.sum(lgamma(t)))(x);
  const got = await values(g);
  close(got[2], -0.5772157, 1e-6, "digamma(1)");
  // digamma(3.5) = 1.1031566 (1.1031177 in the brief is off by 4e-5)
  close(got[4], 1.1031566, 1e-6, "digamma(3.5)");
  xs.forEach((xi, i) => {
    const want = refDigamma(xi);
    close(got[i], want, 2e-6 * Math.max(1, Math.abs(want)), `digamma(${xi})`);
    // central finite difference of the float64 reference lgamma
    const h = 1e-5 * Math.max(1, xi);
    const fd = (refLgamma(xi + h) - refLgamma(xi - h)) / (2 * h);
    close(got[i], fd, 1e-5 * Math.max(1, Math.abs(fd)), `fd at ${xi}`);
  });
  tf.dispose([x, g]);
});

Deno.test("lgamma: leaves no intermediate tensors", () => {
  const x = tf.tensor1d([1.5, 2.5]);
  const before = tf.memory().numTensors;
  const y = lgamma(x);
  assert.equal(tf.memory().numTensors, before + 1);
  tf.dispose([x, y]);
});

Deno.test("poissonNll: J.7 vector (ℓ = ln 2, y = 3), plain and full", async () => {
  const l = tf.tensor1d([Math.log(2)]), y = tf.tensor1d([3]);
  const plain = poissonNll(l, y);
  const full = poissonNll(l, y, { full: true });
  assert.equal(plain.rank, 0);
  close((await values(plain))[0], -0.0794415, 1e-6, "plain");
  close((await values(full))[0], 1.7123179, 1e-6, "full (exact lgamma, not Stirling 1.6846400)");
  // int32 counts behave the same
  const yi = tf.tensor1d([3], "int32");
  const pi = poissonNll(l, yi);
  close((await values(pi))[0], -0.0794415, 1e-6, "int32 counts");
  tf.dispose([l, y, yi, plain, full, pi]);
});

Deno.test("poissonNll: values and masks against a float64 reference", async () => {
  const shape = [2, 3, 4];
  const n = 24;
  const lv = Array.from({ length: n }, (_, i) => Math.sin(1.7 * i) * 1.5);
  const yv = Array.from({ length: n }, (_, i) => (i * 7) % 5);
  const wv = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const l = tf.tensor(lv, shape), y = tf.tensor(yv, shape), w = tf.tensor(wv, shape);
  const cases: [tf.Scalar, number][] = [
    [poissonNll(l, y), refNll(lv, yv)],
    [poissonNll(l, y, { full: true }), refNll(lv, yv, undefined, true)],
    [poissonNll(l, y, { mask: w }), refNll(lv, yv, wv)],
    [poissonNll(l, y, { mask: w, full: true }), refNll(lv, yv, wv, true)],
  ];
  for (const [i, [got, want]] of cases.entries()) {
    close((await values(got))[0], want, 2e-6 * Math.max(1, Math.abs(want)), `case ${i}`);
  }
  // an all-zero mask divides by max(0, 1): the loss is 0, not NaN
  const zero = tf.zeros(shape);
  const z = poissonNll(l, y, { mask: zero });
  assert.equal((await values(z))[0], 0);
  tf.dispose([l, y, w, zero, z, ...cases.map((c) => c[0])]);
});

Deno.test("poissonNll: gradient vs analytic (exp(ℓ) − y)·w/Σw and float64 finite differences", async () => {
  const n = 12;
  const lv = Array.from({ length: n }, (_, i) => Math.cos(0.9 * i) - 0.3);
  const yv = Array.from({ length: n }, (_, i) => (i * 5) % 4);
  const wv: number[] = Array.from({ length: n }, (_, i) => (i % 4 === 1 ? 0 : 1));
  const y = tf.tensor2d(yv, [3, 4]), w = tf.tensor2d(wv, [3, 4]), l = tf.tensor2d(lv, [3, 4]);
  const wsum = wv.reduce((a: number, b) => a + b, 0);
  for (const masked of [false, true]) {
    for (const full of [false, true]) {
      const mask = masked ? w : undefined;
      const g = tf.grad((t: tf.Tensor) => poissonNll(t, y, { mask, full }))(l);
      const got = await values(g);
      for (let i = 0; i < n; i++) {
        const wi = masked ? wv[i] : 1, denom = masked ? wsum : n;
        const analytic = (Math.exp(lv[i]) - yv[i]) * wi / denom;
        close(got[i], analytic, 1e-6, `analytic masked=${masked} full=${full} [${i}]`);
        const h = 1e-6;
        const up = [...lv], dn = [...lv];
        up[i] += h;
        dn[i] -= h;
        const ws = masked ? wv : undefined;
        const fd = (refNll(up, yv, ws, full) - refNll(dn, yv, ws, full)) / (2 * h);
        close(got[i], fd, 1e-6, `fd masked=${masked} full=${full} [${i}]`);
      }
      g.dispose();
    }
  }
  tf.dispose([y, w, l]);
});

Deno.test("poissonNll: no leaked intermediates, shape errors name both shapes", () => {
  const l = tf.zeros([2, 3]), y = tf.ones([2, 3]), m = tf.ones([2, 3]);
  const before = tf.memory().numTensors;
  const out = poissonNll(l, y, { mask: m, full: true });
  assert.equal(tf.memory().numTensors, before + 1);
  out.dispose();
  const bad = tf.ones([3, 2]);
  assert.throws(
    () => poissonNll(l, bad),
    /poissonNll counts: expected shape \[2,3\], found \[3,2\]/,
  );
  assert.throws(
    () => poissonNll(l, y, { mask: bad }),
    /poissonNll mask: expected shape \[2,3\], found \[3,2\]/,
  );
  assert.throws(
    () => poissonNll(l, y, { weights: m } as never),
    /unknown poissonNll option "weights"/,
  );
  tf.dispose([l, y, m, bad]);
});

Deno.test("negBinomialNll: components.md J.7 vectors, Poisson limit and gradient vs finite differences", async () => {
  const t = tf;
  const nb = async (mu: number, r: number, y: number) =>
    (await negBinomialNll(t.tensor1d([Math.log(mu)]), t.tensor1d([Math.log(r)]), t.tensor1d([y]))
      .data())[0];
  const near = (a: number, b: number, tol: number, what: string) =>
    assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
  near(await nb(1, 2, 2), 1.9095425, 2e-6, "mu 1 r 2 y 2");
  near(await nb(1, 2, 0), 0.8109302, 2e-6, "mu 1 r 2 y 0");
  // θ = 1000 against a float64 evaluation (for integer y, lgamma(y+θ) − lgamma(θ) = Σ ln(θ+i));
  // float32 lgamma differences lose ~1e-3 at this θ, so that is the tolerance
  const theta = 1000;
  const exact = -(Math.log(theta) + Math.log(theta + 1)) + Math.log(2) +
    (theta + 2) * Math.log1p(1 / theta) + 2 * Math.log(theta);
  near(await nb(1, theta, 2), exact, 3e-3, "theta 1000");
  // and it approaches the Poisson(λ = 1) NLL 1 + ln 2 (difference O(μ²/θ))
  near(exact, 1.6931472, 2e-3, "Poisson limit");
  const full = (await poissonNll(t.tensor1d([0]), t.tensor1d([2]), { full: true }).data())[0];
  near(full, 1.6931472, 2e-6, "poisson full");
  // gradient w.r.t. log-mean and log-theta: analytic d/dμ = (r+y)/(r+μ) − y/μ, chain μ
  const l = t.tensor1d([Math.log(1.7)]);
  const lt = t.tensor1d([Math.log(2.5)]);
  const y = t.tensor1d([3]);
  const [gl, gt] = t.grads((a: tf.Tensor, b: tf.Tensor) => negBinomialNll(a, b, y))([l, lt]);
  const mu = 1.7, r = 2.5, yy = 3;
  near((await gl.data())[0], ((r + yy) / (r + mu) - yy / mu) * mu, 1e-5, "d/dlogMean");
  const f = async (x: number) => (await negBinomialNll(l, t.tensor1d([x]), y).data())[0];
  const eps = 1e-3;
  const fd = (await f(Math.log(2.5) + eps) - await f(Math.log(2.5) - eps)) / (2 * eps);
  near((await gt.data())[0], fd, 2e-3, "d/dlogTheta vs finite differences");
  assert.throws(() => negBinomialNll(l, lt, t.tensor1d([1, 2])), /expected shape/);
});
