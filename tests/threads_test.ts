import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { bmm } from "../kernels/bmm.ts";
import { linearKernel } from "../kernels/linear.ts";
import {
  kernelThreads,
  kernelThreadStats,
  setKernelThreads,
  splitRange,
} from "../kernels/threads.ts";
import { randomTensors } from "./_kernel_util.ts";

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
    for (const [name, f, a, b] of cases) {
      const u = tf.tidy(() => tf.randomNormal(f(a, b).shape, 0, 1, "float32", 5));
      assert.equal(await setKernelThreads(1), 1);
      const one = valueAndGrads(f, a, b, u);
      for (const n of [2, 3]) {
        assert.equal(await setKernelThreads(n), n);
        assert.equal(kernelThreads(), n);
        const before = kernelThreadStats().calls;
        const many = valueAndGrads(f, a, b, u);
        // forward and backward products all took the threaded path
        assert.ok(kernelThreadStats().calls - before >= 2, `${name}: not threaded`);
        ["value", "grad a", "grad b"].forEach((what, i) =>
          assert.deepEqual(many[i], one[i], `${name} ${what}: ${n} threads differ from 1`)
        );
      }
      tf.dispose(u);
    }
    await setKernelThreads(1);
  });
}

Deno.test("threads: argument checks and splitRange", async () => {
  await assert.rejects(() => setKernelThreads(0), /an integer from 1 to 16, found 0/);
  await assert.rejects(() => setKernelThreads(1.5), /found 1.5/);
  assert.deepEqual(splitRange(10, 2, 4), [[0, 8], [8, 2]]);
  assert.deepEqual(splitRange(3, 4), [[0, 1], [1, 1], [2, 1]]);
  assert.deepEqual(splitRange(128, 2), [[0, 64], [64, 64]]);
});

Deno.test("threads: HEST_KERNEL_THREADS starts the pool at load, and a bad value is refused", async () => {
  const code = `
    const { kernelThreads } = await import(${
    JSON.stringify(new URL("../kernels/threads.ts", import.meta.url).href)
  });
    console.log(kernelThreads());`;
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
  assert.equal(new TextDecoder().decode(ok.stdout).trim(), "2");
  const bad = await run("two");
  assert.equal(bad.success, false);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /HEST_KERNEL_THREADS must be an integer from 1 to 16, found "two"/,
  );
});
