import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { sampleSpikeNorm, spikeNorm, spikeNormLif } from "../lib/snn/spike_norm.ts";
import type { LayerNormParams } from "../lib/nn/layers.ts";
import { lif, type LifOptions } from "../lib/snn/neurons.ts";
import { key, normal } from "../lib/core/random.ts";
import { kernelsActive, setKernelsEnabled } from "../kernels/wasm.ts";
import { valuesAndGrads } from "./_kernel_util.ts";

await useBackend("cpu");

let seed = 4000;
function randn(n: number, scale = 1, shift = 0): Float64Array {
  return Float64Array.from(normal(key(seed++), n), (z) => shift + scale * z);
}

/** Float64 reference of spikeNorm on a flat [T, B, L, C] array. */
function reference(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  [T, B, L, C]: number[],
): Float64Array {
  const y = new Float64Array(x.length);
  const at = (t: number, bb: number, l: number, c: number) => ((t * B + bb) * L + l) * C + c;
  for (let bb = 0; bb < B; bb++) {
    for (let c = 0; c < C; c++) {
      let m = 0;
      for (let t = 0; t < T; t++) for (let l = 0; l < L; l++) m += x[at(t, bb, l, c)];
      m /= T * L;
      let v = 0;
      for (let t = 0; t < T; t++) {
        for (let l = 0; l < L; l++) v += (x[at(t, bb, l, c)] - m) ** 2;
      }
      v /= T * L;
      const r = 1 / Math.sqrt(v + 1e-5);
      for (let t = 0; t < T; t++) {
        for (let l = 0; l < L; l++) {
          const i = at(t, bb, l, c);
          y[i] = (x[i] - m) * r * g[c] + b[c];
        }
      }
    }
  }
  return y;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])),
      `${what}[${i}]: ${a[i]} vs ${b[i]}`,
    );
  }
}

interface Case {
  shape: number[];
  x: Float64Array;
  g: Float64Array;
  b: Float64Array;
  w: Float64Array;
}

function makeCase(shape: number[]): Case {
  const n = shape.reduce((p, d) => p * d, 1);
  const C = shape[3];
  return {
    shape,
    x: randn(n, 1.5, 0.7),
    g: randn(C, 0.5, 1),
    b: randn(C, 0.3),
    w: randn(n),
  };
}

/** spikeNorm value and gradients of sum(w ⊙ y) for x, g, b. */
function run(cs: Case): { y: Float32Array; dx: Float32Array; dg: Float32Array; db: Float32Array } {
  return tf.tidy(() => {
    const C = cs.shape[3];
    const x = tf.tensor(Float32Array.from(cs.x), cs.shape);
    const g = tf.tensor1d(Float32Array.from(cs.g));
    const b = tf.tensor1d(Float32Array.from(cs.b));
    const w = tf.tensor(Float32Array.from(cs.w), cs.shape);
    const y = spikeNorm({ g: g as tf.Tensor1D, b: b as tf.Tensor1D }, x);
    const [dx, dg, db] = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(spikeNorm({ g: gg as tf.Tensor1D, b: bb as tf.Tensor1D }, xx), w))
    )([x, g, b]);
    assert.deepEqual(dg.shape, [C]);
    assert.deepEqual(db.shape, [C]);
    return {
      y: y.dataSync() as Float32Array,
      dx: dx.dataSync() as Float32Array,
      dg: dg.dataSync() as Float32Array,
      db: db.dataSync() as Float32Array,
    };
  });
}

function kernelVsComposite(extra: number[][] = []): void {
  for (const shape of [[4, 3, 7, 8], [1, 2, 5, 6], [3, 1, 1, 5], [2, 4, 9, 64], ...extra]) {
    const cs = makeCase(shape);
    assert.ok(kernelsActive());
    const k = run(cs);
    setKernelsEnabled(false);
    let c;
    try {
      c = run(cs);
    } finally {
      setKernelsEnabled(true);
    }
    const s = `[${shape}]`;
    close(k.y, c.y, 1e-5, `y ${s}`);
    close(k.dx, c.dx, 1e-5, `dx ${s}`);
    // dg and db sum B·T·L terms in float32 (17,000 for the largest shape), in different orders
    // on the two paths: their rounding grows with the count
    const tolSum = k.dx.length > 1e5 ? 1e-4 : 1e-5;
    close(k.dg, c.dg, tolSum, `dg ${s}`);
    close(k.db, c.db, tolSum, `db ${s}`);
    // both agree with the float64 formula
    close(k.y, reference(cs.x, cs.g, cs.b, shape), 1e-5, `y vs float64 ${s}`);
  }
}

