/**
 * Functional layers: each is an `init…(key, shape…) → params` plus an `apply…(params, x, ctx)`.
 *
 * Parameters are plain records of tensors ({@linkcode Params}); nothing here holds state.
 * Initialisation draws from explicit keys in JavaScript, so the same key gives the same weights
 * on every backend.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { type Key, normal, split, tfSeed, uniform } from "../core/random.ts";
import type { Params } from "../core/tree.ts";
import type { ApplyContext } from "./types.ts";
import { linearKernel } from "../../kernels/linear.ts";
import { geluKernel } from "../../kernels/gelu.ts";
import { dropoutKernel } from "../../kernels/dropout.ts";
import { layerNormKernel } from "../../kernels/layer_norm.ts";
import { softmaxKernel } from "../../kernels/softmax.ts";
import { kernelsActive } from "../../kernels/wasm.ts";

/**
 * Glorot-uniform weights `[fanIn, fanOut]` scaled by `gain`.
 *
 * @example
 * ```ts
 * import { glorotUniform, key } from "@hest/hest";
 * const w = glorotUniform(key(0), [4, 3]);
 * ```
 */
export function glorotUniform(
  k: Key,
  shape: readonly [number, number],
  opts: { gain?: number } = {},
): tf.Tensor2D {
  const [fanIn, fanOut] = shape;
  const limit = (opts.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
  const u = uniform(k, fanIn * fanOut);
  const w = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) w[i] = (2 * u[i] - 1) * limit;
  return tf.tensor2d(w, [fanIn, fanOut]);
}

/** Parameters of a dense layer: `w [in, out]`, `b [out]`. */
export interface LinearParams extends Params {
  /** Weight matrix `[in, out]`. */
  w: tf.Tensor2D;
  /** Bias `[out]`. */
  b: tf.Tensor1D;
}

/**
 * Initialise a dense layer (Glorot-uniform weights times `gain`, zero bias unless `bias` given).
 *
 * @example
 * ```ts
 * import { initLinear, key } from "@hest/hest";
 * const p = initLinear(key(0), [8, 4]);
 * ```
 */
export function initLinear(
  k: Key,
  shape: readonly [number, number],
  opts: { gain?: number; bias?: ArrayLike<number> } = {},
): LinearParams {
  const b = opts.bias ? tf.tensor1d(Float32Array.from(opts.bias)) : tf.zeros([shape[1]]);
  if (b.shape[0] !== shape[1]) {
    throw new Error(`linear bias has ${b.shape[0]} values, expected ${shape[1]}`);
  }
  return { w: glorotUniform(k, shape, { gain: opts.gain }), b: b as tf.Tensor1D };
}

/**
 * 2-D `a · b` whose gradient uses explicit transposes. The TF.js wasm backend runs
 * `matMul(…, transposeA/B = true)` — what the built-in gradient of `matMul` uses — an order of
 * magnitude slower than a plain product (docs/performance.md); transposing first is cheap.
 * Forward values are identical to `tf.matMul`.
 */
const matMulExplicitGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const a = args[0] as tf.Tensor2D;
  const b = args[1] as tf.Tensor2D;
  const save = args[2] as tf.GradSaveFunc;
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)),
        tf.matMul(tf.transpose(sa), dy as tf.Tensor2D),
      ];
    },
  };
});

/**
 * 2-D matrix product, with a gradient that is fast on every backend (see the wasm note above).
 *
 * @example
 * ```ts
 * import { matMul2d, tf } from "@hest/hest";
 * matMul2d(tf.ones([2, 3]), tf.ones([3, 4])); // [2, 4] of 3s
 * ```
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.getBackend() === "wasm" ? matMulExplicitGrad(a, b) as tf.Tensor2D : tf.matMul(a, b);
}

/** Options of {@linkcode applyLinear}. */
export interface LinearOptions {
  /**
   * `x` holds only 0 and 1 (spikes): on the wasm and cpu backends the product and the weight
   * gradient run event-driven (rows of `w` summed per spike, no multiplies); any other value in
   * `x` then throws. Elsewhere it changes nothing. Default false.
   */
  binary?: boolean;
}

/**
 * `x · w + b` over the last axis of a tensor of any rank ≥ 2. On the wasm and cpu backends (WASM
 * kernels enabled) it runs the fused kernel of kernels/linear.ts (product + bias forward; dx, dw
 * and db in one backward); elsewhere `matMul2d` plus a bias add.
 *
 * @example
 * ```ts
 * import { applyLinear, initLinear, key, tf } from "@hest/hest";
 * const y = applyLinear(initLinear(key(0), [3, 2]), tf.ones([5, 7, 3])); // [5, 7, 2]
 * const s = applyLinear(initLinear(key(0), [3, 2]), tf.ones([5, 7, 3]), { binary: true });
 * ```
 */
