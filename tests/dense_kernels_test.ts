import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key, normal } from "../lib/core/random.ts";
import { fastKernelsSupported, kernelPrecision, setKernelPrecision } from "../kernels/precision.ts";
import { type KernelExports, newKernelInstance } from "../kernels/wasm.ts";
import { geluKernel } from "../kernels/gelu.ts";
import { formatProfile, profileOps } from "../kernels/profile.ts";
import { measurePeak } from "../kernels/peak.ts";
import { buildKernels, fastClang, KERNEL_WASM_FAST } from "../kernels/build.ts";
import { linearKernel } from "../kernels/linear.ts";
import { close, randomTensors, withoutKernels } from "./_kernel_util.ts";
import { layerNormKernel } from "../kernels/layer_norm.ts";
import { softmaxKernel } from "../kernels/softmax.ts";

await useBackend("cpu");

/** A tiny allocator over an instance's own memory. */
function arena(ex: KernelExports) {
  let next = Math.ceil((ex.__heap_base.value as number) / 16) * 16;
  return {
    put(data: Float32Array): number {
      const p = this.alloc(data.length);
      new Float32Array(ex.memory.buffer, p, data.length).set(data);
      return p;
    },
    alloc(floats: number): number {
      const p = next;
      next += Math.ceil(Math.max(floats, 1) * 4 / 16) * 16 + 16;
      const have = ex.memory.buffer.byteLength;
      if (next > have) ex.memory.grow(Math.ceil((next - have) / 65536));
      return p;
    },
    get: (p: number, n: number) => new Float32Array(ex.memory.buffer, p, n).slice(),
  };
}

function randn(seed: number, n: number): Float32Array {
  return Float32Array.from(normal(key(seed), n));
}

/**
 * The plain triple loop in float32: C[m, n] = ((0 + a0·b0) + a1·b1) + … in ascending k, then
 * + bias: what the exact GEMM must equal bit for bit.
 */
function reference(
  a: Float32Array,
  b: Float32Array,
  M: number,
  K: number,
  N: number,
  opts: { tA?: boolean; tB?: boolean; bias?: Float32Array } = {},
): Float32Array {
  const c = new Float32Array(M * N);
  const f = Math.fround;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = opts.tA ? a[k * M + m] : a[m * K + k];
        const bv = opts.tB ? b[n * K + k] : b[k * N + n];
        s = f(s + f(av * bv));
      }
      c[m * N + n] = opts.bias ? f(s + opts.bias[n]) : s;
    }
  }
  return c;
}

// shapes across every blocking edge: rows past a 4-row micro-panel and the 64-row block, columns
// past an 8-column panel and the 256-column block, K past the 256-deep block
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [5, 3, 7],
  [67, 300, 13],
  [130, 257, 270],
  [64, 256, 256],
  [37, 260, 100], // an edge panel of 4 columns (the 4 × 4 micro-kernel), K past its block
  [9, 40, 36], // a narrow product (A read in place) with a 4-column edge and a partial panel
];

Deno.test("gemm (exact): bmm, linear_forward and gemm_tn equal the float32 triple loop bit for bit", () => {
  setKernelPrecision("exact");
  const ex = newKernelInstance();
  assert.equal(ex.kernels_fast(), 0);
  let seed = 100;
  for (const [M, K, N] of SHAPES) {
    const mem = arena(ex);
    const a = randn(seed++, M * K), b = randn(seed++, K * N), bias = randn(seed++, N + 8);
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const [pa, pb, pc] = [mem.put(a), mem.put(b), mem.alloc(M * N)];
      const ps = mem.alloc(ex.bmm_scratch_floats(M, N, K, 0));
      ex.bmm(pa, pb, pc, 1, M, N, K, tA ? 1 : 0, tB ? 1 : 0, 0, ps);
      assert.deepEqual(
        mem.get(pc, M * N),
        reference(a, b, M, K, N, { tA, tB }),
        `bmm ${M}x${K}x${N} tA ${tA} tB ${tB}`,
      );
    }
    const [pa, pb, pbias, py] = [mem.put(a), mem.put(b), mem.put(bias), mem.alloc(M * N)];
    ex.linear_forward(
      pa,
      pb,
      pbias,
      py,
      M,
      N,
      K,
      0,
      mem.alloc(ex.linear_scratch_floats(M, N, K, 0)),
    );
    assert.deepEqual(
      mem.get(py, M * N),
      reference(a, b, M, K, N, { bias: bias.subarray(0, N) }),
      `linear_forward ${M}x${K}x${N}`,
    );
    // gemm_tn: C[K, N] = Xᵀ · D for X [M, K] and D [M, N] (the weight gradient)
    const d = randn(seed++, M * N);
    const [px, pd, pw] = [mem.put(a), mem.put(d), mem.alloc(K * N)];
    ex.gemm_tn(px, pd, pw, M, K, N, K, N, 0, mem.alloc(ex.gemm_tn_scratch_floats(M, K, N)));
    assert.deepEqual(
      mem.get(pw, K * N),
      reference(a, d, K, M, N, { tA: true }),
      `gemm_tn ${M}x${K}x${N}`,
    );
  }
});

