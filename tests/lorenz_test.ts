import assert from "node:assert/strict";
import { DatasetError } from "../lib/data/dataset.ts";
import { lorenzDataset, type LorenzOptions, lorenzTrajectory } from "../lib/data/lorenz.ts";
import { key } from "../lib/core/random.ts";

const SMALL: LorenzOptions = { conditions: 4, trialsPerCondition: 3, neurons: 6, bins: 10 };

function close(a: number, b: number, rel: number, what: string): void {
  assert.ok(
    Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-12),
    `${what}: ${a} vs ${b}`,
  );
}

/** Independent normalisation of a `[steps, 3]` trajectory: minus the mean, over the max. */
function normalised(traj: Float64Array): Float64Array {
  const steps = traj.length / 3;
  const out = Float64Array.from(traj);
  for (let d = 0; d < 3; d++) {
    const col = Array.from({ length: steps }, (_, t) => traj[3 * t + d]);
    const mean = col.reduce((a, b) => a + b, 0) / steps;
    const max = Math.max(...col.map((v) => v - mean));
    for (let t = 0; t < steps; t++) out[3 * t + d] = (traj[3 * t + d] - mean) / max;
  }
  return out;
}

Deno.test("same seed gives identical data, other seeds and keys differ", () => {
  const a = lorenzDataset({ ...SMALL, seed: 1 });
  const b = lorenzDataset({ ...SMALL, seed: 1 });
  assert.deepEqual(a.counts.data, b.counts.data);
  assert.deepEqual(a.forwardCounts.data, b.forwardCounts.data);
  assert.deepEqual(a.trueRates!.data, b.trueRates!.data);
  assert.deepEqual(a.split, b.split);
  assert.deepEqual(a.heldOut, b.heldOut);
  const c = lorenzDataset({ ...SMALL, seed: 2 });
  assert.notDeepEqual(a.counts.data, c.counts.data);
  assert.notDeepEqual(a.trueRates!.data, c.trueRates!.data);
  // an explicit key is the same as the seed it comes from
  assert.deepEqual(lorenzDataset({ ...SMALL, key: key(1) }).counts.data, a.counts.data);
  // seed 0 is the default
  assert.deepEqual(
    lorenzDataset(SMALL).counts.data,
    lorenzDataset({ ...SMALL, seed: 0 }).counts.data,
  );
});

Deno.test("adding conditions keeps the first conditions' rates and spikes", () => {
  const a = lorenzDataset({ ...SMALL, conditions: 2 });
  const b = lorenzDataset({ ...SMALL, conditions: 4 });
  const n = a.counts.data.length;
  assert.deepEqual(b.counts.data.subarray(0, n), a.counts.data);
  assert.deepEqual(b.trueRates!.data.subarray(0, n), a.trueRates!.data);
});

Deno.test("custom sizes give the right shapes, conditions and splits", () => {
  const ds = lorenzDataset({
    conditions: 3,
    trialsPerCondition: 2,
    neurons: 7,
    bins: 8,
    binSizeMs: 5,
    forwardBins: 3,
  });
  assert.deepEqual(ds.counts.shape, [6, 8, 7]);
  assert.deepEqual(ds.trueRates!.shape, [6, 8, 7]);
  assert.deepEqual(ds.forwardCounts.shape, [6, 3, 7]);
  assert.deepEqual(ds.forwardTrueRates!.shape, [6, 3, 7]);
  assert.deepEqual(ds.behavior!.shape, [6, 8, 3]);
  assert.deepEqual(ds.behaviorNames, ["x", "y", "z"]);
  assert.deepEqual(Array.from(ds.conditions!), [0, 0, 1, 1, 2, 2]);
  assert.equal(ds.binSizeMs, 5);
  assert.equal(ds.heldOut.length, 2); // round(0.25 · 7)
  assert.equal(ds.heldIn.length + ds.heldOut.length, 7);
  assert.deepEqual([ds.split.train.length, ds.split.val.length, ds.split.test.length], [4, 1, 1]);
  assert.equal(ds.name, "lorenz");
  assert.equal(ds.meta.binSizeMs, 5);
  assert.equal(ds.meta.variant, "lfads");
  assert.equal(ds.meta.spikes, "binary1ms");
  assert.equal(ds.meta.dt, 0.006);
  assert.equal(ds.meta.meanRateHz, 5);

  const noFwd = lorenzDataset({ ...SMALL, forwardBins: 0 });
  assert.deepEqual(noFwd.forwardCounts.shape, [12, 0, 6]);

  const custom = lorenzDataset({
    ...SMALL,
    heldOutFraction: 0.5,
    splitFractions: [0.5, 0.25, 0.25],
    name: "lz",
  });
  assert.equal(custom.heldOut.length, 3);
  assert.deepEqual(
    [custom.split.train.length, custom.split.val.length, custom.split.test.length],
    [6, 3, 3],
  );
  assert.equal(custom.name, "lz");
});