export function applyLinear(p: LinearParams, x: tf.Tensor, opts: LinearOptions = {}): tf.Tensor {
  const inDim = p.w.shape[0];
  const outDim = p.w.shape[1];
  if (x.shape[x.rank - 1] !== inDim) {
    throw new Error(`linear layer expects last dim ${inDim}, found shape [${x.shape.join(", ")}]`);
  }
  const lead = x.shape.slice(0, -1);
  const x2 = tf.reshape(x, [-1, inDim]);
  const y = kernelsActive() && x.dtype === "float32" && p.b.rank === 1
    ? linearKernel(x2, p.w, p.b, { binary: opts.binary ?? false })
    : tf.add(matMul2d(x2 as tf.Tensor2D, p.w), p.b);
  return tf.reshape(y, [...lead, outDim]);
}

/** Parameters of a layer norm: gain `g` and bias `b`, both `[dim]`. */
export interface LayerNormParams extends Params {
  /** Gain, initialised to 1. */
  g: tf.Tensor1D;
  /** Bias, initialised to 0. */
  b: tf.Tensor1D;
}

/**
 * Initialise a layer norm over `dim` features.
 *
 * @example
 * ```ts
 * import { initLayerNorm } from "@hest/hest";
 * const p = initLayerNorm(16);
 * ```
 */
export function initLayerNorm(dim: number): LayerNormParams {
  return { g: tf.ones([dim]), b: tf.zeros([dim]) };
}

/**
 * Layer normalisation over the last axis (biased variance, eps 1e-5, as PyTorch).
 *
 * @example
 * ```ts
 * import { applyLayerNorm, initLayerNorm, tf } from "@hest/hest";
 * const y = applyLayerNorm(initLayerNorm(4), tf.randomNormal([2, 4]));
 * ```
 */
export function applyLayerNorm(
  p: LayerNormParams,
  x: tf.Tensor,
  opts: { eps?: number } = {},
): tf.Tensor {
  // one WASM pass each way on wasm / cpu (kernels/layer_norm.ts), the composite elsewhere
  return layerNormKernel(x, p.g, p.b, { eps: opts.eps ?? 1e-5 });
}

/**
 * Exact (erf) GELU: `0.5·x·(1 + erf(x/√2))`.
 *
 * @example
 * ```ts
 * import { gelu, tf } from "@hest/hest";
 * gelu(tf.tensor1d([0, 1])); // [0, 0.8413447]
 * ```
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  // one WASM pass each way on wasm / cpu (kernels/gelu.ts), the composite elsewhere
  return geluKernel(x);
}

/**
 * Inverted dropout with rate `rate`, active only when `ctx.training`; randomness from `ctx.key`.
 *
 * @example
 * ```ts
 * import { dropout, key, tf } from "@hest/hest";
 * const y = dropout(tf.ones([4, 4]), 0.5, { training: true, key: key(0) });
 * ```
 */
export function dropout(x: tf.Tensor, rate: number, ctx: ApplyContext): tf.Tensor {
  if (!ctx.training || rate <= 0) return x;
  if (!ctx.key) throw new TypeError("dropout in training mode needs ctx.key, found none");
  // tf.dropout's values, with its random stream drawn in one kernel call (kernels/dropout.ts)
  return dropoutKernel(x, rate, tfSeed(ctx.key));
}

/**
 * Sinusoidal positional encoding `[length, dim]` (Vaswani et al. 2017), indexed by bin.
 *
 * @example
 * ```ts
 * import { sinusoidalEncoding } from "@hest/hest";
 * const pe = sinusoidalEncoding(50, 16); // [50, 16]
 * ```
 */
export function sinusoidalEncoding(length: number, dim: number): tf.Tensor2D {
  const out = new Float32Array(length * dim);
  for (let pos = 0; pos < length; pos++) {
    for (let i = 0; i < dim; i += 2) {
      const freq = Math.exp(-(i / dim) * Math.log(10000));
      out[pos * dim + i] = Math.sin(pos * freq);
      if (i + 1 < dim) out[pos * dim + i + 1] = Math.cos(pos * freq);
    }
  }
  return tf.tensor2d(out, [length, dim]);
}