Deno.test("spikeNorm: kernel = composite within 1e-5, value and gradients (cpu)", async () => {
  await useBackend("cpu");
  kernelVsComposite();
});

Deno.test("spikeNorm: kernel = composite within 1e-5, value and gradients (wasm)", async () => {
  await useBackend("wasm");
  try {
    // 170 trials of 2 × 50 × 64 floats: two chunks of trials for the kernel (2²⁰ floats each)
    kernelVsComposite([[2, 170, 50, 64]]);
  } finally {
    await useBackend("cpu");
  }
});

Deno.test("spikeNorm: hand-computed values", () => {
  // x over (t, l) for one trial and channel: 1, 2, 3, 4 → μ = 2.5, σ² = 1.25
  const x = tf.tensor([1, 2, 3, 4], [2, 1, 2, 1]);
  for (const on of [true, false]) {
    setKernelsEnabled(on);
    try {
      const y = spikeNorm(
        { g: tf.tensor1d([2]) as tf.Tensor1D, b: tf.tensor1d([0.5]) as tf.Tensor1D },
        x,
      ).dataSync();
      const r = 1 / Math.sqrt(1.25 + 1e-5);
      close(y, [-1.5, -0.5, 0.5, 1.5].map((d) => d * r * 2 + 0.5), 1e-6, `hand (kernels ${on})`);
    } finally {
      setKernelsEnabled(true);
    }
  }
});

Deno.test("spikeNorm: kernel gradients = central finite differences of the float64 formula", () => {
  const shape = [3, 2, 4, 5];
  const cs = makeCase(shape);
  const k = run(cs);
  const loss = (x: Float64Array, g: Float64Array, b: Float64Array) => {
    const y = reference(x, g, b, shape);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * cs.w[i];
    return s;
  };
  const h = 1e-5;
  const fd = (arr: Float64Array, i: number) => {
    const keep = arr[i];
    arr[i] = keep + h;
    const up = loss(cs.x, cs.g, cs.b);
    arr[i] = keep - h;
    const down = loss(cs.x, cs.g, cs.b);
    arr[i] = keep;
    return (up - down) / (2 * h);
  };
  for (let i = 0; i < cs.x.length; i += 7) {
    const want = fd(cs.x, i);
    assert.ok(
      Math.abs(k.dx[i] - want) <= 1e-3 * (1 + Math.abs(want)),
      `dx[${i}] ${k.dx[i]} vs ${want}`,
    );
  }
  for (let c = 0; c < shape[3]; c++) {
    const wg = fd(cs.g, c);
    const wb = fd(cs.b, c);
    assert.ok(Math.abs(k.dg[c] - wg) <= 1e-3 * (1 + Math.abs(wg)), `dg[${c}] ${k.dg[c]} vs ${wg}`);
    assert.ok(Math.abs(k.db[c] - wb) <= 1e-3 * (1 + Math.abs(wb)), `db[${c}] ${k.db[c]} vs ${wb}`);
  }
});

Deno.test("spikeNorm: rejects bad shapes, leaks no tensors", () => {
  const p = { g: tf.ones([4]) as tf.Tensor1D, b: tf.zeros([4]) as tf.Tensor1D };
  assert.throws(() => spikeNorm(p, tf.ones([2, 4])), /\[T, B, L, C\], found \[2, 4\]/);
  assert.throws(() => spikeNorm(p, tf.ones([1, 1, 2, 3])), /g \[3\] and b \[3\]/);
  const x = tf.randomNormal([2, 2, 3, 4]);
  const before = tf.memory().numTensors;
  tf.dispose(tf.tidy(() => tf.grads((xx: tf.Tensor) => tf.sum(spikeNorm(p, xx)))([x])));
  assert.equal(tf.memory().numTensors, before);
});