Deno.test("a trialsPerCondition range draws per-condition counts inside it", () => {
  const ds = lorenzDataset({ ...SMALL, conditions: 20, trialsPerCondition: [2, 5] });
  const drawn = ds.meta.trialsPerConditionDrawn as number[];
  assert.equal(drawn.length, 20);
  assert.ok(drawn.every((n) => n >= 2 && n <= 5));
  assert.ok(new Set(drawn).size > 1);
  assert.equal(ds.counts.shape[0], drawn.reduce((a, b) => a + b, 0));
  for (let c = 0; c < 20; c++) {
    assert.equal(ds.conditions!.filter((x) => x === c).length, drawn[c]);
  }
});

Deno.test("one Euler step matches a hand-computed step for both variants", () => {
  // x0 = (1, 2, 3): dx = 10(2 − 1) = 10, dz = 1·2 − (8/3)·3 = −6,
  // dy = 1·(28 − 3) = 25 (LFADS) or 25 − 2 = 23 (textbook); dt = 0.006.
  const lf = lorenzTrajectory([1, 2, 3], 2, { variant: "lfads" });
  assert.deepEqual(Array.from(lf.subarray(0, 3)), [1, 2, 3]);
  close(lf[3], 1.06, 1e-14, "x lfads");
  close(lf[4], 2.15, 1e-14, "y lfads");
  close(lf[5], 2.964, 1e-14, "z lfads");
  const tb = lorenzTrajectory([1, 2, 3], 2, { variant: "textbook" });
  close(tb[3], 1.06, 1e-14, "x textbook");
  close(tb[4], 2.138, 1e-14, "y textbook");
  close(tb[5], 2.964, 1e-14, "z textbook");
  // the default variant is the LFADS one
  assert.deepEqual(lorenzTrajectory([1, 2, 3], 2), lf);
  // custom parameters: σ = 2, ρ = 5, β = 1, dt = 0.1 → dx = 2, dy = 2, dz = −1
  const c = lorenzTrajectory([1, 2, 3], 2, { sigma: 2, rho: 5, beta: 1, dt: 0.1 });
  close(c[3], 1.2, 1e-14, "x custom");
  close(c[4], 2.2, 1e-14, "y custom");
  close(c[5], 2.9, 1e-14, "z custom");
  assert.equal(lorenzTrajectory([1, 2, 3], 0).length, 0);
});

Deno.test("both variants stay bounded over long runs", () => {
  for (const variant of ["lfads", "textbook"] as const) {
    for (const x0 of [[0.1, -0.3, 25], [-1.2, 0.8, 26.1], [2, 1, 23]]) {
      const t = lorenzTrajectory(x0, 20000, { variant });
      let max = 0;
      for (const v of t) max = Math.max(max, Math.abs(v));
      assert.ok(Number.isFinite(max) && max < 100, `${variant} from ${x0}: max ${max}`);
    }
  }
  assert.throws(() => lorenzTrajectory([1, 1, 25], 200, { dt: 1 }), /diverged/);
});