Deno.test("gemm (fast): relaxed-SIMD build within 1e-5 of the exact sums, and switchable", () => {
  if (!fastKernelsSupported()) {
    // an engine without relaxed SIMD: asking for fast gives exact
    assert.equal(setKernelPrecision("fast"), "exact");
    return;
  }
  assert.equal(setKernelPrecision("fast"), "fast");
  assert.equal(kernelPrecision(), "fast");
  const fast = newKernelInstance();
  setKernelPrecision("exact");
  assert.equal(kernelPrecision(), "exact");
  assert.equal(fast.kernels_fast(), 1);
  let seed = 300;
  let differ = 0;
  for (const [M, K, N] of SHAPES) {
    const mem = arena(fast);
    const a = randn(seed++, M * K), b = randn(seed++, K * N);
    const [pa, pb, pc] = [mem.put(a), mem.put(b), mem.alloc(M * N)];
    fast.bmm(pa, pb, pc, 1, M, N, K, 0, 0, 0, mem.alloc(fast.bmm_scratch_floats(M, N, K, 0)));
    const got = mem.get(pc, M * N);
    const want = reference(a, b, M, K, N);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let mag = 0;
        for (let k = 0; k < K; k++) mag += Math.abs(a[m * K + k] * b[k * N + n]);
        const i = m * N + n;
        assert.ok(
          Math.abs(got[i] - want[i]) <= 1e-5 * mag + 1e-30,
          `fast bmm ${M}x${K}x${N} [${m}, ${n}]: ${got[i]} vs exact ${want[i]} (Σ|ab| ${mag})`,
        );
        differ += got[i] !== want[i] ? 1 : 0;
      }
    }
  }
  // on an FMA machine the fused products round differently somewhere: the build is really fast
  assert.ok(differ > 0, "the fast build gave the exact bits everywhere: is relaxed_madd fused?");
  assert.throws(() => setKernelPrecision("double" as "fast"), /expects "exact" or "fast"/);
});

Deno.test("gemm (fast): an engine without relaxed SIMD falls back to exact with a warning", async () => {
  const code = `
    WebAssembly.validate = () => false;
    const { setKernelPrecision, kernelPrecision } = await import(${
    JSON.stringify(new URL("../kernels/precision.ts", import.meta.url).href)
  });
    console.log(setKernelPrecision("fast"), kernelPrecision());`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--frozen", code],
    stdout: "piped",
    stderr: "piped",
    cwd: new URL("..", import.meta.url).pathname,
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, stderr);
  assert.equal(stdout, "exact exact");
  assert.match(stderr, /lacks relaxed SIMD; the fast kernels fall back to exact/);
});

Deno.test("gemm: the committed fast build is what clang 16+ builds", {
  ignore: (await fastClang()) === undefined,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await buildKernels(`${dir}/fast.wasm`, { precision: "fast" });
    const fresh = await Deno.readFile(`${dir}/fast.wasm`);
    const committed = await Deno.readFile(KERNEL_WASM_FAST);
    assert.ok(
      fresh.length === committed.length && fresh.every((b, i) => b === committed[i]),
      "rebuilt hest_kernels_fast.wasm differs: run deno task kernels",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gelu kernel: values within 1e-6 of the composite, gradient = composite's and finite differences", () => {
  const x = tf.tensor1d([-6, -3.5, -1, -0.3, 0, 1e-4, 0.5, 1, 2.5, 4.2, 7]);
  const k = geluKernel(x).dataSync();
  const c = withoutKernels(() => geluKernel(x).dataSync());
  close(k, c, 1e-6, "gelu");
  // hand value: GELU(1) = Φ(1) = 0.8413447460685429
  assert.ok(Math.abs(k[7] - 0.8413447460685429) < 1e-6, `gelu(1) = ${k[7]}`);
  const g = tf.grad((t: tf.Tensor) => tf.sum(geluKernel(t)))(x).dataSync();
  const gc = withoutKernels(() => tf.grad((t: tf.Tensor) => tf.sum(geluKernel(t)))(x).dataSync());
  close(g, gc, 1e-5, "gelu'");
  const xs = x.dataSync();
  for (let i = 0; i < xs.length; i++) {
    const h = 1e-3;
    const gl = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    const fd = (gl(xs[i] + h) - gl(xs[i] - h)) / (2 * h);
    assert.ok(Math.abs(g[i] - fd) < 1e-4, `gelu'(${xs[i]}) = ${g[i]} vs finite difference ${fd}`);
  }
  tf.dispose(x);
});

/** erf in float64 (Abramowitz–Stegun 7.1.26 is too coarse here: use the series / continued form). */
function erf(x: number): number {
  // Taylor series converges fast enough for |x| ≤ 3; beyond, 1 − erfc by its continued fraction
  const s = Math.sign(x), a = Math.abs(x);
  if (a <= 3) {
    let term = a, sum = a;
    for (let n = 1; n < 60; n++) {
      term *= -a * a / n;
      sum += term / (2 * n + 1);
    }
    return s * 2 / Math.sqrt(Math.PI) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (a + f);
  return s * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f));
}

