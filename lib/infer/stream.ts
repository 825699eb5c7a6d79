/**
 * Streaming (bin-by-bin) inference of a causal {@linkcode hybridTransformer}.
 *
 * `streamer(model, params, { mode, batch })` returns `{ init(), step(state, counts) }`: `step`
 * takes the held-in counts of **one** bin `[batch, nInputs]` and returns the log-rates of that
 * bin `[batch, nOutputs]` with the new state. Each step runs the model's own forward pass
 * ({@linkcode forwardBin}: the same block functions as `model.apply`) on that one bin, with a
 * {@linkcode BinCursor} over the state, so bin l's output equals row l of the full-sequence
 * forward `model.apply(params, { input }, { training: false, mode, key })` (tested in both
 * modes).
 *
 * What the state carries (`state.cache`, a flat record of tensors keyed by site):
 *
 * - per block, the attention **keys and values** of every bin so far (`[B, H, l, d]`; spiking
 *   mode `[T, B, H, l, d]` spikes): the query of bin l attends to them under the model's mask
 *   row (causal, local window, NDT context);
 * - per block, the **input window** of the Q/K convolution (`attention: "conv"`, the last
 *   `convKernel − 1` bins of its input) and, per SNN timestep, of TIM's convolution (the last
 *   `tim.kernel − 1` bins of Q̃);
 * - spiking mode: per spike-norm site, the running sums Σx and Σx² over the SNN timesteps and
 *   the bins so far ({@linkcode causalSpikeNorm}).
 *
 * It carries **no LIF membranes**: in the hybrid model every bin is simulated for its own T SNN
 * timesteps from a membrane at rest (the LIF and TIM neurons run along T, and bins are a batch
 * axis for them), so nothing of a neuron's membrane passes from one bin to the next.
 *
 * **Requirements.** The model must be causal (`causal: true`: causal attention mask, causal Q/K
 * and TIM convolutions), otherwise bin l's output depends on later bins. The spiking mode needs
 * more, because three of its parts look at the whole trial: its default norm normalises over
 * all bins, so it needs `norm: "causal"` (running statistics over the bins seen so far); the
 * Poisson input encoding scales by the maximum count of the whole batch; and significance-based
 * spike masking ranks channels or bins over the whole trial. Random spike masking streams: its
 * masks are drawn for the full `[T, B, H, L, ·]` shape from the same keys at
 * {@linkcode streamer} time and read one bin at a time. Anything that cannot stream is refused
 * with an error that says why.
 *
 * The forward window: bins `bins .. bins + forwardBins − 1` are the forecast bins, which the
 * full forward feeds with zero input; step them with zero counts.
 *
 * The WASM stream engine (kernels/stream_engine.ts) is the fast path for the same computation,
 * tested against this one.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { describe } from "../core/validation.ts";
import type { HybridModel } from "../model/hybrid.ts";
import { forwardBin } from "../model/hybrid.ts";
import { binCursor } from "../model/bin_cursor.ts";
import { modelTables } from "../model/embedding.ts";
import type { HybridParams } from "../model/params.ts";
import type { ResolvedHybridConfig } from "../model/config.ts";
import type { Mode } from "../nn/types.ts";
import { disposeTree, flatten, type Params } from "../core/tree.ts";
import { resolveStreamArgs, type StreamOptions, streamTables } from "./stream_setup.ts";

/** What a stream carries from one bin to the next (see the module documentation). */
export interface StreamState {
  /** Bins consumed so far: the index of the next bin. */
  readonly bin: number;
  /** Caches and running sums by site, a record of tensors (`disposeTree` releases them). */
  readonly cache: Params;
}

/** Options of {@linkcode Streamer.step}. */
export interface StreamStepOptions {
  /**
   * Keep the given state alive (default false: `step` consumes it and disposes the tensors it
   * no longer needs, as `trainStep` does; set it to branch from one state several times).
   */
  keep?: boolean;
}

/** What {@linkcode Streamer.step} returns; the caller owns (and disposes) both. */
export interface StreamStepResult {
  /** The state after this bin. */
  state: StreamState;
  /** Log-rates of this bin for every output neuron, `[batch, nOutputs]`. */
  logRates: tf.Tensor2D;
}

/** A bin-by-bin runner of one model and parameter tree, made by {@linkcode streamer}. */
export interface Streamer {
  /** The model's resolved configuration. */
  readonly config: ResolvedHybridConfig;
  /** The mode streamed. */
  readonly mode: Mode;
  /** Trials per step. */
  readonly batch: number;
  /** Bins a stream can take: `bins + forwardBins` (the length of the position table). */
  readonly length: number;
  /** A fresh state at bin 0 (empty caches). */
  init(): StreamState;
  /**
   * Feed the held-in counts of the next bin, `[batch, nInputs]` (a tensor, or numbers in that
   * row-major order), and get that bin's log-rates and the new state.
   */
  step(
    state: StreamState,
    counts: tf.Tensor | ArrayLike<number>,
    opts?: StreamStepOptions,
  ): StreamStepResult;
  /** Release the streamer's constant tables (positions, attention masks, spike masks). */
  dispose(): void;
}

