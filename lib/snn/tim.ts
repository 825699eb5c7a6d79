/**
 * TIM, the temporal interaction module (Shen, Zhao, Shen and Zeng, "TIM: An Efficient Temporal
 * Interaction Module for Spiking Transformer", IJCAI 2024, arXiv 2401.11687; official code
 * `BrainCog-X/Brain-Cog/examples/TIM`): hest's temporal processing unit. It mixes each SNN
 * timestep's query spikes with a convolution of the previous timestep's output, so information
 * flows along the SNN time axis T inside the attention.
 *
 * The query spikes are `Q [T, ..., L, d]` (typically `[T, B, H, L, d]`: T SNN timesteps, B
 * batch, H heads, L time bins, d head width). With 0-based t:
 *
 * ```
 * Q̃[0] = Q[0]
 * for t = 1..T−1:
 *     C[t] = Conv1d_k(Q̃[t−1])              channels = d, sliding along the bin axis L,
 *                                           centred padding k//2 (the reference's pad = 2, k = 5)
 *     I[t] = SN_in(C[t])                    stateful single-step LIF across t, threshold inThreshold
 *     M[t] = α·I[t] + (1 − α)·Q[t]
 *     Q̃[t] = SN_out(M[t])                   stateful single-step LIF across t, threshold outThreshold
 * ```
 *
 * Both neurons are BrainCog's `MyNode`: decay-input LIF with τ = 2, membrane starting at 0 at
 * t = 1, H = V + (X − V)/τ, S = Θ(H − V_th) (Θ(0) = 1, sigmoid surrogate α = 4), hard reset
 * V = H·(1 − S) with S detached in the reset. With `detachMembrane` (default true, BrainCog's
 * `mem_detach`) V[t−1] carries no gradient into step t; gradients still flow through Q̃[t−1]
 * into the convolution.
 *
 * **Conv axis.** The reference flattens to `(B·H, N, d)` and calls `Conv1d(in_channels = d)`, so
 * PyTorch treats the N tokens as channels and slides along d (it only runs because N = d = 16 in
 * its configs). Here the channels are the d features and the kernel slides along the bins, as
 * the `Fancyssc/Spiking-Transformers` re-implementation does. With `causal: true` the kernel
 * sees bins t−k+1..t only (for forecasting models that must not see future bins).
 *
 * **Why the thresholds are explicit, with defaults 0.3 and 0.5.** TIM builds
 * `MyNode(v_threshold=0.3)` for SN_in and `MyNode(v_threshold=0.5)` for SN_out, but `MyNode`'s
 * parameter is called `threshold`: the values vanish into `**kwargs` and both neurons silently
 * run at 1.0. With α = 0.5 and binary inputs M ≤ 1, and a τ = 2 decay-input LIF starting at 0
 * never reaches 1.0 (V ≤ 1 − 2^−t), so in the reference Q̃[t] = 0 for every t ≥ 1 (0-based)
 * and the module only passes surrogate gradients. hest defaults to the intended 0.3 / 0.5;
 * pass `inThreshold: 1, outThreshold: 1` to reproduce the reference behaviour.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import {
  boolOption,
  checkKeys,
  describe,
  finiteOption,
  positiveInt,
  rateIn01,
  rewrap,
  tensorArg,
} from "../core/validation.ts";
import {
  applyCausalConv,
  type CausalConvInitOptions,
  type CausalConvParams,
  initCausalConv,
} from "../nn/conv.ts";
import type { Key } from "../core/random.ts";
import { convKernel } from "../../kernels/conv.ts";
import { kernelsActive } from "../../kernels/wasm.ts";
import { type TimStepConstants, timStepKernel } from "../../kernels/tim.ts";
import {
  heaviside,
  type ResolvedSurrogate,
  resolveSurrogate,
  stopGradient,
  type SurrogateLike,
} from "./surrogates.ts";

/** Parameters of TIM: its convolution, taps `w [kernel, d, d]` and bias `b [d]`. */
export type TimParams = CausalConvParams;

/** Options of {@linkcode initTim}. */
export interface TimInitOptions {
  /** Head width d: the conv's input and output channels. */
  channels: number;
  /** Kernel size along the bin axis, a positive integer (default 5, as the reference). */
  kernel?: number;
  /** Scale of the Glorot-uniform limit (default 1). */
  gain?: number;
}

