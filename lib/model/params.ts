/**
 * The hybrid model's parameters as typed records, and their initialisation.
 *
 * One tree serves both modes. Which leaves a mode reads:
 *
 * | leaf | standard | spiking |
 * |---|---|---|
 * | `embed`, `pos`, `maskToken`, `blocks.i.attn`, `blocks.i.ff1/ff2`, `lnFinal`, `readout` | ✓ | ✓ |
 * | `blocks.i.ln1`, `blocks.i.ln2` (pre-norms) | ✓ | |
 * | `snEmbed`, `blocks.i.sn.*` (spike norms in front of the LIFs), `blocks.i.tim` | | ✓ |
 *
 * A model built for one mode only (`modes: ["standard"]`, the NDT-style `standard` preset)
 * initialises only the leaves that mode reads.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { foldIn, type Key, split } from "../core/random.ts";
import type { Params } from "../core/tree.ts";
import { type CausalConvParams, initCausalConv } from "../nn/conv.ts";
import {
  initLayerNorm,
  initLinear,
  type LayerNormParams,
  type LinearParams,
  normalInit,
} from "../nn/layers.ts";
import type { Mode } from "../nn/types.ts";
import { initTim, type TimParams } from "../snn/tim.ts";
import type { ResolvedHybridConfig } from "./config.ts";

/** Attention weights: the fused Q/K/V product (dot attention) or Q/K convolutions (conv). */
export type HybridAttentionParams = {
  /** Fused query/key/value projection `[D, 3D]` (`attention: "dot"`). */
  qkv?: LinearParams;
  /** Query convolution over bins (`attention: "conv"`). */
  qConv?: CausalConvParams;
  /** Key convolution over bins (`attention: "conv"`). */
  kConv?: CausalConvParams;
  /** Value projection `[D, D]` (`attention: "conv"`). */
  v?: LinearParams;
  /** Output projection `[D, D]`. */
  o: LinearParams;
};

/** The spike norms in front of a block's LIF neurons (spiking mode). */
export type SpikeNormSites = {
  /** Before the query LIF. */
  q: LayerNormParams;
  /** Before the key LIF. */
  k: LayerNormParams;
  /** Before the value LIF. */
  v: LayerNormParams;
  /** Before the attention LIF (on Q·Kᵀ·V). */
  attn: LayerNormParams;
  /** On the output projection (before the SEW LIF, or the membrane shortcut's addend). */
  o: LayerNormParams;
  /** Before the hidden MLP LIF (width dFF). */
  ff1: LayerNormParams;
  /** On the MLP output. */
  ff2: LayerNormParams;
};

/** One block's parameters. */
export type HybridBlockParams = {
  /** Pre-norm of the attention (standard mode). */
  ln1?: LayerNormParams;
  /** Pre-norm of the MLP (standard mode). */
  ln2?: LayerNormParams;
  /** Attention weights. */
  attn: HybridAttentionParams;
  /** MLP hidden layer `[D, dFF]`. */
  ff1: LinearParams;
  /** MLP output layer `[dFF, D]`. */
  ff2: LinearParams;
  /** Spike norms (spiking mode). */
  sn?: SpikeNormSites;
  /** Temporal interaction module on Q (spiking mode, `tim` set). */
  tim?: TimParams;
};

/**
 * The whole parameter tree of a hybrid model (a type alias, so it is a {@linkcode Params}
 * tree as it is: optional leaves are absent, never undefined).
 */
export type HybridParams = {
  /** Input embedding `[nInputs (+ CPG dims), D]`. */
  embed: LinearParams;
  /** Spike norm before the embedding LIF (spiking mode, SEW residuals). */
  snEmbed?: LayerNormParams;
  /** Learned positions `[bins + forwardBins, D]` (`position: "learned"`). */
  pos?: tf.Tensor;
  /** Learned embedding of fully masked bins `[D]` (`maskToken`). */
  maskToken?: tf.Tensor;
  /** Blocks by index (`"0"`, `"1"`, …). */
  blocks: Record<string, HybridBlockParams>;
  /** Final layer norm. */
  lnFinal: LayerNormParams;
  /** Read-out `[D, nOutputs]` to log-rates. */
  readout: LinearParams;
  /** Per-neuron log-dispersion (`likelihood: "negbinomial"`). */
  logTheta?: tf.Tensor;
};

/**
 * Fresh parameters for a resolved config; only the leaves the config's modes read are created.
 *
 * @example
 * ```ts
 * import { initHybridParams, key, resolveHybridConfig } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const p = initHybridParams(key(0), c);
 * console.log(p.blocks["0"].attn.qkv?.w.shape); // [8, 24]
 * ```
 */
