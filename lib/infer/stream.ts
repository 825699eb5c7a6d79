/**
 * Streaming (bin-by-bin) inference of a causal {@linkcode hybridTransformer}, and the causal
 * spike norm that makes the spiking mode streamable.
 *
 * `streamer(model, params, { mode, batch })` returns `{ init(), step(state, counts) }`: `step`
 * takes the held-in counts of **one** bin `[batch, nInputs]` and returns the log-rates of that
 * bin `[batch, nOutputs]` with the new state. It reads the same parameter tree as
 * `model.apply`, and bin l's output equals row l of the full-sequence forward
 * `model.apply(params, { input }, { training: false, mode })` (tested in both modes).
 *
 * What the state carries (a nested record of tensors, `state.cache`):
 *
 * - per layer, the attention **keys and values** of every bin so far (`[B, H, l, d]`; spiking
 *   mode `[T, B, H, l, d]` spikes): the query of bin l attends to them (causal mask), limited to
 *   the window of `localWindow` / `context` when the model has one;
 * - per layer, the **input window** of the Q/K convolution (`attention: "conv"`, the last
 *   `convKernel − 1` bins of its input) and of TIM's convolution (the last `tim.kernel − 1`
 *   bins of Q̃ at every SNN timestep);
 * - spiking mode: per spike-norm site, the running sums Σx and Σx² over the SNN timesteps and
 *   the bins so far ({@linkcode causalSpikeNorm}).
 *
 * It carries **no LIF membranes**: in the hybrid model every bin is simulated for its own T SNN
 * timesteps from a membrane at rest (the LIF and TIM neurons run along T, and bins are a batch
 * axis for them), so nothing of a neuron's membrane passes from one bin to the next.
 *
 * **Requirements.** The model must be causal (`causal: true`: causal attention mask, causal Q/K
 * and TIM convolutions), otherwise bin l's output depends on later bins. The spiking mode needs
 * more, because three of its parts look at the whole trial: its default norm
 * (`lib/spike_norm.ts`) normalises over all bins, so it needs `norm: "causal"` (running
 * statistics over the bins seen so far, {@linkcode causalSpikeNorm}); the Poisson input encoding
 * scales by the maximum count of the whole batch; and significance-based spike masking ranks
 * channels or bins over the whole trial. Random spike masking streams: its masks are drawn for
 * the full `[T, B, H, L, ·]` shape from the same keys at {@linkcode Streamer.init} time and read
 * one bin at a time. Anything that cannot stream is refused with an error that says why.
 *
 * The forward window: bins `bins .. bins + forwardBins − 1` are the forecast bins, which the
 * full forward feeds with zero input; step them with zero counts.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { describe } from "../core/validation.ts";
import type { CausalConvParams } from "../nn/conv.ts";
import type { HybridModel } from "../model/hybrid.ts";
import type { ResolvedHybridConfig } from "../model/config.ts";
import { applyLayerNorm, gelu, type LayerNormParams, type LinearParams } from "../nn/layers.ts";
import type { Mode } from "../nn/types.ts";
import { lif, type LifOptions } from "../snn/neurons.ts";
import { sew } from "../snn/spike_ops.ts";
import { heaviside } from "../snn/surrogates.ts";
import { disposeTree, flatten, type Params } from "../core/tree.ts";
import { normaliseRunning } from "../snn/spike_norm.ts";
import { resolveStreamArgs, type StreamOptions, streamTables } from "./stream_setup.ts";

/**
 * `x · w + b` over the last axis, as `applyLinear` (lib/layers.ts) computes it, without its
 * custom-gradient wrapper (streaming is inference only; the wrapper doubles a small product's
 * cost on wasm). The same kernel, so the same values.
 */
function dense(p: LinearParams, x: tf.Tensor): tf.Tensor {
  const [inDim, outDim] = p.w.shape;
  const lead = x.shape.slice(0, -1);
  const y = tf.add(tf.matMul(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, p.w), p.b);
  return tf.reshape(y, [...lead, outDim]);
}

