/**
 * Multi-step leaky integrate-and-fire (LIF) neurons with surrogate gradients, following
 * SpikingJelly's `MultiStepLIFNode` exactly, and input encoders that add the SNN time axis.
 *
 * Spike tensors carry the **SNN timestep axis `T` first**: `[T, ...]`, e.g. `[T, B, L, D]` where
 * `L` is the number of time bins of the recording and `T` the number of simulation steps per
 * forward pass (small, 4–16). The two are unrelated: every time bin is simulated for `T` steps.
 *
 * For t = 1..T, with τ the membrane time constant, V_th the threshold and V_reset the reset
 * potential (`null` = soft reset, treated as 0 in the charge equation):
 *
 * ```
 * charge, decayInput = true:   H[t] = V[t-1] + (X[t] − (V[t-1] − V_reset)) / τ
 * charge, decayInput = false:  H[t] = V[t-1] − (V[t-1] − V_reset) / τ + X[t]
 * fire:                        S[t] = Θ(H[t] − V_th)        (Θ(x) = 1 where x ≥ 0)
 * hard reset:                  V[t] = H[t]·(1 − S[t]) + V_reset·S[t]
 * soft reset:                  V[t] = H[t] − V_th·S[t]
 * ```
 *
 * With `levels` L > 1 (soft reset only) the neuron fires multi-level spikes,
 * S[t] = Σ_{l=1..L} Θ(H[t] − l·V_th) ∈ {0, …, L}, and the soft reset removes S[t]·V_th: one step
 * carries what L binary neurons at the thresholds V_th, 2·V_th, … would. These are the
 * integer-valued spikes of Luo et al., "Integer-valued training and spike-driven inference spiking
 * neural network for high-performance and energy-efficient object detection" (ECCV 2024), which
 * hardware delivers as S unit events. Each level has its own surrogate.
 *
 * The backward pass of Θ is a surrogate (see `surrogates.ts`); with `detachReset` the S in the
 * reset carries no gradient. Gradients flow through V across time (BPTT) unless
 * `detachMembrane` is set. The state is created inside every call and never stored.
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
  rewrap,
  tensorArg,
} from "../core/validation.ts";
import { type Key, tfSeed } from "../core/random.ts";
import {
  heaviside,
  type ResolvedSurrogate,
  resolveSurrogate,
  stopGradient,
  type SurrogateLike,
} from "./surrogates.ts";
import { lifKernel, type LifKernelOptions } from "../../kernels/lif.ts";
import { kernelsActive } from "../../kernels/wasm.ts";

/** Options of {@linkcode lif} and {@linkcode lifWithState}; every field is optional. */
export interface LifOptions {
  /** Membrane time constant τ, a finite number > 1 (default 2). */
  tau?: number;
  /** Firing threshold V_th (default 1). */
  vThreshold?: number;
  /** Reset potential for a hard reset, or `null` for a soft reset V = H − V_th·S (default 0). */
  vReset?: number | null;
  /**
   * Spike levels L, an integer ≥ 1 (default 1: binary spikes). With L > 1 the neuron emits
   * S = Σ_{l=1..L} Θ(H − l·V_th) ∈ {0, …, L} (multi-level or integer spikes: one step of the
   * neuron carries what L binary spikes at the thresholds V_th, 2·V_th, … would), with one
   * surrogate per level in the backward pass. Needs a soft reset (`vReset: null`), which
   * removes S·V_th.
   */
  levels?: number;
  /** Leak the input as well as the membrane (SpikingJelly `decay_input`, default true). */
  decayInput?: boolean;
  /** Surrogate gradient of the spike function (default sigmoid with α = 4). */
  surrogate?: SurrogateLike;
  /** Stop the gradient through S in the reset (SpikingJelly `detach_reset`, default true). */
  detachReset?: boolean;
  /**
   * Stop the gradient through V[t-1] in the charge of every step: no BPTT through the membrane
   * (BrainCog `mem_detach`, used by TIM). Default false.
   */
  detachMembrane?: boolean;
  /**
   * Initial membrane V[0], broadcastable to one timestep `x.shape.slice(1)`
   * (default V_reset, or 0 for a soft reset).
   */
  v0?: tf.Tensor;
}

