/**
 * The hybrid enhanced spiking transformer: one parameter tree, two modes.
 *
 * `hybridTransformer(config)` returns a {@linkcode Model} whose `apply(params, batch, ctx)` runs
 * in **standard** mode (`ctx.mode = "standard"`: real-valued pre-norm transformer, softmax
 * attention, GELU feed-forward) or **spiking** mode (`ctx.mode = "spiking"`: the input is
 * encoded over `T` SNN timesteps, every projection is followed by a norm and a multi-step LIF
 * neuron, attention is Spikformer's softmax-free Q·Kᵀ·V, and the output is the mean over
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
 * preceded by a layer norm, so Q/K/V spikes exist at every bin.
 *
 *  * The blocks themselves are in `lib/model/blocks.ts`, the parameters in `lib/model/params.ts`
 * and the configuration in `lib/model/config.ts`; this module composes them. The NDT-style
 * `transformer` (lib/model/transformer.ts) is this model in standard mode with the
 * enhancements off.
 *
@module
 */
import { tf } from "../core/backend.ts";
import { type Key, split } from "../core/random.ts";
import { remat } from "../core/remat.ts";
import type { Params } from "../core/tree.ts";
import { dropout, type LayerNormParams } from "../nn/layers.ts";
import type { Mode } from "../nn/types.ts";
import { encodeInput } from "../snn/neurons.ts";
import {
  type BlockContext,
  type BlockFunctions,
  blockFunctions,
  type BlockKeys,
  type HybridApplyContext,
  normLif,
  spikingResidual,
  standardResidual,
} from "./blocks.ts";
import { embedding, type ModelBatch, type ModelTables, modelTables, readout } from "./embedding.ts";
import {
  type HybridConfig,
  type ResolvedHybridConfig,
  type ResolvedTransformerConfig,
  resolveHybridConfig,
  withDropoutRates,
} from "./config.ts";
import {
  attentionPartParams,
  type HybridBlockParams,
  type HybridParams,
  initHybridParams,
  mlpPartParams,
  usesHybridParam,
} from "./params.ts";
import type { BinCursor } from "./bin_cursor.ts";

/** A functional model: parameter initialiser plus a pure apply function. */
export interface Model {
  /** The resolved configuration. */
  readonly config: ResolvedTransformerConfig;
  /** Fresh parameters from a key. */
  init(key: Key): Params;
  /** Log-rates `[B, bins + forwardBins, nOutputs]` (expected counts per bin, log scale). */
  apply(params: Params, batch: ModelBatch, ctx: HybridApplyContext): tf.Tensor3D;
  /** Modes `apply` supports (absent: standard only). */
  readonly modes?: readonly Mode[];
  /** Whether `apply` in `mode` reads the parameter at `path` (absent: every parameter). */
  usesParam?(path: string, mode: Mode): boolean;
  /** The levels its spiking mode's spikes take (`lif.levels`; absent: 1, binary). */
  readonly spikeLevels?: number;
}

/** A hybrid model: a {@linkcode Model} with a resolved hybrid config. */
export interface HybridModel extends Model {
  /** Resolved configuration. */
  readonly config: ResolvedHybridConfig;
  /** Fresh parameters from a key. */
  init(key: Key): HybridParams;
  /** Log-rates for the given mode. */
  apply(params: Params, batch: ModelBatch, ctx: HybridApplyContext): tf.Tensor3D;
  /** Modes `apply` supports. */
  readonly modes: readonly Mode[];
  /** Whether `apply` in `mode` reads the parameter at `path`. */
  usesParam(path: string, mode: Mode): boolean;
}

/** `[1, ...]` repeated T times along axis 0 (concat: a copy, faster than Tile on wasm). */
function repeatT(x: tf.Tensor, T: number): tf.Tensor {
  return T === 1 ? x : tf.concat(Array.from({ length: T }, () => x), 0);
}

/**
 * Block i's two parts on x (attention with its residual, then the MLP with its residual):
 * directly, or with `ctx.remat` in training each part rematerialised (lib/core/remat.ts: its
 * activations recomputed in the backward pass) over exactly the parameters the part reads.
 */
