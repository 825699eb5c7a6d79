/**
 * Rematerialisation (gradient checkpointing): run a block of a model so that its intermediate
 * activations are not kept for the backward pass but recomputed there.
 *
 * TF.js keeps every tensor a taped op saved, and every gradient the backward pass makes, until the
 * whole gradient computation ends, so a train step's peak memory is about the forward activations
 * of every layer plus all their gradients. `remat(fn, { x, params })` makes the block one custom
 * gradient op: its forward runs untaped (its intermediates are freed as soon as it returns) and
 * saves only its inputs; its backward runs the block again under a fresh gradient tape and takes
 * the gradients of the input and of the block's parameters from it, freeing that tape when done.
 * The peak is then the block inputs of every layer plus one block's activations and gradients, for
 * the price of a second forward of each block. The values and gradients are those of `fn` itself
 * (the block must be deterministic: randomness from explicit keys, as everywhere in hest).
 *
 * @module
 */
import { tf } from "./backend.ts";
import { describe } from "./validation.ts";
import { flatten, type Params, unflatten } from "./tree.ts";

/** Inputs of {@linkcode remat}: the block input and the block's parameter tree. */
export interface RematInputs<P extends Params> {
  /** The block input (the gradient flows back to it). */
  x: tf.Tensor;
  /** The block's parameters. */
  params: P;
}

/** Options of {@linkcode remat}. */
export interface RematOptions {
  /**
   * Which parameters (paths inside `params`, e.g. `"ff1.w"`) get a gradient (default: all). A
   * parameter the block does not use in this call must be left out: its gradient would not exist.
   */
  trainable?: (path: string) => boolean;
}

/**
 * `fn(x, params)` with its activations recomputed in the backward pass instead of stored (see the
 * module documentation). Same value, same gradients.
 *
 * @example
 * ```ts
 * import { remat, tf } from "@hest/hest";
 * const params = { w: tf.tensor2d([[1, 2], [3, 4]]) };
 * const block = (x: tf.Tensor, p: typeof params) => tf.tanh(tf.matMul(x as tf.Tensor2D, p.w));
 * const g = tf.grads((x: tf.Tensor, w: tf.Tensor) =>
 *   tf.sum(remat(block, { x, params: { w: w as tf.Tensor2D } }))
 * )([tf.ones([1, 2]), params.w]); // the gradients of sum(tanh(x·w)) w.r.t. x and w
 * ```
 */
export function remat<P extends Params>(
  fn: (x: tf.Tensor, params: P) => tf.Tensor,
  inputs: RematInputs<P>,
  opts: RematOptions = {},
): tf.Tensor {
  if (typeof fn !== "function") {
    throw new TypeError(`remat expects a function, found ${describe(fn)}`);
  }
  if (!(inputs?.x instanceof tf.Tensor)) {
    throw new TypeError(`remat input "x" must be a tf.Tensor, found ${describe(inputs?.x)}`);
  }
  const all = flatten(inputs.params);
  const trainable = all.filter((l) => opts.trainable?.(l.path) ?? true);
  const rebuild = (ts: tf.Tensor[]): P => {
    const byPath = new Map(trainable.map((l, i) => [l.path, ts[i]]));
    return unflatten(
      all.map((l) => ({ path: l.path, tensor: byPath.get(l.path) ?? l.tensor })),
    ) as P;
  };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const ins = args.slice(0, -1) as tf.Tensor[];
    save(ins);
    return {
      // in its own tidy: the block's intermediates go as soon as it returns (TF.js would keep
      // them to the end of the whole forward pass otherwise)
      value: tf.tidy(() => fn(ins[0], rebuild(ins.slice(1)))),
      gradFunc(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) {
        // The outer backward runs with the gradient depth back at 0, so TF.js (4.22) would take
        // this inner gradient computation for a first-order one: start a new tape in place of
        // the outer one and drop it at the end. Put the outer tape back, or the outer backward
        // finds no tape to release.
        const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
        const outer = state.activeTape;
        try {
          return tf.grads((...z: tf.Tensor[]) => fn(z[0], rebuild(z.slice(1))))(
            saved,
            dy as tf.Tensor,
          );
        } finally {
          state.activeTape = outer;
        }
      },
    };
  });
  return op(inputs.x, ...trainable.map((l) => l.tensor));
}
