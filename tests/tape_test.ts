import assert from "node:assert/strict";
import { tf, useBackend } from "../lib/core/backend.ts";
import { installLeanTape, LEAN_TAPE_TFJS } from "../lib/core/tape.ts";

await useBackend("cpu");

/**
 * An identity op whose gradient records the bytes TF.js holds when the backward pass reaches
 * it: put at both ends of a chain, it shows how much the backward pass keeps as it goes.
 */
function probe(log: number[]): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => {
      log.push(tf.memory().numBytes);
      return tf.clone(dy);
    },
  })) as (x: tf.Tensor) => tf.Tensor;
}

Deno.test("lean tape: installed on the pinned TF.js, gradients equal the analytic ones", () => {
  assert.equal(tf.version.tfjs, LEAN_TAPE_TFJS);
  assert.equal(installLeanTape(), true);
  // y = Σ sin(x)² · exp(x/3): dy/dx = (2 sin cos + sin²/3) · exp(x/3)
  const xs = [-1.3, -0.2, 0.4, 1.7];
  const x = tf.tensor1d(xs);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(tf.sin(t)), tf.exp(tf.div(t, 3)))))(x)
    .dataSync();
  xs.forEach((v, i) => {
    const want = (2 * Math.sin(v) * Math.cos(v) + Math.sin(v) ** 2 / 3) * Math.exp(v / 3);
    assert.ok(Math.abs(g[i] - want) < 1e-5, `d/dx at ${v}: ${g[i]} vs ${want}`);
  });
  // second order still works (the whole tape is kept when gradients are differentiated)
  const h = tf.grad((t: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.pow(u, 3)))(t)))(x)
    .dataSync();
  xs.forEach((v, i) => assert.ok(Math.abs(h[i] - 6 * v) < 1e-4, `d²/dx² x³ at ${v}: ${h[i]}`));
  x.dispose();
});

Deno.test("lean tape: the backward pass frees saved tensors and gradients as it goes, no leaks", () => {
  installLeanTape();
  const x = tf.randomNormal([64, 256], 0, 1, "float32", 1);
  const log: number[] = [];
  const p = probe(log);
  const before = tf.memory().numTensors;
  // 30 layers of ops that save their inputs (mul, sin, square): a tape that kept them all and
  // every intermediate gradient would hold ≥ 60 tensors of 64 KiB when it reaches the first probe
  const g = tf.grad((t: tf.Tensor) => {
    let y = p(t);
    for (let i = 0; i < 30; i++) y = tf.sin(tf.mul(y, 1.01));
    return tf.sum(p(y));
  })(x);
  assert.equal(log.length, 2);
  const [atEnd, atStart] = log; // the last op's probe runs first
  const bytes = 64 * 256 * 4;
  assert.ok(
    atStart <= atEnd + 4 * bytes,
    `held ${(atStart - atEnd) / bytes} more tensors of the input's size at the chain's start`,
  );
  g.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  x.dispose();
});