for (const backend of ["cpu", "wasm"]) {
  Deno.test(
    `spikeNormLif: the fused op = lif(spikeNorm(x)) bit for bit, spikes and gradients (${backend})`,
    async () => {
      await useBackend(backend);
      try {
        // B·L·C not a multiple of 4; thresholds around the normalised scale so spikes vary
        const shapes = [[4, 3, 7, 5]];
        // 170 trials of 2 × 50 × 64: two chunks of trials in the backward (as spikeNorm's)
        if (backend === "wasm") shapes.push([2, 170, 50, 64]);
        const cases: LifOptions[] = [
          {},
          { vThreshold: 0.5, detachReset: false },
          { vReset: null, tau: 3, surrogate: { kind: "atan", alpha: 2 } },
          { vReset: 0.2, decayInput: false, vThreshold: 0.8, detachMembrane: true },
        ];
        for (const shape of shapes) {
          const n = shape.reduce((a, b) => a * b, 1);
          const C = shape[3];
          const x = tf.tensor(Array.from(randn(n, 1.3, 0.2)), shape);
          const w = tf.tensor(Array.from(randn(n)), shape);
          const p = {
            g: tf.tensor1d(Array.from(randn(C, 0.5, 1))),
            b: tf.tensor1d(Array.from(randn(C, 0.3))),
          };
          let fired = 0;
          for (const opts of cases) {
            const what = `[${shape}] ${JSON.stringify(opts)}`;
            const fused = await valuesAndGrads((pp, xx) => spikeNormLif(pp, xx, opts), x, p, w);
            const pair = await valuesAndGrads((pp, xx) => lif(spikeNorm(pp, xx), opts), x, p, w);
            ["spikes", "dx", "dg", "db"].forEach((name, i) =>
              assert.deepEqual(fused[i], pair[i], `${name} ${what}`)
            );
            assert.ok(fused[1].some((v) => v !== 0), `dx is all zero ${what}`);
            fired += fused[0].reduce((a, v) => a + v, 0);
          }
          assert.ok(fired > 0 && fired < cases.length * n, `fired ${fired} of ${cases.length * n}`);
          tf.dispose([x, w, p.g, p.b]);
        }
      } finally {
        await useBackend("cpu");
      }
    },
  );
}

/** Float64 reference of sampleSpikeNorm: one mean and variance per trial over t, l and c. */
function sampleReference(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  b: ArrayLike<number>,
  [T, B, L, C]: number[],
): Float64Array {
  const y = new Float64Array(x.length);
  const at = (t: number, bb: number, l: number, c: number) => ((t * B + bb) * L + l) * C + c;
  for (let bb = 0; bb < B; bb++) {
    let m = 0;
    for (let t = 0; t < T; t++) {
      for (let l = 0; l < L; l++) for (let c = 0; c < C; c++) m += x[at(t, bb, l, c)];
    }
    m /= T * L * C;
    let v = 0;
    for (let t = 0; t < T; t++) {
      for (let l = 0; l < L; l++) for (let c = 0; c < C; c++) v += (x[at(t, bb, l, c)] - m) ** 2;
    }
    const r = 1 / Math.sqrt(v / (T * L * C) + 1e-5);
    for (let t = 0; t < T; t++) {
      for (let l = 0; l < L; l++) {
        for (let c = 0; c < C; c++) {
          const i = at(t, bb, l, c);
          y[i] = (x[i] - m) * r * g[c] + b[c];
        }
      }
    }
  }
  return y;
}

