// The fused kernels of the `sample` spike norm (kernels/norm_lif.h) and the four-lane LIF steps
// (kernels/lif_simd.h): the same bits as the ops they replace, wherever a neuron sits.
import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { sampleSpikeNorm, sampleSpikeNormLif, spikeNorm } from "../lib/snn/spike_norm.ts";
import type { LayerNormParams } from "../lib/nn/layers.ts";
import { lif, type LifOptions } from "../lib/snn/neurons.ts";
import { key, normal } from "../lib/core/random.ts";
import { kernelsActive, setKernelsEnabled } from "../kernels/wasm.ts";
import { valuesAndGrads } from "./_kernel_util.ts";

await useBackend("cpu");

let seed = 9100;
function randn(n: number, scale = 1, shift = 0): number[] {
  return Array.from(normal(key(seed++), n), (z) => shift + scale * z);
}

/**
 * What `sampleSpikeNorm` computed before its fused kernel: the spike-norm kernel on the trial seen
 * as one channel with a unit gain, then TF.js's Multiply by g and Add of b.
 */
function composite(p: LayerNormParams, x: tf.Tensor): tf.Tensor {
  const [T, B, L, C] = x.shape;
  const unit = { g: tf.ones([1]) as tf.Tensor1D, b: tf.zeros([1]) as tf.Tensor1D };
  const xn = tf.reshape(spikeNorm(unit, tf.reshape(x, [T, B, L * C, 1])), x.shape);
  return tf.add(tf.mul(xn, p.g), p.b);
}

/**
 * `got` = `want` bit for bit, except dg and db on the cpu backend: its Sum adds in float64 where the
 * wasm backend's (and the kernel) add in float32, so there they agree to float32 rounding.
 */
function sameAs(backend: string, name: string, got: number[], want: number[], what: string): void {
  if (backend !== "cpu" || (name !== "dg" && name !== "db")) {
    assert.deepEqual(got, want, `${name} ${what}`);
    return;
  }
  assert.equal(got.length, want.length);
  const scale = Math.max(1, ...want.map(Math.abs));
  got.forEach((v, i) =>
    assert.ok(Math.abs(v - want[i]) <= 1e-5 * scale, `${name}[${i}] ${v} vs ${want[i]} ${what}`)
  );
}

const LIF_CASES: LifOptions[] = [
  {},
  { vReset: null },
  { vThreshold: 0.5, detachReset: false },
  { vReset: null, tau: 3, surrogate: { kind: "atan", alpha: 2 } },
  { vReset: 0.2, decayInput: false, vThreshold: 0.8, detachMembrane: true },
];

// C = 5: one four-lane group and a scalar tail; C = 64 and 128: the model's widths
const SHAPES = [[4, 3, 7, 5], [4, 6, 20, 64], [2, 3, 9, 128]];

function makeInputs(shape: number[]) {
  const n = shape.reduce((a, b) => a * b, 1);
  const C = shape[3];
  return {
    x: tf.tensor(randn(n, 1.3, 0.2), shape),
    w: tf.tensor(randn(n), shape),
    p: { g: tf.tensor1d(randn(C, 0.5, 1)), b: tf.tensor1d(randn(C, 0.3)) } as LayerNormParams,
  };
}

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`sampleSpikeNorm: the fused kernel = the composite it replaced bit for bit (dg, db on cpu: to rounding) (${backend})`, async () => {
    await useBackend(backend);
    try {
      assert.ok(kernelsActive(), "the kernels run on this backend");
      for (const shape of SHAPES) {
        const { x, w, p } = makeInputs(shape);
        const fused = await valuesAndGrads(sampleSpikeNorm, x, p, w);
        const pair = await valuesAndGrads(composite, x, p, w);
        ["y", "dx", "dg", "db"].forEach((name, i) =>
          sameAs(backend, name, fused[i], pair[i], `[${shape}]`)
        );
        assert.ok(fused[2].some((v) => v !== 0), "dg is not all zero");
        tf.dispose([x, w, p.g, p.b]);
      }
    } finally {
      await useBackend("cpu");
    }
  });

  Deno.test(`sampleSpikeNormLif: the fused op = lif(the composite norm) bit for bit (dg, db on cpu: to rounding) (${backend})`, async () => {
    await useBackend(backend);
    try {
      for (const shape of SHAPES) {
        const { x, w, p } = makeInputs(shape);
        const n = x.size;
        let fired = 0;
        for (const opts of LIF_CASES) {
          const what = `[${shape}] ${JSON.stringify(opts)}`;
          const fused = await valuesAndGrads((pp, xx) => sampleSpikeNormLif(pp, xx, opts), x, p, w);
          const pair = await valuesAndGrads((pp, xx) => lif(composite(pp, xx), opts), x, p, w);
          ["spikes", "dx", "dg", "db"].forEach((name, i) =>
            sameAs(backend, name, fused[i], pair[i], what)
          );
          assert.ok(fused[1].some((v) => v !== 0), `dx is all zero ${what}`);
          fired += fused[0].reduce((a, v) => a + v, 0);
        }
        assert.ok(
          fired > 0 && fired < LIF_CASES.length * n,
          `fired ${fired} of ${LIF_CASES.length * n}`,
        );
        tf.dispose([x, w, p.g, p.b]);
      }
    } finally {
      await useBackend("cpu");
    }
  });
}