/**
 * Build a bin-by-bin runner of a causal hybrid model (see the module documentation): `init()`
 * gives the state at bin 0, `step(state, counts)` consumes one bin. Throws, saying why, when the
 * model or mode cannot stream.
 *
 * @example
 * ```ts
 * import { disposeStreamState, hybridTransformer, key, streamer } from "@hest/hest";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, causal: true });
 * const params = model.init(key(0));
 * const s = streamer(model, params, { mode: "standard", batch: 1 });
 * let state = s.init();
 * for (let l = 0; l < 10; l++) {
 *   const r = s.step(state, [1, 0, 2]); // counts of bin l, [1, 3]
 *   state = r.state;
 *   r.logRates.dispose(); // [1, 4]
 * }
 * disposeStreamState(state);
 * s.dispose();
 * ```
 */
export function streamer(
  model: HybridModel,
  params: Params,
  opts: StreamOptions = {},
): Streamer {
  const { config: c, mode, batch, key: fwdKey } = resolveStreamArgs("streamer", model, opts);
  const blocks = params?.blocks as Params | undefined;
  for (let i = 0; i < c.nLayers; i++) {
    if (!blocks || typeof blocks[String(i)] !== "object") {
      throw new Error(
        `streamer params must hold blocks.0 … blocks.${c.nLayers - 1} (the tree of ` +
          `model.init), found no blocks.${i}`,
      );
    }
  }
  const total = c.bins + c.forwardBins;
  // the model's constant tables, and the random spike masks the full forward draws from fwdKey
  const tables = modelTables(c);
  const masks = streamTables(c, params, { mode, batch, key: fwdKey });

  function countsTensor(counts: tf.Tensor | ArrayLike<number>): tf.Tensor3D {
    const n = c.nInputs;
    if (counts instanceof tf.Tensor) {
      const ok = (counts.rank === 2 && counts.shape[0] === batch && counts.shape[1] === n) ||
        (counts.rank === 3 && counts.shape[0] === batch && counts.shape[1] === 1 &&
          counts.shape[2] === n);
      if (!ok) {
        throw new Error(
          `stream step counts must be [${batch}, ${n}] (batch, held-in neurons), found ` +
            `[${counts.shape.join(", ")}]`,
        );
      }
      return tf.reshape(tf.cast(counts, "float32"), [batch, 1, n]);
    }
    if (counts === null || typeof counts !== "object" || typeof counts.length !== "number") {
      throw new Error(
        `stream step counts must be a tensor or ${batch * n} numbers, found ${describe(counts)}`,
      );
    }
    if (counts.length !== batch * n) {
      throw new Error(
        `stream step counts must hold batch × nInputs = ${batch} × ${n} = ${batch * n} ` +
          `numbers, found ${counts.length}`,
      );
    }
    return tf.tensor3d(Float32Array.from(counts), [batch, 1, n]);
  }

  function step(
    state: StreamState,
    counts: tf.Tensor | ArrayLike<number>,
    stepOpts: StreamStepOptions = {},
  ): StreamStepResult {
    if (!state || typeof state !== "object" || typeof state.bin !== "number" || !state.cache) {
      throw new Error(
        `stream step expects a state from init() or step(), found ${describe(state)}`,
      );
    }
    const l = state.bin;
    if (l >= total) {
      throw new Error(
        `stream step: the stream has consumed all ${total} bins (bins ${c.bins} + forward ` +
          `${c.forwardBins}) the model's positions cover; start a new one with init()`,
      );
    }
    // a shallow copy of the cache: the cursor replaces entries, never mutates tensors
    const cache = { ...state.cache } as Record<string, tf.Tensor>;
    const logRates = tf.tidy(() => {
      const y = forwardBin(params as HybridParams, countsTensor(counts), {
        config: c,
        tables,
        mode,
        key: fwdKey,
        cursor: binCursor(cache, l, { masks: masks.rsm }),
      });
      return tf.reshape(y, [batch, c.nOutputs]) as tf.Tensor2D;
    });
    if (!stepOpts.keep) {
      const live = new Set(Object.values(cache));
      for (const leaf of flatten(state.cache)) if (!live.has(leaf.tensor)) leaf.tensor.dispose();
    }
    return { state: { bin: l + 1, cache }, logRates };
  }

  return {
    config: c,
    mode,
    batch,
    length: total,
    init: () => ({ bin: 0, cache: {} }),
    step,
    dispose() {
      masks.dispose();
      tf.dispose(Object.values(tables));
    },
  };
}

/**
 * Dispose every tensor of a stream state.
 *
 * @example
 * ```ts
 * import { disposeStreamState, hybridTransformer, key, streamer } from "@hest/hest";
 * const model = hybridTransformer({ nInputs: 2, nOutputs: 2, bins: 4, causal: true });
 * const s = streamer(model, model.init(key(0)));
 * disposeStreamState(s.init());
 * ```
 */
export function disposeStreamState(state: StreamState): void {
  disposeTree(state.cache);
}