Deno.test("each condition's latent is normalised: mean 0 and max 1 over the window", () => {
  // 1-ms bins and no forward window: the behaviour is the normalised state itself.
  const ds = lorenzDataset({ ...SMALL, binSizeMs: 1, bins: 300, forwardBins: 0 });
  const b = ds.behavior!;
  const [, nBins] = b.shape;
  for (let c = 0; c < 4; c++) {
    const trial = ds.conditions!.indexOf(c);
    for (let d = 0; d < 3; d++) {
      let sum = 0;
      let max = -Infinity;
      let min = Infinity;
      for (let t = 0; t < nBins; t++) {
        const v = b.data[(trial * nBins + t) * 3 + d];
        sum += v;
        max = Math.max(max, v);
        min = Math.min(min, v);
      }
      assert.ok(Math.abs(sum / nBins) < 1e-6, `condition ${c} dim ${d}: mean ${sum / nBins}`);
      assert.equal(max, 1);
      assert.ok(min < 0 && min > -5, `condition ${c} dim ${d}: min ${min}`);
    }
  }
});

Deno.test("true rates are Σ exp(W·x + b) per bin, recomputed from the trajectory", () => {
  // Poisson spikes: the true rate is exactly Σ exp(W·x + b) (binary1ms is checked below)
  const opts = {
    ...SMALL,
    bins: 12,
    binSizeMs: 7,
    forwardBins: 2,
    seed: 5,
    spikes: "poisson",
  } as const;
  const ds = lorenzDataset(opts);
  const W = ds.meta.readout as number[][];
  const bias = ds.meta.bias as number;
  const starts = ds.meta.startStates as number[][];
  assert.equal(W.length, 6);
  close(bias, Math.log(5 / 1000), 1e-15, "bias");
  for (let n = 0; n < W.length; n++) {
    assert.ok(W[n].every((w) => Math.abs(w) >= 1 && Math.abs(w) < 2), `W row ${n}: ${W[n]}`);
    if (n > 0) assert.ok(W[n][0] >= W[n - 1][0], "W rows are sorted by the first column");
  }
  const steps = (12 + 2) * 7;
  for (const [c, neuron, bin] of [[0, 0, 0], [1, 3, 5], [2, 5, 11], [3, 2, 12], [3, 4, 13]]) {
    const x = normalised(lorenzTrajectory(starts[c], steps));
    let expected = 0;
    for (let t = bin * 7; t < (bin + 1) * 7; t++) {
      let lr = bias;
      for (let d = 0; d < 3; d++) lr += W[neuron][d] * x[3 * t + d];
      expected += Math.exp(Math.min(20, Math.max(-20, lr)));
    }
    const trial = ds.conditions!.indexOf(c);
    const got = bin < 12
      ? ds.trueRates!.data[(trial * 12 + bin) * 6 + neuron]
      : ds.forwardTrueRates!.data[(trial * 2 + bin - 12) * 6 + neuron];
    close(got, expected, 1e-6, `rate c${c} n${neuron} b${bin}`);
    if (bin < 12) {
      // the behaviour is the bin average of the same normalised state
      let avg = 0;
      for (let t = bin * 7; t < (bin + 1) * 7; t++) avg += x[3 * t] / 7;
      assert.ok(Math.abs(ds.behavior!.data[(trial * 12 + bin) * 3] - avg) < 1e-6);
    }
  }
  // binary1ms: the true rate is Σ (1 − exp(−rate_ms)), from the same trajectory and readout
  const bin1 = lorenzDataset({ ...opts, spikes: "binary1ms" });
  assert.deepEqual(bin1.meta.readout, W);
  const x = normalised(lorenzTrajectory(starts[1], steps));
  let expected = 0;
  for (let t = 4 * 7; t < 5 * 7; t++) {
    let lr = bias;
    for (let d = 0; d < 3; d++) lr += W[2][d] * x[3 * t + d];
    expected += 1 - Math.exp(-Math.exp(lr));
  }
  close(bin1.trueRates!.data[(bin1.conditions!.indexOf(1) * 12 + 4) * 6 + 2], expected, 1e-6, "p");
});