/** What a stream carries from one bin to the next (see the module documentation). */
export interface StreamState {
  /** Bins consumed so far: the index of the next bin. */
  readonly bin: number;
  /** Caches and running sums, a nested record of tensors (`disposeTree` releases them). */
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
  /** Release the streamer's constant tables (position rows, spike-masking masks). */
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
  const D = c.dModel;
  const H = c.nHeads;
  const d = D / H;
  const T = c.timesteps;
  const spiking = mode === "spiking";
  const lifOpts: LifOptions = { ...c.lif };
  const attnLif: LifOptions = { ...lifOpts, vThreshold: c.attnThreshold };
  const membrane = c.residual === "membrane";
  const sewMode = c.residual as "add" | "and" | "iand";
  const convK = c.attention === "conv" ? c.convKernel : 0;
  const timK = c.tim ? c.tim.kernel : 0;
  // Keys a query may see: j ≤ l (causal) and j ≥ l − back (local window / context window).
  let back = Infinity;
  if (c.localWindow) back = Math.min(back, Math.floor(c.localWindow / 2));
  if (c.context) back = Math.min(back, c.context.backward);

  // Constant tables, kept outside any tidy until dispose().
  const consts: tf.Tensor[] = [];
  const keep = <X extends tf.Tensor>(t: X): X => {
    consts.push(tf.keep(t));
    return t;
  };
  const tables = streamTables(c, params, { mode, batch, key: fwdKey });
  const posTable = tables.pos;
  const cpgTable = tables.cpg;
  const rsmMasks = tables.rsm;

  /** The taps of a convolution, split once (`tf.unstack` per step costs more than the product). */
  const tapCache = new Map<tf.Tensor, tf.Tensor2D[]>();
  function tapsOf(p: CausalConvParams): tf.Tensor2D[] {
    let taps = tapCache.get(p.w);
    if (!taps) {
      taps = tf.unstack(p.w, 0) as tf.Tensor2D[];
      for (const t of taps) keep(t);
      tapCache.set(p.w, taps);
    }
    return taps;
  }

  for (let i = 0; i < c.nLayers; i++) {
    const p = blocks![String(i)] as Params;
    const attn = p.attn as Params;
    if (c.attention === "conv") {
      tapsOf(attn.qConv as CausalConvParams);
      tapsOf(attn.kConv as CausalConvParams);
    }
    if (spiking && c.tim) tapsOf(p.tim as CausalConvParams);
  }

  function init(): StreamState {
    return tf.tidy(() => {
      const cache: Params = {};
      const lead = spiking ? [T, batch] : [batch];
      const layers: Params = {};
      for (let i = 0; i < c.nLayers; i++) {
        const layer: Params = {};
        if (convK > 1) layer.conv = tf.zeros([...lead, convK - 1, D]);
        if (spiking && timK > 1 && T > 1) layer.tim = tf.zeros([T - 1, batch, H, timK - 1, d]);
        layers[String(i)] = layer;
      }
      cache.blocks = layers;
      if (spiking) {
        const norms: Params = {};
        const site = (name: string, ch: number) => {
          norms[name] = { sum: tf.zeros([batch, 1, ch]), sumSq: tf.zeros([batch, 1, ch]) };
        };
        if (!membrane) site("embed", D);
        for (let i = 0; i < c.nLayers; i++) {
          for (const n of ["q", "k", "v", "attn", "o", "ff1", "ff2"]) {
            site(`block${i}_${n}`, n === "ff1" ? c.dFF : D);
          }
        }
        cache.norm = norms;
      }
      return { bin: 0, cache } as unknown as tf.TensorContainer;
    }) as unknown as StreamState;
  }

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

  /** Embedding of bin l, `[B, 1, D]` (as the full forward's, row l). */
  function embedBin(x0: tf.Tensor3D, l: number): tf.Tensor {
    let x: tf.Tensor = c.inputTransform === "log1p" ? tf.log1p(x0) : x0;
    if (cpgTable && c.cpg && c.cpg.fusion === "concat") {
      const row = tf.slice(cpgTable, [l, 0], [1, c.cpg.dims]);
      x = tf.concat([x, tf.broadcastTo(row, [batch, 1, c.cpg.dims])], -1);
    }
    let e = dense(params.embed as LinearParams, x);
    e = tf.add(e, tf.slice(posTable, [l, 0], [1, D]));
    if (cpgTable && c.cpg && c.cpg.fusion === "add") {
      e = tf.add(e, tf.slice(cpgTable, [l, 0], [1, D]));
    }
    return e;
  }