Deno.test("profileOps: times TF.js kernels and hest kernels, counts product FLOPs, then unwraps", async () => {
  const a = tf.ones([16, 32]);
  const b = tf.ones([32, 8]);
  const w = tf.ones([32, 8]);
  const bias = tf.zeros([8]);
  const before = tf.getKernelsForBackend("cpu").map((k) => k.kernelFunc);
  const { result, profile } = await profileOps(() =>
    tf.tidy(() => {
      const y = tf.matMul(a, b);
      const z = linearKernel(a, w, bias);
      return [y.dataSync()[0], z.dataSync()[0]];
    })
  );
  assert.deepEqual(result, [32, 32]);
  const mm = profile.ops.find((o) => o.name === "BatchMatMul");
  assert.ok(mm, `no BatchMatMul in ${profile.ops.map((o) => o.name)}`);
  assert.equal(mm.calls, 1);
  assert.equal(mm.flops, 2 * 16 * 32 * 8);
  const lin = profile.ops.find((o) => o.name === "hest.linear_forward.dense");
  assert.ok(lin, `no hest.linear_forward.dense in ${profile.ops.map((o) => o.name)}`);
  assert.equal(lin.flops, 2 * 16 * 32 * 8);
  assert.ok(profile.totalMs >= profile.opsMs && profile.opsMs >= 0);
  assert.match(formatProfile(profile), /BatchMatMul/);
  // the original kernel functions are back
  const after = tf.getKernelsForBackend("cpu").map((k) => k.kernelFunc);
  assert.equal(after.length, before.length);
  assert.ok(after.every((f) => before.includes(f)), "a wrapped kernel was left registered");
  tf.dispose([a, b, w, bias]);
});

Deno.test("peak: the SIMD peak and a GEMM row per build, positive and in GFLOP/s", () => {
  const rows = measurePeak({
    reps: 1,
    shapes: [{ name: "small", op: "bmm", batch: 2, M: 20, K: 16, N: 24 }],
  });
  const builds = fastKernelsSupported() ? ["exact", "fast"] : ["exact"];
  assert.deepEqual(
    rows.map((r) => `${r.precision}:${r.name}`),
    builds.flatMap((p) => [`${p}:peak`, `${p}:small`]),
  );
  for (const r of rows) assert.ok(r.gflops > 0.1 && r.gflops < 1e4, `${r.name}: ${r.gflops}`);
  assert.equal(kernelPrecision(), "exact");
});

Deno.test("train option kernels: the run uses that build, restores the caller's, rejects others", async () => {
  const { lorenzDataset } = await import("../lib/data/lorenz.ts");
  const { transformerFor } = await import("../lib/experiments/presets.ts");
  const { train } = await import("../lib/train/train.ts");
  const { resolveTrainOptions } = await import("../lib/train/train_options.ts");
  const { disposeTree } = await import("../lib/core/tree.ts");
  const ds = lorenzDataset({
    conditions: 4,
    trialsPerCondition: 8,
    bins: 12,
    forwardBins: 2,
    seed: 3,
  });
  const model = transformerFor(ds, { dModel: 16, nLayers: 1, nHeads: 2, dFF: 32 });
  const seen: string[] = [];
  setKernelPrecision("exact");
  const r = await train(model, ds, {
    steps: 2,
    evalEvery: 2,
    kernels: "fast",
    onStep: () => seen.push(kernelPrecision()),
  });
  disposeTree(r.params);
  const want = fastKernelsSupported() ? "fast" : "exact";
  assert.deepEqual(seen, [want, want]);
  assert.equal(kernelPrecision(), "exact");
  assert.equal(resolveTrainOptions({ kernels: "fast" }).kernels, "fast");
  assert.equal("kernels" in resolveTrainOptions({}), false);
  assert.throws(
    () => resolveTrainOptions({ kernels: "turbo" as "fast" }),
    /train option "kernels" must be "exact" or "fast", found/,
  );
});

