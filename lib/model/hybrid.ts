/**
 * The hybrid enhanced spiking transformer: one parameter tree, two modes.
 *
 * `hybridTransformer(config)` returns a {@linkcode Model} whose `apply(params, batch, ctx)` runs
 * in **standard** mode (`ctx.mode = "standard"`: real-valued pre-norm transformer, softmax
 * attention, GELU feed-forward) or **spiking** mode (`ctx.mode = "spiking"`: the input is
 * encoded over `T` SNN timesteps, every projection is followed by a norm and a multi-step LIF
 * neuron, attention is Spikformer's softmax-free Q·Kᵀ·V·scale, and the output is the mean over
 * `T`). Both modes read the same embedding, attention, feed-forward and read-out weights; the
 * pre-LIF norms (`sn.*`) and the TIM convolution are used by the spiking mode only, the pre-norms
 * `ln1`/`ln2` by the standard mode only.
 *
 * Shapes: standard `[B, L, D]`; spiking `[T, B, L, D]` (T = SNN timesteps, L = bins incl. the
 * forward window). Enhancements, each a config switch:
 *
 * - `attention: "conv"` — convolutional self-attention (Li et al. 2019): Q and K from a causal
 *   1-D convolution over bins (`convKernel`, default 3); `localWindow` adds Yang et al.'s band
 *   mask; `causal` adds a causal mask (forecasting). Both modes.
 * - `cpg` — CPG-PE (Lv et al. 2024): binary positional spikes indexed by bin, fused by
 *   concatenation → the embedding linear (default) or by addition. Both modes.
 * - `tim` — the temporal interaction module on Q across the T timesteps (spiking mode).
 * - `residual` — SEW residuals `"add" | "and" | "iand"` or the membrane shortcut `"membrane"`
 *   (spiking mode; the standard mode always adds real values).
 * - `rsm` — random spike masking on Q, K and the attention map with per-layer ratios, or
 *   significance-based masking (spiking mode; see {@linkcode RsmConfig}).
 *
 * Masked bins still receive context in spiking mode: the embedding of a masked (zeroed) bin
 * carries its position (learned or CPG) and optionally a learned mask token, and each LIF is
 * preceded by a layer norm, so Q/K/V spikes exist at every bin (../shared/bench caveat 6).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import {
  applyCausalConv,
  bandMask,
  type CausalConvParams,
  causalMask,
  initCausalConv,
} from "../nn/conv.ts";
import { bmm } from "../../kernels/bmm.ts";
import { convKernel } from "../../kernels/conv.ts";
import { kernelsActive } from "../../kernels/wasm.ts";
import { cpgEncoding } from "../snn/cpg.ts";
import type { OpsCollector } from "../nn/types.ts";
import {
  applyLayerNorm,
  applyLinear,
  contextMask,
  dropout,
  gelu,
  initLayerNorm,
  initLinear,
  type LayerNormParams,
  type LinearParams,
  normalInit,
  sinusoidalEncoding,
} from "../nn/layers.ts";
import { type ApplyContext, type Mode } from "../nn/types.ts";
import { encodeInput, lif, type LifOptions } from "../snn/neurons.ts";
import { foldIn, type Key, split, tfSeed } from "../core/random.ts";
import { remat } from "../core/remat.ts";
import { randomSpikeMask, sew } from "../snn/spike_ops.ts";
import { spikeNorm, spikeNormLif } from "../snn/spike_norm.ts";
import { causalSpikeNorm } from "../snn/spike_norm.ts";
import { applyTim, initTim, type TimOptions, type TimParams } from "../snn/tim.ts";
import {
  type Model,
  type ModelBatch,
  type ResolvedTransformerConfig,
  resolveTransformerConfig,
  type TransformerConfig,
} from "./transformer.ts";
import type { Params } from "../core/tree.ts";

/** Random spike masking (RSM) settings. */
export interface RsmConfig {
  /** Masking ratio p (probability a spike is dropped), one value or one per layer. */
  ratio: number | readonly number[];
  /**
   * `"random"` (MST): Bernoulli(1 − p) keep mask on Q, K and the attention map, no rescaling,
   * the same at training and inference. `"spatial"`: the ⌊p·D⌋ least significant channels of Q
   * and K are masked, significance = the channel's firing rate over (T, B, L) in this forward
   * pass. `"temporal"`: per trial, the ⌊p·L⌋ least significant bins of Q and K are masked,
   * significance = the bin's firing rate over (T, channels). Ties are broken by a jitter drawn
   * from the call's key (< one spike's weight), so masks are deterministic for a key.
   */
  mode?: "random" | "spatial" | "temporal";
}

/** CPG-PE settings. */
export interface CpgConfig {
  /** Number of CPG neurons (default 16; with `"add"` fusion it is the model width). */
  dims?: number;
  /** `"concat"` (default): [input; cpg] → embedding linear. `"add"`: cpg added to the embedding. */
  fusion?: "concat" | "add";
  /** Largest period scale (default 1e4). */
  wMax?: number;
  /** Firing threshold a (default 0.8). */
  threshold?: number;
}

