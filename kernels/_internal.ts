/**
 * Helpers the kernel bindings share and hest does not export.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";

/**
 * Whether TF.js is recording a gradient tape (inside `tf.grad`, `tf.valueAndGrads`, …): a fused op
 * outside one runs its forward alone and keeps nothing for a backward pass.
 */
export function recording(): boolean {
  return (tf.engine() as unknown as { state: { activeTape: unknown } }).state.activeTape != null;
}