Deno.test("sampleSpikeNormLif: kernels off, it is lif(sampleSpikeNorm); bad input is refused; no leaks", () => {
  const { x, w, p } = makeInputs([3, 2, 4, 6]);
  try {
    const on = sampleSpikeNormLif(p, x, { vReset: null }).arraySync();
    setKernelsEnabled(false);
    const off = sampleSpikeNormLif(p, x, { vReset: null }).arraySync();
    const ref = lif(sampleSpikeNorm(p, x), { vReset: null }).arraySync();
    assert.deepEqual(off, ref);
    // the composite path's float32 rounding differs from the kernels' in the last bits only, so
    // the spikes of a continuous input agree
    assert.deepEqual(on, off);
  } finally {
    setKernelsEnabled(true);
  }
  assert.throws(() => sampleSpikeNormLif(p, tf.ones([2, 6])), /sampleSpikeNormLif.*\[T, B, L, C\]/);
  assert.throws(
    () => sampleSpikeNormLif({ g: tf.ones([5]), b: tf.zeros([5]) } as LayerNormParams, x),
    /g: \[6\]/,
  );
  const before = tf.memory().numTensors;
  tf.dispose(
    tf.tidy(() => tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(sampleSpikeNormLif(p, xx), w)))([x])),
  );
  assert.equal(tf.memory().numTensors, before, "no leaked tensors");
  tf.dispose([x, w, p.g, p.b]);
});

for (const backend of ["cpu", "wasm"]) {
  Deno.test(`lif and sampleSpikeNormLif kernels: a neuron's spikes and gradients do not depend on its lane (${backend})`, async () => {
    await useBackend(backend);
    try {
      // 7 neurons with the same input: 0–3 go through the four-lane step, 4–6 through the scalar
      // tail, so any difference between the two forms shows as columns that disagree
      const T = 6, n = 7;
      const col = randn(T, 1.5, 0.6);
      const dcol = randn(T);
      const x = tf.tensor2d(col.flatMap((v) => Array(n).fill(v)), [T, n]);
      const dy = tf.tensor2d(dcol.flatMap((v) => Array(n).fill(v)), [T, n]);
      // a trial whose 7 channels read the same, with the same gain and bias, for the fused norm
      const x4 = tf.reshape(x, [T, 1, 1, n]);
      const p = { g: tf.fill([n], 0.9), b: tf.fill([n], 0.1) } as LayerNormParams;
      for (const opts of LIF_CASES) {
        const what = JSON.stringify(opts);
        const [s, dx] = await Promise.all([
          lif(x, opts).data(),
          tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(lif(xx, opts), dy)))([x])[0].data(),
        ]);
        const [s4, dx4] = await Promise.all([
          sampleSpikeNormLif(p, x4, opts).data(),
          tf.grads((xx: tf.Tensor) =>
            tf.sum(tf.mul(sampleSpikeNormLif(p, xx, opts), tf.reshape(dy, x4.shape)))
          )([x4])[0].data(),
        ]);
        for (
          const [name, a] of [["lif spikes", s], ["lif dx", dx], ["fused spikes", s4]] as const
        ) {
          for (let t = 0; t < T; t++) {
            const row = Array.from(a.slice(t * n, (t + 1) * n));
            assert.ok(row.every((v) => Object.is(v, row[0])), `${name} t=${t} ${what}: ${row}`);
          }
        }
        // the norm couples the channels of a trial, but identical channels get identical dx
        for (let t = 0; t < T; t++) {
          const row = Array.from(dx4.slice(t * n, (t + 1) * n));
          assert.ok(row.every((v) => Object.is(v, row[0])), `fused dx t=${t} ${what}: ${row}`);
        }
        assert.ok(Array.from(dx).some((v) => v !== 0), `lif dx all zero ${what}`);
      }
      tf.dispose([x, dy, x4, p.g, p.b]);
    } finally {
      await useBackend("cpu");
    }
  });
}
