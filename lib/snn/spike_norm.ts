/**
 * The normalisation in front of every LIF neuron of the spiking mode.
 *
 * `spikeNorm(p, x)` normalises `x [T, B, L, C]` per trial and channel over the SNN timesteps and
 * the bins (axes T and L), then applies a learned gain and bias per channel:
 *
 * ```
 * μ[b, c] = mean over (t, l) of x[t, b, l, c]        σ²[b, c] = the matching variance
 * y = (x − μ) / sqrt(σ² + 1e-5) · g[c] + b[c]
 * ```
 *
 * Unlike a per-position layer norm it does not divide by ~0 at positions where a spike-driven
 * input is all zeros (common after the attention), and unlike BatchNorm it has no running state
 * and never mixes trials, so training and inference compute the same function. Every bin gets
 * an input of comparable scale, so masked (zeroed) bins still produce spikes and pass context on
 * (with a zeroed input and no norm, no spikes reach a masked bin).
 *
 * On the wasm and cpu backends (kernels enabled, see kernels/wasm.ts) the forward and its
 * gradient run as two fused WASM SIMD kernels (kernels/hest_kernels.c `spike_norm_forward`,
 * `spike_norm_backward`); on webgpu, or with the kernels off, it is the composite TF.js path
 * below, the reference the tests compare against. The same holds for `sampleSpikeNorm` (one
 * mean and variance per trial over all channels, kernels/norm_lif.h), and each norm followed
 * by the LIF runs as one fused op (`spikeNormLif`, `sampleSpikeNormLif`).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import type { LayerNormParams } from "../nn/layers.ts";
import { type KernelCall, kernelsActive, withKernelCall } from "../../kernels/wasm.ts";
import { type LifKernelArgs, lifKernelArgs } from "../../kernels/lif.ts";
import { lif, type LifOptions, type ResolvedLifOptions, resolveLifOptions } from "./neurons.ts";
import { describe } from "../core/validation.ts";

/** ε of the variance. */
const EPS = 1e-5;

/**
 * Floats of one chunk of x the backward kernels work on: they run on chunks of trials, in place
 * in x (a chunk is every timestep's slab of those trials). dg and db add up the chunks' sums in
 * float32, so this size fixes their summation order: changing it changes training's rounding.
 */
const CHUNK_FLOATS = 1 << 20;

/** One chunk of trials of an `[T, B, L, C]` array, as the backward kernels take it. */
interface TrialChunk {
  /** Trials in the chunk. */
  m: number;
  /** Byte offset of its first trial's slab. */
  at: number;
  /** Pointers to its trials' means and reciprocal deviations. */
  mean: number;
  rstd: number;
}

/**
 * The backward over chunks of trials: `chunk` runs a kernel that leaves the chunk's dg and db in
 * `pdg` and `pdb`; they are added up chunk by chunk in float32. `pst` points to the forward's
 * moments: the means of all B trials, then their reciprocal deviations.
 */
function backwardByChunks(
  k: KernelCall,
  [T, B, L, C]: number[],
  pst: number,
  chunk: (c: TrialChunk, pdg: number, pdb: number) => void,
): [tf.Tensor, tf.Tensor] {
  const bc = Math.max(1, Math.min(B, Math.floor(CHUNK_FLOATS / (T * L * C))));
  const [pdg, pdb] = [k.scratch(C), k.scratch(C)];
  const dgSum = new Float32Array(C);
  const dbSum = new Float32Array(C);
  for (let b0 = 0; b0 < B; b0 += bc) {
    const m = Math.min(bc, B - b0);
    chunk(
      { m, at: b0 * L * C * 4, mean: pst + b0 * C * 4, rstd: pst + (B + b0) * C * 4 },
      pdg,
      pdb,
    );
    const dgc = k.view(pdg, C);
    const dbc = k.view(pdb, C);
    for (let c = 0; c < C; c++) {
      dgSum[c] += dgc[c];
      dbSum[c] += dbc[c];
    }
  }
  return [tf.tensor1d(dgSum), tf.tensor1d(dbSum)];
}

/** What sets the two fused norms apart (kernels/hest_kernels.c, kernels/norm_lif.h). */
interface NormKernels {
  /** The forward and backward kernels (each pair takes the same arguments). */
  forward: "spike_norm_forward" | "sample_norm_forward";
  backward: "spike_norm_backward" | "sample_norm_backward";
  /** Moments per trial and statistic: C for the per-channel norm, 1 for the norm over all channels. */
  statsPerTrial(C: number): number;
  /**
   * Whether the backward may run in chunks of trials (the per-channel norm's dg and db add up chunk
   * by chunk); the norm over all channels adds every trial's rows in one pass.
   */
  chunked: boolean;
  /** Scratch floats of the backward kernel for B trials of C channels. */
  scratchFloats(k: KernelCall, B: number, C: number): number;
}

