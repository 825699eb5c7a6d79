import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { bmm } from "../kernels/bmm.ts";
import { linearKernel } from "../kernels/linear.ts";
import { geluKernel } from "../kernels/gelu.ts";
import { layerNormKernel } from "../kernels/layer_norm.ts";
import { softmaxKernel } from "../kernels/softmax.ts";
import { fastKernelsSupported, setKernelPrecision } from "../kernels/precision.ts";
import { kernelThreadHost } from "../kernels/wasm.ts";
import {
  kernelThreads,
  kernelThreadStats,
  setKernelThreads,
  splitRange,
  THREADED_MIN_ELEMENTS,
} from "../kernels/threads.ts";
import { randomTensors } from "./_kernel_util.ts";
import { shareTfWasmMemory } from "../lib/core/wasm_shared_memory.ts";

// the threads work in TF.js's memory, shared before the backend starts (each test file runs in
// an isolate of its own)
assert.equal(shareTfWasmMemory(), true);

const { randn, spikes } = randomTensors(9100);

/** Values and gradients of sum(u ⊙ f(a, b)) as plain arrays. */
function valueAndGrads(
  f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
  u: tf.Tensor,
): Float32Array[] {
  return tf.tidy(() => {
    const y = f(a, b);
    const g = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(f(x, z), u)))([a, b]);
    return [y, ...g].map((t) => t.dataSync() as Float32Array);
  });
}

for (const backend of ["wasm", "cpu"]) {
  Deno.test(`threads (${backend}): 2 and 3 threads give the single thread's values bit for bit`, async () => {
    await useBackend(backend);
    const cases: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, tf.Tensor, tf.Tensor][] = [];
    const bias = randn([130]);
    // dense and binary linear layers with rows and columns off the 4 × 8 blocks
    cases.push([
      "linear dense",
      (x, w) => linearKernel(x, w, bias),
      randn([203, 150]),
      randn([150, 130]),
    ]);
    cases.push([
      "linear binary",
      (x, w) => linearKernel(x, w, bias, { binary: true }),
      spikes([203, 150], 0.2),
      randn([150, 130]),
    ]);
    // batched attention products (batch split) and a single product (row split)
    cases.push([
      "bmm qkᵀ",
      (q, k) => bmm(q, k, { transposeB: true }),
      randn([8, 90, 40]),
      randn([8, 90, 40]),
    ]);
    cases.push(["bmm single", (p, q) => bmm(p, q), randn([301, 120]), randn([120, 90])]);
    cases.push([
      "bmm binary",
      (p, q) => bmm(p, q, { binaryA: true }),
      spikes([5, 90, 80], 0.3),
      randn([5, 80, 64]),
    ]);
    // elementwise and row-wise kernels, split at elements (GELU) or rows (the norm, softmax);
    // sizes above THREADED_MIN_ELEMENTS with a ragged end
    const n = THREADED_MIN_ELEMENTS + 37;
    const g = randn([130]);
    cases.push(["gelu", (x, y) => tf.add(geluKernel(x), y), randn([n]), randn([n])]);
    cases.push([
      "layer norm",
      (x, y) => tf.mul(layerNormKernel(x, g, bias), y),
      randn([Math.ceil(n / 130), 130]),
      randn([Math.ceil(n / 130), 130]),
    ]);
    cases.push([
      "softmax",
      (x, y) => tf.mul(softmaxKernel(x), y),
      randn([Math.ceil(n / 90), 90]),
      randn([Math.ceil(n / 90), 90]),
    ]);
    for (const [name, f, a, b] of cases) {
      const u = tf.tidy(() => tf.randomNormal(f(a, b).shape, 0, 1, "float32", 5));
      assert.equal(await setKernelThreads(1), 1);
      const one = valueAndGrads(f, a, b, u);
      for (const n of [2, 3]) {
        assert.equal(await setKernelThreads(n), n);
        assert.equal(kernelThreads(), n);
        const before = kernelThreadStats().calls;
        const many = valueAndGrads(f, a, b, u);
        // forward and backward took the threaded path (the norm's backward stays on one thread,
        // its dg, db sums run over every row; softmax's forward is TF.js's)
        const threaded = name === "layer norm" || name === "softmax" ? 1 : 2;
        assert.ok(kernelThreadStats().calls - before >= threaded, `${name}: not threaded`);
        ["value", "grad a", "grad b"].forEach((what, i) =>
          assert.deepEqual(many[i], one[i], `${name} ${what}: ${n} threads differ from 1`)
        );
      }
      tf.dispose(u);
    }
    await setKernelThreads(1);
  });
}

