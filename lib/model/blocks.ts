/**
 * The hybrid model's blocks, one function each: embedding, attention (standard softmax
 * attention and spiking softmax-free attention, each with dot-product or convolutional Q/K),
 * MLP, the residual of each mode, and the read-out. Each takes `(params, x, config, ctx)`;
 * `lib/model/hybrid.ts` composes them into the full forward pass of either mode.
 *
 * Shapes: standard `[B, L, D]`; spiking `[T, B, L, D]` (T = SNN timesteps, L = bins including
 * the forward window). Every block reports the operations it performs to `ctx.ops` (energy
 * accounting) and every spiking site's spikes to `ctx.stats`.
 *
 * @module
 */
import { softmaxKernel } from "../../kernels/softmax.ts";
import { tf } from "../core/backend.ts";
import { foldIn, type Key } from "../core/random.ts";
import { bmm } from "../../kernels/bmm.ts";
import { convKernel } from "../../kernels/conv.ts";
import { kernelsActive } from "../../kernels/wasm.ts";
import { applyCausalConv, type CausalConvParams } from "../nn/conv.ts";
import { applyLinear, dropout, gelu, type LayerNormParams } from "../nn/layers.ts";
import type { ApplyContext, Mode, OpsCollector } from "../nn/types.ts";
import { lif, type LifOptions } from "../snn/neurons.ts";
import {
  causalSpikeNorm,
  normaliseRunning,
  sampleSpikeNorm,
  sampleSpikeNormLif,
  spikeNorm,
  spikeNormLif,
} from "../snn/spike_norm.ts";
import { randomSpikeMask, sew, significanceMask } from "../snn/spike_ops.ts";
import { applyTim, applyTimBin } from "../snn/tim.ts";
import type { DropoutRates, ResolvedHybridConfig } from "./config.ts";
import type { HybridAttentionParams, HybridBlockParams } from "./params.ts";
import type { BinCursor } from "./bin_cursor.ts";
import { layerNorm, linear, size } from "./_internal.ts";
import { heads, merge, scale, ssaProduct } from "./_attention_ops.ts";
import type { ModelTables } from "./embedding.ts";

/** Collects per-layer spike statistics during an apply (pass as `ctx.stats`). */
export interface SpikeStatsCollector {
  /** Called with a site name (e.g. `"block0.q"`) and its spike tensor. */
  record(name: string, spikes: tf.Tensor): void;
}

/**
 * Receives the residual stream after every block during an apply (pass as `ctx.taps`): `[B, L,
 * D]`, in spiking mode its mean over the T timesteps. The tensors belong to the apply's scope:
 * `tf.keep` what must outlive it (and dispose it later).
 */
export interface StreamTapCollector {
  /** Called with a block's name (e.g. `"block0"`) and the stream after it. */
  record(name: string, stream: tf.Tensor): void;
}

/** Context of a hybrid apply: the standard context plus spike and stream collectors. */
export interface HybridApplyContext extends ApplyContext {
  /** Receives every LIF site's spikes (spiking mode). */
  readonly stats?: SpikeStatsCollector;
  /** Receives the stream after every block (both modes; see {@linkcode StreamTapCollector}). */
  readonly taps?: StreamTapCollector;
  /**
   * Dropout rates for this call in place of the model's configured ones (checked by
   * `withDropoutRates`; absent: the config's). `train` passes its `restartDropout` here.
   */
  readonly dropout?: DropoutRates;
}

/** Keys of one block's random draws (absent: no draw needs one). */
export interface BlockKeys {
  /** Dropout on the attention weights (standard mode). */
  attn?: Key;
  /** Dropout on the attention part's output / residual. */
  attnOut?: Key;
  /** Dropout on the MLP part's output / residual. */
  mlpOut?: Key;
  /** Random spike masking of Q, K and the attention map (spiking mode). */
  rsm?: Key;
}

