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
import {
  f32View,
  kernelArena,
  kernelExports,
  packColumns,
  readTensorAt,
  tensorData,
  unpackColumns,
} from "./wasm.ts";

/** Floats of one [T, chunk] buffer: LIF kernels run on column chunks of this size. */
const CHUNK_FLOATS = 1 << 18;

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
    // Neurons are independent: the kernels run on chunks of columns, so kernel memory holds the
    // full-size result plus a few chunk buffers instead of five [T, n] arrays.
    const cn = Math.max(1, Math.min(n, Math.floor(CHUNK_FLOATS / T)));
    const pack = (src: Float32Array, dst: Float32Array, j0: number, m: number) =>
      packColumns(src, dst, { rows: T, n, j0, m });
    const unpack = (src: Float32Array, dst: Float32Array, j0: number, m: number) =>
      unpackColumns(src, dst, { rows: T, n, j0, m });
    /** The forward on the chunk at j0 (x and V0 packed into px, pv); H and S in ph, ps. */
    const forwardChunk = (
      xs: Float32Array,
      v0s: Float32Array | undefined,
      j0: number,
      m: number,
      [px, ps, ph, pv]: number[],
    ) => {
      pack(xs, f32View(px, T * m), j0, m);
      if (v0s) f32View(pv, m).set(v0s.subarray(j0, j0 + m));
      else f32View(pv, m).fill(c.vr);
      kernelExports().lif_forward(
        px,
        ps,
        ph,
        pv,
        T,
        m,
        c.k,
        c.omk,
        c.vr,
        c.vth,
        c.soft,
        c.decay,
        c.leakMode,
      );
    };
    const [pOut, ...chunk] = kernelArena([T * n, T * cn, T * cn, T * cn, cn]);
    {
      const xs = tensorData(x);
      const v0s = v0 ? tensorData(v0) : undefined;
      const out = f32View(pOut, T * n);
      for (let j0 = 0; j0 < n; j0 += cn) {
        const m = Math.min(cn, n - j0);
        forwardChunk(xs, v0s, j0, m, chunk);
        unpack(f32View(chunk[1], T * m), out, j0, m);
      }
    }
    return {
      value: readTensorAt(pOut, x.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [pdx, pgv, ...rest] = kernelArena([T * n, n, T * cn, T * cn, T * cn, cn, T * cn]);
        const [px, ps, ph, pv, pdyc] = rest;
        const xs = tensorData(saved[0]);
        const v0s = saved[1] ? tensorData(saved[1]) : undefined;
        const dys = tensorData(dy);
        const dx = f32View(pdx, T * n);
        const gv = f32View(pgv, n);
        // the chunk's dx and dV0 go to px and pv once the forward's x and V0 are used up
        for (let j0 = 0; j0 < n; j0 += cn) {
          const m = Math.min(cn, n - j0);
          forwardChunk(xs, v0s, j0, m, [px, ps, ph, pv]);
          pack(dys, f32View(pdyc, T * m), j0, m);
          kernelExports().lif_backward(
            pdyc,
            ph,
            px,
            pv,
            T,
            m,
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
          unpack(f32View(px, T * m), dx, j0, m);
          gv.set(f32View(pv, m), j0);
        }
        const dxT = readTensorAt(pdx, x.shape);
        return withV0 ? [dxT, readTensorAt(pgv, x.shape.slice(1))] : [dxT];
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