function runBlock(
  p: HybridBlockParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  ctx: BlockContext & { mode: Mode; rematerialise: boolean },
): tf.Tensor {
  const f = blockFunctions(ctx.mode);
  // a block part (attention or MLP) followed by its mode's residual
  const withResidual = (
    branch: BlockFunctions["attention"],
    norm: (pp: HybridBlockParams) => LayerNormParams,
    site: string,
    key: Key | undefined,
  ) =>
  (xx: tf.Tensor, pp: HybridBlockParams) => {
    const y = branch(pp, xx, c, ctx);
    return ctx.mode === "spiking"
      ? spikingResidual(xx, y, norm(pp), c, { ...ctx, site: `${ctx.name}.${site}`, key })
      : standardResidual(xx, y, c.dropout, { ...ctx, key });
  };
  const attention = withResidual(f.attention, (pp) => pp.sn!.o, "proj", ctx.keys.attnOut);
  const mlp = withResidual(f.mlp, (pp) => pp.sn!.ff2, "ff2", ctx.keys.mlpOut);
  if (!ctx.rematerialise) return mlp(attention(x, p), p);
  // the part's own parameters, laid over the block so the part reads the rematerialised copies
  const part = (
    fn: (xx: tf.Tensor, pp: HybridBlockParams) => tf.Tensor,
    own: Params,
    y: tf.Tensor,
  ) => remat((xx, pp) => fn(xx, { ...p, ...pp } as HybridBlockParams), { x: y, params: own });
  return part(
    mlp,
    mlpPartParams(p, ctx.mode),
    part(attention, attentionPartParams(p, ctx.mode), x),
  );
}

/** Every block in turn on the stream `x`, in `mode`, with block i's keys from `keysOf(i)`. */
function runBlocks(
  params: HybridParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  tables: ModelTables,
  ctx: HybridApplyContext,
  mode: Mode,
  keysOf: (i: number) => BlockKeys,
  cursor?: BinCursor,
): tf.Tensor {
  for (let i = 0; i < c.nLayers; i++) {
    const block = (xx: tf.Tensor) =>
      runBlock(params.blocks[String(i)], xx, c, {
        mode,
        training: ctx.training,
        rematerialise: !!(ctx.remat && ctx.training),
        index: i,
        name: `block${i}`,
        tables,
        keys: keysOf(i),
        ops: ctx.ops,
        stats: ctx.stats,
        cursor,
      });
    // Nothing needs a block's intermediate tensors once its output exists: free them block by
    // block (a deep spiking model otherwise holds every block's [T, B, L, ·] activations until
    // the end of apply). In training the tensors the backward pass reads are the ones the taped
    // ops saved, which TF.js keeps apart from any tidy. The stream's cursor keeps its own caches.
    x = !cursor ? tf.tidy(() => block(x)) : block(x);
    ctx.taps?.record(`block${i}`, mode === "spiking" ? tf.mean(x, 0) : x);
  }
  return x;
}

function forwardStandard(
  params: HybridParams,
  batch: ModelBatch,
  c: ResolvedHybridConfig,
  tables: ModelTables,
  ctx: HybridApplyContext,
  cursor?: BinCursor,
): tf.Tensor3D {
  const L = c.nLayers;
  const keys = ctx.training && ctx.key ? split(ctx.key, 2 + 3 * L) : [];
  const ops = ctx.ops;
  let x = dropout(embedding(params, batch, c, { tables, ops, cursor }), c.embedDropout, {
    training: ctx.training,
    key: keys[0],
  });
  x = runBlocks(params, x, c, tables, ctx, "standard", (i) => ({
    attn: keys[1 + 3 * i],
    attnOut: keys[2 + 3 * i],
    mlpOut: keys[3 + 3 * i],
  }), cursor);
  return readout(params, x, c, { training: ctx.training, key: keys[1 + 3 * L], ops });
}

function forwardSpiking(
  params: HybridParams,
  batch: ModelBatch,
  c: ResolvedHybridConfig,
  tables: ModelTables,
  ctx: HybridApplyContext,
  cursor?: BinCursor,
): tf.Tensor3D {
  const T = c.timesteps;
  const L = c.nLayers;
  const keys = ctx.key ? split(ctx.key, 4 + 4 * L) : [];
  const ops = ctx.ops;
  const encoded = (): tf.Tensor => {
    if (c.encoding === "repeat") {
      // Direct encoding feeds the same real-valued input at every timestep, so the embedding
      // is computed once and repeated over T (identical values, 1/T of the work).
      return repeatT(tf.expandDims(embedding(params, batch, c, { tables, ops, cursor }), 0), T);
    }
    if (!keys[0]) {
      throw new TypeError(
        'spiking mode with encoding "poisson" draws its input spikes from ctx.key, also at ' +
          "inference; pass a key to apply",
      );
    }
    const spikes = encodeInput(batch.input, { T, mode: "poisson", key: keys[0] });
    return embedding(params, { ...batch, encoded: spikes }, c, { tables, ops });
  };
  const e = dropout(encoded(), c.embedDropout, { training: ctx.training, key: keys[1] });
  let x = c.residual === "membrane"
    ? e
    : normLif("embed", params.snEmbed!, e, c, { ops, stats: ctx.stats, cursor });
  x = runBlocks(params, x, c, tables, ctx, "spiking", (i) => ({
    rsm: keys[2 + 4 * i],
    attnOut: keys[3 + 4 * i],
    mlpOut: keys[4 + 4 * i],
  }), cursor);
  ops?.elementwise("meanT", "add", x.shape.reduce((a, b) => a * b, 1));
  const y = tf.mean(x, 0); // [B, L+F, D]
  return readout(params, y, c, { training: ctx.training, key: keys[2 + 4 * L], ops });
}

