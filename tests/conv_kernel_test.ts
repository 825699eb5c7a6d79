import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { applyCausalConv, type CausalConvParams } from "../lib/nn/conv.ts";
import { applyTim, type TimParams } from "../lib/snn/tim.ts";
import { convKernel } from "../kernels/conv.ts";
import { close, randomTensors, withoutKernels } from "./_kernel_util.ts";

await useBackend("cpu");

const { randn, spikes } = randomTensors(9000);

function convCases(): void {
  const cases: [number[], number, number, number][] = [
    [[2, 9], 3, 5, 3],
    [[3, 2, 7], 4, 4, 5],
    [[1, 4], 6, 2, 1],
    [[2, 3], 8, 8, 5], // L < k: taps reach past both ends
  ];
  for (const [lead, ci, co, k] of cases) {
    for (const centered of [false, true]) {
      for (const binary of [false, true]) {
        const x = binary ? spikes([...lead, ci], 0.4) : randn([...lead, ci]);
        const p = { w: randn([k, ci, co], 0.5) as tf.Tensor3D, b: randn([co]) as tf.Tensor1D };
        const u = randn([...lead, co]);
        const pad = centered ? Math.floor(k / 2) : k - 1;
        const what = `[${lead}, ${ci}] k ${k} centered ${centered} binary ${binary}`;
        const ker = tf.tidy(() => {
          const f = (xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
            convKernel(xx, w, b, { padLeft: pad, binary });
          return [
            f(x, p.w, p.b),
            ...tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
              tf.sum(tf.mul(f(a, w, b), u))
            )([x, p.w, p.b]),
          ].map((t) => t.dataSync());
        });
        const ref = withoutKernels(() =>
          tf.tidy(() => {
            const f = (xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
              applyCausalConv({ w, b } as CausalConvParams, xx, { centered });
            return [
              f(x, p.w, p.b),
              ...tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
                tf.sum(tf.mul(f(a, w, b), u))
              )([x, p.w, p.b]),
            ].map((t) => t.dataSync());
          })
        );
        ["y", "dx", "dw", "db"].forEach((n, i) => close(ker[i], ref[i], 1e-5, `${n} ${what}`));
      }
    }
  }
}

Deno.test("conv kernel = applyCausalConv within 1e-5, value and gradients (cpu)", () => {
  convCases();
});

Deno.test("conv kernel = applyCausalConv within 1e-5, value and gradients (wasm)", async () => {
  await useBackend("wasm");
  try {
    convCases();
  } finally {
    await useBackend("cpu");
  }
});

Deno.test("conv kernel: hand-checked causal sum and errors", () => {
  const y = convKernel(tf.tensor3d([[[1], [2], [3]]]), tf.ones([2, 1, 1]), tf.tensor1d([0.5]), {
    padLeft: 1,
  });
  assert.deepEqual(Array.from(y.dataSync()), [1.5, 3.5, 5.5]);
  assert.throws(
    () => convKernel(tf.ones([1, 3, 1]), tf.ones([2, 1, 1]), tf.zeros([1]), { padLeft: 2 }),
    /"padLeft" must be an integer in \[0, 1\], found 2/,
  );
  assert.throws(
    () =>
      convKernel(tf.tensor3d([[[0.5], [0], [1]]]), tf.ones([2, 1, 1]), tf.zeros([1]), {
        padLeft: 1,
        binary: true,
      }),
    /only 0 and 1, found 2 other/, // the 0.5 is read by both taps
  );
});

function timCases(): void {
  for (const causal of [false, true]) {
    const q = spikes([4, 2, 2, 9, 6], 0.4);
    const p: TimParams = {
      w: randn([5, 6, 6], 0.6) as tf.Tensor3D,
      b: randn([6], 0.2) as tf.Tensor1D,
    };
    const u = randn(q.shape);
    const run = () =>
      tf.tidy(() => {
        const f = (qq: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
          applyTim({ w: w as tf.Tensor3D, b: b as tf.Tensor1D }, qq, { causal });
        return [
          f(q, p.w, p.b),
          ...tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, w, b), u)))([
            q,
            p.w,
            p.b,
          ]),
        ].map((t) => t.dataSync());
      });
    const ker = run();
    const ref = withoutKernels(run);
    // spikes must agree exactly; gradients within float32 rounding
    assert.deepEqual(Array.from(ker[0]), Array.from(ref[0]), `TIM spikes causal ${causal}`);
    assert.ok(ker[0].some((v) => v === 1), "TIM should fire");
    ["dq", "dw", "db"].forEach((n, i) =>
      close(ker[i + 1], ref[i + 1], 1e-5, `${n} causal ${causal}`)
    );
  }
}

Deno.test("TIM with the conv kernel = composite TIM, spikes and gradients (cpu)", () => {
  timCases();
});

Deno.test("TIM with the conv kernel = composite TIM, spikes and gradients (wasm)", async () => {
  await useBackend("wasm");
  try {
    timCases();
  } finally {
    await useBackend("cpu");
  }
});
