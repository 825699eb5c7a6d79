/**
 * The fused multi-step LIF kernel: forward over all T timesteps in one WASM call, and the BPTT
 * surrogate-gradient backward in another (after re-running the forward to recover the membrane
 * H, which is cheaper than keeping it), wired into autodiff with `tf.customGrad`.
 * `lib/snn/neurons.ts` `lif()` calls it automatically on the wasm and cpu backends; the semantics
 * are exactly those of the composite path there (same float32 operations in the same order, so
 * the spikes agree bit for bit; gradients within float32 rounding).
 *
 * @module
 */
import { tf } from "../lib/core/backend.ts";
import type { ResolvedSurrogate } from "../lib/snn/surrogates.ts";
import type { LifNeuronArgs, LifSurrogateArgs } from "./kernel_exports.ts";
import { type KernelCall, tensorData, withKernelCall } from "./wasm.ts";

/**
 * The neuron constants a LIF kernel runs with: the fields of `ResolvedLifOptions`
 * (lib/snn/neurons.ts), which satisfies this type, declared here so the kernels do not depend on
 * the module that calls them.
 */
export interface LifKernelOptions {
  /** Membrane time constant τ > 1. */
  readonly tau: number;
  /** Firing threshold. */
  readonly vThreshold: number;
  /** Reset potential, or `null` for a soft reset. */
  readonly vReset: number | null;
  /** Spike levels L ≥ 1 (L > 1 only with a soft reset). */
  readonly levels: number;
  /** Leak the input. */
  readonly decayInput: boolean;
  /** The surrogate gradient. */
  readonly surrogate: ResolvedSurrogate;
  /** Detach S in the reset. */
  readonly detachReset: boolean;
  /** Detach V[t-1] in the charge. */
  readonly detachMembrane: boolean;
  /** Initial membrane, if given. */
  readonly v0?: tf.Tensor;
}

type LifFn = (...xs: tf.Tensor[]) => tf.Tensor;

const lifFns = new Map<string, LifFn>();

/** What the LIF kernels take from resolved options (see hest_kernels.c). */
export interface LifKernelArgs {
  /** The options as a cache key (the same options, the same key). */
  key: string;
  /** The reset potential V starts at (0 for a soft reset). */
  vr: number;
  /**
   * The neuron's constants, in the order every LIF kernel takes them: k = 1/τ, 1 − k, the reset
   * potential, the threshold, the spike levels L for a soft reset (0 for a hard reset, whose
   * spikes are binary), 1 for decay_input, and the leak form (0:
   * V·(1 − k) when the reset potential is 0, 1: V − (V − vr)·k).
   */
  neuron: LifNeuronArgs;
  /** The backward's extra arguments: detachReset, detachMembrane, surrogate kind (0 sigmoid, 1 atan), its α. */
  surrogate: LifSurrogateArgs;
}

/**
 * The kernel arguments of resolved LIF options.
 *
 * @example
 * ```ts
 * import { lifKernelArgs, resolveLifOptions } from "@hest/hest";
 * lifKernelArgs(resolveLifOptions({ tau: 2 })).neuron[0]; // 0.5
 * ```
 */
export function lifKernelArgs(o: LifKernelOptions): LifKernelArgs {
  const k = 1 / o.tau;
  const vr = o.vReset ?? 0;
  const surrogate: LifKernelArgs["surrogate"] = [
    o.detachReset ? 1 : 0,
    o.detachMembrane ? 1 : 0,
    o.surrogate.kind === "sigmoid" ? 0 : 1,
    o.surrogate.alpha,
  ];
  return {
    key: [o.tau, o.vThreshold, o.vReset, o.levels, o.decayInput, ...surrogate].join(":"),
    vr,
    neuron: [
      k,
      1 - k,
      vr,
      o.vThreshold,
      o.vReset === null ? o.levels : 0,
      o.decayInput ? 1 : 0,
      vr === 0 ? 0 : 1,
    ],
    surrogate,
  };
}

function lifFnFor(o: LifKernelOptions, withV0: boolean): LifFn {
  const a = lifKernelArgs(o);
  const id = `${a.key}:${withV0}`;
  let fn = lifFns.get(id);
  if (fn !== undefined) return fn;
  fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const v0 = withV0 ? args[1] as tf.Tensor : undefined;
    const save = args[withV0 ? 2 : 1] as tf.GradSaveFunc;
    // The backward pass recomputes H from x (one more fused forward) instead of keeping it.
    save(v0 ? [x, v0] : [x]);
    const T = x.shape[0];
    const n = x.size / T;
    /**
     * The forward into ps (spikes; 0: not stored) and, when keepH, a scratch membrane H
     * (returned; else 0); V starts at V0 or vReset.
     */
    const forward = (
      call: KernelCall,
      px: number,
      v0t: tf.Tensor | undefined,
      ps: number,
      keepH: boolean,
    ) => {
      const ph = keepH ? call.scratch(T * n) : 0;
      const pv = call.scratch(n);
      if (v0t) call.view(pv, n).set(tensorData(v0t));
      else call.view(pv, n).fill(a.vr);
      call.ex.lif_forward(px, ps, ph, pv, T, n, ...a.neuron);
      return ph;
    };
    const s = withKernelCall((call) => {
      const ps = call.output(x.shape);
      forward(call, call.input(x), v0, ps, false);
      return call.take(ps);
    });
    return {
      value: s,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
        withKernelCall((g) => {
          // the recomputed forward stores H only (ps = 0: the spikes are not needed again)
          const ph = forward(g, g.input(saved[0]), saved[1], 0, true);
          const pdy = g.input(dy);
          const pdx = g.output(x.shape);
          // gv: the running membrane gradient, on return dL/dV0
          const pgv = withV0 ? g.output(x.shape.slice(1)) : g.scratch(n);
          g.ex.lif_backward(pdy, ph, pdx, pgv, T, n, ...a.neuron, ...a.surrogate);
          return withV0 ? [g.take(pdx), g.take(pgv)] : [g.take(pdx)];
        }),
    };
  }) as LifFn;
  lifFns.set(id, fn);
  return fn;
}

/**
 * Multi-step LIF spikes of `x [T, ...]` computed by the fused WASM kernel, differentiable (BPTT
 * surrogate backward kernel). `o` are resolved options (`resolveLifOptions`); `o.v0`, if given,
 * must broadcast to `x.shape.slice(1)` (its gradient is reduced back by `tf.broadcastTo`).
 * Needs a backend with synchronous reads (wasm or cpu). Most callers want `lif()` from
 * lib/snn/neurons.ts, which picks this kernel automatically.
 *
 * @example
 * ```ts
 * import { lifKernel, resolveLifOptions, tf } from "@hest/hest";
 * const s = lifKernel(tf.tensor2d([[1.5], [1.5], [0.5], [2.5]]), resolveLifOptions()); // 0,1,0,1
 * ```
 */
export function lifKernel(x: tf.Tensor, o: LifKernelOptions): tf.Tensor {
  if (o.v0 === undefined) return lifFnFor(o, false)(x);
  const v0 = o.v0;
  return tf.tidy(() => lifFnFor(o, true)(x, tf.broadcastTo(v0, x.shape.slice(1))));
}