/** The outputs of {@linkcode lifWithState}, all of the input's shape `[T, ...]`. */
export interface LifState {
  /** Spikes S in {0, 1} (in {0, …, L} with `levels` L). */
  spikes: tf.Tensor;
  /** Membrane after the reset, V (SpikingJelly `v_seq`). */
  v: tf.Tensor;
  /** Membrane before the reset, H (the value compared with the threshold). */
  h: tf.Tensor;
}

/**
 * {@linkcode LifOptions} after validation, with every default filled in: the same record the LIF
 * kernel (kernels/lif.ts) runs with.
 */
export type ResolvedLifOptions = LifKernelOptions;

const LIF_KEYS = [
  "tau",
  "vThreshold",
  "vReset",
  "levels",
  "decayInput",
  "surrogate",
  "detachReset",
  "detachMembrane",
  "v0",
];

function finite(name: string, v: unknown): number {
  return finiteOption("LIF option", name, v);
}

function bool(name: string, v: unknown): boolean {
  return boolOption("LIF option", name, v);
}

/**
 * Validate LIF options and fill in the SpikingJelly defaults (τ 2, V_th 1, V_reset 0,
 * decay_input, sigmoid α 4) with `detachReset` true, as in Spikformer and the Spike-driven
 * Transformer. Throws on an unknown option or an invalid value.
 *
 * @example
 * ```ts
 * import { resolveLifOptions } from "@hest/hest";
 * resolveLifOptions({ tau: 4 }).vThreshold; // 1
 * ```
 */
export function resolveLifOptions(opts: LifOptions = {}): ResolvedLifOptions {
  checkKeys(opts, LIF_KEYS, "LIF option");
  const tau = finite("tau", opts.tau ?? 2);
  if (!(tau > 1)) throw new RangeError(`LIF option "tau" must be > 1, found ${tau}`);
  const vThreshold = finite("vThreshold", opts.vThreshold ?? 1);
  const vReset = opts.vReset === null ? null : finite("vReset", opts.vReset ?? 0);
  const levels = opts.levels ?? 1;
  if (!Number.isInteger(levels) || levels < 1 || levels > 255) {
    throw new RangeError(
      `LIF option "levels" must be an integer from 1 to 255, found ${describe(opts.levels)}`,
    );
  }
  if (levels > 1 && vReset !== null) {
    throw new RangeError(
      `LIF option "levels" ${levels} needs a soft reset (vReset: null): a hard reset to ` +
        `${vReset} cannot remove a spike of more than one level`,
    );
  }
  let surrogate: ResolvedSurrogate;
  try {
    surrogate = resolveSurrogate(opts.surrogate);
  } catch (err) {
    throw rewrap(`LIF option "surrogate"`, err);
  }
  if (opts.v0 !== undefined && !(opts.v0 instanceof tf.Tensor)) {
    throw new TypeError(`LIF option "v0" must be a tf.Tensor, found ${describe(opts.v0)}`);
  }
  return {
    tau,
    vThreshold,
    vReset,
    levels,
    decayInput: bool("decayInput", opts.decayInput ?? true),
    surrogate,
    detachReset: bool("detachReset", opts.detachReset ?? true),
    detachMembrane: bool("detachMembrane", opts.detachMembrane ?? false),
    v0: opts.v0,
  };
}

function checkInput(input: unknown, fn: string): tf.Tensor {
  const x = tensorArg(fn, "a tf.Tensor [T, ...]", input);
  if (x.rank < 1 || x.shape[0] < 1) {
    throw new Error(
      `${fn} expects a tensor [T, ...] with T >= 1 SNN timesteps, found shape [${
        x.shape.join(", ")
      }]`,
    );
  }
  if (x.dtype !== "float32") {
    throw new TypeError(`${fn} expects a float32 tensor, found dtype ${x.dtype}`);
  }
  return x;
}

