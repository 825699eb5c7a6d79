import assert from "node:assert/strict";
import {
  fitPoissonGlm,
  gaussianWindow,
  rawCountRidge,
  smoothingBaseline,
  smoothingPredictions,
  smoothSpikes,
} from "../lib/eval/baselines.ts";
import { array3d, spikeDataset, take3d } from "../lib/data/dataset.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { key, stream } from "../lib/core/random.ts";

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tol ${tol})`);
}

Deno.test("gaussianWindow: scipy.signal.gaussian(int(6 sd), sd) normalised to sum 1", () => {
  // hand values: w_i ∝ exp(-(i - (M-1)/2)^2 / (2 sd^2)), M = int(6 sd), divided by the sum
  const cases: [number, number[]][] = [
    [0.5, [0.1065069789, 0.7869860422, 0.1065069789]],
    [0.7, [0.0574918173, 0.4425081827, 0.4425081827, 0.0574918173]], // even M: centre between
    [1, [0.0175595135, 0.1297482302, 0.3526922563, 0.3526922563, 0.1297482302, 0.0175595135]],
  ];
  for (const [sd, want] of cases) {
    const w = gaussianWindow(sd);
    assert.equal(w.length, want.length, `sd ${sd}: int(6 sd) points`);
    want.forEach((v, i) => close(w[i], v, 1e-10, `sd ${sd} w[${i}]`));
  }
  assert.deepEqual(Array.from(gaussianWindow(1 / 6 + 1e-9)), [1]);
  assert.throws(() => gaussianWindow(0.1), /int\(6·sd\) = 0 points/);
  assert.throws(() => gaussianWindow(-1), /sdBins must be a finite number > 0, found -1/);
});

/** numpy's `convolve(x, w, "same")`: the full convolution, centred slice of len(x). */
function npConvolveSame(x: number[], w: number[]): number[] {
  const full = new Array(x.length + w.length - 1).fill(0);
  for (let i = 0; i < x.length; i++) for (let k = 0; k < w.length; k++) full[i + k] += x[i] * w[k];
  const start = Math.floor((w.length - 1) / 2);
  return full.slice(start, start + x.length);
}

Deno.test("smoothSpikes: zero-padded 'same' convolution, edges not renormalised (as nlb_tools)", () => {
  // the reference reproduces numpy's documented example: convolve([1,2,3],[0,1,0.5],'same')
  assert.deepEqual(npConvolveSame([1, 2, 3], [0, 1, 0.5]), [1, 2.5, 4]);
  // SD 20 ms at 20 ms bins = 1 bin: M = 6 points, shift floor(5/2) = 2
  const w = [0.0175595135, 0.1297482302, 0.3526922563, 0.3526922563, 0.1297482302, 0.0175595135];
  // neuron 0: an impulse at bin 0 -> out[t] = w[t + 2] (w[6] lies outside the window);
  // neuron 1: constant 1 -> partial sums of w at both edges, 1 where the window fits
  const nB = 10;
  const x = new Float32Array(nB * 2);
  x[0] = 1;
  for (let t = 0; t < nB; t++) x[t * 2 + 1] = 1;
  const s = smoothSpikes(array3d(x, [1, nB, 2]), { kernSdMs: 20, binSizeMs: 20 });
  const impulse = [w[2], w[3], w[4], w[5], 0, 0, 0, 0, 0, 0];
  const sum = (a: number, b: number) => w.slice(a, b + 1).reduce((p, v) => p + v, 0);
  // out[t] sums w[k] over k with 0 <= t + 2 - k <= 9
  const constant = [sum(0, 2), sum(0, 3), sum(0, 4), 1, 1, 1, 1, 1, sum(1, 5), sum(2, 5)];
  for (let t = 0; t < nB; t++) {
    close(s.data[t * 2], impulse[t], 1e-7, `impulse bin ${t}`);
    close(s.data[t * 2 + 1], constant[t], 1e-7, `constant bin ${t}`);
  }
  // trials are smoothed separately, and random counts match numpy's 'same' convolution
  const r = stream(key(4));
  const nT = 3, bins = 17, nN = 4;
  const counts = new Float32Array(nT * bins * nN).map(() => r.poisson(1.5));
  const sm = smoothSpikes(array3d(counts, [nT, bins, nN]), { kernSdMs: 50, binSizeMs: 20 });
  const win = Array.from(gaussianWindow(2.5)); // 15 points
  assert.equal(win.length, 15);
  for (let tr = 0; tr < nT; tr++) {
    for (let n = 0; n < nN; n++) {
      const col = Array.from({ length: bins }, (_, t) => counts[(tr * bins + t) * nN + n]);
      const ref = npConvolveSame(col, win);
      for (let t = 0; t < bins; t++) {
        close(sm.data[(tr * bins + t) * nN + n], ref[t], 1e-6, `trial ${tr} neuron ${n} bin ${t}`);
      }
    }
  }
  assert.throws(
    () => smoothSpikes(array3d(counts, [nT, bins, nN]), { kernSdMs: 50, binSizeMs: 0 }),
    /binSizeMs must be a finite number > 0, found 0/,
  );
});

Deno.test("fitPoissonGlm: exact on a saturated fit, recovers known weights, KKT with alpha", () => {
  // two rows, weight + bias: the MLE fits exactly, λ = y -> b = ln 1, w = ln 3
  const g0 = fitPoissonGlm({ data: Float64Array.of(0, 1), rows: 2, cols: 1 }, [1, 3], {
    tol: 1e-14,
  });
  close(g0.intercept, 0, 1e-9, "bias");
  close(g0.coef[0], Math.log(3), 1e-9, "weight");
  assert.ok(g0.converged);

  // simulated Poisson data with known weights
  const n = 20000, p = 3, wTrue = [0.5, -0.3, 0.2], bTrue = Math.log(2);
  const r = stream(key(11));
  const X = new Float64Array(n * p).map(() => 0.5 * r.normal());
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let eta = bTrue;
    for (let j = 0; j < p; j++) eta += X[i * p + j] * wTrue[j];
    y[i] = r.poisson(Math.exp(eta));
  }
  const M = { data: X, rows: n, cols: p };
  const g = fitPoissonGlm(M, y);
  assert.ok(g.converged, `converged in ${g.iterations} iterations`);
  // standard error of each weight ≈ 1 / sqrt(n · E[λ] · var(x)) = 1 / sqrt(20000 · 2 · 0.25) = 0.01
  wTrue.forEach((w, j) => close(g.coef[j], w, 0.04, `weight ${j}`));
  close(g.intercept, bTrue, 0.04, "bias");

  // with alpha the optimum satisfies (1/n) Xᵀ(λ − y) + alpha·w = 0 and (1/n) Σ(λ − y) = 0
  const alpha = 0.5;
  const ga = fitPoissonGlm(M, y, { alpha });
  const lam = ga.predict(M);
  const grad = new Float64Array(p + 1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) grad[j] += X[i * p + j] * (lam[i] - y[i]) / n;
    grad[p] += (lam[i] - y[i]) / n;
  }
  for (let j = 0; j < p; j++) close(grad[j] + alpha * ga.coef[j], 0, 1e-7, `KKT weight ${j}`);
  close(grad[p], 0, 1e-7, "KKT bias");
  // and it shrinks the weights towards zero
  const norm = (c: Float64Array) => Math.hypot(...c);
  assert.ok(norm(ga.coef) < 0.8 * norm(g.coef), `${norm(ga.coef)} vs ${norm(g.coef)}`);

  // a silent neuron: zero weights, rate 1e-9 (as nlb_tools' clip)
  const z = fitPoissonGlm(M, new Float64Array(n));
  assert.deepEqual(Array.from(z.coef), [0, 0, 0]);
  close(z.predict({ data: Float64Array.of(1, 2, 3), rows: 1, cols: 3 })[0], 1e-9, 1e-15, "rate");
  assert.throws(() => fitPoissonGlm(M, y.subarray(1)), /expected 20000 targets/);
  assert.throws(() => fitPoissonGlm(M, y, { alpha: -1 }), /alpha must be a finite number >= 0/);
  const bad = y.slice();
  bad[5] = -1;
  assert.throws(() => fitPoissonGlm(M, bad), /targets must be finite and >= 0, found -1 at row 5/);
});

Deno.test("smoothing baseline on Lorenz: positive co-bps below the oracle, chosen by val co-bps", async () => {
  const ds = lorenzDataset({ conditions: 10, trialsPerCondition: 12, seed: 3 });
  const quiet = { onWarning: () => {} };
  const res = await smoothingBaseline(ds, quiet);
  console.log(
    `smoothing baseline: co-bps ${res.coBps.toFixed(4)} oracle ${res.oracleCoBps!.toFixed(4)} ` +
      `kernSd ${res.kernSdMs} ms alpha ${res.alpha} velR2 ${res.velR2?.toFixed(3)}`,
  );
  assert.ok(res.coBps > 0, `co-bps ${res.coBps}`);
  assert.ok(res.coBps < res.oracleCoBps!, `co-bps ${res.coBps} vs oracle ${res.oracleCoBps}`);
  assert.equal(res.split, "test");
  assert.equal(res.nTrials, ds.split.test.length);
  assert.equal(typeof res.velR2, "number");
  // 6 kernels × 4 alphas, and the pick is the best validation co-bps
  assert.equal(res.selection.length, 24);
  const best = res.selection.reduce((a, b) => (b.valCoBps > a.valCoBps ? b : a));
  assert.equal(res.kernSdMs, best.kernSdMs);
  assert.equal(res.alpha, best.alpha);
  assert.ok(res.selection.every((c) => Number.isFinite(c.valCoBps)));

  // held-in rates are the smoothed held-in counts themselves; held-out ones are clipped >= 1e-9
  const p = await smoothingPredictions(ds, { kernSdMs: [40], alphas: [0.01] });
  assert.deepEqual(p.selection, []);
  const all = Int32Array.from({ length: ds.counts.shape[0] }, (_, i) => i);
  const sm = smoothSpikes(take3d(ds.counts, all, { last: ds.heldIn }), {
    kernSdMs: 40,
    binSizeMs: ds.binSizeMs,
  });
  assert.deepEqual(take3d(p.predictions.rates, all, { last: ds.heldIn }).data, sm.data);
  const out = take3d(p.predictions.rates, all, { last: ds.heldOut }).data;
  assert.ok(out.every((v) => v >= 1e-9 && Number.isFinite(v)));

  // kernels below 1/6 bin are skipped; none left is an error naming them
  const one = await smoothingPredictions(ds, { kernSdMs: [1, 40], alphas: [0.01, 0.1] });
  assert.deepEqual(one.selection.map((c) => c.kernSdMs), [40, 40]);
  await assert.rejects(
    smoothingPredictions(ds, { kernSdMs: [1, 2] }),
    /every kernSdMs \(1, 2\) is below 1\/6 of the 20-ms bins/,
  );
  const noHeldOut = lorenzDataset({ conditions: 2, trialsPerCondition: 4, heldOutFraction: 0 });
  await assert.rejects(smoothingBaseline(noHeldOut), /has no held-out neurons/);
});

Deno.test("rawCountRidge: R² of a noisy linear readout of the counts matches theory; lag works", async () => {
  // counts: independent Poisson(2) per bin; behaviour = counts · W + N(0, σ²) noise, `lag` bins
  // later. Signal variance per dim = 2 · ‖W_d‖², so the best possible R² is 2‖W‖² / (2‖W‖² + σ²).
  const nT = 600, nB = 20, nN = 6, q = 2, sigma = 1.5, lag = 2;
  const W = [[0.5, -0.2], [0.3, 0.4], [0, 0.6], [-0.4, 0.1], [0.2, 0], [0.1, -0.3]];
  const r = stream(key(21));
  const counts = new Float32Array(nT * nB * nN).map(() => r.poisson(2));
  const beh = new Float32Array(nT * nB * q).fill(NaN);
  for (let t = 0; t < nT; t++) {
    for (let b = 0; b + lag < nB; b++) {
      for (let d = 0; d < q; d++) {
        let v = sigma * r.normal();
        for (let n = 0; n < nN; n++) v += counts[(t * nB + b) * nN + n] * W[n][d];
        beh[(t * nB + b + lag) * q + d] = v;
      }
    }
  }
  // the first `lag` bins of each trial have no partner: NaN, dropped by the decoder
  const ds = spikeDataset({
    name: "linear",
    binSizeMs: 10,
    counts: array3d(counts, [nT, nB, nN]),
    behavior: array3d(beh, [nT, nB, q]),
    heldOut: [4, 5],
  });
  const theory = [0, 1].map((d) => {
    const s = 2 * W.reduce((a, w) => a + w[d] * w[d], 0);
    return s / (s + sigma * sigma);
  });
  const expected = (theory[0] + theory[1]) / 2;
  const res = await rawCountRidge(ds, { lagBins: lag });
  console.log(`raw-count ridge R² ${res.velR2.toFixed(4)} (theory ${expected.toFixed(4)})`);
  assert.ok(res.velR2 > 0 && res.velR2 < 1);
  close(res.velR2, expected, 0.03, "R² vs theory");
  assert.equal(res.nFeatures, nN);
  assert.equal(res.nTrials, ds.split.test.length);
  assert.equal(res.lagBins, lag);
  // with the wrong lag the counts carry no information about the behaviour
  const wrong = await rawCountRidge(ds, { lagBins: 0 });
  assert.ok(wrong.velR2 < 0.02, `lag 0 R² ${wrong.velR2}`);
  await assert.rejects(
    rawCountRidge(lorenzDataset({ conditions: 2, trialsPerCondition: 4 }), {
      split: "x" as "test",
    }),
    /split must be "train", "val" or "test"/,
  );
});