/**
 * A fused norm as one custom-gradient op: the forward in one WASM call (moments, normalise, gain,
 * bias), saving x and the per-trial moments; the backward (dx, dg, db) in one call, or one per
 * chunk of trials.
 */
function fusedNorm(kernels: NormKernels): (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [T, B, L, C] = x.shape;
    const ldt = B * L * C;
    const n = B * kernels.statsPerTrial(C);
    const y = withKernelCall((call) => {
      const [px, pg, pb] = [call.input(x), call.input(g), call.input(b)];
      const py = call.output(x.shape);
      const pst = call.output([2 * n]); // μ then r of every trial, for the backward pass
      call.ex[kernels.forward](px, pg, pb, py, T, B, L, C, ldt, EPS, pst, pst + n * 4);
      save([x, g, call.take(pst)]);
      return call.take(py);
    });
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
        withKernelCall((k) => {
          const [qx, qg, qst, qdy] = [...saved, dy].map((t) => k.input(t));
          const qdx = k.output(x.shape);
          const backward = k.ex[kernels.backward];
          const qs = k.scratch(kernels.scratchFloats(k, B, C));
          if (!kernels.chunked) {
            const [qdg, qdb] = [k.output([C]), k.output([C])];
            backward(qx, qg, qdy, qdx, qdg, qdb, T, B, L, C, ldt, qst, qst + n * 4, qs);
            return [k.take(qdx), k.take(qdg), k.take(qdb)];
          }
          const [dg, db] = backwardByChunks(k, x.shape, qst, (c, qdg, qdb) =>
            backward(
              qx + c.at,
              qg,
              qdy + c.at,
              qdx + c.at,
              qdg,
              qdb,
              T,
              c.m,
              L,
              C,
              ldt,
              c.mean,
              c.rstd,
              qs,
            ));
          return [k.take(qdx), dg, db];
        }),
    };
  }) as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
}

/** The per-channel norm: forward in one call, backward in one call per chunk of trials. */
const spikeNormFused = fusedNorm({
  forward: "spike_norm_forward",
  backward: "spike_norm_backward",
  statsPerTrial: (C) => C,
  chunked: true,
  scratchFloats: (_k, B, C) => 2 * B * C,
});

/**
 * Per-trial, per-channel normalisation over axes T and L of `x [T, B, L, C]` with gain `p.g` and
 * bias `p.b` (each `[C]`).
 *
 * @example
 * ```ts
 * import { initLayerNorm, spikeNorm, tf } from "@hest/hest";
 * const y = spikeNorm(initLayerNorm(8), tf.randomNormal([4, 2, 10, 8]));
 * ```
 */
export function spikeNorm(p: LayerNormParams, x: tf.Tensor): tf.Tensor {
  if (x.rank !== 4) {
    throw new Error(`spikeNorm input must be [T, B, L, C], found [${x.shape.join(", ")}]`);
  }
  const C = x.shape[3];
  if (p.g.size !== C || p.b.size !== C) {
    throw new Error(
      `spikeNorm params must be g [${C}] and b [${C}] for input [${x.shape.join(", ")}], ` +
        `found g [${p.g.shape.join(", ")}] and b [${p.b.shape.join(", ")}]`,
    );
  }
  if (kernelsActive() && x.size > 0 && x.dtype === "float32") {
    return spikeNormFused(x, p.g, p.b);
  }
  const { mean, variance } = tf.moments(x, [0, 2], true);
  const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, EPS)));
  return tf.add(tf.mul(xn, p.g), p.b);
}

type SnLifFn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** Pointers to what a fused norm-and-LIF backward reads (byte offsets into the kernel memory). */
interface NormLifInputs {
  x: number;
  g: number;
  b: number;
  ds: number;
  /** The forward's moments: every trial's means, then their reciprocal deviations. */
  stats: number;
}