/** What a block function needs besides its parameters and input. */
export interface BlockContext {
  /** Training (dropout active). */
  readonly training: boolean;
  /** Block index (selects the per-layer RSM ratio). */
  readonly index: number;
  /** Site-name prefix for `ops` and `stats`, e.g. `"block0"`. */
  readonly name: string;
  /** The model's constant tables. */
  readonly tables: ModelTables;
  /** This block's keys. */
  readonly keys: BlockKeys;
  /** Operation collector (energy accounting). */
  readonly ops?: OpsCollector;
  /** Spike statistics collector. */
  readonly stats?: SpikeStatsCollector;
  /** Compute one bin only, reading earlier bins from the cursor (lib/model/bin_cursor.ts). */
  readonly cursor?: BinCursor;
}

/** The Q/K convolution: the fused WASM kernel on wasm/cpu, else `applyCausalConv`. */
function convAt(
  p: CausalConvParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  binary: boolean,
): tf.Tensor {
  if (!kernelsActive()) return applyCausalConv(p, x, { centered: !c.causal });
  const kw = p.w.shape[0];
  return convKernel(x, p.w, p.b, { padLeft: c.causal ? kw - 1 : Math.floor(kw / 2), binary });
}

/** The last bin (second-to-last axis) of `x`. */
function lastBin(x: tf.Tensor): tf.Tensor {
  const axis = x.rank - 2;
  const begin = x.shape.map((s, i) => (i === axis ? s - 1 : 0));
  return tf.slice(x, begin, x.shape.map((s, i) => (i === axis ? 1 : s)));
}

/** The current bin's row of an attention mask table `[L, L]` (all of it without a cursor). */
function maskRows(m: tf.Tensor2D, cursor: BinCursor | undefined): tf.Tensor2D {
  return cursor ? tf.slice(m, [cursor.bin, 0], [1, cursor.bin + 1]) : m;
}

/** Options of {@linkcode qkvProjection}. */
export interface QkvOptions {
  /** The input is spikes (0/1): the event-driven kernels add rows instead of multiplying. */
  binary?: boolean;
  /**
   * Three products with the weight's column blocks instead of one product and a split: the
   * same values bit for bit (each output is the same dot product), without copying the whole
   * `[.., 3D]` result through a split. Inference only: in training, x's gradient would sum the
   * three blocks in another order than the single product's.
   */
  separate?: boolean;
}

/**
 * Q, K and V `[..., L, D]` of the attention input `x`: one fused linear (dot attention) or
 * causal/centred convolutions over bins for Q and K and a linear for V (conv attention).
 *
 * @example
 * ```ts
 * import { initHybridParams, key, qkvProjection, resolveHybridConfig, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8, attention: "conv" });
 * const p = initHybridParams(key(0), c).blocks["0"].attn;
 * const [q, k, v] = qkvProjection(p, tf.ones([2, 10, 8]), c, { name: "block0" });
 * ```
 */