/** TIM settings (see lib/tim.ts). */
export interface TimConfig {
  /** Mixing weight α (default 0.5). */
  alpha?: number;
  /** Convolution kernel along bins (default 5). */
  kernel?: number;
  /** Input neuron threshold (default 0.3). */
  inThreshold?: number;
  /** Output neuron threshold (default 0.5). */
  outThreshold?: number;
}

/** Configuration of {@linkcode hybridTransformer}: the standard config plus the switches. */
export interface HybridConfig extends TransformerConfig {
  /** SNN timesteps T (default 4). */
  timesteps?: number;
  /** Attention kind (default `"dot"`). */
  attention?: "dot" | "conv";
  /** Kernel of the Q/K convolution (default 3). */
  convKernel?: number;
  /** Local attention window M (band |i − j| ≤ ⌊M/2⌋); default unlimited. */
  localWindow?: number;
  /** Causal attention and causal convolutions (forecasting); default false. */
  causal?: boolean;
  /** CPG positional encoding (default off). */
  cpg?: false | CpgConfig;
  /** Temporal interaction module on Q (default off). */
  tim?: false | TimConfig;
  /** Spiking-mode residual (default `"add"`, Spikformer's SEW-ADD). */
  residual?: "add" | "and" | "iand" | "membrane";
  /** Random spike masking (default off). */
  rsm?: false | RsmConfig;
  /** LIF neuron settings (defaults: τ 2, threshold 1, hard reset, sigmoid α 4, detached reset). */
  lif?: Pick<LifOptions, "tau" | "vThreshold" | "vReset" | "surrogate" | "detachReset">;
  /** Threshold of the attention LIF (default 0.5, Spikformer). */
  attnThreshold?: number;
  /** Scale of the softmax-free attention Q·Kᵀ·V (default 0.125, Spikformer's). */
  ssaScale?: number;
  /** Encoding of the input over T: `"repeat"` (direct, default) or `"poisson"`. */
  encoding?: "repeat" | "poisson";
  /** Learned mask token replacing the embedding of masked bins (default true). */
  maskToken?: boolean;
  /** Modes this model is trained/used in (default both). */
  modes?: readonly Mode[];
  /**
   * Count likelihood: `"poisson"` (default) or `"negbinomial"`, which adds a learned per-neuron
   * log-dispersion `logTheta` (initialised at ln 10) to the parameters; the trainer then uses
   * the negative-binomial NLL.
   */
  likelihood?: "poisson" | "negbinomial";
  /**
   * Normalisation in front of every spiking-mode LIF: `"trial"` (default, `spikeNorm`: over the
   * SNN timesteps and all bins of the trial) or `"causal"` (`causalSpikeNorm`: over the
   * timesteps and the bins up to each bin, so the spiking mode can stream, see lib/stream.ts).
   */
  norm?: "trial" | "causal";
}

/** A {@linkcode HybridConfig} with every default filled in. */
export interface ResolvedHybridConfig extends ResolvedTransformerConfig {
  /** SNN timesteps T. */
  timesteps: number;
  /** Attention kind. */
  attention: "dot" | "conv";
  /** Q/K convolution kernel. */
  convKernel: number;
  /** Local attention window, if any. */
  localWindow?: number;
  /** Causal attention and convolutions. */
  causal: boolean;
  /** CPG-PE settings, or false. */
  cpg: false | Required<CpgConfig>;
  /** TIM settings, or false. */
  tim: false | Required<TimConfig>;
  /** Spiking-mode residual. */
  residual: "add" | "and" | "iand" | "membrane";
  /** RSM with one ratio per layer, or false. */
  rsm: false | { ratio: readonly number[]; mode: "random" | "spatial" | "temporal" };
  /** LIF options. */
  lif: LifOptions;
  /** Attention LIF threshold. */
  attnThreshold: number;
  /** Softmax-free attention scale. */
  ssaScale: number;
  /** Input encoding over T. */
  encoding: "repeat" | "poisson";
  /** Learned mask token in use. */
  maskToken: boolean;
  /** Supported modes. */
  modes: readonly Mode[];
  /** Count likelihood. */
  likelihood: "poisson" | "negbinomial";
  /** Spiking-mode normalisation. */
  norm: "trial" | "causal";
}

const HYBRID_KEYS = [
  "timesteps",
  "attention",
  "convKernel",
  "localWindow",
  "causal",
  "cpg",
  "tim",
  "residual",
  "rsm",
  "lif",
  "attnThreshold",
  "ssaScale",
  "encoding",
  "maskToken",
  "modes",
  "likelihood",
  "norm",
];

function fail(key: string, what: string, v: unknown): never {
  throw new Error(`model config "${key}" must be ${what}, found ${JSON.stringify(v)}`);
}

function checkKeys(where: string, obj: object, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw new Error(
        `unknown key "${k}" in model config "${where}"; expected one of: ${allowed.join(", ")}`,
      );
    }
  }
}

