/**
 * One AdamW step of one parameter tensor on the WASM kernels (`adamw_step` in hest_kernels.c):
 * the same float32 operations in the same order as the composite in lib/train/optim.ts, so the
 * same bits, in one call where the composite dispatches about 15 TF.js ops per tensor.
 * `adamw` (lib/train/optim.ts) uses it on the wasm and cpu backends for float32 tensors.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { kernelsActive, withKernelCall } from "./wasm.ts";

/** The per-step scalars of {@linkcode adamwKernel} (JavaScript numbers; float32 in the kernel). */
export interface AdamWScalars {
  /** Decoupled weight decay on this tensor: θ = p·keep. */
  decay: boolean;
  /** 1 − lr·weightDecay. */
  keep: number;
  /** β1, 1 − β1, β2, 1 − β2. */
  b1: number;
  omb1: number;
  b2: number;
  omb2: number;
  /** √(1 − β2^t). */
  bc2Sqrt: number;
  /** ε. */
  eps: number;
  /** lr / (1 − β1^t). */
  step: number;
}

/**
 * Whether {@linkcode adamwKernel} runs for these tensors (kernels active, all float32).
 *
 * @example
 * ```ts
 * import { adamwKernelApplies, tf } from "@hest/hest";
 * adamwKernelApplies([tf.zeros([2])]); // true on the wasm and cpu backends
 * ```
 */
export function adamwKernelApplies(ts: tf.Tensor[]): boolean {
  return kernelsActive() && ts.every((t) => t.dtype === "float32");
}

/**
 * `[p', m', v']` of one AdamW step of parameter `p` with moments `m`, `v` and gradient `g` (all
 * float32, one shape).
 *
 * @example
 * ```ts
 * import { adamwKernel, tf } from "@hest/hest";
 * const [p1] = adamwKernel([tf.ones([2]), tf.zeros([2]), tf.zeros([2]), tf.ones([2])], {
 *   decay: false, keep: 1, b1: 0.9, omb1: 0.1, b2: 0.999, omb2: 0.001,
 *   bc2Sqrt: Math.sqrt(0.001), eps: 1e-8, step: 1e-3 / 0.1,
 * }); // ≈ [0.999, 0.999]
 * ```
 */
export function adamwKernel(
  tensors: [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor],
  s: AdamWScalars,
): tf.Tensor[] {
  const [p, m, v, g] = tensors;
  for (const t of [m, v, g]) {
    if (!tf.util.arraysEqual(t.shape, p.shape)) {
      throw new Error(
        `adamwKernel expects p, m, v, g of one shape, found [${p.shape}] and [${t.shape}]`,
      );
    }
  }
  return withKernelCall((call) => {
    const ins = [p, m, v, g].map((t) => call.input(t));
    const outs = [call.output(p.shape), call.output(p.shape), call.output(p.shape)];
    call.ex.adamw_step(
      ins[0],
      ins[1],
      ins[2],
      ins[3],
      outs[0],
      outs[1],
      outs[2],
      p.size,
      s.decay ? 1 : 0,
      s.keep,
      s.b1,
      s.omb1,
      s.b2,
      s.omb2,
      s.bc2Sqrt,
      s.eps,
      s.step,
    );
    return outs.map((o) => call.take(o));
  });
}