Deno.test("sampleSpikeNorm: hand-computed values; keeps the channels' levels that spikeNorm removes", () => {
  // one trial, T = 1, L = 2, C = 2: channel 0 reads 1, 1 and channel 1 reads 3, 3
  // → μ = 2, σ² = 1 over the trial: channel 0 → −1, channel 1 → +1 (then g, b per channel)
  const x = tf.tensor([1, 3, 1, 3], [1, 1, 2, 2]);
  const p = { g: tf.tensor1d([2, 1]) as tf.Tensor1D, b: tf.tensor1d([0.5, 0]) as tf.Tensor1D };
  for (const on of [true, false]) {
    setKernelsEnabled(on);
    try {
      const r = 1 / Math.sqrt(1 + 1e-5);
      const y = sampleSpikeNorm(p, x).dataSync();
      close(y, [-r * 2 + 0.5, r, -r * 2 + 0.5, r], 1e-6, `sample (kernels ${on})`);
      // the per-channel norm sees each channel constant over the trial: only the bias is left
      close(spikeNorm(p, x).dataSync(), [0.5, 0, 0.5, 0], 1e-6, `trial (kernels ${on})`);
    } finally {
      setKernelsEnabled(true);
    }
  }
  // two trials are normalised apart: the second, 10× the first, gives the same output
  const two = tf.tensor([1, 3, 1, 3, 10, 30, 10, 30], [1, 2, 2, 2]);
  const y2 = sampleSpikeNorm(p, two).dataSync();
  close(y2.slice(4), Array.from(y2.slice(0, 4)), 1e-5, "trial 2 = trial 1");
});

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`sampleSpikeNorm: values and gradients = the float64 formula and its finite differences (${backend})`, async () => {
    await useBackend(backend);
    try {
      const shape = [3, 2, 4, 5];
      const cs = makeCase(shape);
      const x = tf.tensor(Array.from(cs.x), shape);
      const g = tf.tensor1d(Array.from(cs.g));
      const b = tf.tensor1d(Array.from(cs.b));
      const w = tf.tensor(Array.from(cs.w), shape);
      const y = await sampleSpikeNorm({ g, b } as LayerNormParams, x).data();
      close(y, Array.from(sampleReference(cs.x, cs.g, cs.b, shape)), 1e-5, "values");
      const [dx, dg, db] = await Promise.all(
        tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(sampleSpikeNorm({ g: gg as tf.Tensor1D, b: bb as tf.Tensor1D }, xx), w))
        )([x, g, b]).map((t) => t.data()),
      );
      const loss = () => {
        const yy = sampleReference(cs.x, cs.g, cs.b, shape);
        return yy.reduce((s, v, i) => s + v * cs.w[i], 0);
      };
      const h = 1e-5;
      const fd = (arr: Float64Array, i: number) => {
        const keep = arr[i];
        arr[i] = keep + h;
        const up = loss();
        arr[i] = keep - h;
        const down = loss();
        arr[i] = keep;
        return (up - down) / (2 * h);
      };
      for (let i = 0; i < cs.x.length; i += 5) {
        const want = fd(cs.x, i);
        assert.ok(
          Math.abs(dx[i] - want) <= 1e-3 * (1 + Math.abs(want)),
          `dx[${i}] ${dx[i]} vs ${want}`,
        );
      }
      for (let c = 0; c < shape[3]; c++) {
        const wg = fd(cs.g, c);
        const wb = fd(cs.b, c);
        assert.ok(Math.abs(dg[c] - wg) <= 1e-3 * (1 + Math.abs(wg)), `dg[${c}] ${dg[c]} vs ${wg}`);
        assert.ok(Math.abs(db[c] - wb) <= 1e-3 * (1 + Math.abs(wb)), `db[${c}] ${db[c]} vs ${wb}`);
      }
      const before = tf.memory().numTensors;
      tf.dispose(
        tf.tidy(() =>
          tf.grads((xx: tf.Tensor) => tf.sum(sampleSpikeNorm({ g, b } as LayerNormParams, xx)))([x])
        ),
      );
      assert.equal(tf.memory().numTensors, before, "no leaked tensors");
      assert.throws(
        () => sampleSpikeNorm({ g, b } as LayerNormParams, tf.ones([2, 5])),
        /\[T, B, L, C\]/,
      );
      tf.dispose([x, g, b, w]);
    } finally {
      await useBackend("cpu");
    }
  });
}