/** What sets the two fused norm-and-LIF ops apart. */
interface NormLifKernels {
  /** The forward kernel (both take the same arguments). */
  forward: "spike_norm_lif_forward" | "sample_norm_lif_forward";
  /** Moments per trial and statistic: C for the per-channel norm, 1 for the norm over all channels. */
  statsPerTrial(C: number): number;
  /** The backward: dx, dg and db of x [T, B, L, C]. */
  backward(k: KernelCall, q: NormLifInputs, shape: number[], a: LifKernelArgs): tf.Tensor[];
}

/**
 * A norm followed by the LIF as one custom-gradient op (cached per LIF options in `cache`): the
 * forward normalises and fires in one kernel call, saving x and the per-trial moments rather than
 * the normalised values; the backward recomputes the normalised values and membranes per neuron,
 * runs the LIF BPTT and the norm's backward.
 */
function fusedNormLifFn(
  cache: Map<string, SnLifFn>,
  o: ResolvedLifOptions,
  kernels: NormLifKernels,
): SnLifFn {
  const a = lifKernelArgs(o);
  let fn = cache.get(a.key);
  if (fn !== undefined) return fn;
  fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [T, B, L, C] = x.shape;
    const n = B * kernels.statsPerTrial(C);
    const s = withKernelCall((call) => {
      const [px, pg, pb] = [call.input(x), call.input(g), call.input(b)];
      const ps = call.output(x.shape);
      const pst = call.output([2 * n]); // μ then r of every trial, for the backward pass
      const pv = call.scratch(C);
      const ldt = B * L * C;
      call.ex[kernels.forward](
        px,
        pg,
        pb,
        ps,
        T,
        B,
        L,
        C,
        ldt,
        EPS,
        pst,
        pst + n * 4,
        pv,
        ...a.neuron,
      );
      save([x, g, b, call.take(pst)]);
      return call.take(ps);
    });
    return {
      value: s,
      gradFunc: (ds: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
        withKernelCall((k) => {
          const [qx, qg, qb, qds, qst] = [...saved.slice(0, 3), ds, saved[3]].map((t) =>
            k.input(t)
          );
          return kernels.backward(k, { x: qx, g: qg, b: qb, ds: qds, stats: qst }, x.shape, a);
        }),
    };
  }) as SnLifFn;
  cache.set(a.key, fn);
  return fn;
}

const snLifFns = new Map<string, SnLifFn>();

/**
 * The per-channel norm and the LIF: the backward runs in one call per chunk of trials (the chunks
 * of spikeNormFused, so dg and db add up in the same order).
 */
const SPIKE_NORM_LIF: NormLifKernels = {
  forward: "spike_norm_lif_forward",
  statsPerTrial: (C) => C,
  backward(k, q, [T, B, L, C], a) {
    const qdx = k.output([T, B, L, C]);
    const qs = k.scratch(2 * B * C + T * C + 2 * C);
    const [dg, db] = backwardByChunks(
      k,
      [T, B, L, C],
      q.stats,
      (c, qdg, qdb) =>
        k.ex.spike_norm_lif_backward(
          q.x + c.at,
          q.g,
          q.b,
          q.ds + c.at,
          qdx + c.at,
          qdg,
          qdb,
          T,
          c.m,
          L,
          C,
          B * L * C,
          c.mean,
          c.rstd,
          qs,
          ...a.neuron,
          ...a.surrogate,
        ),
    );
    return [k.take(qdx), dg, db];
  },
};

/**
 * LIF spikes of the spike norm of `x [T, B, L, C]`: `lif(spikeNorm(p, x), lifOptions)`. With the
 * kernels active both run as one fused op: one WASM call forward that never stores the normalised
 * values, one per chunk of trials backward (recomputing them and the membranes). The same spikes
 * and gradients bit for bit as the two ops, with one activation fewer kept for the backward pass.
 * Elsewhere (webgpu, kernels off, or with `v0`) it is the two ops.
 *
 * @example
 * ```ts
 * import { initLayerNorm, spikeNormLif, tf } from "@hest/hest";
 * const s = spikeNormLif(initLayerNorm(8), tf.randomNormal([4, 2, 10, 8]), { vThreshold: 0.5 });
 * ```
 */
export function spikeNormLif(
  p: LayerNormParams,
  x: tf.Tensor,
  lifOptions: LifOptions = {},
): tf.Tensor {
  const o = resolveLifOptions(lifOptions);
  if (
    !kernelsActive() || o.v0 !== undefined || x.rank !== 4 || x.size === 0 ||
    x.dtype !== "float32" || p.g.size !== x.shape[3] || p.b.size !== x.shape[3]
  ) {
    return lif(spikeNorm(p, x), lifOptions);
  }
  return fusedNormLifFn(snLifFns, o, SPIKE_NORM_LIF)(x, p.g, p.b);
}