/**
 * Validate a hybrid config and fill in defaults; unknown keys and bad values throw.
 *
 * @example
 * ```ts
 * import { resolveHybridConfig } from "./mod.ts";
 * resolveHybridConfig({ nInputs: 20, nOutputs: 29, bins: 50, tim: {} }).tim; // { alpha: 0.5, … }
 * ```
 */
export function resolveHybridConfig(config: HybridConfig): ResolvedHybridConfig {
  // the standard fields are validated by the standard resolver, the switches below
  const base: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) if (!HYBRID_KEYS.includes(k)) base[k] = v;
  const c = resolveTransformerConfig(base as unknown as TransformerConfig);
  const h = config;
  const T = h.timesteps ?? 4;
  if (!Number.isInteger(T) || T < 1) fail("timesteps", "an integer >= 1", T);
  const attention = h.attention ?? "dot";
  if (attention !== "dot" && attention !== "conv") fail("attention", '"dot" or "conv"', attention);
  const convKernel = h.convKernel ?? 3;
  if (!Number.isInteger(convKernel) || convKernel < 1) {
    fail("convKernel", "an integer >= 1", convKernel);
  }
  if (h.localWindow !== undefined && (!Number.isInteger(h.localWindow) || h.localWindow < 1)) {
    fail("localWindow", "an integer >= 1", h.localWindow);
  }
  let cpg: ResolvedHybridConfig["cpg"] = false;
  if (h.cpg) {
    checkKeys("cpg", h.cpg, ["dims", "fusion", "wMax", "threshold"]);
    const fusion = h.cpg.fusion ?? "concat";
    if (fusion !== "concat" && fusion !== "add") fail("cpg.fusion", '"concat" or "add"', fusion);
    const dims = fusion === "add" ? c.dModel : h.cpg.dims ?? 16;
    if (!Number.isInteger(dims) || dims < 1) fail("cpg.dims", "an integer >= 1", dims);
    cpg = { dims, fusion, wMax: h.cpg.wMax ?? 1e4, threshold: h.cpg.threshold ?? 0.8 };
  }
  let tim: ResolvedHybridConfig["tim"] = false;
  if (h.tim) {
    checkKeys("tim", h.tim, ["alpha", "kernel", "inThreshold", "outThreshold"]);
    tim = {
      alpha: h.tim.alpha ?? 0.5,
      kernel: h.tim.kernel ?? 5,
      inThreshold: h.tim.inThreshold ?? 0.3,
      outThreshold: h.tim.outThreshold ?? 0.5,
    };
    if (!(tim.alpha >= 0 && tim.alpha <= 1)) fail("tim.alpha", "in [0, 1]", tim.alpha);
  }
  const residual = h.residual ?? "add";
  if (!["add", "and", "iand", "membrane"].includes(residual)) {
    fail("residual", '"add", "and", "iand" or "membrane"', residual);
  }
  let rsm: ResolvedHybridConfig["rsm"] = false;
  if (h.rsm) {
    checkKeys("rsm", h.rsm, ["ratio", "mode"]);
    const r = h.rsm.ratio;
    const ratio = typeof r === "number" ? Array(c.nLayers).fill(r) : [...(r ?? [])];
    if (ratio.length !== c.nLayers) {
      fail("rsm.ratio", `a number or ${c.nLayers} numbers (one per layer)`, r);
    }
    if (ratio.some((p) => !(p >= 0 && p <= 1))) fail("rsm.ratio", "in [0, 1]", r);
    const mode = h.rsm.mode ?? "random";
    if (!["random", "spatial", "temporal"].includes(mode)) {
      fail("rsm.mode", '"random", "spatial" or "temporal"', mode);
    }
    rsm = { ratio, mode };
  }
  if (h.lif) checkKeys("lif", h.lif, ["tau", "vThreshold", "vReset", "surrogate", "detachReset"]);
  const encoding = h.encoding ?? "repeat";
  if (encoding !== "repeat" && encoding !== "poisson") {
    fail("encoding", '"repeat" or "poisson"', encoding);
  }
  const modes = h.modes ?? ["standard", "spiking"];
  if (
    !Array.isArray(modes) || modes.length === 0 ||
    modes.some((m) => m !== "standard" && m !== "spiking")
  ) {
    fail("modes", 'a non-empty list of "standard" / "spiking"', modes);
  }
  const likelihood = h.likelihood ?? "poisson";
  if (likelihood !== "poisson" && likelihood !== "negbinomial") {
    fail("likelihood", '"poisson" or "negbinomial"', likelihood);
  }
  const norm = h.norm ?? "trial";
  if (norm !== "trial" && norm !== "causal") fail("norm", '"trial" or "causal"', norm);
  return {
    likelihood,
    norm,
    ...c,
    timesteps: T,
    attention,
    convKernel,
    localWindow: h.localWindow,
    causal: h.causal ?? false,
    cpg,
    tim,
    residual,
    rsm,
    lif: { ...(h.lif ?? {}) },
    attnThreshold: h.attnThreshold ?? 0.5,
    ssaScale: h.ssaScale ?? 0.125,
    encoding,
    maskToken: h.maskToken ?? true,
    modes,
  };
}

