/**
 * What a stream needs before its first bin: the check that a model and mode can stream
 * ({@linkcode streamBlocker}), the argument check shared by `streamer` and the WASM engine
 * ({@linkcode resolveStreamArgs}), and the constant tables both read one row per bin
 * ({@linkcode streamTables}).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { describe } from "../core/validation.ts";
import { foldIn, type Key, key as makeKey, split, tfSeed } from "../core/random.ts";
import type { Params } from "../core/tree.ts";
import type { ResolvedHybridConfig } from "../model/config.ts";
import type { HybridModel } from "../model/hybrid.ts";
import { sinusoidalEncoding } from "../nn/layers.ts";
import type { Mode } from "../nn/types.ts";
import { cpgEncoding } from "../snn/cpg.ts";

/** Options of {@linkcode streamer}. */
export interface StreamOptions {
  /** Mode to stream (default: the model's first mode). */
  mode?: Mode;
  /** Trials streamed side by side, a positive integer (default 1). */
  batch?: number;
  /**
   * The key the full forward would be given (`model.apply(…, { key })`): random spike masks are
   * drawn from it exactly as there (default `key(0)`, as `predict`'s default).
   */
  key?: Key;
}

/** The norm a resolved hybrid config selects for the spiking mode (`"trial"` before the option). */
function normOf(c: ResolvedHybridConfig): string {
  return (c as { norm?: string }).norm ?? "trial";
}

/**
 * Why `c` cannot be streamed in `mode` (a sentence), or `undefined` when it can.
 *
 * @example
 * ```ts
 * import { hybridTransformer, streamBlocker } from "@hest/hest";
 * const m = hybridTransformer({ nInputs: 3, nOutputs: 3, bins: 10 });
 * streamBlocker(m.config, "standard"); // "the model is not causal …"
 * ```
 */
export function streamBlocker(c: ResolvedHybridConfig, mode: Mode): string | undefined {
  if (!c.modes.includes(mode)) {
    return `the model runs in modes ${c.modes.join(", ")}, not "${mode}"`;
  }
  if (!c.causal) {
    return `the model is not causal (its attention and convolutions see later bins); build it ` +
      `with "causal: true"`;
  }
  if (mode === "spiking") {
    if (normOf(c) !== "causal") {
      return `spiking mode normalises every LIF input over all bins of the trial ` +
        `(norm "${normOf(c)}"), so bin l depends on later bins; build the model with ` +
        `norm "causal" (running statistics over the bins so far) to stream it`;
    }
    if (c.encoding !== "repeat") {
      return `the "${c.encoding}" input encoding scales by the largest count of the whole ` +
        `batch, so it cannot stream; use encoding "repeat"`;
    }
    if (c.rsm && c.rsm.mode !== "random") {
      return `"${c.rsm.mode}" spike masking ranks channels or bins over the whole trial, so it ` +
        `cannot stream; use rsm mode "random" or none`;
    }
  }
  return undefined;
}

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    throw new Error(`${what} must be a positive integer, found ${describe(v)}`);
  }
  return v;
}

/** Constant tables of a stream, made by {@linkcode streamTables}. */
export interface StreamTables {
  /** Position rows `[bins + forwardBins, dModel]` (the learned table or the sinusoids). */
  pos: tf.Tensor2D;
  /** CPG-PE rows `[bins + forwardBins, dims]`, when the model has CPG-PE. */
  cpg?: tf.Tensor2D;
  /**
   * Per layer, random spike masking's keep masks of the full forward at inference (`q`, `k`:
   * `[T, B, H, L, d]`; `att`: `[T, B, H, L, L]`; L = bins + forwardBins), or `{}` for a layer
   * without masking (and in standard mode).
   */
  rsm: { q?: tf.Tensor; k?: tf.Tensor; att?: tf.Tensor }[];
  /** Release the tensors the tables own (not the learned position table of `params`). */
  dispose(): void;
}

/**
 * The constant tables a stream reads one row per bin: positions, CPG-PE, and the random spike
 * masks drawn from the same keys as the full forward at inference. Shared by
 * {@linkcode streamer} and the WASM engine (kernels/stream_engine.ts).
 *
 * @example
 * ```ts
 * import { hybridTransformer, key, streamTables } from "@hest/hest";
 * const m = hybridTransformer({ nInputs: 3, nOutputs: 3, bins: 10, causal: true });
 * const t = streamTables(m.config, m.init(key(0)), { mode: "standard", batch: 1, key: key(1) });
 * t.pos.shape; // [10, 64]
 * t.dispose();
 * ```
 */