function checkV0(v0: tf.Tensor, step: readonly number[]): void {
  const ok = v0.rank <= step.length &&
    v0.shape.every((d, i) => {
      const s = step[step.length - v0.rank + i];
      return d === s || d === 1;
    });
  if (!ok) {
    throw new Error(
      `LIF option "v0" must broadcast to one timestep [${step.join(", ")}], found shape [${
        v0.shape.join(", ")
      }]`,
    );
  }
}

function simulate(x: tf.Tensor, o: ResolvedLifOptions, withState: boolean): tf.Tensor[] {
  const step = x.shape.slice(1);
  if (o.v0 !== undefined) checkV0(o.v0, step);
  return tf.tidy(() => {
    const k = 1 / o.tau;
    const vr = o.vReset ?? 0;
    let v: tf.Tensor = o.v0 ?? tf.fill(step, vr);
    // TF.js's Unpack of one output has no usable gradient (its gradient stacks a lone tensor)
    const xs = x.shape[0] === 1 ? [tf.squeeze(x, [0])] : tf.unstack(x, 0);
    const spikes: tf.Tensor[] = [];
    const hs: tf.Tensor[] = [];
    const vs: tf.Tensor[] = [];
    for (const xt of xs) {
      const vPrev = o.detachMembrane ? stopGradient(v) : v;
      // Charge. Written as a leak term plus the input, identical to SpikingJelly's forms.
      const leak = vr === 0 ? tf.mul(vPrev, 1 - k) : tf.sub(vPrev, tf.mul(tf.sub(vPrev, vr), k));
      const h = tf.add(leak, o.decayInput ? tf.mul(xt, k) : xt);
      // Fire: level l at l·V_th (float32, as the kernel forms it), each with its surrogate.
      let s = heaviside(tf.sub(h, o.vThreshold), o.surrogate);
      for (let l = 2; l <= o.levels; l++) {
        const threshold = Math.fround(l * Math.fround(o.vThreshold));
        s = tf.add(s, heaviside(tf.sub(h, threshold), o.surrogate));
      }
      // Reset.
      const sr = o.detachReset ? stopGradient(s) : s;
      if (o.vReset === null) {
        v = tf.sub(h, tf.mul(sr, o.vThreshold));
      } else {
        v = tf.add(tf.mul(h, tf.sub(1, sr)), tf.mul(sr, o.vReset));
      }
      spikes.push(s);
      if (withState) {
        hs.push(h);
        vs.push(v);
      }
    }
    const out = [tf.stack(spikes, 0)];
    if (withState) out.push(tf.stack(vs, 0), tf.stack(hs, 0));
    return out;
  });
}

/**
 * Run a multi-step LIF neuron over `x [T, ...]` (T SNN timesteps on axis 0) and return the
 * spikes `[T, ...]` (float32 0/1). Differentiable through the surrogate gradient, with BPTT
 * through the membrane unless `detachMembrane` is set.
 *
 * On the wasm and cpu backends this runs the fused WASM SIMD kernel (kernels/lif.ts: one call
 * for the forward over T, one for the backward) with the same semantics; on webgpu, or after
 * `setKernelsEnabled(false)`, the composite TF.js ops below, the reference.
 *
 * @example
 * ```ts
 * import { lif, tf } from "@hest/hest";
 * const s = lif(tf.tensor2d([[1.5], [1.5], [0.5], [2.5]])); // [[0], [1], [0], [1]]
 * ```
 */
export function lif(x: tf.Tensor, opts?: LifOptions): tf.Tensor {
  const o = resolveLifOptions(opts);
  checkInput(x, "lif");
  if (kernelsActive()) {
    if (o.v0 !== undefined) checkV0(o.v0, x.shape.slice(1));
    return lifKernel(x, o);
  }
  return simulate(x, o, false)[0];
}

/**
 * Like {@linkcode lif}, but also return the membrane before (`h`) and after (`v`) the reset,
 * each `[T, ...]`, for tests and firing/energy statistics.
 *
 * @example
 * ```ts
 * import { lifWithState, tf } from "@hest/hest";
 * const { spikes, v, h } = lifWithState(tf.tensor2d([[1.5], [1.5], [0.5], [2.5]]));
 * // h = [0.75, 1.125, 0.25, 1.375], spikes = [0, 1, 0, 1], v = [0.75, 0, 0.25, 0]
 * ```
 */