  /** [..., 1, D] → [..., H, 1, d]: with one bin the head transpose moves no data, a reshape. */
  function heads(x: tf.Tensor): tf.Tensor {
    return tf.reshape(x, [...x.shape.slice(0, -2), H, 1, d]);
  }

  /** [..., H, 1, d] → [..., 1, D] (a reshape, as above). */
  function merge(x: tf.Tensor): tf.Tensor {
    return tf.reshape(x, [...x.shape.slice(0, -3), 1, D]);
  }

  /**
   * Last bin of a causal convolution over `window [..., k, C]` (the current bin last): the sum
   * over taps j of window[j]·w[j], then the bias — the terms and the order of
   * `applyCausalConv`, for one output bin. `taps` are `p.w` split once per streamer.
   */
  function convLast(p: CausalConvParams, taps: tf.Tensor2D[], window: tf.Tensor): tf.Tensor {
    const lead = window.shape.slice(0, -2);
    const [k, cIn] = window.shape.slice(-2);
    const n = lead.reduce((a, b) => a * b, 1);
    const w3 = tf.reshape(window, [n, k, cIn]);
    const terms = taps.map((tap, j) =>
      tf.matMul(tf.reshape(tf.slice(w3, [0, j, 0], [n, 1, cIn]), [n, cIn]) as tf.Tensor2D, tap)
    );
    const y = k === 1 ? terms[0] : tf.addN(terms);
    return tf.reshape(tf.add(y, p.b), [...lead, 1, p.w.shape[2]]);
  }

  /** Append `x [..., 1, C]` to the window `[..., k − 1, C]`: the full window and the next one. */
  function slide(window: tf.Tensor, x: tf.Tensor): [tf.Tensor, tf.Tensor] {
    const axis = x.rank - 2;
    const full = tf.concat([window, x], axis);
    const begin = full.shape.map((_, i) => (i === axis ? 1 : 0));
    const size = full.shape.map((s, i) => (i === axis ? s - 1 : s));
    return [full, tf.slice(full, begin, size)];
  }

  /** Q, K, V projections of the current bin; updates the conv window in `layer`. */
  function project(p: Params, x: tf.Tensor, layer: Params): [tf.Tensor, tf.Tensor, tf.Tensor] {
    const attn = p.attn as Params;
    if (c.attention === "conv") {
      let win = x;
      if (convK > 1) {
        const [full, next] = slide(layer.conv as tf.Tensor, x);
        win = full;
        layer.conv = next;
      }
      const qc = attn.qConv as CausalConvParams;
      const kc = attn.kConv as CausalConvParams;
      return [
        convLast(qc, tapsOf(qc), win),
        convLast(kc, tapsOf(kc), win),
        dense(attn.v as LinearParams, x),
      ];
    }
    return tf.split(dense(attn.qkv as LinearParams, x), 3, -1) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
  }

  /** Append this bin's keys/values to the cache and return the visible part. */
  function attendTo(layer: Params, k: tf.Tensor, v: tf.Tensor, l: number): [tf.Tensor, tf.Tensor] {
    const axis = k.rank - 2;
    const kc = layer.k ? tf.concat([layer.k as tf.Tensor, k], axis) : k;
    const vc = layer.v ? tf.concat([layer.v as tf.Tensor, v], axis) : v;
    layer.k = kc;
    layer.v = vc;
    const lo = Math.max(0, l - back);
    if (lo === 0) return [kc, vc];
    const begin = kc.shape.map((_, i) => (i === axis ? lo : 0));
    const size = kc.shape.map((s, i) => (i === axis ? l + 1 - lo : s));
    return [tf.slice(kc, begin, size), tf.slice(vc, begin, size)];
  }