Deno.test("all trials of a condition share their true rates and behaviour", () => {
  const ds = lorenzDataset({ ...SMALL, trialsPerCondition: 5 });
  const per = 10 * 6;
  const rate = (t: number): Float32Array => ds.trueRates!.data.subarray(t * per, (t + 1) * per);
  const fwd = (t: number): Float32Array =>
    ds.forwardTrueRates!.data.subarray(t * 10 * 6, (t + 1) * 10 * 6);
  const beh = (t: number): Float32Array => ds.behavior!.data.subarray(t * 30, (t + 1) * 30);
  for (let t = 0; t < 20; t++) {
    const first = ds.conditions!.indexOf(ds.conditions![t]);
    assert.deepEqual(rate(t), rate(first));
    assert.deepEqual(fwd(t), fwd(first));
    assert.deepEqual(beh(t), beh(first));
  }
  assert.notDeepEqual(rate(0), rate(5));
  assert.notDeepEqual(ds.counts.data.subarray(0, per), ds.counts.data.subarray(per, 2 * per));
});

/**
 * z-scores of trial-averaged counts against the true rates λ: the largest |z| over single
 * (bin, neuron) cells, and the |z| of the total count over all cells (far more sensitive to a
 * small bias). Poisson counts have variance λ and binary1ms counts Σp(1 − p) ≤ λ, so λ bounds
 * the variance in both modes (the binary z is conservative).
 */
function zScores(opts: LorenzOptions): { cell: number; total: number } {
  const ds = lorenzDataset({ ...opts, conditions: 1 });
  const [trials, bins, neurons] = ds.counts.shape;
  let cell = 0;
  let allCounts = 0;
  let allRates = 0;
  for (let j = 0; j < bins * neurons; j++) {
    let sum = 0;
    for (let t = 0; t < trials; t++) sum += ds.counts.data[t * bins * neurons + j];
    const lam = ds.trueRates!.data[j];
    cell = Math.max(cell, Math.abs(sum / trials - lam) / Math.sqrt(lam / trials));
    allCounts += sum;
    allRates += lam * trials;
  }
  return { cell, total: Math.abs(allCounts - allRates) / Math.sqrt(allRates) };
}

Deno.test("counts match the true rates bin by bin, in both spike modes", () => {
  // 3000 trials of one condition, 10 bins × 8 neurons = 80 cells: with independent cells, a
  // |z| > 5 happens by chance with probability 80 · 5.7e-7 ≈ 5e-5, and the pooled |z| > 4.5 with
  // probability 7e-6 (the seed is fixed anyway). Low rates (2 Hz) exercise binary1ms's thinning
  // path, high rates (300 Hz) its per-ms path. A 5 % bias in either path gives a pooled z > 6.
  const base = { trialsPerCondition: 3000, neurons: 8, bins: 10, forwardBins: 0 } as const;
  for (const spikes of ["poisson", "binary1ms"] as const) {
    for (const meanRateHz of [2, 20, 300]) {
      const z = zScores({ ...base, spikes, meanRateHz, seed: 3 });
      assert.ok(z.cell < 5, `${spikes} at ${meanRateHz} Hz: max cell |z| ${z.cell}`);
      assert.ok(z.total < 4.5, `${spikes} at ${meanRateHz} Hz: pooled |z| ${z.total}`);
    }
  }
});

Deno.test("binary1ms counts are integers in [0, binSizeMs]", () => {
  const ds = lorenzDataset({ ...SMALL, spikes: "binary1ms", meanRateHz: 400, binSizeMs: 8 });
  let max = 0;
  for (const c of [ds.counts.data, ds.forwardCounts.data]) {
    for (const v of c) {
      assert.ok(Number.isInteger(v) && v >= 0 && v <= 8, `count ${v}`);
      max = Math.max(max, v);
    }
  }
  assert.equal(max, 8); // 400 Hz saturates some bins
  assert.ok(ds.trueRates!.data.every((r) => r <= 8));
  assert.equal(ds.meta.spikes, "binary1ms");
});

