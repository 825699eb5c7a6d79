/**
 * The attention products' helpers of the hybrid blocks (lib/model/blocks.ts): a constant scale that
 * saves nothing for the backward pass, Spikformer's attention product that recomputes its map in
 * the backward pass, and the split into heads and back.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { bmm } from "../../kernels/bmm.ts";

type ScaleFn = (x: tf.Tensor) => tf.Tensor;

const scaleFns = new Map<number, ScaleFn>();

/**
 * `x · c` for a constant `c`, differentiable in `x`, saving nothing for the backward pass:
 * `tf.mul(x, c)` keeps `x` only for the constant's gradient, which nothing asks for (for the
 * attention scores, a `[T, B, H, L, L]` tensor per block). The same multiplications forward and
 * backward as `tf.mul` and its gradient, so the same values.
 */
export function scale(x: tf.Tensor, c: number): tf.Tensor {
  let fn = scaleFns.get(c);
  if (fn === undefined) {
    fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: tf.mul(args[0] as tf.Tensor, c),
      gradFunc: (dy: tf.Tensor) => tf.mul(dy, c),
    })) as ScaleFn;
    scaleFns.set(c, fn);
  }
  return fn(x);
}

type SsaFn = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor;

const ssaFns = new Map<string, SsaFn>();

/**
 * Spikformer's unmasked attention product `(Q·Kᵀ·c)·V` of spikes `q, k, v [..., L, d]` as one
 * differentiable op that keeps q, k and v (spikes the products keep anyway) and recomputes the
 * map `Q·Kᵀ·c` in the backward pass instead of keeping it (`[T, B, H, L, L]`, the largest tensor
 * of a block). The forward and every gradient run the same kernels on the same operands as
 * `bmm`, `scale` and `bmm` composed, so the same values; the price is one more event-driven
 * `Q·Kᵀ` per block in the backward pass.
 */
export function ssaProduct(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  c: number,
  binary: boolean,
): tf.Tensor {
  const id = `${c}:${binary}`;
  let fn = ssaFns.get(id);
  if (fn === undefined) {
    const map = (q: tf.Tensor, k: tf.Tensor) =>
      tf.mul(bmm(q, k, { transposeB: true, binaryA: binary, binaryB: binary }), c);
    fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [q, k, v] = args as tf.Tensor[];
      (args[3] as tf.GradSaveFunc)([q, k, v]);
      return {
        value: bmm(map(q, k), v, { binaryB: binary }),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sq, sk, sv] = saved;
          // the gradients in the order the composed ops' backward makes them
          const dAtt = bmm(dy, sv, { transposeB: true, binaryB: binary });
          const dv = bmm(map(sq, sk), dy, { transposeA: true });
          const dScores = tf.mul(dAtt, c);
          const dq = bmm(dScores, sk, { binaryB: binary });
          const dk = bmm(dScores, sq, { transposeA: true, binaryB: binary });
          return [dq, dk, dv];
        },
      };
    }) as SsaFn;
    ssaFns.set(id, fn);
  }
  return fn(q, k, v);
}

/** `[..., L, D]` → `[..., H, L, d]`. */
export function heads(x: tf.Tensor, H: number): tf.Tensor {
  const lead = x.shape.slice(0, -2);
  const [L, D] = x.shape.slice(-2);
  const r = x.rank; // the reshaped tensor [..., L, H, d] has rank r + 1
  const order = [...lead.map((_, i) => i), r - 1, r - 2, r];
  return tf.transpose(tf.reshape(x, [...lead, L, H, D / H]), order);
}

/** `[..., H, L, d]` → `[..., L, D]`. */
export function merge(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const lead = x.shape.slice(0, -3);
  const [H, L, d] = x.shape.slice(-3);
  const order = [...lead.map((_, i) => i), r - 2, r - 3, r - 1];
  return tf.reshape(tf.transpose(x, order), [...lead, L, H * d]);
}
