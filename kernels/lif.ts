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
import { type KernelCall, kernelCall, tensorData } from "./wasm.ts";

type LifFn = (...xs: tf.Tensor[]) => tf.Tensor;

/** The spike norm's ε (lib/spike_norm.ts). */
const SPIKE_NORM_EPS = 1e-5;

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
      else call.view(pv, n).fill(c.vr);
      call.ex.lif_forward(
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
      return ph;
    };
    const call = kernelCall();
    let s: tf.Tensor;
    try {
      const ps = call.output(x.shape);
      forward(call, call.input(x), v0, ps, false);
      s = call.take(ps);
    } finally {
      call.end();
    }
    return {
      value: s,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const g = kernelCall();
        try {
          // the recomputed forward stores H only (ps = 0: the spikes are not needed again)
          const ph = forward(g, g.input(saved[0]), saved[1], 0, true);
          const pdy = g.input(dy);
          const pdx = g.output(x.shape);
          // gv: the running membrane gradient, on return dL/dV0
          const pgv = withV0 ? g.output(x.shape.slice(1)) : g.scratch(n);
          g.ex.lif_backward(
            pdy,
            ph,
            pdx,
            pgv,
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
          return withV0 ? [g.take(pdx), g.take(pgv)] : [g.take(pdx)];
        } finally {
          g.end();
        }
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

/**
 * Spike norm (gain `g`, bias `b`, each `[C]`) then LIF spikes of `x [T, B, L, C]`, forward only,
 * in one WASM call that never stores the normalised values: for inference. The same float32
 * operations as `spikeNorm` followed by `lifKernel`, so the same spikes; not differentiable
 * (lib/spike_norm.ts `spikeNormLif` uses it only when no gradient is being recorded). `o` are
 * resolved LIF options without `v0`. Needs the kernels active (wasm or cpu backend).
 *
 * @example
 * ```ts
 * import { spikeNormLifKernel } from "./kernels/lif.ts";
 * import { resolveLifOptions } from "./lib/neurons.ts";
 * import { tf } from "./lib/backend.ts";
 * const s = spikeNormLifKernel(tf.randomNormal([4, 2, 10, 8]), tf.ones([8]), tf.zeros([8]), resolveLifOptions());
 * ```
 */
export function spikeNormLifKernel(
  x: tf.Tensor,
  g: tf.Tensor,
  b: tf.Tensor,
  o: ResolvedLifOptions,
): tf.Tensor {
  if (x.rank !== 4 || g.size !== x.shape[3] || b.size !== x.shape[3] || o.v0 !== undefined) {
    throw new Error(
      `spikeNormLifKernel expects x [T, B, L, C], g [C], b [C] and no v0, found x ` +
        `[${x.shape.join(", ")}], g [${g.shape.join(", ")}], b [${b.shape.join(", ")}]` +
        (o.v0 !== undefined ? " and a v0" : ""),
    );
  }
  const [T, B, L, C] = x.shape;
  const c = consts(o);
  const call = kernelCall();
  try {
    const [px, pg, pb] = [call.input(x), call.input(g), call.input(b)];
    const ps = call.output(x.shape);
    const scratch = call.scratch(2 * B * C + C);
    call.ex.spike_norm_lif_forward(
      px,
      pg,
      pb,
      ps,
      T,
      B,
      L,
      C,
      B * L * C,
      SPIKE_NORM_EPS,
      scratch,
      c.k,
      c.omk,
      c.vr,
      c.vth,
      c.soft,
      c.decay,
      c.leakMode,
    );
    return call.take(ps);
  } finally {
    call.end();
  }
}