/**
 * Small normal initialiser (std `std`), e.g. for learned position embeddings.
 *
 * @example
 * ```ts
 * import { key, normalInit } from "@hest/hest";
 * const e = normalInit(key(0), [10, 8], { std: 0.02 });
 * ```
 */
export function normalInit(
  k: Key,
  shape: readonly number[],
  opts: { std?: number } = {},
): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const z = normal(k, n);
  const std = opts.std ?? 0.02;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = z[i] * std;
  return tf.tensor(out, [...shape]);
}

/** Parameters of multi-head self-attention: fused `qkv` projection and output `o`. */
export interface AttentionParams extends Params {
  /** Fused query/key/value projection `[D, 3D]`. */
  qkv: LinearParams;
  /** Output projection `[D, D]`. */
  o: LinearParams;
}

/**
 * Initialise multi-head self-attention of width `dim`; `outGain` scales the output projection.
 *
 * @example
 * ```ts
 * import { initAttention, key } from "@hest/hest";
 * const p = initAttention(key(0), 32);
 * ```
 */
export function initAttention(
  k: Key,
  dim: number,
  opts: { outGain?: number } = {},
): AttentionParams {
  const [kq, ko] = split(k);
  return {
    qkv: initLinear(kq, [dim, 3 * dim]),
    o: initLinear(ko, [dim, dim], { gain: opts.outGain ?? 1 }),
  };
}

/** Options of {@linkcode applyAttention}. */
export interface AttentionOptions {
  /** Number of heads; must divide the width. */
  heads: number;
  /** Additive mask `[L, L]` (0 or −1e9), e.g. a causal or local-context mask. */
  mask?: tf.Tensor2D;
  /** Dropout on the attention weights. */
  dropout?: number;
}

/**
 * Softmax dot-product self-attention over `x [B, L, D]` (scale 1/√(D/H)).
 *
 * @example
 * ```ts
 * import { applyAttention, initAttention, key, tf } from "@hest/hest";
 * const y = applyAttention(initAttention(key(0), 8), tf.ones([2, 5, 8]), { training: false }, { heads: 2 });
 * ```
 */
export function applyAttention(
  p: AttentionParams,
  x: tf.Tensor,
  ctx: ApplyContext,
  opts: AttentionOptions,
): tf.Tensor {
  const [b, l, dim] = x.shape as [number, number, number];
  const h = opts.heads;
  if (dim % h !== 0) throw new Error(`width ${dim} is not divisible by ${h} heads`);
  const d = dim / h;
  ctx.ops?.linear("qkv", x, 3 * dim);
  const qkv = applyLinear(p.qkv, x); // [B, L, 3D]
  const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [b, l, h, d]), [0, 2, 1, 3]);
  const [q, k, v] = tf.split(qkv, 3, 2).map(heads); // each [B, H, L, d]
  ctx.ops?.matmul("attn.qk", q, k, { transposeB: true });
  let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)); // [B, H, L, L]
  if (opts.mask) scores = tf.add(scores, opts.mask);
  let att = softmaxKernel(scores);
  att = dropout(att, opts.dropout ?? 0, ctx);
  ctx.ops?.matmul("attn.av", att, v);
  const out = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [b, l, dim]);
  ctx.ops?.linear("o", out, dim);
  return applyLinear(p.o, out);
}

/**
 * Additive attention mask `[L, L]` letting query i see keys j with
 * `i − backward ≤ j ≤ i + forward` (NDT's context window; `Infinity` for no limit). With
 * `observed` set (the bins of the trial window, before a forward-prediction window), the queries
 * at i ≥ `observed` see every key instead: a forecast bin reads the whole trial, not only the
 * band around it (which past the window's first `backward` bins holds only empty forward bins).
 *
 * @example
 * ```ts
 * import { contextMask } from "@hest/hest";
 * const causal = contextMask(10, { backward: Infinity, forward: 0 });
 * const ndt = contextMask(12, { backward: 8, forward: 4, observed: 10 });
 * ```
 */
export function contextMask(
  length: number,
  opts: { backward: number; forward: number; observed?: number },
): tf.Tensor2D {
  const m = new Float32Array(length * length);
  const open = opts.observed ?? length;
  for (let i = 0; i < length; i++) {
    if (i >= open) continue;
    for (let j = 0; j < length; j++) {
      m[i * length + j] = j < i - opts.backward || j > i + opts.forward ? -1e9 : 0;
    }
  }
  return tf.tensor2d(m, [length, length]);
}