/** Options of {@linkcode applyTim} and {@linkcode applyTimWithState}; every field is optional. */
export interface TimOptions {
  /** Mixing weight α of the conv path: M = α·I + (1 − α)·Q, in [0, 1] (default 0.5). */
  alpha?: number;
  /** Threshold of SN_in (default 0.3, the intended value; the reference effectively uses 1). */
  inThreshold?: number;
  /** Threshold of SN_out (default 0.5, the intended value; the reference effectively uses 1). */
  outThreshold?: number;
  /** Membrane time constant τ of both neurons, a finite number > 1 (default 2). */
  tau?: number;
  /** Surrogate gradient of both neurons (default sigmoid with α = 4, as BrainCog). */
  surrogate?: SurrogateLike;
  /** Stop the gradient through the membrane across t (BrainCog `mem_detach`, default true). */
  detachMembrane?: boolean;
  /** Use a causal kernel along the bins instead of the centred one (default false). */
  causal?: boolean;
  /**
   * Run each step t ≥ 1 as the fused WASM kernel (kernels/tim.ts) on wasm/cpu, when the membranes
   * are detached (default false). The spikes are the same bit for bit and the gradients agree to
   * float32 rounding, but that rounding differs from the composite path's (the surrogate's exp),
   * and alternating training amplifies it into visibly different scores. The committed results
   * were trained with the composite path, so it stays the default until they are regenerated
   * with the kernel.
   */
  fused?: boolean;
}

/**
 * The trace of {@linkcode applyTimWithState}; every field has the shape of q, `[T, ..., L, d]`.
 * Step t = 0 is a pass-through: `out[0] = q[0]` and the other fields are 0 there.
 */
export interface TimState {
  /** Output spikes Q̃. */
  out: tf.Tensor;
  /** Convolution of the previous output, C. */
  conv: tf.Tensor;
  /** SN_in membrane before its reset (the value compared with `inThreshold`). */
  hIn: tf.Tensor;
  /** SN_in spikes I. */
  inSpikes: tf.Tensor;
  /** The mix M = α·I + (1 − α)·Q fed to SN_out. */
  mix: tf.Tensor;
  /** SN_out membrane before its reset (the value compared with `outThreshold`). */
  hOut: tf.Tensor;
}

interface ResolvedTimOptions {
  alpha: number;
  inThreshold: number;
  outThreshold: number;
  tau: number;
  surrogate: ResolvedSurrogate;
  detachMembrane: boolean;
  causal: boolean;
  fused: boolean;
}

const TIM_KEYS = [
  "alpha",
  "inThreshold",
  "outThreshold",
  "tau",
  "surrogate",
  "detachMembrane",
  "causal",
  "fused",
];

function finite(name: string, v: unknown): number {
  return finiteOption("TIM option", name, v);
}

function bool(name: string, v: unknown): boolean {
  return boolOption("TIM option", name, v);
}

function resolveTimOptions(opts: TimOptions): ResolvedTimOptions {
  checkKeys(opts, TIM_KEYS, "TIM option");
  const alpha = rateIn01(`TIM option "alpha"`, finite("alpha", opts.alpha ?? 0.5));
  const tau = finite("tau", opts.tau ?? 2);
  if (!(tau > 1)) throw new RangeError(`TIM option "tau" must be > 1, found ${tau}`);
  let surrogate: ResolvedSurrogate;
  try {
    surrogate = resolveSurrogate(opts.surrogate);
  } catch (err) {
    throw rewrap(`TIM option "surrogate"`, err);
  }
  return {
    alpha,
    inThreshold: finite("inThreshold", opts.inThreshold ?? 0.3),
    outThreshold: finite("outThreshold", opts.outThreshold ?? 0.5),
    tau,
    surrogate,
    detachMembrane: bool("detachMembrane", opts.detachMembrane ?? true),
    causal: bool("causal", opts.causal ?? false),
    fused: bool("fused", opts.fused ?? false),
  };
}

/**
 * Initialise TIM's convolution for head width `channels` (d → d, `kernel` taps along the bins,
 * Glorot-uniform taps, zero bias), drawn from `k` in JavaScript.
 *
 * @example
 * ```ts
 * import { initTim, key } from "@hest/hest";
 * const p = initTim(key(0), { channels: 16 }); // w [5, 16, 16], b [16]
 * ```
 */
export function initTim(k: Key, opts: TimInitOptions): TimParams {
  checkKeys(opts, ["channels", "kernel", "gain"], "initTim option");
  const c = positiveInt(`initTim option "channels"`, opts.channels);
  const conv: CausalConvInitOptions = { channelsIn: c, channelsOut: c, kernel: opts.kernel ?? 5 };
  if (opts.gain !== undefined) conv.gain = opts.gain;
  return initCausalConv(k, conv);
}