/** Collects per-layer spike statistics during an apply (pass as `ctx.stats`). */
export interface SpikeStatsCollector {
  /** Called with a site name (e.g. `"block0.q"`) and its spike tensor. */
  record(name: string, spikes: tf.Tensor): void;
}

/** Context of a hybrid apply: the standard context plus a spike-statistics collector. */
export interface HybridApplyContext extends ApplyContext {
  /** Receives every LIF site's spikes (spiking mode). */
  readonly stats?: SpikeStatsCollector;
}

/** One part of a block: `(i, x, blockParams) → x` with its residual. */
type BlockPart = (i: number, x: tf.Tensor, p: HybridBlock) => tf.Tensor;
/** Block parameters of the attention part and of the MLP part (paths inside a block). */
const ATTENTION_PARAMS = /^(attn|ln1|tim|sn\.(q|k|v|attn|o))\./;
const MLP_PARAMS = /^(ff1|ff2|ln2|sn\.(ff1|ff2))\./;

interface HybridBlock extends Params {
  ln1: LayerNormParams;
  ln2: LayerNormParams;
  attn: Params;
  ff1: LinearParams;
  ff2: LinearParams;
  sn: Params;
}

/** A hybrid model: a {@linkcode Model} with a resolved hybrid config. */
export interface HybridModel extends Model {
  /** Resolved configuration. */
  readonly config: ResolvedHybridConfig;
  /** Log-rates for the given mode. */
  apply(params: Params, batch: ModelBatch, ctx: HybridApplyContext): tf.Tensor3D;
}

/**
 * Build the hybrid transformer (see the module docs).
 *
 * @example
 * ```ts
 * import { hybridTransformer, key, tf } from "./mod.ts";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8, tim: {}, cpg: {} });
 * const params = model.init(key(0));
 * const x = { input: tf.zeros([2, 10, 3]) };
 * const standard = model.apply(params, x, { training: false, mode: "standard" });
 * const spiking = model.apply(params, x, { training: false, mode: "spiking" });
 * ```
 */