Deno.test("layer norm kernel: value and gradients = composite within 1e-5, odd widths, hand value", () => {
  const { randn } = randomTensors(9400);
  for (const shape of [[7, 5], [3, 4, 128], [2, 1, 33]]) {
    const C = shape[shape.length - 1];
    const x = randn(shape, 2, 0.5), g = randn([C], 0.5, 1), b = randn([C]), u = randn(shape);
    const run = () =>
      tf.tidy(() => {
        const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => layerNormKernel(xx, gg, bb);
        const y = f(x, g, b);
        const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(f(xx, gg, bb), u))
        )([x, g, b]);
        return [y, ...grads].map((t) => t.dataSync() as Float32Array);
      });
    const k = run();
    const c = withoutKernels(run);
    ["y", "dx", "dg", "db"].forEach((name, i) => close(k[i], c[i], 1e-5, `${name} [${shape}]`));
    tf.dispose([x, g, b, u]);
  }
  // hand value: [1, 3] → mean 2, var 1 → [−1, 1]·(1/√(1 + 1e-5))
  const y = layerNormKernel(tf.tensor2d([[1, 3]]), tf.ones([2]), tf.zeros([2])).dataSync();
  assert.ok(
    Math.abs(y[1] - 1 / Math.sqrt(1 + 1e-5)) < 1e-6 && Math.abs(y[0] + y[1]) < 1e-7,
    `${y}`,
  );
  assert.throws(
    () => layerNormKernel(tf.ones([2, 3]), tf.ones([2]), tf.zeros([3])),
    /expects x \[\.\.\., C\]/,
  );
});

Deno.test("softmax kernel: value and gradient = tf.softmax within 1e-6, masked scores give 0, hand value", () => {
  const { randn } = randomTensors(9500);
  for (const shape of [[6, 7], [2, 3, 100], [4, 1]]) {
    const x = randn(shape, 3), u = randn(shape);
    const run = () =>
      tf.tidy(() => {
        const y = softmaxKernel(x);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(softmaxKernel(t), u)))(x);
        return [y, g].map((t) => t.dataSync() as Float32Array);
      });
    const k = run();
    const c = withoutKernels(run);
    close(k[0], c[0], 1e-6, `softmax [${shape}]`);
    close(k[1], c[1], 1e-6, `softmax' [${shape}]`);
    tf.dispose([x, u]);
  }
  const y = softmaxKernel(tf.tensor2d([[0, Math.log(3), -1e9, -Infinity, 0.5]])).dataSync();
  const z = 1 + 3 + Math.exp(0.5);
  [1 / z, 3 / z, 0, 0, Math.exp(0.5) / z].forEach((want, i) =>
    assert.ok(
      Math.abs(y[i] - want) < 1e-6 && (want !== 0 || y[i] === 0),
      `y[${i}] = ${y[i]} vs ${want}`,
    )
  );
});

Deno.test("adamw kernel: three steps equal the composite bit for bit (decay on and off, odd sizes)", async () => {
  const { adamw } = await import("../lib/train/optim.ts");
  const { randn } = randomTensors(9600);
  const params = { w: randn([37, 5]), b: randn([7]), g: randn([1]) };
  const grads = [0, 1, 2].map(() => ({ w: randn([37, 5]), b: randn([7]), g: randn([1]) }));
  const run = () => {
    const opt = adamw({ lr: (s: number) => 1e-3 * (s + 1), weightDecay: 0.05 });
    let p = params as Record<string, tf.Tensor>;
    let st = opt.init(p);
    for (const g of grads) {
      const u = opt.update(g, st, p);
      p = u.params as Record<string, tf.Tensor>;
      st = u.state;
    }
    return [p.w, p.b, p.g, st.mu.w as tf.Tensor, st.nu.b as tf.Tensor].map((t) =>
      t.dataSync().slice()
    );
  };
  const k = run();
  const c = withoutKernels(run);
  ["w", "b", "g", "mu.w", "nu.b"].forEach((name, i) =>
    assert.deepEqual(k[i], c[i], `${name}: kernel and composite AdamW differ`)
  );
  // decay applies to the matrix only (the default mask): the vectors moved by Adam alone
  assert.notDeepEqual(k[0], params.w.dataSync());
});
