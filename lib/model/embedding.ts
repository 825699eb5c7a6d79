/**
 * The two ends of the hybrid model, shared by both modes: the embedding of the input counts
 * (with positions and CPG-PE) and the read-out to log-rates; and the constant tables a model
 * builds once (positions, CPG spikes, attention masks).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import type { Key } from "../core/random.ts";
import { bandMask, causalMask } from "../nn/conv.ts";
import { contextMask, dropout, sinusoidalEncoding } from "../nn/layers.ts";
import type { OpsCollector } from "../nn/types.ts";
import { cpgEncoding } from "../snn/cpg.ts";
import type { ResolvedHybridConfig } from "./config.ts";
import type { HybridParams } from "./params.ts";
import type { BinCursor } from "./bin_cursor.ts";
import { layerNorm, linear, size } from "./_internal.ts";

/** A batch given to a model's `apply`. */
export interface ModelBatch {
  /** Held-in counts `[B, bins, nInputs]` (already masked for training). */
  input: tf.Tensor;
  /** 1 where an input entry was masked `[B, bins, nInputs]` (training only; optional). */
  inputMask?: tf.Tensor;
}

/** Constant tables of a model (positions, CPG spikes, attention masks), built once. */
export interface ModelTables {
  /** Sinusoidal positions `[L, D]` (`position: "sinusoidal"`). */
  pe?: tf.Tensor2D;
  /** CPG-PE spikes `[L, dims]`. */
  cpg?: tf.Tensor2D;
  /** Additive attention mask `[L, L]` (0 allowed, −1e9 not): causal, band, NDT context. */
  addMask?: tf.Tensor2D;
  /** The same mask as 0/1, for the softmax-free spiking attention. */
  mulMask?: tf.Tensor2D;
}

/**
 * The constant tables a config needs, created outside any tidy scope; dispose them with the
 * model (they are small and live as long as it does).
 *
 * @example
 * ```ts
 * import { modelTables, resolveHybridConfig } from "@hest/hest";
 * const t = modelTables(resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, causal: true }));
 * console.log(t.addMask?.shape); // [10, 10]
 * ```
 */
export function modelTables(c: ResolvedHybridConfig): ModelTables {
  const total = c.bins + c.forwardBins;
  const t: ModelTables = {};
  if (c.position === "sinusoidal") t.pe = tf.keep(sinusoidalEncoding(total, c.dModel));
  if (c.cpg) {
    t.cpg = tf.keep(
      cpgEncoding(total, c.cpg.dims, { wMax: c.cpg.wMax, threshold: c.cpg.threshold }),
    );
  }
  if (c.causal || c.localWindow || c.context) {
    t.addMask = tf.keep(tf.tidy(() => {
      let m: tf.Tensor2D = tf.zeros([total, total]);
      if (c.causal) m = tf.add(m, causalMask(total));
      if (c.localWindow) m = tf.add(m, bandMask(total, { window: c.localWindow }));
      if (c.context) {
        const { backward, forward, forecast } = c.context;
        const observed = forecast === "all" ? c.bins : undefined;
        m = tf.add(m, contextMask(total, { backward, forward, observed }));
      }
      return tf.minimum(m, 0) as tf.Tensor2D;
    }));
    t.mulMask = tf.keep(tf.tidy(() => tf.cast(tf.greater(t.addMask!, -1), "float32")));
  }
  return t;
}

/**
 * The real-valued embedding `[..., L + F, D]` of `input` `[..., B, bins, nInputs]`: input
 * transform, forward-window padding, CPG concatenation, the embedding linear, the mask token
 * of fully masked bins, positions and CPG addition. Shared by both modes.
 *
 * @example
 * ```ts
 * import { embedding, initHybridParams, key, modelTables, resolveHybridConfig, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const p = initHybridParams(key(0), c);
 * const batch = { input: tf.zeros([2, 10, 3]) };
 * const e = embedding(p, batch, c, { tables: modelTables(c) }); // [2, 10, 8]
 * ```
 */
export function embedding(
  params: HybridParams,
  batch: ModelBatch & { encoded?: tf.Tensor },
  c: ResolvedHybridConfig,
  ctx: { tables: ModelTables; ops?: OpsCollector; cursor?: BinCursor },
): tf.Tensor {
  const input = batch.encoded ?? batch.input;
  const cursor = ctx.cursor;
  // one bin of a stream reads its own row of the position tables and has no forward padding
  // (the stream steps the forecast bins with zero counts)
  const rows = (t: tf.Tensor): tf.Tensor => cursor ? tf.slice(t, [cursor.bin, 0], [1, -1]) : t;
  const b = input.shape[input.rank - 3];
  const lead = input.shape.slice(0, -2);
  let x: tf.Tensor = c.inputTransform === "log1p" ? tf.log1p(input) : input;
  if (c.inputTransform === "log1p") ctx.ops?.elementwise("embed.log1p", "add", size(input));
  if (c.forwardBins > 0 && !cursor) {
    x = tf.concat(
      [x, tf.zeros([...lead.slice(0, -1), b, c.forwardBins, c.nInputs])],
      input.rank - 2,
    );
  }
  if (c.cpg && c.cpg.fusion === "concat") {
    const pe = tf.broadcastTo(rows(ctx.tables.cpg!), [...x.shape.slice(0, -1), c.cpg.dims]);
    x = tf.concat([x, pe], -1);
  }
  let e = linear("embed", params.embed, x, ctx.ops);
  if (c.maskToken && batch.inputMask) {
    // bins whose every input neuron is masked get the learned mask token
    const m = tf.concat(
      [tf.min(batch.inputMask, -1, true), tf.zeros([b, c.forwardBins, 1])],
      1,
    ); // [B, L+F, 1]
    e = tf.add(tf.mul(e, tf.sub(1, m)), tf.mul(m, params.maskToken!));
  }
  ctx.ops?.elementwise("embed.pos", "add", size(e));
  if (c.position === "learned") e = tf.add(e, rows(params.pos!));
  else e = tf.add(e, rows(ctx.tables.pe!));
  if (c.cpg && c.cpg.fusion === "add") {
    ctx.ops?.elementwise("embed.cpg", "add", size(e));
    e = tf.add(e, rows(ctx.tables.cpg!));
  }
  return e;
}

/**
 * The read-out of the final stream `[B, L, D]`: final layer norm, dropout, linear to
 * log-rates `[B, L, nOutputs]`.
 *
 * @example
 * ```ts
 * import { initHybridParams, key, readout, resolveHybridConfig, tf } from "@hest/hest";
 * const c = resolveHybridConfig({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const p = initHybridParams(key(0), c);
 * const y = readout(p, tf.ones([2, 10, 8]), c, { training: false }); // [2, 10, 4]
 * ```
 */
export function readout(
  params: HybridParams,
  x: tf.Tensor,
  c: ResolvedHybridConfig,
  ctx: { training: boolean; key?: Key; ops?: OpsCollector },
): tf.Tensor3D {
  const y = dropout(layerNorm("lnFinal", params.lnFinal, x, ctx.ops), c.rateDropout, ctx);
  return linear("readout", params.readout, y, ctx.ops) as tf.Tensor3D;
}
