/**
 * The standard (NDT-style) masked-modeling transformer, as a functional model.
 *
 * `transformer(config)` returns `{ config, init(key) → params, apply(params, batch, ctx) →
 * logRates }`. Tokens are time bins. The input at a bin is the vector of **held-in** counts;
 * held-out neurons are never input. The model appends `forwardBins` empty tokens after the
 * trial window and reads out log-rates of **all** neurons (held-in and held-out, in dataset
 * order) at every bin, including the forward window:
 *
 * ```
 * counts [B, L, Nin] → log1p → Linear(Nin→D) → + position → dropout
 *   → nLayers × pre-norm block { x + Attn(LN(x)) ; x + FF(LN(x)) }   (FF: Linear→GELU→Linear)
 *   → LN → dropout → Linear(D→N) = log-rates [B, L+F, N]
 * ```
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import {
  applyAttention,
  applyLayerNorm,
  applyLinear,
  type AttentionParams,
  contextMask,
  dropout,
  gelu,
  initAttention,
  initLayerNorm,
  initLinear,
  type LayerNormParams,
  type LinearParams,
  normalInit,
  sinusoidalEncoding,
} from "../nn/layers.ts";
import { type ApplyContext, type Mode } from "../nn/types.ts";
import { foldIn, type Key, split } from "../core/random.ts";
import type { Params } from "../core/tree.ts";

/** Configuration of {@linkcode transformer}. */
export interface TransformerConfig {
  /** Number of input (held-in) neurons. */
  nInputs: number;
  /** Number of output neurons (held-in + held-out). */
  nOutputs: number;
  /** Bins in the observed trial window. */
  bins: number;
  /** Bins of the forward-prediction window appended after the trial (default 0). */
  forwardBins?: number;
  /** Model width D (default 64). */
  dModel?: number;
  /** Number of blocks (default 2). */
  nLayers?: number;
  /** Attention heads (default 2). */
  nHeads?: number;
  /** Feed-forward width (default 4·D). */
  dFF?: number;
  /** Dropout after attention / feed-forward (default 0.1). */
  dropout?: number;
  /** Dropout on the embedded input (default 0.1). */
  embedDropout?: number;
  /** Dropout on the attention weights (default 0). */
  attnDropout?: number;
  /** Dropout before the rate read-out (default 0.1). */
  rateDropout?: number;
  /** Positional encoding: `"learned"` (default) or `"sinusoidal"`. */
  position?: "learned" | "sinusoidal";
  /** Local attention context (NDT): query i sees keys in [i − backward, i + forward]. */
  context?: { backward: number; forward: number };
  /** Input transform of counts: `"log1p"` (default) or `"none"`. */
  inputTransform?: "log1p" | "none";
  /** Initial read-out bias per output neuron (e.g. log mean count); default 0. */
  outputBias?: readonly number[];
}

/** A {@linkcode TransformerConfig} with every default filled in. */
export type ResolvedTransformerConfig =
  & Required<Omit<TransformerConfig, "context" | "outputBias">>
  & {
    context?: { backward: number; forward: number };
    outputBias?: readonly number[];
  };

/** A batch given to {@linkcode Model.apply}. */
export interface ModelBatch {
  /** Held-in counts `[B, bins, nInputs]` (already masked for training). */
  input: tf.Tensor;
  /** 1 where an input entry was masked `[B, bins, nInputs]` (training only; optional). */
  inputMask?: tf.Tensor;
}

/** A functional model: parameter initialiser plus a pure apply function. */
export interface Model {
  /** The resolved configuration. */
  readonly config: ResolvedTransformerConfig;
  /** Fresh parameters from a key. */
  init(key: Key): Params;
  /** Log-rates `[B, bins + forwardBins, nOutputs]` (expected counts per bin, log scale). */
  apply(params: Params, batch: ModelBatch, ctx: ApplyContext): tf.Tensor3D;
  /** Modes `apply` supports (absent: standard only). */
  readonly modes?: readonly Mode[];
  /** Whether `apply` in `mode` reads the parameter at `path` (absent: every parameter). */
  usesParam?(path: string, mode: Mode): boolean;
}

const CONFIG_KEYS = [
  "nInputs",
  "nOutputs",
  "bins",
  "forwardBins",
  "dModel",
  "nLayers",
  "nHeads",
  "dFF",
  "dropout",
  "embedDropout",
  "attnDropout",
  "rateDropout",
  "position",
  "context",
  "inputTransform",
  "outputBias",
];

function posInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new Error(
      `model config "${name}" must be an integer >= ${min}, found ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function rate(name: string, v: unknown): number {
  if (typeof v !== "number" || !(v >= 0 && v < 1)) {
    throw new Error(
      `model config "${name}" must be a number in [0, 1), found ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/**
 * Validate a config and fill in defaults. Unknown keys and bad values throw, naming the key.
 *
 * @example
 * ```ts
 * import { resolveTransformerConfig } from "./mod.ts";
 * const c = resolveTransformerConfig({ nInputs: 20, nOutputs: 29, bins: 50 });
 * console.log(c.dModel); // 64
 * ```
 */
export function resolveTransformerConfig(config: TransformerConfig): ResolvedTransformerConfig {
  for (const k of Object.keys(config)) {
    if (!CONFIG_KEYS.includes(k)) {
      throw new Error(
        `unknown model config key "${k}"; expected one of: ${CONFIG_KEYS.join(", ")}`,
      );
    }
  }
  const dModel = posInt("dModel", config.dModel ?? 64);
  const nHeads = posInt("nHeads", config.nHeads ?? 2);
  if (dModel % nHeads !== 0) {
    throw new Error(`model config "dModel" (${dModel}) must be divisible by "nHeads" (${nHeads})`);
  }
  const position = config.position ?? "learned";
  if (position !== "learned" && position !== "sinusoidal") {
    throw new Error(
      `model config "position" must be "learned" or "sinusoidal", found "${position}"`,
    );
  }
  const inputTransform = config.inputTransform ?? "log1p";
  if (inputTransform !== "log1p" && inputTransform !== "none") {
    throw new Error(
      `model config "inputTransform" must be "log1p" or "none", found "${inputTransform}"`,
    );
  }
  const nOutputs = posInt("nOutputs", config.nOutputs);
  if (config.outputBias && config.outputBias.length !== nOutputs) {
    throw new Error(
      `model config "outputBias" has ${config.outputBias.length} values, expected nOutputs = ${nOutputs}`,
    );
  }
  if (config.context) {
    const { backward, forward } = config.context;
    if (!(backward >= 0) || !(forward >= 0)) {
      throw new Error(`model config "context" needs backward >= 0 and forward >= 0`);
    }
  }
  return {
    nInputs: posInt("nInputs", config.nInputs),
    nOutputs,
    bins: posInt("bins", config.bins),
    forwardBins: posInt("forwardBins", config.forwardBins ?? 0, 0),
    dModel,
    nLayers: posInt("nLayers", config.nLayers ?? 2),
    nHeads,
    dFF: posInt("dFF", config.dFF ?? 4 * dModel),
    dropout: rate("dropout", config.dropout ?? 0.1),
    embedDropout: rate("embedDropout", config.embedDropout ?? 0.1),
    attnDropout: rate("attnDropout", config.attnDropout ?? 0),
    rateDropout: rate("rateDropout", config.rateDropout ?? 0.1),
    position,
    context: config.context,
    inputTransform,
    outputBias: config.outputBias,
  };
}

interface BlockParams extends Params {
  ln1: LayerNormParams;
  attn: AttentionParams;
  ln2: LayerNormParams;
  ff1: LinearParams;
  ff2: LinearParams;
}

/**
 * Build the standard masked-modeling transformer.
 *
 * @example
 * ```ts
 * import { key, tf, transformer } from "./mod.ts";
 * const model = transformer({ nInputs: 3, nOutputs: 4, bins: 10, forwardBins: 2, dModel: 8 });
 * const params = model.init(key(0));
 * const logRates = model.apply(params, { input: tf.zeros([1, 10, 3]) }, { training: false });
 * console.log(logRates.shape); // [1, 12, 4]
 * ```
 */
export function transformer(config: TransformerConfig): Model {
  const c = resolveTransformerConfig(config);
  const total = c.bins + c.forwardBins;
  // Residual output projections scaled by 1/√(2·layers) (GPT-2) so the stream stays O(1).
  const outGain = 1 / Math.sqrt(2 * c.nLayers);

  function init(k: Key): Params {
    const [kEmb, kPos, kOut, kBlocks] = split(k, 4);
    const blocks: Params = {};
    for (let i = 0; i < c.nLayers; i++) {
      const [ka, kf1, kf2] = split(foldIn(kBlocks, i), 3);
      const block: BlockParams = {
        ln1: initLayerNorm(c.dModel),
        attn: initAttention(ka, c.dModel, { outGain }),
        ln2: initLayerNorm(c.dModel),
        ff1: initLinear(kf1, [c.dModel, c.dFF]),
        ff2: initLinear(kf2, [c.dFF, c.dModel], { gain: outGain }),
      };
      blocks[String(i)] = block;
    }
    const params: Params = {
      embed: initLinear(kEmb, [c.nInputs, c.dModel]),
      blocks,
      lnFinal: initLayerNorm(c.dModel),
      readout: initLinear(kOut, [c.dModel, c.nOutputs], { bias: c.outputBias }),
    };
    if (c.position === "learned") params.pos = normalInit(kPos, [total, c.dModel], { std: 0.02 });
    return params;
  }

  // Constant tensors are created once per model and kept out of tidy scopes.
  let sinusoid: tf.Tensor2D | undefined;
  let mask: tf.Tensor2D | undefined;

  function apply(params: Params, batch: ModelBatch, ctx: ApplyContext): tf.Tensor3D {
    const x0 = batch.input;
    if (x0.rank !== 3 || x0.shape[1] !== c.bins || x0.shape[2] !== c.nInputs) {
      throw new Error(
        `model input must be [batch, ${c.bins}, ${c.nInputs}], found [${x0.shape.join(", ")}]`,
      );
    }
    if (ctx.mode && ctx.mode !== "standard") {
      throw new Error(
        `the standard transformer runs in mode "standard" only; "${ctx.mode}" was requested`,
      );
    }
    const keys = ctx.training && ctx.key ? split(ctx.key, 2 + 3 * c.nLayers) : [];
    const ops = ctx.ops;
    const sub = (i: number): ApplyContext => ({ training: ctx.training, key: keys[i] });
    const lin = (name: string, w: LinearParams, x: tf.Tensor) => {
      ops?.linear(name, x, w.w.shape[1]);
      return applyLinear(w, x);
    };
    // attention sites are reported as block<i>.<site>
    const named = (i: number, inner: ApplyContext): ApplyContext =>
      ops
        ? {
          ...inner,
          ops: {
            linear: (n, x, f) => ops.linear(`block${i}.${n}`, x, f),
            conv: (n, x, f, o) => ops.conv(`block${i}.${n}`, x, f, o),
            matmul: (n, a, b, o) => ops.matmul(`block${i}.${n}`, a, b, o),
          },
        }
        : inner;
    return tf.tidy(() => {
      const b = x0.shape[0];
      let x: tf.Tensor = c.inputTransform === "log1p" ? tf.log1p(x0) : x0;
      if (c.forwardBins > 0) x = tf.concat([x, tf.zeros([b, c.forwardBins, c.nInputs])], 1);
      x = lin("embed", params.embed as LinearParams, x);
      if (c.position === "learned") {
        x = tf.add(x, params.pos as tf.Tensor);
      } else {
        if (!sinusoid) sinusoid = tf.keep(sinusoidalEncoding(total, c.dModel));
        x = tf.add(x, sinusoid);
      }
      x = dropout(x, c.embedDropout, sub(0));
      if (c.context && !mask) mask = tf.keep(contextMask(total, c.context));
      const blocks = params.blocks as Params;
      for (let i = 0; i < c.nLayers; i++) {
        const p = blocks[String(i)] as BlockParams;
        const a = applyAttention(p.attn, applyLayerNorm(p.ln1, x), named(i, sub(1 + 3 * i)), {
          heads: c.nHeads,
          mask,
          dropout: c.attnDropout,
        });
        x = tf.add(x, dropout(a, c.dropout, sub(2 + 3 * i)));
        const h = gelu(lin(`block${i}.ff1`, p.ff1, applyLayerNorm(p.ln2, x)));
        const f = lin(`block${i}.ff2`, p.ff2, h);
        x = tf.add(x, dropout(f, c.dropout, sub(3 + 3 * i)));
      }
      x = applyLayerNorm(params.lnFinal as LayerNormParams, x);
      x = dropout(x, c.rateDropout, sub(1 + 3 * c.nLayers));
      return lin("readout", params.readout as LinearParams, x) as tf.Tensor3D;
    });
  }

  return { config: c, init, apply, modes: ["standard"] };
}
