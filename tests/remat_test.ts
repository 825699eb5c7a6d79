import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import type { HybridConfig } from "../lib/model/config.ts";
import type { Mode } from "../lib/nn/types.ts";
import { key } from "../lib/core/random.ts";
import { remat } from "../lib/core/remat.ts";
import { resolveTrainOptions } from "../lib/train/train_options.ts";
import { disposeTree, flatten, type Params, unflatten } from "../lib/core/tree.ts";

await useBackend("wasm");

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1e-3, Math.abs(b[i])));
  }
  return m;
}

Deno.test("remat: same value and gradients as the plain block (hand-checked at a point), inputs kept", async () => {
  // y = sum(tanh(x · w) ⊙ c) with x [1, 2], w [2, 2]: dy/dx and dy/dw by hand
  const x = tf.tensor2d([[0.5, -1]]);
  const w = tf.tensor2d([[1, 2], [3, 4]]);
  const cc = tf.tensor2d([[1, -2]]);
  const block = (z: tf.Tensor, p: { w: tf.Tensor; c: tf.Tensor }) =>
    tf.mul(tf.tanh(tf.matMul(z as tf.Tensor2D, p.w as tf.Tensor2D)), p.c);
  const before = tf.memory().numTensors;
  const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(remat(block, { x: a, params: { w: b, c: cc } }, { trainable: (p) => p === "w" }))
  )([x, w]);
  // u = x·w = [0.5 − 3, 1 − 4] = [−2.5, −3]; dy/du_j = c_j (1 − tanh² u_j)
  const u = [-2.5, -3];
  const du = u.map((v, j) => [1, -2][j] * (1 - Math.tanh(v) ** 2));
  const wantX = [du[0] * 1 + du[1] * 2, du[0] * 3 + du[1] * 4];
  const wantW = [0.5 * du[0], 0.5 * du[1], -1 * du[0], -1 * du[1]];
  const maxAbs = (a: ArrayLike<number>, b: number[]) =>
    Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
  assert.ok(maxAbs(await gx.data(), wantX) < 1e-6, `dx ${await gx.data()} vs ${wantX}`);
  assert.ok(maxAbs(await gw.data(), wantW) < 1e-6, `dw ${await gw.data()} vs ${wantW}`);
  tf.dispose([gx, gw]);
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  // the plain forward value
  const v = await remat(block, { x, params: { w, c: cc } }).data();
  assert.ok(maxRelDiff(v, [Math.tanh(-2.5), -2 * Math.tanh(-3)]) < 1e-6);
  assert.throws(
    () => remat(block, { x: [1, 2] as never, params: { w, c: cc } }),
    /"x" must be a tf.Tensor, found/,
  );
});

const cfg: HybridConfig = {
  nInputs: 5,
  nOutputs: 7,
  bins: 40,
  forwardBins: 2,
  dModel: 32,
  nLayers: 4,
  nHeads: 2,
  dFF: 32,
  dropout: 0.1,
  embedDropout: 0.1,
  rateDropout: 0,
  timesteps: 3,
  attention: "conv",
  cpg: { dims: 4 },
  tim: { inThreshold: 0.1, outThreshold: 0.2 },
  residual: "membrane",
  rsm: { ratio: 0.25 },
};

// the spiking mode with each fused norm-and-LIF op (the per-channel norm's, and the hybrid
// preset's norm over all channels)
const REMAT_CASES: [Mode, "trial" | "sample"][] = [
  ["standard", "trial"],
  ["spiking", "trial"],
  ["spiking", "sample"],
];
for (const [mode, norm] of REMAT_CASES) {
  Deno.test(`remat in the hybrid (${mode} mode, norm ${norm}, dropout and spike masking on): same loss and gradients, lower peak memory`, async () => {
    const model = hybridTransformer({ ...cfg, norm });
    const params = model.init(key(3));
    const leaves = flatten(params).filter((l) => model.usesParam!(l.path, mode));
    const input = tf.randomUniform([4, cfg.bins, cfg.nInputs], 0, 3, "int32", 5).toFloat();
    // bins 2 and 7 masked (so the mask token has a gradient too)
    const m = new Float32Array(4 * cfg.bins * cfg.nInputs);
    for (let b = 0; b < 4; b++) {
      for (const l of [2, 7]) {
        m.fill(1, (b * cfg.bins + l) * cfg.nInputs, (b * cfg.bins + l + 1) * cfg.nInputs);
      }
    }
    const inputMask = tf.tensor3d(m, [4, cfg.bins, cfg.nInputs]);
    // one profile at a time: TF.js profiles share the engine's active profile object
    const run = async (useRemat: boolean) => {
      let out: { value: tf.Scalar; grads: tf.Tensor[] } | undefined;
      const prof = await tf.profile(() => {
        out = tf.valueAndGrads((...xs: tf.Tensor[]) => {
          const byPath = new Map(leaves.map((l, i) => [l.path, xs[i]]));
          const p = unflatten(
            flatten(params).map((l) => ({ path: l.path, tensor: byPath.get(l.path) ?? l.tensor })),
          ) as Params;
          const y = model.apply(p, { input, inputMask }, {
            training: true,
            key: key(9),
            mode,
            remat: useRemat,
          });
          return tf.mean(tf.square(y));
        })(leaves.map((l) => l.tensor)) as { value: tf.Scalar; grads: tf.Tensor[] };
      });
      // TF.js returns the same profile object every time: copy the number now
      return { out: out!, peakBytes: prof.peakBytes };
    };
    const plain = await run(false);
    const re = await run(true);
    const [pv, rv] = [(await plain.out.value.data())[0], (await re.out.value.data())[0]];
    assert.ok(Math.abs(pv - rv) <= 1e-6 * Math.abs(pv), `loss ${pv} vs ${rv}`);
    for (let i = 0; i < leaves.length; i++) {
      const d = maxRelDiff(await re.out.grads[i].data(), await plain.out.grads[i].data());
      assert.ok(d < 1e-4, `${leaves[i].path}: relative gradient difference ${d}`);
    }
    // the lean tape (lib/core/tape.ts) and the fused norm / softmax kernels already free most of
    // what plain training held, so remat's margin is smaller than before them (about 0.52 here)
    assert.ok(
      re.peakBytes < 0.7 * plain.peakBytes,
      `peak ${re.peakBytes} B with remat vs ${plain.peakBytes} B without`,
    );
    tf.dispose([
      plain.out.value,
      re.out.value,
      ...plain.out.grads,
      ...re.out.grads,
      input,
      inputMask,
    ]);
    disposeTree(params);
  });
}

Deno.test("train option remat: a boolean, false by default", () => {
  assert.equal(resolveTrainOptions({}).remat, false);
  assert.equal(resolveTrainOptions({ remat: true }).remat, true);
  assert.throws(
    () => resolveTrainOptions({ remat: "yes" as never }),
    /train option "remat" must be true or false, found "yes"/,
  );
});
