import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { lif, type LifOptions } from "../lib/snn/neurons.ts";
import { bmm, type BmmOptions, spikeMatMul } from "../kernels/bmm.ts";
import { buildKernels, hasClang, KERNEL_WASM } from "../kernels/build.ts";
import { kernelsActive, setKernelsEnabled } from "../kernels/wasm.ts";
import { close, randomTensors } from "./_kernel_util.ts";

await useBackend("cpu");

function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

const { randn, spikes } = randomTensors(1000);

/** Run `f` with the kernels on and with them off (composite TF.js), return both results. */
function both<R>(f: () => R): [R, R] {
  assert.ok(kernelsActive(), "kernels should be active on cpu/wasm");
  const k = f();
  setKernelsEnabled(false);
  try {
    assert.ok(!kernelsActive());
    return [k, f()];
  } finally {
    setKernelsEnabled(true);
  }
}

const CLANG = await hasClang();
if (!CLANG) {
  console.warn(
    "kernels_test: SKIPPING the rebuild-and-compare test: clang is not on PATH " +
      "(Debian: apt-get install -y --no-install-recommends clang lld)",
  );
}

Deno.test({
  name: "kernels: the committed .wasm is what clang builds from kernels/hest_kernels.c",
  ignore: !CLANG,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/hest_kernels.wasm`;
      await buildKernels(out);
      const fresh = await Deno.readFile(out);
      const committed = await Deno.readFile(KERNEL_WASM);
      assert.equal(
        fresh.length,
        committed.length,
        "rebuilt .wasm differs in size: run deno task kernels",
      );
      assert.ok(
        fresh.every((b, i) => b === committed[i]),
        "rebuilt .wasm differs: run deno task kernels",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------
// LIF

function lifCases(): LifOptions[] {
  const out: LifOptions[] = [];
  for (const vReset of [0, null, 0.2]) {
    for (const decayInput of [true, false]) {
      for (const detachReset of [true, false]) {
        for (const detachMembrane of [false, true]) {
          for (
            const surrogate of [{ kind: "sigmoid" as const, alpha: 4 }, {
              kind: "atan" as const,
              alpha: 3,
            }]
          ) {
            out.push({ vReset, decayInput, detachReset, detachMembrane, surrogate });
          }
        }
      }
    }
  }
  out.push({ tau: 3, vThreshold: 0.7, vReset: -0.1, surrogate: "sigmoid", detachReset: false });
  out.push({ tau: 1.5, vThreshold: 1.3, vReset: null, surrogate: "atan" });
  return out;
}

async function checkLif(backend: string): Promise<void> {
  await useBackend(backend);
  try {
    const shape = [5, 3, 7]; // T = 5, 21 neurons (not a multiple of 4)
    const x = randn(shape, 0.8, 0.9);
    const w = randn(shape);
    let fired = 0;
    for (const opts of lifCases()) {
      const what = `${backend} ${JSON.stringify(opts)}`;
      const [sk, sc] = both(() => values(lif(x, opts)));
      assert.deepEqual(Array.from(sk), Array.from(sc), `spikes ${what}`);
      fired += sk.reduce((p, v) => p + v, 0);
      const [gk, gc] = both(() =>
        values(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(w, lif(t, opts))))(x))
      );
      close(gk, gc, 1e-5, `dx ${what}`);
    }
    assert.ok(fired > 0 && fired < lifCases().length * x.size, `spikes fired ${fired}`);
  } finally {
    await useBackend("cpu");
  }
}

Deno.test("kernels: LIF forward and BPTT gradient = composite, every option combination (cpu)", async () => {
  await checkLif("cpu");
});

Deno.test("kernels: LIF forward and BPTT gradient = composite, every option combination (wasm)", async () => {
  await checkLif("wasm");
});

Deno.test("kernels: LIF with v0 (broadcast), gradients for x and v0 = composite", () => {
  const x = randn([4, 2, 5], 0.7, 0.8);
  const w = randn([4, 2, 5]);
  for (const v0 of [randn([5], 0.3, 0.2), randn([2, 5], 0.3, 0.2), tf.scalar(0.4)]) {
    for (
      const opts of [{}, { vReset: null }, { detachMembrane: true }, {
        vReset: 0.1,
        detachReset: false,
      }]
    ) {
      const what = `v0 [${v0.shape}] ${JSON.stringify(opts)}`;
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(w, lif(a, { ...opts, v0: b })));
      const [[sk, gk], [sc, gc]] = both(() => {
        const s = values(lif(x, { ...opts, v0 }));
        const g = tf.grads(f)([x, v0]).map(values);
        return [s, g] as const;
      });
      assert.deepEqual(Array.from(sk), Array.from(sc), `spikes ${what}`);
      close(gk[0], gc[0], 1e-5, `dx ${what}`);
      close(gk[1], gc[1], 1e-5, `dv0 ${what}`);
      if (!("detachMembrane" in opts)) {
        assert.ok(gk[1].some((v) => Math.abs(v) > 1e-4), `dv0 is not all zero: ${what}`);
      }
    }
  }
});

Deno.test("kernels: LIF on more neurons than one kernel chunk (column chunks) = composite, with v0", async () => {
  await useBackend("wasm");
  try {
    // T = 4 and 2·65,536 + 37 neurons: three column chunks of the kernel (2¹⁸ floats / T)
    const n = 2 * 65536 + 37;
    const x = randn([4, n], 0.8, 0.9);
    const w = randn([4, n]);
    const v0 = randn([n], 0.2, 0.3);
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(w, lif(a, { v0: b, detachReset: false })));
    const [[sk, gk], [sc, gc]] = both(() => {
      const s = values(lif(x, { v0, detachReset: false }));
      return [s, tf.grads(f)([x, v0]).map(values)] as const;
    });
    assert.deepEqual(Array.from(sk), Array.from(sc), "spikes");
    close(gk[0], gc[0], 1e-5, "dx");
    close(gk[1], gc[1], 1e-5, "dv0");
    // the last chunk's columns fire too (the chunks were stitched back in place)
    assert.ok(sk.subarray(3 * n - 100, 3 * n).some((v) => v === 1));
  } finally {
    await useBackend("cpu");
  }
});

Deno.test("kernels: LIF kernel hand-checked values, threshold equality, no leaked tensors", () => {
  // τ = 2, hard reset: H = [0.75, 1.125, 0.25, 1.375] → S = [0, 1, 0, 1]; H = 1 exactly fires.
  assert.deepEqual(Array.from(values(lif(tf.tensor2d([[1.5], [1.5], [0.5], [2.5]])))), [
    0,
    1,
    0,
    1,
  ]);
  assert.deepEqual(Array.from(values(lif(tf.tensor1d([2])))), [1]);
  // Gradient of S[0] for x = 2·(1 − 0.125): H − 1 = −0.125 → sigmoid α=4: 0.940015 · k(0.5).
  const g = tf.grad((t: tf.Tensor) => tf.sum(lif(t)))(tf.tensor1d([1.75]));
  close(values(g), [0.940015 * 0.5], 2e-6, "dS/dx");
  const x = randn([4, 3, 5]);
  const before = tf.memory().numTensors;
  const s = lif(x);
  assert.equal(tf.memory().numTensors, before + 1, "lif kernel leaks tensors");
  const gx = tf.grad((t: tf.Tensor) => tf.sum(lif(t, { v0: tf.scalar(0.1) })))(x);
  tf.dispose([s, gx]);
  // (tf.grad disposes the scalar v0 created inside the function.)
  assert.equal(tf.memory().numTensors, before, "lif kernel gradient leaks tensors");
});

// ---------------------------------------------------------------------------------------------
// bmm

interface BmmCase {
  batch: number[];
  M: number;
  K: number;
  N: number;
}

const BMM_CASES: BmmCase[] = [
  { batch: [2, 3], M: 5, K: 7, N: 9 },
  { batch: [3], M: 13, K: 1, N: 3 },
  { batch: [1, 2, 1], M: 8, K: 16, N: 17 },
  { batch: [2], M: 4, K: 33, N: 8 },
];

function operand(bin: boolean, shape: number[]): tf.Tensor {
  return bin ? spikes(shape, 0.3) : randn(shape);
}

async function checkBmm(backend: string): Promise<void> {
  await useBackend(backend);
  try {
    for (const c of BMM_CASES) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          for (
            const [binaryA, binaryB] of [[false, false], [true, false], [false, true], [true, true]]
          ) {
            const opts: BmmOptions = { transposeA, transposeB, binaryA, binaryB };
            const what = `${backend} ${JSON.stringify(c)} ${JSON.stringify(opts)}`;
            const a = operand(binaryA, [...c.batch, ...(transposeA ? [c.K, c.M] : [c.M, c.K])]);
            const b = operand(binaryB, [...c.batch, ...(transposeB ? [c.N, c.K] : [c.K, c.N])]);
            const w = randn([...c.batch, c.M, c.N]);
            const [[yk, gk], [yc, gc]] = both(() => {
              const y = bmm(a, b, opts);
              const g = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
                tf.sum(tf.mul(w, bmm(p, q, opts)))
              )([a, b]);
              return [values(y), g.map(values)] as const;
            });
            const ref = values(tf.matMul(a, b, transposeA, transposeB));
            close(yc, ref, 1e-6, `composite is tf.matMul ${what}`);
            close(yk, yc, 1e-5, `forward ${what}`);
            close(gk[0], gc[0], 1e-5, `da ${what}`);
            close(gk[1], gc[1], 1e-5, `db ${what}`);
          }
        }
      }
    }
  } finally {
    await useBackend("cpu");
  }
}

Deno.test("kernels: bmm = tf.matMul, forward and gradients, all transposes and binary modes (cpu)", async () => {
  await checkBmm("cpu");
});

Deno.test("kernels: bmm = tf.matMul, forward and gradients, all transposes and binary modes (wasm)", async () => {
  await checkBmm("wasm");
});

Deno.test("kernels: bmm hand-checked product, attention shapes, binary check and errors", () => {
  const q = tf.tensor3d([[[1, 0], [0, 1]]]);
  const k = tf.tensor3d([[[1, 1], [0, 1]]]);
  // q·kᵀ = [[1·1 + 0·1, 1·0 + 0·1], [0·1 + 1·1, 0·0 + 1·1]] = [[1, 0], [1, 1]].
  assert.deepEqual(Array.from(values(bmm(q, k, { transposeB: true, binaryA: true }))), [
    1,
    0,
    1,
    1,
  ]);
  assert.deepEqual(Array.from(values(bmm(q, k, { transposeB: true, binaryB: true }))), [
    1,
    0,
    1,
    1,
  ]);
  // Spiking-attention shapes [T, B, H, L, d].
  const qs = spikes([2, 2, 2, 11, 6], 0.2);
  const ks = spikes([2, 2, 2, 11, 6], 0.2);
  const vs = spikes([2, 2, 2, 11, 6], 0.2);
  const att = bmm(qs, ks, { transposeB: true, binaryA: true, binaryB: true });
  assert.deepEqual(att.shape, [2, 2, 2, 11, 11]);
  close(values(att), values(tf.matMul(qs, ks, false, true)), 0, "q·kᵀ");
  const av = bmm(att, vs, { binaryB: true });
  close(values(av), values(tf.matMul(att, vs)), 1e-6, "att·v");
  assert.throws(
    () => bmm(tf.tensor2d([[0.5, 1]]), tf.ones([2, 2]), { binaryA: true }),
    /bmm option binaryA: the left operand must hold only 0 and 1, found 1 other/,
  );
  assert.throws(
    () => bmm(tf.ones([2, 3, 4]), tf.ones([3, 4, 5])),
    /equal batch axes.*found a \[2, 3, 4\] and b \[3, 4, 5\]/,
  );
  assert.throws(() => bmm(tf.ones([2, 3]), tf.ones([2, 3])), /found a \[2, 3\] and b \[2, 3\]/);
  assert.throws(
    () => bmm(tf.ones([2, 3]), tf.ones([3, 2]), { transposeC: true } as unknown as BmmOptions),
    /unknown bmm option "transposeC"/,
  );
  const before = tf.memory().numTensors;
  const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(bmm(x, y, { binaryA: true })))([q, k]);
  assert.equal(tf.memory().numTensors, before + 2, "bmm gradient leaks tensors");
  tf.dispose(g);
});

Deno.test("kernels: spikeMatMul = matMul, forward and gradients, rank 2 and 3", () => {
  for (const [shape, n] of [[[9, 13], 5], [[3, 7, 6], 11]] as [number[], number][]) {
    const s = spikes(shape, 0.15);
    const w = randn([shape[shape.length - 1], n]);
    const dyw = randn([...shape.slice(0, -1), n]);
    const [[yk, gk], [yc, gc]] = both(() => {
      const y = values(spikeMatMul(s, w));
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(dyw, spikeMatMul(a, b))))([
        s,
        w,
      ]);
      return [y, g.map(values)] as const;
    });
    close(yk, yc, 1e-5, `spikeMatMul ${shape}`);
    close(gk[0], gc[0], 1e-5, `ds ${shape}`);
    close(gk[1], gc[1], 1e-5, `dw ${shape}`);
  }
  // [1, 0, 1] · [[1, 2], [3, 4], [5, 6]] = [1 + 5, 2 + 6].
  const y = spikeMatMul(tf.tensor2d([[1, 0, 1]]), tf.tensor2d([[1, 2], [3, 4], [5, 6]]));
  assert.deepEqual(Array.from(values(y)), [6, 8]);
  assert.throws(() => spikeMatMul(tf.ones([2, 3]), tf.ones([4, 2])), /weights w \[3, N\]/);
});