export function lifWithState(x: tf.Tensor, opts?: LifOptions): LifState {
  const o = resolveLifOptions(opts);
  const [spikes, v, h] = simulate(checkInput(x, "lifWithState"), o, true);
  return { spikes, v, h };
}

/** Input encodings of {@linkcode encodeInput}. */
export type EncodeMode = "repeat" | "poisson";

/** Options of {@linkcode encodeInput}. */
export interface EncodeOptions {
  /** Number of SNN timesteps T (a positive integer), the new leading axis. */
  T: number;
  /** `"repeat"` (direct encoding, default) or `"poisson"` (Bernoulli rate encoding). */
  mode?: EncodeMode;
  /** Random key, required for `"poisson"`. */
  key?: Key;
  /**
   * Rate scale for `"poisson"`: the spike probability is clip(x / scale, 0, 1). Default: the
   * maximum of `x` over the whole tensor (so the largest value fires every step).
   */
  scale?: number;
}

const ENCODE_KEYS = ["T", "mode", "key", "scale"];

/**
 * Add the SNN timestep axis to an input such as binned counts `[B, L, N]` (any shape works),
 * giving `[T, ...x.shape]`.
 *
 * - `"repeat"` (direct encoding, the default): the real-valued input is tiled T times; the first
 *   LIF layer does the spike encoding. Differentiable.
 * - `"poisson"` (rate encoding): at every timestep, an independent Bernoulli spike with
 *   probability p = clip(x / scale, 0, 1), where `scale` defaults to max(x) over the whole
 *   tensor (p = 0 everywhere when max(x) ≤ 0). The draws come from `key` alone, so the same key
 *   gives the same spikes. Not differentiable.
 *
 * @example
 * ```ts
 * import { encodeInput, key, tf } from "@hest/hest";
 * const counts = tf.ones([2, 10, 8]);
 * const direct = encodeInput(counts, { T: 4 }); // [4, 2, 10, 8]
 * const rate = encodeInput(counts, { T: 4, mode: "poisson", key: key(0) }); // 0/1
 * ```
 */
export function encodeInput(counts: tf.Tensor, opts: EncodeOptions): tf.Tensor {
  checkKeys(opts, ENCODE_KEYS, "encodeInput option");
  tensorArg("encodeInput", "a tf.Tensor", counts);
  const T = positiveInt(`encodeInput option "T"`, opts.T);
  const mode = opts.mode ?? "repeat";
  if (mode === "repeat") {
    if (opts.scale !== undefined) {
      throw new TypeError(
        `encodeInput option "scale" applies to mode "poisson" only, found "repeat"`,
      );
    }
    return tf.tidy(() => {
      const x = counts.dtype === "float32" ? counts : tf.cast(counts, "float32");
      return tf.tile(tf.expandDims(x, 0), [T, ...x.shape.map(() => 1)]);
    });
  }
  if (mode !== "poisson") {
    throw new TypeError(
      `encodeInput option "mode" must be "repeat" or "poisson", found ${describe(mode)}`,
    );
  }
  if (opts.key === undefined) {
    throw new TypeError(`encodeInput with mode "poisson" needs a random "key", found none`);
  }
  const seed = tfSeed(opts.key);
  const scale = opts.scale;
  if (scale !== undefined && !(typeof scale === "number" && Number.isFinite(scale) && scale > 0)) {
    throw new (typeof scale === "number" ? RangeError : TypeError)(
      `encodeInput option "scale" must be a finite positive number, found ${describe(scale)}`,
    );
  }
  return tf.tidy(() => {
    const x = tf.cast(counts, "float32");
    const denom = scale ?? tf.maximum(tf.max(x), 1e-30);
    const p = tf.clipByValue(tf.div(x, denom), 0, 1);
    const u = tf.randomUniform([T, ...x.shape], 0, 1, "float32", seed);
    return tf.step(tf.sub(p, u)); // 1 where u < p (float32 data, not a bool cast)
  });
}