export function hybridTransformer(config: HybridConfig): HybridModel {
  const c = resolveHybridConfig(config);
  const total = c.bins + c.forwardBins;
  const D = c.dModel;
  const H = c.nHeads;
  const d = D / H;
  const outGain = 1 / Math.sqrt(2 * c.nLayers);
  const embedIn = c.nInputs + (c.cpg && c.cpg.fusion === "concat" ? c.cpg.dims : 0);
  const lifOpts: LifOptions = { ...c.lif };
  const timOpts: TimOptions | undefined = c.tim
    ? {
      alpha: c.tim.alpha,
      inThreshold: c.tim.inThreshold,
      outThreshold: c.tim.outThreshold,
      causal: c.causal,
    }
    : undefined;

  function init(k: Key): Params {
    const [kEmb, kPos, kOut, kBlocks, kTok] = split(k, 5);
    const blocks: Params = {};
    for (let i = 0; i < c.nLayers; i++) {
      const [ka, kb, ko, kf1, kf2, kt] = split(foldIn(kBlocks, i), 6);
      const attn: Params = { o: initLinear(ko, [D, D], { gain: outGain }) };
      if (c.attention === "conv") {
        const [kq, kk] = split(ka);
        attn.qConv = initCausalConv(kq, { channelsIn: D, channelsOut: D, kernel: c.convKernel });
        attn.kConv = initCausalConv(kk, { channelsIn: D, channelsOut: D, kernel: c.convKernel });
        attn.v = initLinear(kb, [D, D]);
      } else {
        attn.qkv = initLinear(ka, [D, 3 * D]);
      }
      const sn: Params = {};
      for (const site of ["q", "k", "v", "attn", "o", "ff1", "ff2"]) {
        sn[site] = initLayerNorm(site === "ff1" ? c.dFF : D);
      }
      const block: HybridBlock = {
        ln1: initLayerNorm(D),
        ln2: initLayerNorm(D),
        attn,
        ff1: initLinear(kf1, [D, c.dFF]),
        ff2: initLinear(kf2, [c.dFF, D], { gain: outGain }),
        sn,
      };
      if (c.tim) block.tim = initTim(kt, { channels: d, kernel: c.tim.kernel });
      blocks[String(i)] = block;
    }
    const params: Params = {
      embed: initLinear(kEmb, [embedIn, D]),
      snEmbed: initLayerNorm(D),
      blocks,
      lnFinal: initLayerNorm(D),
      readout: initLinear(kOut, [D, c.nOutputs], { bias: c.outputBias }),
    };
    if (c.position === "learned") params.pos = normalInit(kPos, [total, D], { std: 0.02 });
    if (c.maskToken) params.maskToken = normalInit(kTok, [D], { std: 0.02 });
    if (c.likelihood === "negbinomial") params.logTheta = tf.fill([c.nOutputs], Math.log(10));
    return params;
  }

  // Constant tables, created once and kept out of tidy scopes.
  const consts: {
    pe?: tf.Tensor2D;
    cpg?: tf.Tensor2D;
    addMask?: tf.Tensor2D;
    mulMask?: tf.Tensor2D;
  } = {};
  function constants() {
    if (c.position === "sinusoidal" && !consts.pe) {
      consts.pe = tf.keep(sinusoidalEncoding(total, D));
    }
    if (c.cpg && !consts.cpg) {
      consts.cpg = tf.keep(
        cpgEncoding(total, c.cpg.dims, { wMax: c.cpg.wMax, threshold: c.cpg.threshold }),
      );
    }
    if ((c.causal || c.localWindow || c.context) && !consts.addMask) {
      consts.addMask = tf.keep(tf.tidy(() => {
        let m: tf.Tensor2D = tf.zeros([total, total]);
        if (c.causal) m = tf.add(m, causalMask(total));
        if (c.localWindow) m = tf.add(m, bandMask(total, { window: c.localWindow }));
        if (c.context) m = tf.add(m, contextMask(total, c.context));
        return tf.minimum(m, 0) as tf.Tensor2D;
      }));
      // The softmax-free spiking attention masks multiplicatively: 1 where allowed, 0 elsewhere.
      consts.mulMask = tf.keep(tf.tidy(() => tf.cast(tf.greater(consts.addMask!, -1), "float32")));
    }
    return consts;
  }

  /** Embedded input [B, L+F, D] (real-valued), shared by both modes. */
  function embed(
    params: Params,
    batch: ModelBatch,
    input: tf.Tensor,
    ops?: OpsCollector,
  ): tf.Tensor {
    const k = constants();
    const b = input.shape[input.rank - 3];
    const lead = input.shape.slice(0, -2);
    let x: tf.Tensor = c.inputTransform === "log1p" ? tf.log1p(input) : input;
    if (c.forwardBins > 0) {
      x = tf.concat(
        [x, tf.zeros([...lead.slice(0, -1), b, c.forwardBins, c.nInputs])],
        input.rank - 2,
      );
    }
    if (c.cpg && c.cpg.fusion === "concat") {
      const pe = tf.broadcastTo(k.cpg!, [...x.shape.slice(0, -1), c.cpg.dims]);
      x = tf.concat([x, pe], -1);
    }
    ops?.linear("embed", x, D);
    let e = applyLinear(params.embed as LinearParams, x);
    if (c.maskToken && batch.inputMask) {
      // bins whose every input neuron is masked get the learned mask token
      const m = tf.concat(
        [tf.min(batch.inputMask, -1, true), tf.zeros([b, c.forwardBins, 1])],
        1,
      ); // [B, L+F, 1]
      e = tf.add(tf.mul(e, tf.sub(1, m)), tf.mul(m, params.maskToken as tf.Tensor));
    }
    if (c.position === "learned") e = tf.add(e, params.pos as tf.Tensor);
    else e = tf.add(e, k.pe!);
    if (c.cpg && c.cpg.fusion === "add") e = tf.add(e, k.cpg!);
    return e;
  }

  /** `[1, ...]` repeated T times along axis 0 (concat: a copy, ~5× faster than Tile on wasm). */
  function repeatT(x: tf.Tensor, T: number): tf.Tensor {
    return T === 1 ? x : tf.concat(Array.from({ length: T }, () => x), 0);
  }

  function heads(x: tf.Tensor): tf.Tensor {
    // [..., L, D] → [..., H, L, d]
    const lead = x.shape.slice(0, -2);
    const r = x.rank; // the reshaped tensor [..., L, H, d] has rank r + 1
    const order = [...lead.map((_, i) => i), r - 1, r - 2, r];
    return tf.transpose(tf.reshape(x, [...lead, total, H, d]), order);
  }

  function merge(x: tf.Tensor): tf.Tensor {
    // [..., H, L, d] → [..., L, D]
    const r = x.rank;
    const lead = x.shape.slice(0, -3);
    const order = [...lead.map((_, i) => i), r - 2, r - 3, r - 1];
    return tf.reshape(tf.transpose(x, order), [...lead, total, D]);
  }

  /** The Q/K convolution: the fused WASM kernel on wasm/cpu, else applyCausalConv. */
  function convAt(p: CausalConvParams, x: tf.Tensor, binary: boolean): tf.Tensor {
    if (!kernelsActive()) return applyCausalConv(p, x, { centered: !c.causal });
    const kw = p.w.shape[0];
    return convKernel(x, p.w, p.b, { padLeft: c.causal ? kw - 1 : Math.floor(kw / 2), binary });
  }

  function qkvProject(
    p: HybridBlock,
    x: tf.Tensor,
    name: string,
    ops?: OpsCollector,
    binary = false,
    separate = false,
  ): [tf.Tensor, tf.Tensor, tf.Tensor] {
    if (c.attention === "conv") {
      const opts = { centered: !c.causal };
      ops?.conv(`${name}.q`, x, D, { kernel: c.convKernel, centered: opts.centered });
      ops?.conv(`${name}.k`, x, D, { kernel: c.convKernel, centered: opts.centered });
      ops?.linear(`${name}.v`, x, D);
      return [
        convAt(p.attn.qConv as CausalConvParams, x, binary),
        convAt(p.attn.kConv as CausalConvParams, x, binary),
        applyLinear(p.attn.v as LinearParams, x, { binary }),
      ];
    }
    ops?.linear(`${name}.qkv`, x, 3 * D);
    const qkv = p.attn.qkv as LinearParams;
    if (separate) {
      // Three products with the weight's column blocks instead of one product and a split: the
      // same values bit for bit (each output is the same dot product), without copying the whole
      // [.., 3D] result through SplitV (measured on the reference b32 spiking forward: 165 of
      // 1280 ms). Only outside training: there, x's gradient would sum the three blocks in
      // another order than the single product's, and training would leave its committed path.
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
    return tf.split(applyLinear(qkv, x, { binary }), 3, -1) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
  }

  /**
   * Block i on x, as its two parts (attention with its residual, then the MLP with its
   * residual): directly, or with `ctx.remat` in training each part rematerialised
   * (lib/remat.ts: its activations recomputed in the backward pass), with gradients for the
   * parameters of that part this mode uses.
   */
  function runBlock(
    i: number,
    x: tf.Tensor,
    p: HybridBlock,
    mode: Mode,
    ctx: HybridApplyContext,
    parts: [BlockPart, BlockPart],
  ): tf.Tensor {
    const [attention, mlp] = parts;
    if (!(ctx.remat && ctx.training)) return mlp(i, attention(i, x, p), p);
    const part = (fn: BlockPart, re: RegExp, y: tf.Tensor) =>
      remat((xx, pp: HybridBlock) => fn(i, xx, pp), { x: y, params: p }, {
        trainable: (path) => re.test(path) && usesParam(`blocks.${i}.${path}`, mode),
      });
    return part(mlp, MLP_PARAMS, part(attention, ATTENTION_PARAMS, x));
  }

  function applyStandard(params: Params, batch: ModelBatch, ctx: HybridApplyContext): tf.Tensor3D {
    const keys = ctx.training && ctx.key ? split(ctx.key, 2 + 3 * c.nLayers) : [];
    const sub = (i: number): ApplyContext => ({ training: ctx.training, key: keys[i] });
    const k = constants();
    const ops = ctx.ops;
    const lin = (name: string, w: LinearParams, x: tf.Tensor) => {
      ops?.linear(name, x, w.w.shape[1]);
      return applyLinear(w, x);
    };
    let x = dropout(embed(params, batch, batch.input, ops), c.embedDropout, sub(0));
    const blocks = params.blocks as Params;
    const attention = (i: number, x: tf.Tensor, p: HybridBlock): tf.Tensor => {
      const [q, kk, v] = qkvProject(
        p,
        applyLayerNorm(p.ln1, x),
        `block${i}`,
        ops,
        false,
        !ctx.training,
      ).map(heads);
      ops?.matmul(`block${i}.attn.qk`, q, kk, { transposeB: true });
      let scores = tf.mul(bmm(q, kk, { transposeB: true }), 1 / Math.sqrt(d));
      if (k.addMask) scores = tf.add(scores, k.addMask);
      const att = dropout(tf.softmax(scores, -1), c.attnDropout, sub(1 + 3 * i));
      ops?.matmul(`block${i}.attn.av`, att, v);
      const a = lin(`block${i}.o`, p.attn.o as LinearParams, merge(bmm(att, v)));
      return tf.add(x, dropout(a, c.dropout, sub(2 + 3 * i)));
    };
    const mlp = (i: number, x: tf.Tensor, p: HybridBlock): tf.Tensor => {
      const h = gelu(lin(`block${i}.ff1`, p.ff1, applyLayerNorm(p.ln2, x)));
      return tf.add(x, dropout(lin(`block${i}.ff2`, p.ff2, h), c.dropout, sub(3 + 3 * i)));
    };
    for (let i = 0; i < c.nLayers; i++) {
      x = runBlock(i, x, blocks[String(i)] as HybridBlock, "standard", ctx, [attention, mlp]);
    }
    x = applyLayerNorm(params.lnFinal as LayerNormParams, x);
    x = dropout(x, c.rateDropout, sub(1 + 3 * c.nLayers));
    return lin("readout", params.readout as LinearParams, x) as tf.Tensor3D;
  }

  /** Significance-based or random spike masking of Q / K spikes `[T, B, H, L, d]`. */
  function rsmQK(x: tf.Tensor, p: number, k: Key): tf.Tensor {
    if (!c.rsm || p <= 0) return x;
    if (c.rsm.mode === "random") return randomSpikeMask(x, { p, key: k });
    const mode = c.rsm.mode;
    // The keep mask is a constant of the forward pass: computed inside a custom-gradient op so
    // the (non-differentiable) ranking is not taped; the gradient is dy · mask.
    const masked = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const xx = args[0] as tf.Tensor;
      const save = args[1] as tf.GradSaveFunc;
      const keep = significanceKeep(xx, p, k, mode);
      save([keep]);
      return {
        value: tf.mul(xx, keep),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]),
      };
    });
    return masked(x);
  }

  /** 0/1 keep mask (broadcastable to x) masking the least significant channels or bins. */
  function significanceKeep(
    x: tf.Tensor,
    p: number,
    k: Key,
    mode: "spatial" | "temporal",
  ): tf.Tensor {
    const [T, B] = x.shape;
    const jitterScale = 0.5 / (T * B * total * D);
    if (mode === "spatial") {
      // channel significance: firing rate over (T, B, L) of each of the D = H·d channels
      const nMask = Math.floor(p * D);
      if (nMask === 0) return tf.ones([H, 1, d]);
      const rate = tf.reshape(tf.mean(x, [0, 1, 3]), [D]);
      const jitter = tf.mul(tf.randomUniform([D], 0, 1, "float32", tfSeed(k)), jitterScale);
      const { indices } = tf.topk(tf.neg(tf.add(rate, jitter)), nMask);
      return tf.reshape(tf.sub(1, tf.sum(tf.oneHot(indices, D), 0)), [H, 1, d]);
    }
    // temporal: per trial, bin significance = firing rate over (T, heads, channels)
    const nMask = Math.floor(p * total);
    if (nMask === 0) return tf.ones([1, B, 1, total, 1]);
    const rate = tf.mean(x, [0, 2, 4]); // [B, L]
    const jitter = tf.mul(tf.randomUniform([B, total], 0, 1, "float32", tfSeed(k)), jitterScale);
    const { indices } = tf.topk(tf.neg(tf.add(rate, jitter)), nMask); // [B, nMask]
    return tf.reshape(tf.sub(1, tf.sum(tf.oneHot(indices, total), 1)), [1, B, 1, total, 1]);
  }

  function applySpiking(params: Params, batch: ModelBatch, ctx: HybridApplyContext): tf.Tensor3D {
    const T = c.timesteps;
    const spikeNormFn = c.norm === "causal" ? causalSpikeNorm : spikeNorm;
    const keys = ctx.key ? split(ctx.key, 4 + 4 * c.nLayers) : [];
    const trainKey = (i: number): ApplyContext => ({ training: ctx.training, key: keys[i] });
    // RSM applies at inference too, so it needs a key even when not training: derive a fixed one.
    const rsmKey = (i: number, j: number): Key =>
      foldIn(keys[2 + 4 * i] ?? foldIn([0x5eed, 0x45e] as Key, i), j);
    const k = constants();
    const record = (name: string, s: tf.Tensor) => ctx.stats?.record(name, s);
    const lifAt = (name: string, x: tf.Tensor, opts: LifOptions = lifOpts) => {
      const s = lif(x, opts);
      record(name, s);
      return s;
    };
    /** LIF of the spike norm of x: fused into one kernel at inference for the per-trial norm. */
    const normLifAt = (
      name: string,
      p: LayerNormParams,
      x: tf.Tensor,
      opts: LifOptions = lifOpts,
    ) => {
      if (c.norm === "causal") return lifAt(name, spikeNormFn(p, x), opts);
      const s = spikeNormLif(p, x, opts);
      record(name, s);
      return s;
    };
    const encodeKey = keys[0] ?? foldIn([0xe5c0, 0xde] as Key, 0);
    const ops = ctx.ops;
    // Spike inputs (0/1) take the event-driven kernel: the attention output, the MLP hidden
    // spikes, and the block input when it is spikes (membrane shortcut, SEW AND/IAND, block 0;
    // SEW ADD sums reach 2, so after the first residual the stream is not binary).
    const lin = (name: string, w: LinearParams, x: tf.Tensor, binary = false) => {
      ops?.linear(name, x, w.w.shape[1]);
      return applyLinear(w, x, { binary });
    };
    // Direct encoding feeds the same real-valued input at every timestep, so the embedding is
    // computed once and repeated over T (identical values, 1/T of the work and MACs).
    let e = c.encoding === "repeat"
      ? repeatT(tf.expandDims(embed(params, batch, batch.input, ops), 0), T)
      : embed(
        params,
        batch,
        encodeInput(batch.input, { T, mode: "poisson", key: encodeKey }),
        ops,
      ); // [T, B, L+F, D]
    e = dropout(e, c.embedDropout, trainKey(1));
    const membrane = c.residual === "membrane";
    let x = membrane ? e : normLifAt("embed", params.snEmbed as LayerNormParams, e);
    const blocks = params.blocks as Params;
    const attention = (i: number, x: tf.Tensor, p: HybridBlock): tf.Tensor => {
      const sn = p.sn as Record<string, LayerNormParams>;
      // The membrane shortcut fires on the real-valued stream itself, without a norm: the
      // per-trial norm would remove each trial's mean level per channel, which the stream carries
      // (measured: adding it cost 0.05 spiking co-bps on Lorenz, 600 alternating steps).
      const s = membrane ? lifAt(`block${i}.shortcut`, x) : x;
      const spikeIn = membrane || c.residual !== "add" || i === 0;
      const [qr, kr, vr] = qkvProject(p, s, `block${i}`, ops, spikeIn, !ctx.training);
      let q = heads(normLifAt(`block${i}.q`, sn.q, qr));
      let kk = heads(normLifAt(`block${i}.k`, sn.k, kr));
      const v = heads(normLifAt(`block${i}.v`, sn.v, vr));
      if (c.tim) {
        q = applyTim(p.tim as TimParams, q, timOpts);
        record(`block${i}.tim`, q);
        // TIM convolves each timestep's output Q̃[t−1] (t = 1..T−1) along the bins
        if (ops && T > 1) {
          ops.conv(`block${i}.tim`, tf.slice(q, 0, T - 1), d, {
            kernel: c.tim.kernel,
            centered: !c.causal,
          });
        }
      }
      const ratio = c.rsm ? c.rsm.ratio[i] : 0;
      q = rsmQK(q, ratio, rsmKey(i, 0));
      kk = rsmQK(kk, ratio, rsmKey(i, 1));
      ops?.matmul(`block${i}.attn.qk`, q, kk, { transposeB: true });
      // Q and K are spikes: the event-driven kernel adds rows instead of multiplying
      let att = tf.mul(
        bmm(q, kk, { transposeB: true, binaryA: true, binaryB: true }),
        c.ssaScale,
      ); // [T, B, H, L, L]
      if (k.mulMask) att = tf.mul(att, k.mulMask);
      if (c.rsm && c.rsm.mode === "random" && ratio > 0) {
        att = randomSpikeMask(att, { p: ratio, key: rsmKey(i, 2) });
      }
      ops?.matmul(`block${i}.attn.av`, att, v);
      const o = normLifAt(`block${i}.attn`, sn.attn, merge(bmm(att, v, { binaryB: true })), {
        ...lifOpts,
        vThreshold: c.attnThreshold,
      });
      const proj = lin(`block${i}.o`, p.attn.o as LinearParams, o, true);
      return membrane
        ? tf.add(x, dropout(spikeNormFn(sn.o, proj), c.dropout, trainKey(3 + 4 * i)))
        : sew(x, normLifAt(`block${i}.proj`, sn.o, proj), {
          mode: c.residual as "add" | "and" | "iand",
        });
    };
    const mlp = (i: number, x: tf.Tensor, p: HybridBlock): tf.Tensor => {
      const sn = p.sn as Record<string, LayerNormParams>;
      if (membrane) {
        const h = normLifAt(
          `block${i}.ff1`,
          sn.ff1,
          lin(`block${i}.ff1`, p.ff1, lifAt(`block${i}.mlpIn`, x), true),
        );
        return tf.add(
          x,
          dropout(
            spikeNormFn(sn.ff2, lin(`block${i}.ff2`, p.ff2, h, true)),
            c.dropout,
            trainKey(4 + 4 * i),
          ),
        );
      }
      const h = normLifAt(
        `block${i}.ff1`,
        sn.ff1,
        lin(`block${i}.ff1`, p.ff1, x, c.residual !== "add"),
      );
      const f = normLifAt(`block${i}.ff2`, sn.ff2, lin(`block${i}.ff2`, p.ff2, h, true));
      return sew(x, f, { mode: c.residual as "add" | "and" | "iand" });
    };
    for (let i = 0; i < c.nLayers; i++) {
      x = runBlock(i, x, blocks[String(i)] as HybridBlock, "spiking", ctx, [attention, mlp]);
    }
    let y = tf.mean(x, 0); // [B, L+F, D]
    y = applyLayerNorm(params.lnFinal as LayerNormParams, y);
    y = dropout(y, c.rateDropout, trainKey(2 + 4 * c.nLayers));
    return lin("readout", params.readout as LinearParams, y) as tf.Tensor3D;
  }

  function apply(params: Params, batch: ModelBatch, ctx: HybridApplyContext): tf.Tensor3D {
    const x0 = batch.input;
    if (x0.rank !== 3 || x0.shape[1] !== c.bins || x0.shape[2] !== c.nInputs) {
      throw new Error(
        `model input must be [batch, ${c.bins}, ${c.nInputs}], found [${x0.shape.join(", ")}]`,
      );
    }
    const mode = ctx.mode ?? c.modes[0];
    if (!c.modes.includes(mode)) {
      throw new Error(`this model runs in modes ${c.modes.join(", ")}; "${mode}" was requested`);
    }
    if (ctx.training && !ctx.key && (c.dropout > 0 || c.embedDropout > 0 || c.rateDropout > 0)) {
      throw new Error("dropout in training mode needs ctx.key");
    }
    return tf.tidy(() =>
      mode === "spiking" ? applySpiking(params, batch, ctx) : applyStandard(params, batch, ctx)
    );
  }

  function usesParam(path: string, mode: Mode): boolean {
    if (path.startsWith("snEmbed.")) return mode === "spiking" && c.residual !== "membrane";
    const spikingOnly = /^blocks\.\d+\.(sn|tim)\./.test(path);
    const standardOnly = /^blocks\.\d+\.ln[12]\./.test(path);
    return mode === "spiking" ? !standardOnly : !spikingOnly;
  }

  return {
    config: c,
    init,
    apply: apply as Model["apply"],
    modes: c.modes,
    usesParam,
  } as HybridModel;
}