  function stepStandard(x0: tf.Tensor3D, l: number, layers: Params): tf.Tensor {
    let x = embedBin(x0, l); // [B, 1, D]
    for (let i = 0; i < c.nLayers; i++) {
      const p = blocks![String(i)] as Params;
      const layer = layers[String(i)] as Params;
      const [q, k, v] = project(p, applyLayerNorm(p.ln1 as LayerNormParams, x), layer).map(heads);
      const [kv, vv] = attendTo(layer, k, v, l);
      const scores = tf.mul(tf.matMul(q, kv, false, true), 1 / Math.sqrt(d));
      const att = tf.softmax(scores, -1);
      const a = dense((p.attn as Params).o as LinearParams, merge(tf.matMul(att, vv)));
      x = tf.add(x, a);
      const h = gelu(dense(p.ff1 as LinearParams, applyLayerNorm(p.ln2 as LayerNormParams, x)));
      x = tf.add(x, dense(p.ff2 as LinearParams, h));
    }
    return applyLayerNorm(params.lnFinal as LayerNormParams, x);
  }

  function stepSpiking(x0: tf.Tensor3D, l: number, cache: Params): tf.Tensor {
    const layers = cache.blocks as Params;
    const norms = cache.norm as Params;
    const n = tf.scalar(T * (l + 1));
    const norm = (site: string, p: LayerNormParams, x: tf.Tensor): tf.Tensor => {
      const s = norms[site] as Params;
      const sum = tf.add(s.sum as tf.Tensor, tf.sum(x, 0));
      const sumSq = tf.add(s.sumSq as tf.Tensor, tf.sum(tf.square(x), 0));
      norms[site] = { sum, sumSq };
      return normaliseRunning(p, x, sum, sumSq, n);
    };
    const e = tf.tile(tf.expandDims(embedBin(x0, l), 0), [T, 1, 1, 1]); // [T, B, 1, D]
    let x = membrane ? e : lif(norm("embed", params.snEmbed as LayerNormParams, e), lifOpts);
    for (let i = 0; i < c.nLayers; i++) {
      const p = blocks![String(i)] as Params;
      const sn = p.sn as Record<string, LayerNormParams>;
      const layer = layers[String(i)] as Params;
      // the membrane shortcut fires on the real-valued stream itself, without a norm
      const s = membrane ? lif(x, lifOpts) : x;
      const [qr, kr, vr] = project(p, s, layer);
      let q = heads(lif(norm(`block${i}_q`, sn.q, qr), lifOpts)); // [T, B, H, 1, d]
      let k = heads(lif(norm(`block${i}_k`, sn.k, kr), lifOpts));
      const v = heads(lif(norm(`block${i}_v`, sn.v, vr), lifOpts));
      if (c.tim) q = timStep(p.tim as CausalConvParams, q, layer);
      const masks = rsmMasks[i];
      if (masks?.q) q = tf.mul(q, binRow(masks.q, l));
      if (masks?.k) k = tf.mul(k, binRow(masks.k, l));
      const [kv, vv] = attendTo(layer, k, v, l);
      // Q, K, V are spikes and the scale a power of two: every product below is exact, in any
      // summation order, so the plain product equals the full forward's event-driven kernel.
      let att = tf.mul(tf.matMul(q, kv, false, true), c.ssaScale); // [T, B, H, 1, visible]
      if (masks?.att) {
        const lo = Math.max(0, l - back);
        att = tf.mul(att, tf.slice(masks.att, [0, 0, 0, l, lo], [T, batch, H, 1, l + 1 - lo]));
      }
      const o = lif(norm(`block${i}_attn`, sn.attn, merge(tf.matMul(att, vv))), attnLif);
      const a = norm(`block${i}_o`, sn.o, dense((p.attn as Params).o as LinearParams, o));
      if (membrane) {
        x = tf.add(x, a);
        const mi = lif(x, lifOpts);
        const h = lif(norm(`block${i}_ff1`, sn.ff1, dense(p.ff1 as LinearParams, mi)), lifOpts);
        x = tf.add(x, norm(`block${i}_ff2`, sn.ff2, dense(p.ff2 as LinearParams, h)));
      } else {
        x = sew(x, lif(a, lifOpts), { mode: sewMode });
        const h = lif(norm(`block${i}_ff1`, sn.ff1, dense(p.ff1 as LinearParams, x)), lifOpts);
        const f = lif(norm(`block${i}_ff2`, sn.ff2, dense(p.ff2 as LinearParams, h)), lifOpts);
        x = sew(x, f, { mode: sewMode });
      }
    }
    return applyLayerNorm(params.lnFinal as LayerNormParams, tf.mean(x, 0));
  }