Deno.test("threads: they work in place in TF.js's shared wasm memory, and the fast build threads too", async () => {
  await useBackend("wasm");
  const host = kernelThreadHost();
  assert.ok(host, "the wasm backend's kernel memory is not shared");
  assert.ok(host.memory.buffer instanceof SharedArrayBuffer);
  const be = tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } };
  assert.equal(host.memory, be.wasm.asm.memory, "the threads do not run in TF.js's memory");
  if (!fastKernelsSupported()) return;
  const [x, w] = [randn([203, 150]), randn([150, 130])];
  const bias = randn([130]);
  const u = tf.tidy(() => tf.randomNormal([203, 130], 0, 1, "float32", 6));
  const f = (a: tf.Tensor, b: tf.Tensor) => linearKernel(a, b, bias);
  setKernelPrecision("fast");
  try {
    await setKernelThreads(1);
    const one = valueAndGrads(f, x, w, u);
    await setKernelThreads(2);
    const before = kernelThreadStats().calls;
    const two = valueAndGrads(f, x, w, u);
    assert.ok(kernelThreadStats().calls - before >= 2, "fast build: not threaded");
    two.forEach((t, i) => assert.deepEqual(t, one[i], `fast build, output ${i}: 2 threads differ`));
  } finally {
    setKernelPrecision("exact");
    await setKernelThreads(1);
  }
});

Deno.test("threads: argument checks and splitRange", async () => {
  await assert.rejects(() => setKernelThreads(0), /an integer from 1 to 16, found 0/);
  await assert.rejects(() => setKernelThreads(1.5), /found 1.5/);
  assert.deepEqual(splitRange(10, 2, 4), [[0, 8], [8, 2]]);
  assert.deepEqual(splitRange(3, 4), [[0, 1], [1, 1], [2, 1]]);
  assert.deepEqual(splitRange(128, 2), [[0, 64], [64, 64]]);
});

Deno.test("threads: HEST_KERNEL_THREADS sets the threads at load, the pool starts with the first large product, and a bad value is refused", async () => {
  const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const code = `
    const { kernelThreads, kernelThreadStats } = await import(${url("../kernels/threads.ts")});
    const { tf, useBackend } = await import(${url("../lib/core/backend.ts")});
    const { linearKernel } = await import(${url("../kernels/linear.ts")});
    await useBackend("wasm");
    const [x, w, b] = [tf.ones([400, 200]), tf.ones([200, 100]), tf.zeros([100])];
    linearKernel(x, w, b); // one thread, and the pool starts
    for (let i = 0; i < 100 && kernelThreadStats().calls === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      linearKernel(x, w, b);
    }
    console.log(kernelThreads(), kernelThreadStats().calls > 0);`;
  const run = (v: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", "--frozen", code],
      env: { HEST_KERNEL_THREADS: v },
      stdout: "piped",
      stderr: "piped",
      cwd: new URL("..", import.meta.url).pathname,
    }).output();
  const ok = await run("2");
  assert.ok(ok.success, new TextDecoder().decode(ok.stderr));
  assert.equal(new TextDecoder().decode(ok.stdout).trim(), "2 true");
  const bad = await run("two");
  assert.equal(bad.success, false);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /HEST_KERNEL_THREADS must be an integer from 1 to 16, found "two"/,
  );
});
