import assert from "node:assert/strict";
import {
  foldIn,
  key,
  logFactorial,
  normal,
  permutation,
  randint,
  split,
  stream,
  tfSeed,
  threefry2x32,
  uniform,
} from "../lib/core/random.ts";

Deno.test("threefry2x32 matches the Random123 / JAX known-answer vectors", () => {
  assert.deepEqual(threefry2x32([0, 0], [0, 0]), [0x6b200159, 0x99ba4efe]);
  assert.deepEqual(threefry2x32([0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]), [
    0x1cb996fc,
    0xbb002be7,
  ]);
  assert.deepEqual(threefry2x32([0x13198a2e, 0x03707344], [0x243f6a88, 0x85a308d3]), [
    0xc4923a9c,
    0x483df7a0,
  ]);
});

Deno.test("keys are deterministic, split into distinct keys, and reject bad seeds", () => {
  assert.deepEqual(key(7), key(7));
  assert.notDeepEqual(key(7), key(8));
  const [a, b, c] = split(key(1), 3);
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(b, c);
  assert.deepEqual(split(key(1), 3)[2], c);
  // split(k, 2) is a prefix of split(k, 3): the i-th child does not depend on n
  assert.deepEqual(split(key(1), 2), [a, b]);
  assert.notDeepEqual(foldIn(key(1), 0), foldIn(key(1), 1));
  assert.throws(() => key(1.5), /safe integer/);
  assert.throws(() => split([1, -2] as unknown as [number, number]), /random key/);
  const s = tfSeed(key(3));
  assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 31);
});

Deno.test("uniform and normal draws have the right moments", () => {
  const n = 100_000;
  const u = uniform(key(11), n);
  let m = 0;
  for (const x of u) {
    assert.ok(x >= 0 && x < 1);
    m += x;
  }
  m /= n;
  // sd of the mean of U(0,1) is 0.2887/sqrt(n) = 9e-4; 5 sd
  assert.ok(Math.abs(m - 0.5) < 4.6e-3, `mean ${m}`);
  const z = normal(key(12), n);
  let zm = 0, zv = 0;
  for (const x of z) zm += x;
  zm /= n;
  for (const x of z) zv += (x - zm) ** 2;
  zv /= n;
  assert.ok(Math.abs(zm) < 0.016, `normal mean ${zm}`);
  assert.ok(Math.abs(zv - 1) < 0.03, `normal var ${zv}`);
  assert.deepEqual(uniform(key(11), 5), u.slice(0, 5));
});

Deno.test("poisson sampler: mean and variance match lambda on both branches", () => {
  for (const lam of [0.3, 4, 17, 60]) {
    const s = stream(key(Math.round(lam * 10)));
    const n = 50_000;
    let m = 0, v = 0;
    const xs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      xs[i] = s.poisson(lam);
      assert.ok(Number.isInteger(xs[i]) && xs[i] >= 0);
      m += xs[i];
    }
    m /= n;
    for (const x of xs) v += (x - m) ** 2;
    v /= n - 1;
    const sdMean = Math.sqrt(lam / n);
    assert.ok(Math.abs(m - lam) < 5 * sdMean, `lambda ${lam}: mean ${m}`);
    assert.ok(Math.abs(v / lam - 1) < 0.05, `lambda ${lam}: var ${v}`);
  }
  assert.equal(stream(key(0)).poisson(0), 0);
  assert.throws(() => stream(key(0)).poisson(-1), /finite and >= 0/);
});

Deno.test("permutation, randint and logFactorial", () => {
  const p = permutation(key(5), 50);
  assert.deepEqual([...p].sort((a, b) => a - b), [...Array(50).keys()]);
  assert.notDeepEqual([...p], [...Array(50).keys()]);
  const r = randint(key(6), 1000, { lo: 2, hi: 5 });
  assert.ok(r.every((x) => x >= 2 && x < 5));
  assert.deepEqual(new Set(r), new Set([2, 3, 4]));
  assert.throws(() => randint(key(6), 3, { lo: 2, hi: 2 }), /hi > lo/);
  assert.ok(Math.abs(logFactorial(5) - Math.log(120)) < 1e-12);
  // Stirling branch against the table's continuation: ln(300!) = ln(299!) + ln(300)
  assert.ok(Math.abs(logFactorial(300) - logFactorial(299) - Math.log(300)) < 1e-9);
});