export function initHybridParams(k: Key, c: ResolvedHybridConfig): HybridParams {
  const D = c.dModel;
  const d = D / c.nHeads;
  const standard = c.modes.includes("standard");
  const spiking = c.modes.includes("spiking");
  // Residual output projections scaled by 1/√(2·layers) (GPT-2) so the stream stays O(1).
  const outGain = 1 / Math.sqrt(2 * c.nLayers);
  // Spiking mode: the last norm of each residual branch starts at config.branchGain (absent = 1,
  // so older runs reproduce); the weights' scale cancels in the norm, its gain does not.
  const branchGain = c.branchGain ?? 1;
  const embedIn = c.nInputs + (c.cpg && c.cpg.fusion === "concat" ? c.cpg.dims : 0);
  const [kEmb, kPos, kOut, kBlocks, kTok] = split(k, 5);
  const blocks: Record<string, HybridBlockParams> = {};
  for (let i = 0; i < c.nLayers; i++) {
    const [ka, kb, ko, kf1, kf2, kt] = split(foldIn(kBlocks, i), 6);
    const attn: HybridAttentionParams = { o: initLinear(ko, [D, D], { gain: outGain }) };
    if (c.attention === "conv") {
      const [kq, kk] = split(ka);
      attn.qConv = initCausalConv(kq, { channelsIn: D, channelsOut: D, kernel: c.convKernel });
      attn.kConv = initCausalConv(kk, { channelsIn: D, channelsOut: D, kernel: c.convKernel });
      attn.v = initLinear(kb, [D, D]);
    } else {
      attn.qkv = initLinear(ka, [D, 3 * D]);
    }
    // Leaves in a fixed order (pre-norms, attention, MLP, spike norms, TIM): the trainer's
    // gradient and clipping sums run in this order, so it is part of a run's reproducibility.
    const block = {} as HybridBlockParams;
    if (standard) {
      block.ln1 = initLayerNorm(D);
      block.ln2 = initLayerNorm(D);
    }
    block.attn = attn;
    block.ff1 = initLinear(kf1, [D, c.dFF]);
    block.ff2 = initLinear(kf2, [c.dFF, D], { gain: outGain });
    if (spiking) {
      block.sn = {
        q: initLayerNorm(D),
        k: initLayerNorm(D),
        v: initLayerNorm(D),
        attn: initLayerNorm(D),
        o: branchNorm(D, branchGain),
        ff1: initLayerNorm(c.dFF),
        ff2: branchNorm(D, branchGain),
      };
      if (c.tim) block.tim = initTim(kt, { channels: d, kernel: c.tim.kernel });
    }
    blocks[String(i)] = block;
  }
  const params = { embed: initLinear(kEmb, [embedIn, D]) } as HybridParams;
  if (spiking && c.residual !== "membrane") params.snEmbed = initLayerNorm(D);
  params.blocks = blocks;
  params.lnFinal = initLayerNorm(D);
  params.readout = initLinear(kOut, [D, c.nOutputs], { bias: c.outputBias });
  if (c.position === "learned") {
    params.pos = normalInit(kPos, [c.bins + c.forwardBins, D], { std: 0.02 });
  }
  if (c.maskToken) params.maskToken = normalInit(kTok, [D], { std: 0.02 });
  if (c.likelihood === "negbinomial") params.logTheta = tf.fill([c.nOutputs], Math.log(10));
  return params;
}

/** A layer norm whose gain starts at `gain` (1: exactly `initLayerNorm`). */
function branchNorm(d: number, gain: number): LayerNormParams {
  if (gain === 1) return initLayerNorm(d);
  return { g: tf.fill([d], gain) as tf.Tensor1D, b: tf.zeros([d]) };
}

/**
 * Whether `mode` reads the leaf at dotted `path` (e.g. `"blocks.0.sn.q.g"`): the table in the
 * module docs. The trainer asks this to take gradients of the leaves a step's mode uses only.
 *
 * @example
 * ```ts
 * import { usesHybridParam } from "@hest/hest";
 * usesHybridParam("blocks.0.ln1.g", "spiking"); // false
 * ```
 */
export function usesHybridParam(path: string, mode: Mode): boolean {
  const parts = path.split(".");
  if (parts[0] === "snEmbed") return mode === "spiking";
  if (parts[0] === "blocks") {
    const site = parts[2];
    if (site === "sn" || site === "tim") return mode === "spiking";
    if (site === "ln1" || site === "ln2") return mode === "standard";
  }
  return true;
}

/** The parameters of a block's attention part in `mode` (what a rematerialised part reads). */
export function attentionPartParams(p: HybridBlockParams, mode: Mode): Params {
  if (mode === "standard") return { attn: p.attn, ln1: p.ln1! };
  const sn = p.sn!;
  const part: Params = { attn: p.attn, sn: { q: sn.q, k: sn.k, v: sn.v, attn: sn.attn, o: sn.o } };
  if (p.tim) part.tim = p.tim;
  return part;
}

/** The parameters of a block's MLP part in `mode`. */
export function mlpPartParams(p: HybridBlockParams, mode: Mode): Params {
  if (mode === "standard") return { ff1: p.ff1, ff2: p.ff2, ln2: p.ln2! };
  return { ff1: p.ff1, ff2: p.ff2, sn: { ff1: p.sn!.ff1, ff2: p.sn!.ff2 } };
}