function checkInputs(p: TimParams, q: tf.Tensor, fn: string): void {
  tensorArg(fn, "Q spikes as a tf.Tensor [T, ..., L, d]", q);
  if (q.rank < 3 || q.shape[0] < 1) {
    throw new Error(
      `${fn} expects Q spikes [T, ..., L, d] (rank >= 3, T >= 1), found shape [${
        q.shape.join(", ")
      }]`,
    );
  }
  if (q.dtype !== "float32") {
    throw new TypeError(`${fn} expects float32 Q spikes, found dtype ${q.dtype}`);
  }
  if (!(p?.w instanceof tf.Tensor) || p.w.rank !== 3) {
    throw new TypeError(
      `${fn} expects params { w: [kernel, d, d], b: [d] }, found w ${describe(p?.w)}`,
    );
  }
  const d = q.shape[q.rank - 1];
  if (p.w.shape[1] !== d || p.w.shape[2] !== d) {
    throw new Error(
      `${fn} expects conv taps [kernel, ${d}, ${d}] for head width ${d}, found [${
        p.w.shape.join(", ")
      }]`,
    );
  }
}

/**
 * TIM's convolution of the previous output along the bins: the fused WASM kernel
 * (kernels/conv.ts, im2col + one product, one backward) on wasm/cpu, else `applyCausalConv`.
 * `spikes`: the input is known to be 0/1 (an SN_out output), so the kernel runs event-driven.
 */
function conv(p: TimParams, x: tf.Tensor, o: ResolvedTimOptions, spikes: boolean): tf.Tensor {
  if (!kernelsActive() || x.size === 0) return applyCausalConv(p, x, { centered: !o.causal });
  const k = p.w.shape[0];
  return convKernel(x, p.w, p.b, { padLeft: o.causal ? k - 1 : Math.floor(k / 2), binary: spikes });
}

/**
 * `window(t, x)`: for one bin of a stream, the bins TIM's convolution at timestep t reads (the
 * earlier bins' Q̃[t − 1] and this bin's `x`); the step then keeps the convolution's last bin.
 */
type TimWindow = (t: number, x: tf.Tensor) => tf.Tensor;

function simulate(
  p: TimParams,
  q: tf.Tensor,
  o: ResolvedTimOptions,
  withState: boolean,
  window?: TimWindow,
): tf.Tensor[] {
  return tf.tidy(() => {
    const qs = tf.unstack(q, 0);
    const step = q.shape.slice(1);
    const k = 1 / o.tau;
    let vIn: tf.Tensor = tf.zeros(step);
    let vOut: tf.Tensor = tf.zeros(step);
    const zero = tf.zeros(step);
    const out: tf.Tensor[] = [qs[0]];
    const trace: tf.Tensor[][] = [[zero], [zero], [zero], [zero], [zero]];
    // With `fused` on wasm/cpu and detached membranes (the default) each step is one fused
    // kernel (kernels/tim.ts); the state-recording variant keeps the composite ops.
    const fused = o.fused && !withState && o.detachMembrane && kernelsActive();
    const constants: TimStepConstants = {
      k,
      inThreshold: o.inThreshold,
      outThreshold: o.outThreshold,
      alpha: o.alpha,
      kind: o.surrogate.kind === "sigmoid" ? 0 : 1,
      surrogateAlpha: o.surrogate.alpha,
    };
    for (let t = 1; t < qs.length; t++) {
      const c = window
        ? lastBin(conv(p, window(t, out[t - 1]), o, t >= 2))
        : conv(p, out[t - 1], o, t >= 2);
      if (fused) {
        const r = timStepKernel(c, { q: qs[t], vIn, vOut, constants });
        [vIn, vOut] = [r.vIn, r.vOut];
        out.push(r.spikes);
        continue;
      }
      // SN_in: decay-input charge H = V(1 − 1/τ) + X/τ, fire, hard reset to 0 (S detached).
      const vInPrev = o.detachMembrane ? stopGradient(vIn) : vIn;
      const hIn = tf.add(tf.mul(vInPrev, 1 - k), tf.mul(c, k));
      const sIn = heaviside(tf.sub(hIn, o.inThreshold), o.surrogate);
      vIn = tf.mul(hIn, tf.sub(1, stopGradient(sIn)));
      const m = tf.add(tf.mul(sIn, o.alpha), tf.mul(qs[t], 1 - o.alpha));
      // SN_out, the same neuron with its own membrane and threshold.
      const vOutPrev = o.detachMembrane ? stopGradient(vOut) : vOut;
      const hOut = tf.add(tf.mul(vOutPrev, 1 - k), tf.mul(m, k));
      const sOut = heaviside(tf.sub(hOut, o.outThreshold), o.surrogate);
      vOut = tf.mul(hOut, tf.sub(1, stopGradient(sOut)));
      out.push(sOut);
      if (withState) [c, hIn, sIn, m, hOut].forEach((v, i) => trace[i].push(v));
    }
    const result = [tf.stack(out, 0)];
    if (withState) { for (const tr of trace) result.push(tf.stack(tr, 0)); }
    return result;
  });
}