  /** Row l (the bin axis, second to last) of a mask `[T, B, H, L, d]`. */
  function binRow(m: tf.Tensor, l: number): tf.Tensor {
    return tf.slice(m, [0, 0, 0, l, 0], [T, batch, H, 1, d]);
  }

  /**
   * TIM for the current bin (lib/tim.ts with a causal kernel): Q̃[0] = Q[0]; for t ≥ 1 the
   * convolution reads Q̃[t − 1] of the last `kernel` bins (the window in `layer.tim`), then the
   * SN_in / SN_out neurons step along t from rest, as in the full forward.
   */
  function timStep(p: CausalConvParams, q: tf.Tensor, layer: Params): tf.Tensor {
    const tim = c.tim as Exclude<ResolvedHybridConfig["tim"], false>;
    const kk = 1 / 2; // TIM's τ (the hybrid model uses TIM's default, 2)
    const qs = tf.unstack(q, 0); // T × [B, H, 1, d]
    // windows of Q̃[t] for t = 0 … T − 2 (Q̃[T − 1] feeds no convolution)
    const wins = layer.tim ? tf.unstack(layer.tim as tf.Tensor, 0) : [];
    const nextWins: tf.Tensor[] = [];
    const out: tf.Tensor[] = [qs[0]];
    let vIn: tf.Tensor = tf.zeros(qs[0].shape);
    let vOut: tf.Tensor = tf.zeros(qs[0].shape);
    for (let t = 1; t < T; t++) {
      let win = out[t - 1];
      if (layer.tim) [win, nextWins[t - 1]] = slide(wins[t - 1], out[t - 1]);
      const conv = convLast(p, tapsOf(p), win);
      const hIn = tf.add(tf.mul(vIn, 1 - kk), tf.mul(conv, kk));
      const sIn = heaviside(tf.sub(hIn, tim.inThreshold));
      vIn = tf.mul(hIn, tf.sub(1, sIn));
      const m = tf.add(tf.mul(sIn, tim.alpha), tf.mul(qs[t], 1 - tim.alpha));
      const hOut = tf.add(tf.mul(vOut, 1 - kk), tf.mul(m, kk));
      const sOut = heaviside(tf.sub(hOut, tim.outThreshold));
      vOut = tf.mul(hOut, tf.sub(1, sOut));
      out.push(sOut);
    }
    if (layer.tim) layer.tim = tf.stack(nextWins, 0);
    return tf.stack(out, 0);
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
    const result = tf.tidy(() => {
      const x0 = countsTensor(counts);
      // a shallow copy of the cache tree: the step replaces entries, never mutates tensors
      const cache: Params = {};
      for (const [k, v] of Object.entries(state.cache)) {
        cache[k] = v instanceof tf.Tensor ? v : copyTree(v as Params);
      }
      const y = spiking ? stepSpiking(x0, l, cache) : stepStandard(x0, l, cache.blocks as Params);
      const logRates = tf.reshape(
        dense(params.readout as LinearParams, y),
        [batch, c.nOutputs],
      );
      return { logRates, cache } as unknown as tf.TensorContainer;
    }) as unknown as { logRates: tf.Tensor2D; cache: Params };
    if (!stepOpts.keep) {
      const live = new Set(flatten(result.cache).map((leaf) => leaf.tensor));
      for (const leaf of flatten(state.cache)) if (!live.has(leaf.tensor)) leaf.tensor.dispose();
    }
    return { state: { bin: l + 1, cache: result.cache }, logRates: result.logRates };
  }

  return {
    config: c,
    mode,
    batch,
    length: total,
    init,
    step,
    dispose() {
      tables.dispose();
      tf.dispose(consts);
      consts.length = 0;
      tapCache.clear();
    },
  };
}

function copyTree(p: Params): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(p)) {
    out[k] = v instanceof tf.Tensor ? v : copyTree(v as Params);
  }
  return out;
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
