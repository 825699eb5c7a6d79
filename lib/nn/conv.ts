/**
 * Causal 1-D convolution over time bins, and the attention masks of convolutional
 * self-attention.
 *
 * **Convolutional self-attention** (Li et al., "Enhancing the Locality and Breaking the Memory
 * Bottleneck of Transformer on Time Series Forecasting", NeurIPS 2019, arXiv 1907.00235) replaces
 * the query and key projections by a causal convolution of kernel k along the bin axis, so
 * position t's query and key see bins t−k+1..t; k = 1 recovers canonical attention:
 *
 * ```
 * Q = CausalConv1d_k(X),  K = CausalConv1d_k(X),  V = X W_V
 * A = softmax(Q Kᵀ / √d + M) V,    M = causalMask(L) (or a band / context mask)
 * ```
 *
 * For bidirectional masked modelling use `centered: true` (a non-causal centred kernel).
 * {@linkcode bandMask} is the parameter-free local window of 1D-CSAN (Yang et al.,
 * "Convolutional Self-Attention Networks", NAACL 2019, arXiv 1904.03107).
 *
 * The convolution acts on the **bin axis L** (the second-to-last axis) of `x [..., L, C]`, with
 * any leading dims: `[B, L, D]` in standard mode, `[T, B, L, D]` in spiking mode (T SNN
 * timesteps are never mixed; every SNN timestep is convolved on its own).
 *
 * **Implementation.** The input is zero-padded along L and the k taps are k shifted matrix
 * products `[N·L, C] × [C, C_out]`, summed. `tf.conv1d` is not used because its weight gradient
 * (`Conv2DBackpropFilter`) is not registered on the wasm backend (TF.js 4.22). The matrix
 * products use a custom gradient with explicit transposes: on wasm, `tf.matMul` with its
 * transpose flags set (which the built-in gradient uses) is several times slower than
 * transposing first (an im2col variant with one large product was no faster; timings in
 * docs/performance.md).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { boolOption, checkKeys, describe, positiveInt } from "../core/validation.ts";
import { contextMask, matMul2d } from "./layers.ts";
import { type Key, uniform } from "../core/random.ts";
import type { Params } from "../core/tree.ts";

/** Parameters of a 1-D convolution: taps `w [kernel, channelsIn, channelsOut]`, bias `b`. */
export interface CausalConvParams extends Params {
  /**
   * Taps `[kernel, channelsIn, channelsOut]` (the `tf.conv1d` filter layout). Causal: tap j
   * multiplies bin t − (kernel − 1) + j, so the last tap is the current bin.
   */
  w: tf.Tensor3D;
  /** Bias `[channelsOut]`, initialised to 0. */
  b: tf.Tensor1D;
}

/** Options of {@linkcode initCausalConv}. */
export interface CausalConvInitOptions {
  /** Input channels C (the last axis of x). */
  channelsIn: number;
  /** Output channels. */
  channelsOut: number;
  /** Kernel size k along the bin axis, a positive integer (default 3). */
  kernel?: number;
  /** Scale of the Glorot-uniform limit (default 1). */
  gain?: number;
}

/** Options of {@linkcode applyCausalConv}. */
export interface CausalConvOptions {
  /**
   * Use a centred, non-causal kernel instead: left padding ⌊k/2⌋ and right padding
   * k − 1 − ⌊k/2⌋, so tap j multiplies bin t − ⌊k/2⌋ + j (for odd k, PyTorch's
   * `padding = k // 2`; for even k the extra tap is on the past side). Default false.
   */
  centered?: boolean;
}

/** Options of {@linkcode bandMask}. */
export interface BandMaskOptions {
  /** Window M, a positive integer: query i sees keys j with |i − j| ≤ ⌊M/2⌋. */
  window: number;
}

/**
 * Initialise a 1-D convolution `channelsIn → channelsOut` with `kernel` taps: Glorot-uniform
 * taps with fan-in k·C_in and fan-out k·C_out (limit gain·√(6 / (k·C_in + k·C_out)), as Keras'
 * `Conv1D`), zero bias. Drawn in JavaScript from `k`, so identical on every backend. The same
 * parameters serve the causal and the centred convolution.
 *
 * @example
 * ```ts
 * import { initCausalConv, key } from "@hest/hest";
 * const p = initCausalConv(key(0), { channelsIn: 64, channelsOut: 64, kernel: 3 });
 * p.w.shape; // [3, 64, 64]
 * ```
 */
export function initCausalConv(k: Key, opts: CausalConvInitOptions): CausalConvParams {
  checkKeys(opts, ["channelsIn", "channelsOut", "kernel", "gain"], "initCausalConv option");
  const cIn = positiveInt(`initCausalConv option "channelsIn"`, opts.channelsIn);
  const cOut = positiveInt(`initCausalConv option "channelsOut"`, opts.channelsOut);
  const kernel = positiveInt(`initCausalConv option "kernel"`, opts.kernel ?? 3);
  const gain = opts.gain ?? 1;
  if (typeof gain !== "number" || !Number.isFinite(gain) || gain < 0) {
    throw new (typeof gain === "number" ? RangeError : TypeError)(
      `initCausalConv option "gain" must be a finite number >= 0, found ${describe(gain)}`,
    );
  }
  const limit = gain * Math.sqrt(6 / (kernel * cIn + kernel * cOut));
  const u = uniform(k, kernel * cIn * cOut);
  const w = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) w[i] = (2 * u[i] - 1) * limit;
  return { w: tf.tensor3d(w, [kernel, cIn, cOut]), b: tf.zeros([cOut]) as tf.Tensor1D };
}