Deno.test("the default dataset has the NDT sizes and a mean count equal to the mean rate", () => {
  const ds = lorenzDataset();
  assert.deepEqual(ds.counts.shape, [1560, 50, 29]);
  assert.deepEqual(ds.forwardCounts.shape, [1560, 10, 29]);
  assert.deepEqual([ds.split.train.length, ds.split.val.length, ds.split.test.length], [
    1092,
    156,
    312,
  ]);
  assert.equal(ds.heldOut.length, 7);
  let counts = 0;
  let rates = 0;
  for (let i = 0; i < ds.counts.data.length; i++) {
    counts += ds.counts.data[i];
    rates += ds.trueRates!.data[i];
  }
  // Total count ~ Poisson(Σλ): allow 5 standard deviations, √Σλ (about 0.7 % of Σλ here).
  assert.ok(Math.abs(counts - rates) < 5 * Math.sqrt(rates), `${counts} vs ${rates}`);
  const hz = rates / ds.counts.data.length / 0.02;
  assert.ok(hz > 5 && hz < 20, `mean rate ${hz} Hz`);
});

Deno.test("bad options raise errors naming the option, the expectation and the value", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ neuron: 3 }, /unknown Lorenz option "neuron": expected one of .*neurons/],
    [{ neurons: 2.5 }, /"neurons" must be a positive integer, found 2\.5/],
    [{ bins: 0 }, /"bins" must be a positive integer, found 0/],
    [{ conditions: -1 }, /"conditions" must be a positive integer, found -1/],
    [{ binSizeMs: "20" }, /"binSizeMs" must be a positive integer, found "20"/],
    [{ forwardBins: -1 }, /"forwardBins" must be a non-negative integer, found -1/],
    [{ burnInSteps: 1.5 }, /"burnInSteps" must be a non-negative integer, found 1\.5/],
    [{ trialsPerCondition: 0 }, /"trialsPerCondition" must be a positive integer, found 0/],
    [{ trialsPerCondition: [5, 2] }, /"trialsPerCondition" must be .*range.*found \[5, 2\]/],
    [{ meanRateHz: 0 }, /"meanRateHz" must be a finite positive number, found 0/],
    [{ dt: NaN }, /"dt" must be a finite positive number, found NaN/],
    [{ rho: Infinity }, /"rho" must be a finite number, found Infinity/],
    [{ variant: "classic" }, /"variant" must be one of "lfads", "textbook", found "classic"/],
    [{ spikes: "gauss" }, /"spikes" must be one of "poisson", "binary1ms", found "gauss"/],
    [{ seed: 0.5 }, /"seed" must be a safe integer, found 0\.5/],
    [{ key: [1, -1] }, /"key" must be a random key/],
    [{ seed: 1, key: key(1) }, /"seed" and "key" are exclusive/],
    [{ name: "" }, /"name" must be a non-empty string/],
    [{ heldOutFraction: 1 }, /heldOutFraction must be in \[0, 1\), found 1/],
    [{ splitFractions: [0.5, 0.5, 0.5] }, /splitFractions must be 3 non-negative numbers/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => lorenzDataset({ ...SMALL, ...opts } as LorenzOptions), (e: unknown) => {
      assert.ok(e instanceof DatasetError, `${JSON.stringify(opts)} threw ${e}`);
      assert.match(e.message, re);
      return true;
    });
  }
  assert.throws(() => lorenzTrajectory([1, 2], 3), /x0 must be 3 finite numbers/);
  assert.throws(() => lorenzTrajectory([1, 2, 3], -1), /"steps" must be a non-negative integer/);
  assert.throws(
    () => lorenzTrajectory([1, 2, 3], 3, { steps: 2 } as LorenzOptions),
    /unknown Lorenz trajectory option "steps"/,
  );
  assert.throws(
    () => lorenzDataset({ ...SMALL, dt: 0.5, burnInSteps: 0 }),
    /Lorenz condition 0 diverged/,
  );
});
