/**
 * The fused multi-step LIF kernel: forward over all T timesteps in one WASM call, and the BPTT
 * surrogate-gradient backward in another (after re-running the forward to recover the membrane
 * H, which is cheaper than keeping it), wired into autodiff with `tf.customGrad`.
 * `lib/neurons.ts` `lif()` calls it automatically on the wasm and cpu backends; the semantics
 * are exactly those of the composite path there (same float32 operations in the same order, so
 * the spikes agree bit for bit; gradients within float32 rounding).
 *
 * @module
 */
import { tf } from "../lib/backend.ts";
import type { ResolvedLifOptions } from "../lib/neurons.ts";
import { f32View, kernelArena, kernelExports, readTensorAt, writeTensor } from "./wasm.ts";

type LifFn = (...xs: tf.Tensor[]) => tf.Tensor;

const lifFns = new Map<string, LifFn>();

interface LifConsts {
  k: number;
  omk: number;
  vr: number;
  vth: number;
  soft: number;
  decay: number;
  leakMode: number;
}

function consts(o: ResolvedLifOptions): LifConsts {
  const k = 1 / o.tau;
  const vr = o.vReset ?? 0;
  return {
    k,
    omk: 1 - k,
    vr,
    vth: o.vThreshold,
    soft: o.vReset === null ? 1 : 0,
    decay: o.decayInput ? 1 : 0,
    leakMode: vr === 0 ? 0 : 1,
  };
}

function lifFnFor(o: ResolvedLifOptions, withV0: boolean): LifFn {
  const id = [
    o.tau,
    o.vThreshold,
    o.vReset,
    o.decayInput,
    o.surrogate.kind,
    o.surrogate.alpha,
    o.detachReset,
    o.detachMembrane,
    withV0,
  ].join(":");
  let fn = lifFns.get(id);
  if (fn !== undefined) return fn;
  const c = consts(o);
  const kind = o.surrogate.kind === "sigmoid" ? 0 : 1;
  fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const v0 = withV0 ? args[1] as tf.Tensor : undefined;
    const save = args[withV0 ? 2 : 1] as tf.GradSaveFunc;
    // The backward pass recomputes H from x (one more fused forward) instead of keeping it.
    save(v0 ? [x, v0] : [x]);
    const T = x.shape[0];
    const n = x.size / T;
    const run = (xs: tf.Tensor, v0s: tf.Tensor | undefined): number[] => {
      const ptrs = kernelArena([T * n, T * n, T * n, n, T * n, T * n]);
      const [px, ps, ph, pv] = ptrs;
      writeTensor(xs, px);
      if (v0s) writeTensor(v0s, pv);
      else f32View(pv, n).fill(c.vr);
      kernelExports().lif_forward(
        px,
        ps,
        ph,
        pv,
        T,
        n,
        c.k,
        c.omk,
        c.vr,
        c.vth,
        c.soft,
        c.decay,
        c.leakMode,
      );
      return ptrs;
    };
    const [, ps] = run(x, v0);
    return {
      value: readTensorAt(ps, x.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [, , ph, pg, pdy, pdx] = run(saved[0], saved[1]);
        writeTensor(dy, pdy);
        kernelExports().lif_backward(
          pdy,
          ph,
          pdx,
          pg,
          T,
          n,
          c.k,
          c.omk,
          c.vr,
          c.vth,
          c.soft,
          c.decay,
          o.detachReset ? 1 : 0,
          o.detachMembrane ? 1 : 0,
          kind,
          o.surrogate.alpha,
        );
        const dx = readTensorAt(pdx, x.shape);
        return withV0 ? [dx, readTensorAt(pg, x.shape.slice(1))] : [dx];
      },
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
 * lib/neurons.ts, which picks this kernel automatically.
 *
 * @example
 * ```ts
 * import { lifKernel } from "./kernels/lif.ts";
 * import { resolveLifOptions } from "./lib/neurons.ts";
 * import { tf } from "./lib/backend.ts";
 * const s = lifKernel(tf.tensor2d([[1.5], [1.5], [0.5], [2.5]]), resolveLifOptions()); // 0,1,0,1
 * ```
 */
export function lifKernel(x: tf.Tensor, o: ResolvedLifOptions): tf.Tensor {
  if (o.v0 === undefined) return lifFnFor(o, false)(x);
  const v0 = o.v0;
  return tf.tidy(() => lifFnFor(o, true)(x, tf.broadcastTo(v0, x.shape.slice(1))));
}