/** Options of {@linkcode forwardBin}. */
export interface ForwardBinOptions {
  /** The model's resolved configuration (`model.config`). */
  config: ResolvedHybridConfig;
  /** Its constant tables ({@linkcode modelTables}). */
  tables: ModelTables;
  /** Mode to run. */
  mode: Mode;
  /** The key the full forward would be given (draws nothing here; it selects the same keys). */
  key?: Key;
  /** The earlier bins' state and this bin's index. */
  cursor: BinCursor;
}

/**
 * One bin of the inference forward pass of a causal model: `input [B, 1, nInputs]` (the held-in
 * counts of bin `cursor.bin`) → log-rates `[B, 1, nOutputs]`, equal to row `cursor.bin` of
 * `apply` on the whole trial. The same block functions as `apply`, reading the earlier bins from
 * the cursor; lib/infer/stream.ts drives it.
 *
 * @example
 * ```ts
 * import { binCursor, forwardBin, hybridTransformer, key, modelTables, tf } from "@hest/hest";
 * const m = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, causal: true });
 * const params = m.init(key(0));
 * const cache: Record<string, tf.Tensor> = {};
 * const tables = modelTables(m.config);
 * const y0 = forwardBin(params, tf.ones([1, 1, 3]), {
 *   config: m.config,
 *   tables,
 *   mode: "standard",
 *   cursor: binCursor(cache, 0),
 * }); // [1, 1, 4]
 * ```
 */
export function forwardBin(
  params: HybridParams,
  input: tf.Tensor,
  opts: ForwardBinOptions,
): tf.Tensor3D {
  const { config: c, tables, mode, key, cursor } = opts;
  const ctx: HybridApplyContext = { training: false, mode, key };
  return mode === "spiking"
    ? forwardSpiking(params, { input }, c, tables, ctx, cursor)
    : forwardStandard(params, { input }, c, tables, ctx, cursor);
}

/**
 * Build the hybrid transformer (see the module docs).
 *
 * @example
 * ```ts
 * import { hybridTransformer, key, tf } from "@hest/hest";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8, tim: {}, cpg: {} });
 * const params = model.init(key(0));
 * const x = { input: tf.zeros([2, 10, 3]) };
 * const standard = model.apply(params, x, { training: false, mode: "standard" });
 * const spiking = model.apply(params, x, { training: false, mode: "spiking" });
 * ```
 */
export function hybridTransformer(config: HybridConfig): HybridModel {
  const c = resolveHybridConfig(config);
  let tables: ModelTables | undefined;

  function apply(params: Params, batch: ModelBatch, ctx: HybridApplyContext): tf.Tensor3D {
    const x0 = batch.input;
    if (
      !(x0 instanceof tf.Tensor) || x0.rank !== 3 || x0.shape[1] !== c.bins ||
      x0.shape[2] !== c.nInputs
    ) {
      throw new RangeError(
        `model input must be [batch, ${c.bins}, ${c.nInputs}], found ${
          x0 instanceof tf.Tensor ? `[${x0.shape.join(", ")}]` : typeof x0
        }`,
      );
    }
    const mode = ctx.mode ?? c.modes[0];
    if (!c.modes.includes(mode)) {
      throw new RangeError(
        `this model runs in modes ${c.modes.join(", ")}; "${mode}" was requested`,
      );
    }
    const cc = ctx.dropout === undefined
      ? c
      : withDropoutRates(c, ctx.dropout, { where: "apply context dropout" });
    if (
      ctx.training && !ctx.key && (cc.dropout > 0 || cc.embedDropout > 0 || cc.rateDropout > 0)
    ) {
      throw new TypeError("dropout in training mode needs ctx.key");
    }
    // constant tables are created once, outside the tidy scope (dropout rates do not enter them)
    tables ??= modelTables(c);
    const p = params as HybridParams;
    return tf.tidy(() =>
      mode === "spiking"
        ? forwardSpiking(p, batch, cc, tables!, ctx)
        : forwardStandard(p, batch, cc, tables!, ctx)
    );
  }

  return {
    config: c,
    init: (k: Key) => initHybridParams(k, c),
    apply,
    modes: c.modes,
    usesParam: usesHybridParam,
    spikeLevels: c.lif.levels ?? 1,
  };
}
