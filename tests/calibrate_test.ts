/**
 * Per-neuron rate gains (`lib/train/calibrate.ts`): hand-computed gains, the Poisson likelihood
 * they maximise, recovery of a known miscalibration on Lorenz data, the forward window's own
 * gains, and the refusals.
 */
import assert from "node:assert/strict";
import { array3d, type RatePredictions, spikeDataset } from "../lib/data/dataset.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { rateR2 } from "../lib/eval/evaluate.ts";
import { applyRateGains, fitRateGains } from "../lib/train/calibrate.ts";

/** Two neurons, three trials of two bins, one forward bin; trial 2 is not a training trial. */
function toy() {
  return spikeDataset({
    name: "toy",
    binSizeMs: 10,
    // [trial][bin][neuron]
    counts: array3d([1, 0, 2, 1, /**/ 0, 3, 1, 0, /**/ 9, 9, 9, 9], [3, 2, 2]),
    forwardCounts: array3d([2, 0, /**/ 1, 1, /**/ 9, 9], [3, 1, 2]),
    heldIn: [0],
    heldOut: [1],
    split: { train: [0, 1], val: [2], test: [] },
  });
}

function toyPreds(): RatePredictions {
  return {
    rates: array3d([1, 0.5, 1, 0.5, /**/ 1, 0.5, 1, 0.5, /**/ 7, 7, 7, 7], [3, 2, 2]),
    forwardRates: array3d([0.5, 2, /**/ 0.5, 2, /**/ 7, 7], [3, 1, 2]),
  };
}

Deno.test("fitRateGains: (Σ counts + c) / (Σ rates + c) per neuron over the training trials only", () => {
  const ds = toy();
  // neuron 0: counts 1+2+0+1 = 4, rates 4 × 1 = 4; neuron 1: counts 0+1+3+0 = 4, rates 4 × 0.5 = 2
  const g0 = fitRateGains(toyPreds(), ds, { priorCount: 0 });
  assert.deepEqual([...g0.rates], [1, 2]);
  // forward: neuron 0 counts 3 over rates 1, neuron 1 counts 1 over rates 4
  assert.deepEqual([...g0.forward], [3, 0.25]);
  // the default pseudo-count 1 pulls towards 1
  const g1 = fitRateGains(toyPreds(), ds);
  assert.deepEqual([...g1.rates], [1, Math.fround(5 / 3)]);
  assert.deepEqual([...g1.forward], [Math.fround(4 / 2), Math.fround(2 / 5)]);
  // explicit trials: trial 2 alone (counts 9 + 9 over rates 7 + 7)
  const g2 = fitRateGains(toyPreds(), ds, { trials: [2], priorCount: 0 });
  assert.deepEqual([...g2.rates], [Math.fround(18 / 14), Math.fround(18 / 14)]);
});

Deno.test("fitRateGains: with c = 0 each gain maximises the Poisson likelihood of the fitting counts", () => {
  const ds = lorenzDataset({ conditions: 3, trialsPerCondition: 4, neurons: 6, bins: 12, seed: 2 });
  const preds = { rates: ds.trueRates!, forwardRates: ds.forwardTrueRates! };
  const g = fitRateGains(preds, ds, { priorCount: 0 });
  const [, bins, n] = ds.counts.shape;
  const ll = (j: number, gain: number) => {
    let s = 0;
    for (const t of ds.split.train) {
      for (let b = 0; b < bins; b++) {
        const i = (t * bins + b) * n + j;
        const lam = gain * preds.rates.data[i];
        s += ds.counts.data[i] * Math.log(lam) - lam;
      }
    }
    return s;
  };
  for (let j = 0; j < n; j++) {
    for (const f of [0.99, 1.01]) assert.ok(ll(j, g.rates[j]) > ll(j, g.rates[j] * f), `${j} ${f}`);
  }
});