/**
 * Convolve `x [..., L, C]` along the bin axis L with `p`: by default causally (output bin t sees
 * bins t−k+1..t, left zero padding k−1), or with a centred kernel when `centered` is set. Any
 * leading dims are allowed (`[B, L, C]`, `[T, B, L, C]`, …) and are treated as a batch. Returns
 * `[..., L, channelsOut]`. Differentiable on every backend (see the module documentation for
 * the implementation).
 *
 * @example
 * ```ts
 * import { applyCausalConv, initCausalConv, key, tf } from "@hest/hest";
 * const p = initCausalConv(key(0), { channelsIn: 8, channelsOut: 8 });
 * const q = applyCausalConv(p, tf.ones([4, 2, 20, 8])); // [T, B, L, C] → [4, 2, 20, 8]
 * const c = applyCausalConv(p, tf.ones([2, 20, 8]), { centered: true }); // [2, 20, 8]
 * ```
 */
export function applyCausalConv(
  p: CausalConvParams,
  x: tf.Tensor,
  opts: CausalConvOptions = {},
): tf.Tensor {
  checkKeys(opts, ["centered"], "applyCausalConv option");
  const centered = boolOption("applyCausalConv option", "centered", opts.centered ?? false);
  if (!(p?.w instanceof tf.Tensor) || p.w.rank !== 3 || !(p.b instanceof tf.Tensor)) {
    throw new TypeError(
      `applyCausalConv expects params { w: [kernel, channelsIn, channelsOut], b: [channelsOut] }, ` +
        `found w ${describe(p?.w)}, b ${describe(p?.b)}`,
    );
  }
  const [kernel, cIn, cOut] = p.w.shape;
  if (p.b.rank !== 1 || p.b.shape[0] !== cOut) {
    throw new Error(
      `applyCausalConv expects bias [${cOut}], found shape [${p.b.shape.join(", ")}]`,
    );
  }
  if (!(x instanceof tf.Tensor)) {
    throw new TypeError(`applyCausalConv expects a tf.Tensor [..., L, C], found ${describe(x)}`);
  }
  if (x.rank < 2 || x.shape[x.rank - 1] !== cIn || x.shape[x.rank - 2] < 1) {
    throw new Error(
      `applyCausalConv expects x [..., L, ${cIn}] with L >= 1, found shape [${x.shape.join(", ")}]`,
    );
  }
  const lead = x.shape.slice(0, -2);
  const l = x.shape[x.rank - 2];
  const n = lead.reduce((a, b) => a * b, 1);
  const padLeft = centered ? Math.floor(kernel / 2) : kernel - 1;
  const padRight = kernel - 1 - padLeft;
  return tf.tidy(() => {
    const x3 = tf.reshape(x, [n, l, cIn]);
    let y: tf.Tensor;
    if (kernel === 1) {
      y = matMul2d(tf.reshape(x3, [n * l, cIn]), tf.reshape(p.w, [cIn, cOut]));
    } else {
      const xp = tf.pad(x3, [[0, 0], [padLeft, padRight], [0, 0]]);
      const taps = tf.unstack(p.w, 0);
      const terms: tf.Tensor[] = [];
      for (let j = 0; j < kernel; j++) {
        const xs = tf.reshape(tf.slice(xp, [0, j, 0], [n, l, cIn]), [n * l, cIn]);
        terms.push(matMul2d(xs as tf.Tensor2D, taps[j] as tf.Tensor2D));
      }
      y = tf.addN(terms);
    }
    return tf.reshape(tf.add(y, p.b), [...lead, l, cOut]);
  });
}

/**
 * Additive attention mask `[L, L]` of 1D-CSAN's local window (Yang et al. 2019): 0 where
 * |i − j| ≤ ⌊window/2⌋, −1e9 elsewhere. Window 11 (|i − j| ≤ 5) is the CSAN default; an even
 * window gives the same band as window + 1.
 *
 * @example
 * ```ts
 * import { bandMask } from "@hest/hest";
 * const m = bandMask(5, { window: 3 }); // tridiagonal 0, −1e9 elsewhere
 * ```
 */
export function bandMask(length: number, opts: BandMaskOptions): tf.Tensor2D {
  positiveInt("bandMask length", length);
  checkKeys(opts, ["window"], "bandMask option");
  const window = positiveInt(`bandMask option "window"`, opts.window);
  const half = Math.floor(window / 2);
  return contextMask(length, { backward: half, forward: half });
}

/**
 * Additive causal attention mask `[L, L]`: 0 where j ≤ i, −1e9 where j > i.
 *
 * @example
 * ```ts
 * import { causalMask } from "@hest/hest";
 * const m = causalMask(4); // row 0: [0, −1e9, −1e9, −1e9]
 * ```
 */
export function causalMask(length: number): tf.Tensor2D {
  positiveInt("causalMask length", length);
  return contextMask(length, { backward: Infinity, forward: 0 });
}
