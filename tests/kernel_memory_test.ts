import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { key, uniform } from "../lib/core/random.ts";
import { bmm } from "../kernels/bmm.ts";
import { linearKernel } from "../kernels/linear.ts";
import { KERNEL_WASM } from "../kernels/build.ts";
import { kernelCall, kernelExports, kernelsShareMemory } from "../kernels/wasm.ts";

/** Seeded values in [-1, 1) with a share `density` nonzero (small integers when `ints`). */
function sparse(n: number, density: number, seed: number, ints = false): Float32Array {
  const u = uniform(key(seed), 2 * n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (u[i] >= density) continue;
    out[i] = ints ? 1 + Math.floor(u[n + i] * 3) : 2 * u[n + i] - 1;
  }
  return out;
}

/** a [M, K] · b [K, N] (+ bias) summed in ascending k in float32: gemm_dense's exact order. */
function refProduct(
  a: Float32Array,
  b: Float32Array,
  M: number,
  K: number,
  N: number,
  bias?: Float32Array,
): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc = f(acc + f(a[m * K + k] * b[k * N + n]));
      out[m * N + n] = bias ? f(acc + bias[n]) : acc;
    }
  }
  return out;
}

/** xᵀ · d for x [R, I], d [R, J], summed in ascending r in float32 (gemm_tn's order). */
function refTn(x: Float32Array, d: Float32Array, R: number, I: number, J: number): Float32Array {
  const xt = new Float32Array(I * R);
  for (let r = 0; r < R; r++) for (let i = 0; i < I; i++) xt[i * R + r] = x[r * I + i];
  return refProduct(xt, d, I, R, J);
}

function sameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i] + 0, want[i] + 0)) {
      assert.fail(`${what}[${i}]: kernel ${got[i]} vs float32 reference ${want[i]}`);
    }
  }
}

for (const backend of ["wasm", "cpu"]) {
  Deno.test(`kernel memory: dense and sparse-input products equal the float32 reference bit for bit (${backend})`, async () => {
    await useBackend(backend);
    // M, K, N not multiples of the register blocks; densities on both sides of the switch
    const [M, K, N] = [37, 45, 29];
    let seed = 10;
    for (const density of [0.05, 0.3, 0.7, 1]) {
      for (const ints of [false, true]) {
        const what = `density ${density}${ints ? " (integer counts)" : ""}`;
        const a = sparse(M * K, density, seed++, ints);
        const w = sparse(K * N, 1, seed++);
        const bias = sparse(N, 1, seed++);
        const x = tf.tensor2d(a, [M, K]);
        const wt = tf.tensor2d(w, [K, N]);
        const bt = tf.tensor1d(bias);
        sameBits(await bmm(x, wt).data(), refProduct(a, w, M, K, N), `bmm ${what}`);
        const y = linearKernel(x, wt, bt);
        sameBits(await y.data(), refProduct(a, w, M, K, N, bias), `linear ${what}`);
        // the weight gradient xᵀ · dy (gemm_tn) takes the sparse path for a sparse x too
        const dy = sparse(M * N, 1, seed++);
        const dw = tf.grad((ww: tf.Tensor) =>
          tf.sum(tf.mul(linearKernel(x, ww, bt), tf.tensor2d(dy, [M, N])))
        )(wt);
        sameBits(await dw.data(), refTn(a, dy, M, K, N), `dw ${what}`);
        tf.dispose([x, wt, bt, y, dw]);
      }
    }
  });
}

Deno.test("kernel memory: on wasm the kernels share TF.js's memory and neither leak tensors nor heap", async () => {
  await useBackend("wasm");
  assert.equal(kernelsShareMemory(), true);
  const heap = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } })
    .wasm.asm.memory;
  assert.equal(kernelExports().memory, heap, "the kernel instance imports TF.js's memory");
  const x = tf.tensor2d(sparse(64 * 96, 0.2, 3), [64, 96]);
  const w = tf.tensor2d(sparse(96 * 80, 1, 4), [96, 80]);
  const b = tf.tensor1d(sparse(80, 1, 5));
  const step = () =>
    tf.tidy(() => {
      const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.square(linearKernel(xx, ww, bb)))
      )([x, w, b]);
      return tf.add(tf.sum(g[0]), tf.sum(g[1]));
    });
  step().dispose();
  const tensors = tf.memory().numTensors;
  const bytes = heap.buffer.byteLength;
  for (let i = 0; i < 50; i++) step().dispose();
  assert.equal(tf.memory().numTensors, tensors, "tensors leaked");
  assert.equal(heap.buffer.byteLength, bytes, "the wasm heap grew over repeated identical calls");
  // an output the caller never takes is released by end()
  const call = kernelCall();
  call.output([1000]);
  call.scratch(1000);
  call.end();
  assert.equal(tf.memory().numTensors, tensors);
  tf.dispose([x, w, b]);
});

Deno.test("kernel memory: kernelCall hands out inputs, outputs and scratch; take twice throws", async () => {
  for (const backend of ["wasm", "cpu"]) {
    await useBackend(backend);
    assert.equal(kernelsShareMemory(), backend === "wasm");
    const x = tf.tensor2d([[1, 0], [0, 1]]);
    const w = tf.tensor2d([[1, 2], [3, 4]]);
    const call = kernelCall();
    try {
      const ex = call.ex;
      const [pa, pb] = [call.input(x), call.input(w)];
      const pc = call.output([2, 2]);
      const ps = call.scratch(ex.bmm_scratch_floats(2, 2, 2, 0));
      ex.bmm(pa, pb, pc, 1, 2, 2, 2, 0, 0, 0, ps);
      const c = call.take(pc);
      assert.deepEqual(Array.from(await c.data()), [1, 2, 3, 4], backend);
      assert.throws(() => call.take(pc), /no output buffer at \d+ \(taken already\?\)/);
      // an int32 input is converted into float32 scratch
      const pi = call.input(tf.tensor1d([3, 4], "int32"));
      assert.deepEqual(Array.from(call.view(pi, 2)), [3, 4]);
      tf.dispose([c]);
    } finally {
      call.end();
    }
    tf.dispose([x, w]);
  }
  await useBackend("wasm");
});

Deno.test("kernel memory: the module imports its memory and has no data segment to write into it", async () => {
  const bytes = await Deno.readFile(KERNEL_WASM);
  const mod = new WebAssembly.Module(bytes);
  assert.deepEqual(
    WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}:${i.kind}`),
    ["env.memory:memory"],
  );
  // walk the sections: id 11 is the data section, which would overwrite TF.js's memory
  const ids: number[] = [];
  let p = 8;
  while (p < bytes.length) {
    const id = bytes[p++];
    let size = 0;
    for (let shift = 0;; shift += 7) {
      const byte = bytes[p++];
      size |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    ids.push(id);
    p += size;
  }
  assert.ok(ids.includes(10), `expected a code section, found sections ${ids}`);
  assert.ok(!ids.includes(11), `the module has a data section (sections ${ids})`);
  const names = WebAssembly.Module.exports(mod).map((e) => e.name);
  for (const n of ["__stack_pointer", "__heap_base", "linear_forward", "bmm", "lif_forward"]) {
    assert.ok(names.includes(n), `export ${n} missing`);
  }
});
