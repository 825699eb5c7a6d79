/**
 * Micro-benchmark of the WASM kernels against the TF.js ops they replace, in one process:
 * median and p90 of N timed runs after warm-up, at the hybrid preset's spiking shapes
 * (T = 4, batch 32, 60 bins, width 64, 2 heads of 32).
 *
 * `deno run -A kernels/bench.ts [--backend wasm|cpu] [--runs N]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { tf, useBackend } from "../lib/core/backend.ts";
import { lif } from "../lib/snn/neurons.ts";
import { bmm, spikeMatMul } from "./bmm.ts";
import { kernelsActive, setKernelsEnabled } from "./wasm.ts";
import { convKernel } from "./conv.ts";
import { spikeNorm } from "../lib/snn/spike_norm.ts";
import { applyLinear, initLinear } from "../lib/nn/layers.ts";
import { applyCausalConv, initCausalConv } from "../lib/nn/conv.ts";
import { applyTim, initTim } from "../lib/snn/tim.ts";
import { key } from "../lib/core/random.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "wasm" },
    runs: { type: "string", default: "15" },
  },
});
await useBackend(values.backend!);
const runs = Number(values.runs);

function time(f: () => tf.Tensor | tf.Tensor[]): { median: number; p90: number } {
  const ms: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const out = tf.tidy(f);
    for (const o of Array.isArray(out) ? out : [out]) o.dataSync();
    const dt = performance.now() - t0;
    tf.dispose(out);
    if (i >= 3) ms.push(dt);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], p90: ms[Math.floor(ms.length * 0.9)] };
}

function spikesOf(shape: number[], p: number): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.less(tf.randomUniform(shape, 0, 1, "float32", 1), p), "float32"));
}

const rows: { name: string; tfjs: number; kernel: number }[] = [];
function row(name: string, ref: () => tf.Tensor | tf.Tensor[], ker: () => tf.Tensor | tf.Tensor[]) {
  setKernelsEnabled(false);
  const a = time(ref);
  setKernelsEnabled(true);
  const b = time(ker);
  rows.push({ name, tfjs: a.median, kernel: b.median });
  console.log(
    `${name.padEnd(44)} tfjs ${a.median.toFixed(2).padStart(8)} ms   kernel ${
      b.median.toFixed(2).padStart(8)
    } ms   x${(a.median / b.median).toFixed(1)}`,
  );
}

const att = [4, 32, 2, 60];
const q = spikesOf([...att, 32], 0.15);
const k = spikesOf([...att, 32], 0.15);
const v = spikesOf([...att, 32], 0.15);
const a = tf.tidy(() => tf.mul(tf.matMul(q, k, false, true), 0.125));
const qd = tf.randomNormal([...att, 32]);
const kd = tf.randomNormal([...att, 32]);

row(
  "qkT dense [4,32,2,60,32]x[..]T",
  () => tf.matMul(qd, kd, false, true),
  () => bmm(qd, kd, { transposeB: true }),
);
row(
  "qkT binary q,k (15%)",
  () => tf.matMul(q, k, false, true),
  () => bmm(q, k, { transposeB: true, binaryA: true, binaryB: true }),
);
row("att·v dense [..,60,60]x[..,60,32]", () => tf.matMul(a, v), () => bmm(a, v));
row("att·v binary v (15%)", () => tf.matMul(a, v), () => bmm(a, v, { binaryB: true }));
const gq = (f: typeof bmm, o: object) => () =>
  tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(f(x, y, o)))([q, k]);
row(
  "qkT binary fwd+bwd",
  gq((x, y) => tf.matMul(x, y, false, true), {}),
  gq(bmm, { transposeB: true, binaryA: true, binaryB: true }),
);
const ga = () =>
  tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(bmm(x, y, { binaryB: true })))([a, v]);
row("att·v binary v fwd+bwd", ga, ga);

const lx = tf.randomNormal([4, 32, 60, 64], 0.9, 0.8);
row("LIF fwd [4,32,60,64]", () => lif(lx), () => lif(lx));
const gl = () => tf.grad((x: tf.Tensor) => tf.sum(lif(x)))(lx);
row("LIF fwd+bwd [4,32,60,64]", gl, gl);

const s2 = spikesOf([7680, 64], 0.15);
const w2 = tf.randomNormal([64, 64]);
row("spikeMatMul [7680,64]x[64,64] (15%)", () => tf.matMul(s2, w2), () => spikeMatMul(s2, w2));
const gs = () => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(spikeMatMul(x, y)))([s2, w2]);
row("spikeMatMul fwd+bwd", gs, gs);
const sn = {
  g: tf.randomNormal([64], 1, 0.2) as tf.Tensor1D,
  b: tf.randomNormal([64]) as tf.Tensor1D,
};
const snx = tf.randomNormal([4, 32, 60, 64]);
row("spikeNorm fwd [4,32,60,64]", () => spikeNorm(sn, snx), () => spikeNorm(sn, snx));
const gn = () =>
  tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(spikeNorm({ g: g as tf.Tensor1D, b: b as tf.Tensor1D }, x), snx))
  )([snx, sn.g, sn.b]);
row("spikeNorm fwd+bwd", gn, gn);

const lp = initLinear(key(1), [64, 64]);
const linX = tf.randomNormal([4, 32, 60, 64]);
const gLin = (binary: boolean, x: tf.Tensor) => () =>
  tf.grads((xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
    tf.sum(applyLinear({ w: w as tf.Tensor2D, b: b as tf.Tensor1D }, xx, { binary }))
  )([x, lp.w, lp.b]);
row("applyLinear fwd+bwd [7680,64]x[64,64]", gLin(false, linX), gLin(false, linX));
const ls = spikesOf([4, 32, 60, 64], 0.15);
row("applyLinear binary (15%) fwd+bwd", gLin(false, ls), gLin(true, ls));

const cp = initCausalConv(key(2), { channelsIn: 64, channelsOut: 64, kernel: 3 });
const cx = tf.randomNormal([128, 60, 64]);
const gConv = () =>
  tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
    tf.sum(
      kernelsActive()
        ? convKernel(x, w, b, { padLeft: 1 })
        : applyCausalConv({ w: w as tf.Tensor3D, b: b as tf.Tensor1D }, x, { centered: true }),
    )
  )([cx, cp.w, cp.b]);
row("conv k3 fwd+bwd [128,60,64]->64", gConv, gConv);
const tp = initTim(key(3), { channels: 32 });
const tq = spikesOf([4, 32, 2, 60, 32], 0.2);
const gTim = () =>
  tf.grads((q: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
    tf.sum(applyTim({ w: w as tf.Tensor3D, b: b as tf.Tensor1D }, q))
  )([tq, tp.w, tp.b]);
row("TIM fwd+bwd [4,32,2,60,32] k5", gTim, gTim);
console.log(JSON.stringify({ backend: values.backend, runs, rows }));
