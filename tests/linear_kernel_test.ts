import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { applyLinear, type LinearParams } from "../lib/nn/layers.ts";
import { linearKernel } from "../kernels/linear.ts";
import { close, randomTensors, withoutKernels } from "./_kernel_util.ts";

await useBackend("cpu");

const { randn, spikes } = randomTensors(7000);

/** Value and gradients (x, w, b) of sum(u ⊙ applyLinear(p, x)). */
function run(p: LinearParams, x: tf.Tensor, u: tf.Tensor, binary: boolean): Float32Array[] {
  return tf.tidy(() => {
    const y = applyLinear(p, x, { binary });
    const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(applyLinear({ w: ww as tf.Tensor2D, b: bb as tf.Tensor1D }, xx, { binary }), u))
    )([x, p.w, p.b]);
    return [y, ...g].map((t) => t.dataSync() as Float32Array);
  });
}

function kernelVsComposite(): void {
  // odd sizes exercise every edge path of the 4×8 blocks and the 64-row chunks
  const cases: [number[], number, number][] = [
    [[3, 5], 7, 9],
    [[130], 64, 64],
    [[2, 3, 11], 13, 128],
    [[1], 1, 1],
  ];
  for (const [lead, K, N] of cases) {
    for (const binary of [false, true]) {
      const x = binary ? spikes([...lead, K], 0.3) : randn([...lead, K]);
      const p = { w: randn([K, N], 0.5) as tf.Tensor2D, b: randn([N]) as tf.Tensor1D };
      const u = randn([...lead, N]);
      const k = run(p, x, u, binary);
      const c = withoutKernels(() => run(p, x, u, binary));
      ["y", "dx", "dw", "db"].forEach((name, i) =>
        close(k[i], c[i], 1e-5, `${name} [${lead}, ${K}]x[${K}, ${N}] binary ${binary}`)
      );
    }
  }
}

Deno.test("linear kernel: applyLinear = composite within 1e-5, value and gradients (cpu)", () => {
  kernelVsComposite();
});

Deno.test("linear kernel: applyLinear = composite within 1e-5, value and gradients (wasm)", async () => {
  await useBackend("wasm");
  try {
    kernelVsComposite();
  } finally {
    await useBackend("cpu");
  }
});

Deno.test("linear kernel: hand-checked values and gradients", () => {
  const x = tf.tensor2d([[1, 0, 1], [0, 1, 0]]);
  const w = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const b = tf.tensor1d([0.5, -1]);
  for (const binary of [false, true]) {
    // rows: [1+5, 2+6] + b = [6.5, 7]; [3, 4] + b = [3.5, 3]
    assert.deepEqual(Array.from(linearKernel(x, w, b, { binary }).dataSync()), [6.5, 7, 3.5, 3]);
    const [dx, dw, db] = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      tf.sum(linearKernel(a, c, d, { binary }))
    )([x, w, b]);
    assert.deepEqual(Array.from(dx.dataSync()), [3, 7, 11, 3, 7, 11]); // row sums of w
    assert.deepEqual(Array.from(dw.dataSync()), [1, 1, 1, 1, 1, 1]); // column sums of x
    assert.deepEqual(Array.from(db.dataSync()), [2, 2]);
  }
});

Deno.test("linear kernel: binary input check and shape errors", () => {
  const w = tf.ones([2, 3]);
  const b = tf.zeros([3]);
  assert.throws(
    () => linearKernel(tf.tensor2d([[1, 0.5]]), w, b, { binary: true }),
    /must hold only 0 and 1, found 1 other/,
  );
  assert.throws(() => linearKernel(tf.ones([2, 3]), w, b), /x \[M, K\], w \[K, N\], b \[N\]/);
  assert.throws(
    () => linearKernel(tf.ones([1, 2]), w, b, { binary: 1 as unknown as boolean }),
    /"binary" must be a boolean/,
  );
});
