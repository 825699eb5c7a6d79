/**
 * Helpers shared by the block modules: weight products and norms that report their work to the
 * operation collector (energy accounting).
 *
 * @module
 */
import type { tf } from "../core/backend.ts";
import {
  applyLayerNorm,
  applyLinear,
  type LayerNormParams,
  type LinearParams,
} from "../nn/layers.ts";
import type { OpsCollector } from "../nn/types.ts";

/** Number of elements of `x`. */
export function size(x: tf.Tensor): number {
  return x.shape.reduce((a, b) => a * b, 1);
}

/** `x · w + b`, reported to `ops` as a weight product. */
export function linear(
  name: string,
  p: LinearParams,
  x: tf.Tensor,
  ops: OpsCollector | undefined,
  binary = false,
): tf.Tensor {
  ops?.linear(name, x, p.w.shape[1]);
  return applyLinear(p, x, { binary });
}

/** Layer norm over the last axis, reported as norm work. */
export function layerNorm(
  name: string,
  p: LayerNormParams,
  x: tf.Tensor,
  ops: OpsCollector | undefined,
): tf.Tensor {
  ops?.elementwise(name, "norm", size(x));
  return applyLayerNorm(p, x);
}
