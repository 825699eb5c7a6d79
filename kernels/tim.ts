/**
 * The fused TIM step: one step t ≥ 1 of TIM's scan (SN_in on the convolution output, the mix with
 * Q[t], SN_out) in one WASM call forward and one backward (`tim_step_forward` /
 * `tim_step_backward` in hest_kernels.c), wired into autodiff with `tf.customGrad`. `lib/snn/tim.ts`
 * uses it on wasm/cpu when the membranes are detached (TIM's default); its float32 operations are
 * those of the composite path, in order, so the spikes agree bit for bit.
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import { withKernelCall } from "./wasm.ts";

/** Constants of a TIM step (float32 values as the composite path's scalars). */
export interface TimStepConstants {
  /** 1/τ. */
  k: number;
  /** SN_in threshold. */
  inThreshold: number;
  /** SN_out threshold. */
  outThreshold: number;
  /** Mixing weight α of SN_in's spikes. */
  alpha: number;
  /** Surrogate: 0 sigmoid, 1 atan. */
  kind: number;
  /** Surrogate sharpness α. */
  surrogateAlpha: number;
}

/** The three results of {@linkcode timStepKernel}, each of c's shape. */
export interface TimStepResult {
  /** SN_out spikes: Q̃[t]. */
  spikes: tf.Tensor;
  /** SN_in membrane after the step (no gradient: detached). */
  vIn: tf.Tensor;
  /** SN_out membrane after the step (no gradient: detached). */
  vOut: tf.Tensor;
}

const fns = new Map<string, (...xs: tf.Tensor[]) => tf.Tensor>();

function stepFn(o: TimStepConstants): (...xs: tf.Tensor[]) => tf.Tensor {
  const id = [o.k, o.inThreshold, o.outThreshold, o.alpha, o.kind, o.surrogateAlpha].join(":");
  let fn = fns.get(id);
  if (fn) return fn;
  const f = Math.fround;
  const [k, omk, thIn, thOut, alpha, oma] = [
    f(o.k),
    f(1 - o.k),
    f(o.inThreshold),
    f(o.outThreshold),
    f(o.alpha),
    f(1 - o.alpha),
  ];
  fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const ins = args.slice(0, 4) as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    save(ins);
    const n = ins[0].size;
    const out = withKernelCall((call) => {
      const [pc, pq, pvi, pvo] = ins.map((t) => call.input(t));
      const pout = call.output([3, ...ins[0].shape]);
      call.ex.tim_step_forward(pc, pq, pvi, pvo, pout, n, k, omk, thIn, thOut, alpha, oma);
      return call.take(pout);
    });
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
        withKernelCall((g) => {
          const shape = saved[0].shape;
          const [qc, qq, qvi, qvo] = saved.map((t) => g.input(t));
          // only the spikes' gradient (dy's first block) matters: the next step reads the
          // membranes detached
          const qds = g.input(dy);
          const [qdc, qdq] = [g.output(shape), g.output(shape)];
          g.ex.tim_step_backward(
            qc,
            qq,
            qvi,
            qvo,
            qds,
            qdc,
            qdq,
            n,
            k,
            omk,
            thIn,
            thOut,
            alpha,
            oma,
            o.kind,
            o.surrogateAlpha,
          );
          return [g.take(qdc), g.take(qdq), tf.zerosLike(saved[2]), tf.zerosLike(saved[3])];
        }),
    };
  }) as (...xs: tf.Tensor[]) => tf.Tensor;
  fns.set(id, fn);
  return fn;
}

/** Inputs of {@linkcode timStepKernel} besides the convolution output. */
export interface TimStepInputs {
  /** Query spikes of this timestep, Q[t] (c's shape). */
  q: tf.Tensor;
  /** SN_in membrane before the step. */
  vIn: tf.Tensor;
  /** SN_out membrane before the step. */
  vOut: tf.Tensor;
  /** The step's constants. */
  constants: TimStepConstants;
}

/**
 * One fused TIM step on the wasm/cpu backends: from the convolution output `c`, the query spikes
 * of this timestep and the two membranes (all of one shape), the SN_out spikes and the new
 * membranes. Differentiable in `c` and `q` (surrogate gradients); the membranes are detached.
 * Most callers want `applyTim` (lib/snn/tim.ts), which uses it automatically.
 *
 * @example
 * ```ts
 * import { tf, timStepKernel } from "@hest/hest";
 * const z = tf.zeros([2, 3]);
 * const constants = {
 *   k: 0.5, inThreshold: 0.3, outThreshold: 0.5, alpha: 0.5, kind: 0, surrogateAlpha: 4,
 * };
 * const { spikes } = timStepKernel(tf.fill([2, 3], 2), { q: tf.ones([2, 3]), vIn: z, vOut: z, constants });
 * // SN_in fires (H = 1), M = 1, SN_out fires (H = 0.5): all ones
 * ```
 */
export function timStepKernel(c: tf.Tensor, inputs: TimStepInputs): TimStepResult {
  const { q, vIn, vOut, constants } = inputs;
  return tf.tidy(() => {
    const out = stepFn(constants)(c, q, vIn, vOut);
    const [spikes, vi, vo] = tf.unstack(out, 0);
    return { spikes, vIn: vi, vOut: vo };
  });
}