export function qkvProjection(
  p: HybridAttentionParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  ctx: { name: string; ops?: OpsCollector; cursor?: BinCursor } & QkvOptions,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const D = c.dModel;
  const { name, ops, binary = false, cursor } = ctx;
  if (c.attention === "conv") {
    const centered = !c.causal;
    ops?.conv(`${name}.q`, x, D, { kernel: c.convKernel, centered });
    ops?.conv(`${name}.k`, x, D, { kernel: c.convKernel, centered });
    // one bin: the convolution over the window of the last convKernel bins, its last row
    const w = cursor ? cursor.window(`${name}.qk`, x, c.convKernel) : x;
    const at = (pc: CausalConvParams) =>
      cursor ? lastBin(convAt(pc, w, c, binary)) : convAt(pc, w, c, binary);
    return [at(p.qConv!), at(p.kConv!), linear(`${name}.v`, p.v!, x, ops, binary)];
  }
  const qkv = p.qkv!;
  ops?.linear(`${name}.qkv`, x, 3 * D);
  if (ctx.separate) {
    return [0, 1, 2].map((j) =>
      applyLinear(
        {
          w: tf.slice(qkv.w, [0, j * D], [D, D]) as tf.Tensor2D,
          b: tf.slice(qkv.b, [j * D], [D]) as tf.Tensor1D,
        },
        x,
        { binary },
      )
    ) as [tf.Tensor, tf.Tensor, tf.Tensor];
  }
  return tf.split(applyLinear(qkv, x, { binary }), 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/**
 * Standard-mode attention of block `p` on the stream `x [B, L, D]`: pre-norm, Q/K/V,
 * softmax(Q·Kᵀ/√d + mask)·V, output projection. Returns the part's output (before the
 * residual).
 *
 * @example
 * ```ts
 * import { initHybridParams, key, modelTables, resolveHybridConfig, standardAttention, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const p = initHybridParams(key(0), c).blocks["0"];
 * const ctx = { training: false, index: 0, name: "block0", tables: modelTables(c), keys: {} };
 * const a = standardAttention(p, tf.ones([2, 10, 8]), c, ctx); // [2, 10, 8]
 * ```
 */
export function standardAttention(
  p: HybridBlockParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  ctx: BlockContext,
): tf.Tensor {
  const { name, ops } = ctx;
  const H = c.nHeads;
  const d = c.dModel / H;
  const xn = layerNorm(`${name}.ln1`, p.ln1!, x, ops);
  const cursor = ctx.cursor;
  const [q, k0, v0] = qkvProjection(p.attn, xn, c, {
    name,
    ops,
    cursor,
    separate: !ctx.training,
  }).map((t) => heads(t, H));
  // one bin: its query attends to the keys and values of every bin so far
  const [k, v] = cursor ? cursor.keysValues(name, k0, v0) : [k0, v0];
  ops?.matmul(`${name}.attn.qk`, q, k, { transposeB: true });
  let scores = scale(bmm(q, k, { transposeB: true }), 1 / Math.sqrt(d));
  ops?.elementwise(`${name}.attn.scale`, "mul", size(scores));
  if (ctx.tables.addMask) {
    ops?.elementwise(`${name}.attn.mask`, "add", size(scores));
    scores = tf.add(scores, maskRows(ctx.tables.addMask, cursor));
  }
  ops?.elementwise(`${name}.attn.softmax`, "softmax", size(scores));
  const att = dropout(softmaxKernel(scores), c.attnDropout, {
    training: ctx.training,
    key: ctx.keys.attn,
  });
  ops?.matmul(`${name}.attn.av`, att, v);
  return linear(`${name}.o`, p.attn.o, merge(bmm(att, v)), ops);
}

/**
 * Standard-mode MLP of block `p` on `x [B, L, D]`: pre-norm, Linear → GELU → Linear. Returns
 * the part's output (before the residual).
 *
 * @example
 * ```ts
 * import { initHybridParams, key, modelTables, resolveHybridConfig, standardMlp, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const p = initHybridParams(key(0), c).blocks["0"];
 * const ctx = { training: false, index: 0, name: "block0", tables: modelTables(c), keys: {} };
 * const f = standardMlp(p, tf.ones([2, 10, 8]), c, ctx); // [2, 10, 8]
 * ```
 */
export function standardMlp(
  p: HybridBlockParams,
  x: tf.Tensor,
  _c: ResolvedHybridConfig,
  ctx: BlockContext,
): tf.Tensor {
  // the config is part of every block's signature; the standard MLP reads its sizes from `p`
  const { name, ops } = ctx;
  const h = linear(`${name}.ff1`, p.ff1, layerNorm(`${name}.ln2`, p.ln2!, x, ops), ops);
  ops?.elementwise(`${name}.gelu`, "gelu", size(h));
  return linear(`${name}.ff2`, p.ff2, gelu(h), ops);
}

/**
 * The standard residual: `x + dropout(y)`.
 *
 * @example
 * ```ts
 * import { standardResidual, tf } from "@hest/hest";
 * const y = standardResidual(tf.ones([1, 2, 4]), tf.ones([1, 2, 4]), 0, { training: false }); // all 2
 * ```
 */
export function standardResidual(
  x: tf.Tensor,
  y: tf.Tensor,
  rate: number,
  ctx: { training: boolean; key?: Key; name?: string; ops?: OpsCollector },
): tf.Tensor {
  ctx.ops?.elementwise(`${ctx.name ?? "residual"}.add`, "add", size(x));
  return tf.add(x, dropout(y, rate, { training: ctx.training, key: ctx.key }));
}

/**
 * Count `n` LIF updates at site `name`: a `neuron` op each, and with `levels` L > 1 the L − 1
 * further threshold compares of a multi-level spike (an add each, as the neuron's own compare).
 */
function countNeurons(name: string, n: number, levels: number, ops?: OpsCollector): void {
  ops?.elementwise(name, "neuron", n);
  if (levels > 1) ops?.elementwise(`${name}.levels`, "add", (levels - 1) * n);
}

/** LIF spikes of `x [T, ...]`, counted as neuron updates and recorded as a site. */
function lifSite(
  name: string,
  x: tf.Tensor,
  opts: LifOptions,
  ctx: { ops?: OpsCollector; stats?: SpikeStatsCollector },
): tf.Tensor {
  countNeurons(name, size(x), opts.levels ?? 1, ctx.ops);
  const s = lif(x, opts);
  ctx.stats?.record(name, s);
  return s;
}

/**
 * LIF spikes of the spike norm of `x [T, B, L, C]`: the per-trial norm (`spikeNormLif`) or the
 * per-trial norm over all channels (`sampleSpikeNormLif`, `norm: "sample"`) fused with the LIF
 * in one kernel, or the causal norm then the LIF (`norm: "causal"`).
 *
 * @example
 * ```ts
 * import { initLayerNorm, normLif, resolveHybridConfig, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const s = normLif("site", initLayerNorm(8), tf.randomNormal([4, 2, 10, 8]), c, {}); // 0/1
 * ```
 */
export function normLif(
  name: string,
  p: LayerNormParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  ctx: {
    ops?: OpsCollector;
    stats?: SpikeStatsCollector;
    vThreshold?: number;
    cursor?: BinCursor;
  },
): tf.Tensor {
  const opts: LifOptions = ctx.vThreshold === undefined
    ? c.lif
    : { ...c.lif, vThreshold: ctx.vThreshold };
  ctx.ops?.elementwise(`${name}.norm`, "norm", size(x));
  if (c.norm === "causal") return lifSite(name, branchNorm(name, p, x, c, ctx.cursor), opts, ctx);
  countNeurons(name, size(x), opts.levels ?? 1, ctx.ops);
  const s = c.norm === "sample" ? sampleSpikeNormLif(p, x, opts) : spikeNormLif(p, x, opts);
  ctx.stats?.record(name, s);
  return s;
}

/** The spiking-mode norm `c.norm` selects, of `x [T, B, L, C]` (without the LIF). */
function branchNorm(
  site: string,
  p: LayerNormParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  cursor: BinCursor | undefined,
): tf.Tensor {
  if (c.norm === "causal") return causalNorm(site, p, x, cursor);
  if (c.norm === "sample") return sampleSpikeNorm(p, x);
  return spikeNorm(p, x);
}

/**
 * The causal spike norm of `x [T, B, L, C]` (statistics over T and the bins so far), or, with a
 * cursor, of its one bin from the running sums the cursor keeps at `site`.
 */
function causalNorm(
  site: string,
  p: LayerNormParams,
  x: tf.Tensor,
  cursor: BinCursor | undefined,
): tf.Tensor {
  if (!cursor) return causalSpikeNorm(p, x);
  const { sum, sumSq, n } = cursor.runningSums(site, x);
  return normaliseRunning(p, x, sum, sumSq, n);
}

/** Spike masking of Q or K spikes `[T, B, H, L, d]` at ratio `p` (random or by significance). */
function maskQK(x: tf.Tensor, p: number, c: ResolvedHybridConfig, k: Key): tf.Tensor {
  if (!c.rsm || p <= 0) return x;
  if (c.rsm.mode === "random") return randomSpikeMask(x, { p, key: k });
  return significanceMask(x, { p, mode: c.rsm.mode, key: k });
}

/**
 * Whether the LIF neurons' spikes are binary (0/1), so the products that read them can run the
 * event-driven kernels; multi-level spikes (`lif.levels` > 1) take the dense ones.
 */
function binarySpikes(c: ResolvedHybridConfig): boolean {
  return (c.lif.levels ?? 1) === 1;
}

/**
 * Whether block `index`'s attention input is binary spikes in spiking mode: always with the
 * membrane shortcut or SEW AND/IAND, and for block 0 (the embedding LIF's spikes); SEW ADD sums
 * reach 2, so later blocks read real-valued sums. Never with multi-level spikes.
 */
function spikingInput(c: ResolvedHybridConfig, index: number): boolean {
  return binarySpikes(c) && (c.residual === "membrane" || c.residual !== "add" || index === 0);
}

/**
 * Spiking-mode attention (Spikformer's softmax-free SSA) of block `p` on the stream `x
 * [T, B, L, D]`: the membrane shortcut fires on the stream first; Q, K, V are LIF spikes of
 * the spike-normed projections; TIM mixes Q across timesteps; RSM masks Q, K and the map;
 * Q·Kᵀ·V (masked) goes through the attention LIF and the output projection. Returns the
 * projection (real-valued, before the residual's norm).
 *
 * Q·Kᵀ is scaled by `ssaScale` (see its documentation for what it does behind the spike norm).
 *
 * @example
 * ```ts
 * import { initHybridParams, key, modelTables, resolveHybridConfig, spikingAttention, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const p = initHybridParams(key(0), c).blocks["0"];
 * const ctx = { training: false, index: 0, name: "block0", tables: modelTables(c), keys: {} };
 * const s = tf.cast(tf.randomUniform([4, 2, 10, 8]).greater(0.5), "float32");
 * const o = spikingAttention(p, s, c, ctx); // [4, 2, 10, 8]
 * ```
 */
export function spikingAttention(
  p: HybridBlockParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  ctx: BlockContext,
): tf.Tensor {
  const { name, ops } = ctx;
  const sn = p.sn!;
  const H = c.nHeads;
  const d = c.dModel / H;
  const T = x.shape[0];
  const membrane = c.residual === "membrane";
  // The membrane shortcut fires on the real-valued stream itself, without a norm: the per-trial
  // norm would remove each trial's mean level per channel, which the stream carries.
  const s = membrane ? lifSite(`${name}.shortcut`, x, c.lif, ctx) : x;
  const cursor = ctx.cursor;
  const [qr, kr, vr] = qkvProjection(p.attn, s, c, {
    name,
    ops,
    binary: spikingInput(c, ctx.index),
    cursor,
    separate: !ctx.training,
  });
  let q = heads(normLif(`${name}.q`, sn.q, qr, c, ctx), H);
  let k = heads(normLif(`${name}.k`, sn.k, kr, c, ctx), H);
  let v = heads(normLif(`${name}.v`, sn.v, vr, c, ctx), H);
  if (c.tim) {
    const timOpts = {
      alpha: c.tim.alpha,
      inThreshold: c.tim.inThreshold,
      outThreshold: c.tim.outThreshold,
      causal: c.causal,
    };
    // one bin: TIM's convolution at timestep t reads the window of Q̃[t − 1] of the last
    // kernel bins
    const timKernel = c.tim.kernel;
    q = cursor
      ? applyTimBin(p.tim!, q, timOpts, (t, x) => cursor.window(`${name}.tim${t}`, x, timKernel))
      : applyTim(p.tim!, q, timOpts);
    ctx.stats?.record(`${name}.tim`, q);
    if (ops && T > 1) {
      // TIM convolves each timestep's output Q̃[t−1] (t = 1..T−1) along the bins, mixes it
      // into Q[t] (scale and add per element) and runs its input and output neurons
      ops.conv(`${name}.tim`, tf.slice(q, 0, T - 1), d, {
        kernel: c.tim.kernel,
        centered: !c.causal,
      });
      const mixed = size(q) / T * (T - 1);
      ops.elementwise(`${name}.tim.mix`, "mul", 2 * mixed);
      ops.elementwise(`${name}.tim.mix`, "add", mixed);
      ops.elementwise(`${name}.tim.neurons`, "neuron", mixed + size(q));
    }
  }
  const ratio = c.rsm ? c.rsm.ratio[ctx.index] : 0;
  if (ratio > 0 && !ctx.keys.rsm) {
    throw new TypeError(
      `${name}: random spike masking (rsm ratio ${ratio}) draws its masks from ctx.key, ` +
        "also at inference; pass a key to apply (predict and evaluate take a seed)",
    );
  }
  if (ratio > 0) {
    ops?.elementwise(`${name}.rsm`, "mul", size(q) + size(k));
    if (cursor) {
      // one bin: its rows of the masks the full forward draws from the same keys
      q = tf.mul(q, cursor.spikeMask(ctx.index, "q")!);
      k = tf.mul(k, cursor.spikeMask(ctx.index, "k")!);
    } else {
      q = maskQK(q, ratio, c, foldIn(ctx.keys.rsm!, 0));
      k = maskQK(k, ratio, c, foldIn(ctx.keys.rsm!, 1));
    }
  }
  if (cursor) [k, v] = cursor.keysValues(name, k, v);
  const rsmAtt = !!c.rsm && c.rsm.mode === "random" && ratio > 0;
  if (ctx.training && !ops && !cursor && !ctx.tables.mulMask && !rsmAtt && kernelsActive()) {
    // training without a mask on the map: the product that recomputes the map backward
    const product = ssaProduct(q, k, v, c.ssaScale, binarySpikes(c));
    const o = normLif(`${name}.attn`, sn.attn, merge(product), c, {
      ...ctx,
      vThreshold: c.attnThreshold,
    });
    return linear(`${name}.o`, p.attn.o, o, ops, binarySpikes(c));
  }
  ops?.matmul(`${name}.attn.qk`, q, k, { transposeB: true });
  // Q and K are spikes: the event-driven kernel adds rows instead of multiplying
  const binary = binarySpikes(c);
  let att = scale(
    bmm(q, k, { transposeB: true, binaryA: binary, binaryB: binary }),
    c.ssaScale,
  ); // [T, B, H, L, L]
  ops?.elementwise(`${name}.attn.scale`, "mul", size(att));
  if (ctx.tables.mulMask) {
    ops?.elementwise(`${name}.attn.mask`, "mul", size(att));
    att = tf.mul(att, maskRows(ctx.tables.mulMask, cursor));
  }
  if (rsmAtt) {
    ops?.elementwise(`${name}.rsm.attn`, "mul", size(att));
    att = cursor
      ? tf.mul(att, cursor.spikeMask(ctx.index, "att")!)
      : randomSpikeMask(att, { p: ratio, key: foldIn(ctx.keys.rsm!, 2) });
  }
  ops?.matmul(`${name}.attn.av`, att, v);
  const o = normLif(`${name}.attn`, sn.attn, merge(bmm(att, v, { binaryB: binary })), c, {
    ...ctx,
    vThreshold: c.attnThreshold,
  });
  return linear(`${name}.o`, p.attn.o, o, ops, binary);
}

/**
 * Spiking-mode MLP of block `p` on the stream `x [T, B, L, D]`: (membrane shortcut: LIF of the
 * stream) → Linear → spike norm + LIF → Linear. Returns the second linear's output (before the
 * residual's norm).
 *
 * @example
 * ```ts
 * import { initHybridParams, key, modelTables, resolveHybridConfig, spikingMlp, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const p = initHybridParams(key(0), c).blocks["0"];
 * const ctx = { training: false, index: 0, name: "block0", tables: modelTables(c), keys: {} };
 * const f = spikingMlp(p, tf.ones([4, 2, 10, 8]), c, ctx); // [4, 2, 10, 8]
 * ```
 */
export function spikingMlp(
  p: HybridBlockParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  ctx: BlockContext,
): tf.Tensor {
  const { name, ops } = ctx;
  const membrane = c.residual === "membrane";
  const input = membrane ? lifSite(`${name}.mlpIn`, x, c.lif, ctx) : x;
  const h = normLif(
    `${name}.ff1`,
    p.sn!.ff1,
    linear(
      `${name}.ff1`,
      p.ff1,
      input,
      ops,
      binarySpikes(c) && (membrane || c.residual !== "add"),
    ),
    c,
    ctx,
  );
  return linear(`${name}.ff2`, p.ff2, h, ops, binarySpikes(c));
}

/**
 * The spiking residual of a block part with output `y`: the membrane shortcut adds the spike
 * norm of `y` to the real-valued stream (`x + dropout(norm(y))`); SEW residuals combine the
 * stream with the LIF spikes of the normed `y` (`sew(x, LIF(norm(y)))`, ADD / AND / IAND); the
 * plain residual fires on the sum (`LIF(x + norm(y))`).
 *
 * @example
 * ```ts
 * import { initLayerNorm, resolveHybridConfig, spikingResidual, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const x = tf.ones([4, 2, 10, 8]);
 * const y = spikingResidual(x, tf.randomNormal([4, 2, 10, 8]), initLayerNorm(8), c, {
 *   training: false,
 *   site: "block0.proj",
 * });
 * ```
 */
export function spikingResidual(
  x: tf.Tensor,
  y: tf.Tensor,
  norm: LayerNormParams,
  c: ResolvedHybridConfig,
  ctx: {
    training: boolean;
    site: string;
    key?: Key;
    ops?: OpsCollector;
    stats?: SpikeStatsCollector;
    cursor?: BinCursor;
  },
): tf.Tensor {
  if (c.residual === "membrane") {
    const yn = branchNorm(ctx.site, norm, y, c, ctx.cursor);
    ctx.ops?.elementwise(`${ctx.site}.norm`, "norm", size(y));
    ctx.ops?.elementwise(`${ctx.site}.add`, "add", size(x));
    return tf.add(x, dropout(yn, c.dropout, { training: ctx.training, key: ctx.key }));
  }
  if (c.residual === "plain") {
    // spikes of the sum: the branch's normed output joins the input spikes before the neuron
    const yn = branchNorm(ctx.site, norm, y, c, ctx.cursor);
    ctx.ops?.elementwise(`${ctx.site}.norm`, "norm", size(y));
    ctx.ops?.elementwise(`${ctx.site}.add`, "add", size(x));
    return lifSite(ctx.site, tf.add(x, yn), c.lif, ctx);
  }
  const s = normLif(ctx.site, norm, y, c, ctx);
  // SEW ADD adds; AND and IAND are logic on spikes (one operation per element)
  ctx.ops?.elementwise(`${ctx.site}.sew`, c.residual === "add" ? "add" : "mul", size(x));
  return sew(x, s, { mode: c.residual as "add" | "and" | "iand" });
}

/** The mode-specific functions of one block, as the model composes them. */
export interface BlockFunctions {
  /** The attention part's output (before the residual). */
  attention(
    p: HybridBlockParams,
    x: tf.Tensor,
    c: ResolvedHybridConfig,
    ctx: BlockContext,
  ): tf.Tensor;
  /** The MLP part's output (before the residual). */
  mlp(p: HybridBlockParams, x: tf.Tensor, c: ResolvedHybridConfig, ctx: BlockContext): tf.Tensor;
}

/**
 * The attention and MLP functions of `mode`.
 *
 * @example
 * ```ts
 * import { blockFunctions } from "@hest/hest";
 * const { attention, mlp } = blockFunctions("spiking");
 * ```
 */
export function blockFunctions(mode: Mode): BlockFunctions {
  return mode === "spiking"
    ? { attention: spikingAttention, mlp: spikingMlp }
    : { attention: standardAttention, mlp: standardMlp };
}