/**
 * Apply TIM to query spikes `q [T, ..., L, d]` (e.g. `[T, B, H, L, d]`) and return the new query
 * spikes Q̃ of the same shape (float32 0/1). Differentiable through the surrogate gradients,
 * into q and into the convolution parameters.
 *
 * @example
 * ```ts
 * import { applyTim, initTim, key, tf } from "@hest/hest";
 * const p = initTim(key(0), { channels: 16 });
 * const q = tf.cast(tf.randomUniform([4, 2, 8, 50, 16]).greater(0.5), "float32"); // [T, B, H, L, d]
 * const qt = applyTim(p, q); // [4, 2, 8, 50, 16]
 * const asReference = applyTim(p, q, { inThreshold: 1, outThreshold: 1 });
 * ```
 */
export function applyTim(p: TimParams, q: tf.Tensor, opts: TimOptions = {}): tf.Tensor {
  const o = resolveTimOptions(opts);
  checkInputs(p, q, "applyTim");
  return simulate(p, q, o, false)[0];
}

/** The last bin (second-to-last axis) of `x`. */
function lastBin(x: tf.Tensor): tf.Tensor {
  const axis = x.rank - 2;
  const begin = x.shape.map((s, i) => (i === axis ? s - 1 : 0));
  return tf.slice(x, begin, x.shape.map((s, i) => (i === axis ? 1 : s)));
}

/**
 * {@linkcode applyTim} for one bin of a causal stream: `q [T, ..., 1, d]` is the current bin's
 * query spikes and `window(t, x)` returns the bins the convolution at timestep t reads (the
 * earlier bins' Q̃[t − 1], kept by the caller, then `x`, this bin's Q̃[t − 1]). The same
 * simulation as the full sequence, so the output equals the full forward's row for that bin.
 *
 * @example
 * ```ts
 * import { applyTimBin, initTim, key, tf } from "@hest/hest";
 * const p = initTim(key(0), { channels: 4, kernel: 2 });
 * const kept = new Map<number, tf.Tensor>();
 * function window(t: number, x: tf.Tensor): tf.Tensor {
 *   const prev = kept.get(t);
 *   kept.set(t, x); // kernel 2: the next bin needs this one only
 *   return prev ? tf.concat([prev, x], -2) : x;
 * }
 * const bin0 = applyTimBin(p, tf.ones([4, 1, 1, 4]), { causal: true }, window); // [4, 1, 1, 4]
 * ```
 */
export function applyTimBin(
  p: TimParams,
  q: tf.Tensor,
  opts: TimOptions,
  window: (t: number, x: tf.Tensor) => tf.Tensor,
): tf.Tensor {
  const o = resolveTimOptions(opts);
  checkInputs(p, q, "applyTimBin");
  if (!o.causal) {
    throw new RangeError(
      "applyTimBin needs causal: true: a centred convolution reads later bins, found causal false",
    );
  }
  return simulate(p, q, o, false, window)[0];
}

/**
 * Like {@linkcode applyTim}, but also return the intermediate tensors of every step (conv
 * output, SN_in membrane and spikes, the mix, SN_out membrane), each of q's shape, for tests and
 * firing statistics.
 *
 * @example
 * ```ts
 * import { applyTimWithState, initTim, key, tf } from "@hest/hest";
 * const p = initTim(key(0), { channels: 4 });
 * const { out, inSpikes } = applyTimWithState(p, tf.ones([4, 1, 10, 4]));
 * ```
 */
export function applyTimWithState(p: TimParams, q: tf.Tensor, opts: TimOptions = {}): TimState {
  const o = resolveTimOptions(opts);
  checkInputs(p, q, "applyTimWithState");
  const [out, conv, hIn, inSpikes, mix, hOut] = simulate(p, q, o, true);
  return { out, conv, hIn, inSpikes, mix, hOut };
}