const NORM_EPS = 1e-5;

function checkNormInput(p: LayerNormParams, x: tf.Tensor, fn: string): void {
  if (!(x instanceof tf.Tensor) || x.rank !== 4) {
    throw new Error(
      `${fn} input must be a tensor [T, B, L, C], found ${
        x instanceof tf.Tensor ? `shape [${x.shape.join(", ")}]` : describe(x)
      }`,
    );
  }
  const c = x.shape[3];
  if (!(p?.g instanceof tf.Tensor) || p.g.size !== c || !(p.b instanceof tf.Tensor)) {
    throw new TypeError(
      `${fn} expects params { g: [${c}], b: [${c}] }, found g ${describe(p?.g)}`,
    );
  }
}

/**
 * (x − μ)·rsqrt(σ² + eps)·g + b from running sums Σx, Σx² over n samples: shared by
 * {@linkcode causalSpikeNorm} and the streaming step (lib/infer/stream.ts), so both add the same
 * numbers in the same order.
 */
export function normaliseRunning(
  p: LayerNormParams,
  x: tf.Tensor,
  sum: tf.Tensor,
  sumSq: tf.Tensor,
  n: tf.Tensor,
): tf.Tensor {
  const mean = tf.div(sum, n);
  const variance = tf.relu(tf.sub(tf.div(sumSq, n), tf.square(mean)));
  const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, NORM_EPS)));
  return tf.add(tf.mul(xn, p.g), p.b);
}

/**
 * Running sum over the bins (axis 1) of `[B, L, C]`. The cumulative sum runs on the last axis:
 * TF.js 4.22's gradient of `cumsum` along another axis has the wrong shape. The forward values
 * are the same sequential additions either way (TF.js moves the axis last itself).
 */
function cumsumBins(x: tf.Tensor): tf.Tensor {
  return tf.transpose(tf.cumsum(tf.transpose(x, [0, 2, 1]), 2), [0, 2, 1]);
}

/**
 * The causal variant of {@linkcode spikeNorm}: normalises `x [T, B, L, C]` per trial
 * and channel with the statistics of the SNN timesteps and the bins **up to and including**
 * each bin, so bin l never sees a later bin. With n_l = T·(l + 1):
 *
 * ```
 * μ[b, l, c]  = Σ_{t, j ≤ l} x[t, b, j, c] / n_l
 * σ²[b, l, c] = max(0, Σ_{t, j ≤ l} x[t, b, j, c]² / n_l − μ[b, l, c]²)
 * y = (x − μ) / sqrt(σ² + 1e-5) · g[c] + b[c]
 * ```
 *
 * The sums are running sums (a cumulative sum over the bins of the per-bin sums over T), the
 * same additions in the same order as the streaming step, so a stream reproduces it exactly on
 * the wasm and cpu backends. At the last bin it equals `spikeNorm` up to rounding (the variance
 * there is E[x²] − μ² instead of the two-pass form). The first bins have few samples: at bin 0
 * a real-valued input repeated over T (the embedding) has no variance, so it normalises to
 * ≈ 0 there and only the bias g·0 + b reaches the LIF. Differentiable.
 *
 * @example
 * ```ts
 * import { causalSpikeNorm, initLayerNorm, tf } from "@hest/hest";
 * const y = causalSpikeNorm(initLayerNorm(8), tf.randomNormal([4, 2, 10, 8])); // [4, 2, 10, 8]
 * ```
 */
export function causalSpikeNorm(p: LayerNormParams, x: tf.Tensor): tf.Tensor {
  checkNormInput(p, x, "causalSpikeNorm");
  const [T, , L] = x.shape;
  return tf.tidy(() => {
    const sum = cumsumBins(tf.sum(x, 0)); // [B, L, C]
    const sumSq = cumsumBins(tf.sum(tf.square(x), 0));
    const n = tf.tensor2d(Float32Array.from({ length: L }, (_, l) => T * (l + 1)), [L, 1]);
    return normaliseRunning(p, x, sum, sumSq, n);
  });
}

/**
 * {@linkcode sampleSpikeNorm} as one custom-gradient op (kernels/norm_lif.h): the same values bit
 * for bit as the composite below with the spike-norm kernel.
 */
const sampleNormFused = fusedNorm({
  forward: "sample_norm_forward",
  backward: "sample_norm_backward",
  statsPerTrial: () => 1,
  chunked: false,
  scratchFloats: (k, B) => k.ex.sample_norm_backward_scratch_floats(B),
});