Deno.test("fitRateGains + applyRateGains: rates off by known per-neuron factors are brought back", async () => {
  const ds = lorenzDataset({ conditions: 8, trialsPerCondition: 24, seed: 4 });
  const n = ds.counts.shape[2];
  const factor = Float32Array.from({ length: n }, (_, j) => 0.7 + 0.7 * (j / (n - 1)));
  const off = (a: { data: Float32Array; shape: readonly [number, number, number] }) =>
    array3d(a.data.map((v, i) => v * factor[i % n]), a.shape);
  const preds = { rates: off(ds.trueRates!), forwardRates: off(ds.forwardTrueRates!) };
  const g = fitRateGains(preds, ds);
  // Σ counts is Poisson around Σ true rates: each gain is 1 / factor within 4 standard errors
  const spikes = (
    a: { data: Float32Array; shape: readonly [number, number, number] },
    j: number,
  ) => {
    const [, b] = a.shape;
    let s = 0;
    for (const t of ds.split.train) for (let i = 0; i < b; i++) s += a.data[(t * b + i) * n + j];
    return s;
  };
  for (let j = 0; j < n; j++) {
    const se = 1 / Math.sqrt(spikes(ds.counts, j)),
      seF = 1 / Math.sqrt(spikes(ds.forwardCounts, j));
    assert.ok(se < 0.04, `neuron ${j}: too few spikes for the test (${se})`);
    assert.ok(Math.abs(g.rates[j] * factor[j] - 1) < 4 * se, `neuron ${j}: ${g.rates[j]}`);
    assert.ok(Math.abs(g.forward[j] * factor[j] - 1) < 4 * seF, `forward ${j}: ${g.forward[j]}`);
  }
  const fixed = applyRateGains(preds, g);
  const test = ds.split.test;
  const pick = (a: { data: Float32Array; shape: readonly [number, number, number] }) => {
    const [, b, c] = a.shape;
    const out = new Float32Array(test.length * b * c);
    test.forEach((t, i) => out.set(a.data.subarray(t * b * c, (t + 1) * b * c), i * b * c));
    return array3d(out, [test.length, b, c]);
  };
  const before = await rateR2(pick(preds.rates), pick(ds.trueRates!));
  const after = await rateR2(pick(fixed.rates), pick(ds.trueRates!));
  assert.ok(before < 0.95, `before ${before}`);
  assert.ok(after > 0.995, `after ${after}`);
});

Deno.test("applyRateGains: multiplies each neuron, new arrays, the forward window by its own gains", () => {
  const preds = toyPreds();
  const out = applyRateGains(preds, {
    rates: Float32Array.of(2, 4),
    forward: Float32Array.of(10, 0.5),
  });
  assert.deepEqual([...out.rates.data.subarray(0, 4)], [2, 2, 2, 2]);
  assert.deepEqual([...out.forwardRates!.data.subarray(0, 2)], [5, 1]);
  assert.deepEqual([...preds.rates.data.subarray(0, 2)], [1, 0.5]);
  assert.deepEqual(out.rates.shape, preds.rates.shape);
  // no forward window: none in the output either, and all-1 forward gains from the fit
  const noFwd = applyRateGains({ rates: preds.rates }, {
    rates: Float32Array.of(1, 1),
    forward: Float32Array.of(1, 1),
  });
  assert.equal(noFwd.forwardRates, undefined);
  const ds = spikeDataset({
    name: "nf",
    binSizeMs: 10,
    counts: array3d([1, 2], [1, 1, 2]),
    split: { train: [0], val: [], test: [] },
  });
  assert.deepEqual([...fitRateGains({ rates: array3d([1, 1], [1, 1, 2]) }, ds).forward], [1, 1]);
});

Deno.test("fitRateGains / applyRateGains: refusals name the problem", () => {
  const ds = toy();
  const p = toyPreds();
  assert.throws(
    () => fitRateGains({ rates: array3d([1, 1], [1, 1, 2]) }, ds),
    /preds.rates must have shape \[3, 2, 2\] .* found \[1, 1, 2\]/,
  );
  assert.throws(
    () => fitRateGains({ rates: p.rates }, ds),
    /preds.forwardRates must have shape \[3, 1, 2\] .* found none/,
  );
  const bad = { ...p, rates: array3d(p.rates.data.map((v, i) => i === 3 ? NaN : v), [3, 2, 2]) };
  assert.throws(
    () => fitRateGains(bad, ds),
    /rates must be finite and non-negative, found NaN at trial 0, bin 1, neuron 1/,
  );
  for (const c of [-1, NaN, Infinity]) {
    assert.throws(
      () => fitRateGains(p, ds, { priorCount: c }),
      /priorCount must be a finite number >= 0/,
    );
  }
  assert.throws(() => fitRateGains(p, ds, { trials: [] }), /no trials to fit the gains on/);
  assert.throws(
    () => fitRateGains(p, ds, { trials: [3] }),
    /trial indices must be in \[0, 3\), found 3/,
  );
  const zero = { ...p, rates: array3d(new Float32Array(12), [3, 2, 2]) };
  assert.throws(
    () => fitRateGains(zero, ds, { priorCount: 0 }),
    /neuron 0 has no predicted rates in the fitting trials .* use priorCount > 0/,
  );
  assert.throws(
    () => applyRateGains(p, { rates: Float32Array.of(1), forward: Float32Array.of(1, 1) }),
    /rates has 2 neurons but the gains have 1/,
  );
});