export function streamTables(
  c: ResolvedHybridConfig,
  params: Params,
  opts: { mode: Mode; batch: number; key: Key },
): StreamTables {
  const total = c.bins + c.forwardBins;
  const D = c.dModel;
  const H = c.nHeads;
  const d = D / H;
  const T = c.timesteps;
  const batch = opts.batch;
  const owned: tf.Tensor[] = [];
  const keep = <X extends tf.Tensor>(t: X): X => {
    owned.push(tf.keep(t));
    return t;
  };
  const pos: tf.Tensor2D = c.position === "learned"
    ? params.pos as tf.Tensor2D
    : keep(sinusoidalEncoding(total, D));
  const cpg = c.cpg
    ? keep(cpgEncoding(total, c.cpg.dims, { wMax: c.cpg.wMax, threshold: c.cpg.threshold }))
    : undefined;
  const rsm: StreamTables["rsm"] = [];
  if (opts.mode === "spiking" && c.rsm && c.rsm.mode === "random") {
    // the keys of the spiking forward (lib/model/hybrid.ts): block i's RSM key is the
    // (2 + 4i)-th of 4 + 4·nLayers, folded with 0 (Q), 1 (K) and 2 (the attention map)
    const keys = split(opts.key, 4 + 4 * c.nLayers);
    for (let i = 0; i < c.nLayers; i++) {
      const p = c.rsm.ratio[i];
      if (p <= 0) {
        rsm.push({});
        continue;
      }
      const mask = (shape: number[], j: number): tf.Tensor => {
        if (p >= 1) return keep(tf.zeros(shape));
        const k: Key = foldIn(keys[2 + 4 * i], j);
        return keep(tf.tidy(() => {
          const u = tf.randomUniform(shape, 0, 1, "float32", tfSeed(k));
          return tf.sub(1, tf.step(tf.sub(p, u)));
        }));
      };
      rsm.push({
        q: mask([T, batch, H, total, d], 0),
        k: mask([T, batch, H, total, d], 1),
        att: mask([T, batch, H, total, total], 2),
      });
    }
  }
  return {
    pos,
    cpg,
    rsm,
    dispose() {
      tf.dispose(owned);
      owned.length = 0;
    },
  };
}

/** What {@linkcode resolveStreamArgs} returns: the model's config, the mode and the batch. */
export interface StreamArgs {
  /** The model's resolved configuration. */
  config: ResolvedHybridConfig;
  /** The mode to stream. */
  mode: Mode;
  /** Trials per step. */
  batch: number;
  /** The forward's key. */
  key: Key;
}

/**
 * Check the arguments of a stream constructor (`fn` names it in the errors: `streamer` here,
 * `streamEngine` in kernels/stream_engine.ts): a model built by `hybridTransformer`, options
 * `{ mode, batch }` only, a known mode (default the model's first) and a positive batch (default
 * 1), and a model and mode that can stream ({@linkcode streamBlocker}).
 *
 * @example
 * ```ts
 * import { hybridTransformer, resolveStreamArgs } from "@hest/hest";
 * const m = hybridTransformer({ nInputs: 3, nOutputs: 3, bins: 10, causal: true });
 * resolveStreamArgs("streamer", m, { batch: 2 }).mode; // "standard"
 * ```
 */
export function resolveStreamArgs(
  fn: string,
  model: HybridModel,
  opts: StreamOptions,
): StreamArgs {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    throw new Error(`${fn} options must be an object, found ${describe(opts)}`);
  }
  for (const k of Object.keys(opts)) {
    if (k !== "mode" && k !== "batch" && k !== "key") {
      throw new TypeError(`unknown ${fn} option "${k}": expected one of mode, batch, key`);
    }
  }
  const cfg = model?.config as ResolvedHybridConfig | undefined;
  if (!cfg || typeof cfg !== "object" || !("timesteps" in cfg) || !("causal" in cfg)) {
    throw new Error(
      `${fn} needs a model built by hybridTransformer (config with "causal" and ` +
        `"timesteps"), found ${cfg ? "a model without them" : describe(model)}`,
    );
  }
  const mode: Mode = opts.mode ?? cfg.modes[0];
  if (mode !== "standard" && mode !== "spiking") {
    throw new Error(
      `${fn} option "mode" must be "standard" or "spiking", found ${describe(mode)}`,
    );
  }
  const batch = positiveInt(`${fn} option "batch"`, opts.batch ?? 1);
  const blocker = streamBlocker(cfg, mode);
  if (blocker) throw new Error(`cannot stream this model in ${mode} mode: ${blocker}`);
  return { config: cfg, mode, batch, key: opts.key ?? makeKey(0) };
}