/**
 * Per-trial normalisation of `x [T, B, L, C]` over the SNN timesteps, bins **and channels**
 * together (one mean and variance per trial), then the per-channel gain `p.g` and bias `p.b`:
 *
 * ```
 * μ[b] = mean over t, l, c of x[t, b, l, c];   σ²[b] = the variance over the same
 * y = (x − μ[b]) / sqrt(σ²[b] + 1e-5) · g[c] + b[c]
 * ```
 *
 * Unlike {@linkcode spikeNorm} (one mean per trial **and channel**), it keeps how each channel's
 * level in this trial differs from the others: on recordings cut into windows, which neurons are
 * more active in a window is much of what predicts the held-out ones, and the per-channel norm
 * removes it at every LIF. With the kernels active it is one fused op (kernels/norm_lif.h);
 * elsewhere the moments of the trial seen as one channel (`[T, B, L·C, 1]`), then the gain and
 * bias. Differentiable.
 *
 * @example
 * ```ts
 * import { initLayerNorm, sampleSpikeNorm, tf } from "@hest/hest";
 * const y = sampleSpikeNorm(initLayerNorm(8), tf.randomNormal([4, 2, 10, 8])); // [4, 2, 10, 8]
 * ```
 */
export function sampleSpikeNorm(p: LayerNormParams, x: tf.Tensor): tf.Tensor {
  checkNormInput(p, x, "sampleSpikeNorm");
  if (kernelsActive() && x.size > 0 && x.dtype === "float32") return sampleNormFused(x, p.g, p.b);
  const [T, B, L, C] = x.shape;
  return tf.tidy(() => {
    const unit = { g: tf.ones([1]) as tf.Tensor1D, b: tf.zeros([1]) as tf.Tensor1D };
    const xn = tf.reshape(spikeNorm(unit, tf.reshape(x, [T, B, L * C, 1])), x.shape);
    return tf.add(tf.mul(xn, p.g), p.b);
  });
}

const sampleLifFns = new Map<string, SnLifFn>();

/**
 * The norm over all channels and the LIF (kernels/norm_lif.h): the backward is one call over the
 * whole array, so dg and db are one float32 sum per channel in memory order, as TF.js's gradient
 * of the gain and bias adds them.
 */
const SAMPLE_NORM_LIF: NormLifKernels = {
  forward: "sample_norm_lif_forward",
  statsPerTrial: () => 1,
  backward(k, q, [T, B, L, C], a) {
    const [qdx, qdg, qdb] = [k.output([T, B, L, C]), k.output([C]), k.output([C])];
    const qs = k.scratch(k.ex.sample_norm_lif_backward_scratch_floats(T, B, C));
    k.ex.sample_norm_lif_backward(
      q.x,
      q.g,
      q.b,
      q.ds,
      qdx,
      qdg,
      qdb,
      T,
      B,
      L,
      C,
      q.stats,
      q.stats + B * 4,
      qs,
      ...a.neuron,
      ...a.surrogate,
    );
    return [k.take(qdx), k.take(qdg), k.take(qdb)];
  },
};

/**
 * LIF spikes of the per-trial norm over all channels of `x [T, B, L, C]`:
 * `lif(sampleSpikeNorm(p, x), lifOptions)`. With the kernels active it runs as one fused op (one
 * WASM call forward, one backward) with the same spikes and gradients bit for bit as the two ops,
 * keeping only x and the moments for the backward pass. Elsewhere (webgpu, kernels off, or with
 * `v0`) it is the two ops.
 *
 * @example
 * ```ts
 * import { initLayerNorm, sampleSpikeNormLif, tf } from "@hest/hest";
 * const s = sampleSpikeNormLif(initLayerNorm(8), tf.randomNormal([4, 2, 10, 8])); // 0/1
 * ```
 */
export function sampleSpikeNormLif(
  p: LayerNormParams,
  x: tf.Tensor,
  lifOptions: LifOptions = {},
): tf.Tensor {
  checkNormInput(p, x, "sampleSpikeNormLif");
  const o = resolveLifOptions(lifOptions);
  if (!kernelsActive() || o.v0 !== undefined || x.size === 0 || x.dtype !== "float32") {
    return lif(sampleSpikeNorm(p, x), lifOptions);
  }
  return fusedNormLifFn(sampleLifFns, o, SAMPLE_NORM_LIF)(x, p.g, p.b);
}
