/**
 * Energy accounting from counted operations, counted from the actual forward pass of a model:
 * weight products (MACs for real-valued inputs, ACs for spike inputs) and every element-wise
 * operation around them (norms, neurons, softmax, GELU, residual adds, scale and mask
 * multiplies).
 *
 * The model reports each weight product it computes to an {@linkcode OpsCollector} (hybrid
 * models do so when `ctx.ops` is set): linear layers, convolutions over bins and the attention
 * matrix products; and each element-wise site as a count of element operations of one
 * {@linkcode ElementwiseKind}. `energyReport` then applies the counting rules of the
 * Spikingformer energy counter, the de-facto convention of the spiking-transformer papers, to the
 * weight products:
 *
 * - An input counts as **spikes only if every element is exactly 0 or 1**, checked on the tensor
 *   itself. A spike input costs one AC per non-zero element per output it feeds (event-driven:
 *   zeros cost nothing, a one adds a weight without multiplying). Any other input — the counts
 *   entering the embedding, a SEW-ADD sum of 2, a membrane potential — costs one MAC per element
 *   per output, as the equivalent dense layer.
 * - Linear `x [..., K] · W [K, N]`: dense MACs = numel(x)·N; spike ACs = nnz(x)·N.
 * - Convolution over bins (kernel k, C_out outputs, zero padding): dense MACs = numel(x)·k·C_out
 *   (the equivalent ANN layer, padded taps included); spike ACs = Σ nnz(x at bin l)·taps(l)·C_out
 *   where taps(l) is the number of outputs bin l actually reaches (fewer than k at the edges).
 * - Matrix product `A [..., M, K] · B [..., K, N]`: dense MACs = batch·M·K·N. If A is binary,
 *   each non-zero of A adds one row of B: nnz(A)·N ACs; if B is binary, nnz(B)·M ACs; when both
 *   are, the cheaper. Spiking attention's Q·Kᵀ has binary Q and K; (Q·Kᵀ)·V has binary V.
 * - **Multi-level spikes** (`lif.levels` L > 1; `energyReport` passes L to the counter in spiking
 *   mode): an input whose elements are all integers from 0 to L is a spike input too, and an
 *   element of value l counts as l events, as spike-driven hardware would deliver it (l unit
 *   spikes), so the ACs above use the sum of the values in place of nnz. The neuron's L − 1
 *   further threshold compares count as `add`s.
 * - Counts cover the whole batch and every SNN timestep (T is in the tensors' leading axis), and
 *   are reported in total, per sample and per bin.
 *
 * Unlike the papers, which leave them out, element-wise operations are counted too, each kind at
 * the cost of the FP32 adds and multiplies it is made of (below).
 *
 * ## Energy per operation
 *
 * Primitive costs (Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC
 * 2014, 45 nm, 0.9 V, FP32): **add 0.9 pJ, multiply 3.7 pJ**. Assumptions where the paper gives no
 * figure: a compare or subtract costs an add; a divide costs a multiply (by a reciprocal that is
 * computed once per row where the divisor is shared, and otherwise optimistically so); per-row
 * work (1/D, √, reciprocals) is amortised over the row and left out of the per-element cost;
 * `exp(x)` = range reduction `t = x·log₂e` (1 mult), `f = t − ⌊t⌋` (1 add), a degree-5 Horner
 * polynomial for 2^f (5 mult + 5 add), scaling by 2^⌊t⌋ as an add to the exponent field (1 add):
 * **6 mult + 7 add**.
 *
 * | op | one unit is | derivation | mult | add | pJ |
 * |---|---|---|---|---|---|
 * | `mac` | a multiply-accumulate on a real input | w·x, acc + | 1 | 1 | 4.6 |
 * | `ac` | an accumulate on a spike input | acc + w | 0 | 1 | 0.9 |
 * | `norm` | one LayerNorm element | mean share: acc + x (1 a); variance share: x − μ, square, acc + (1 m, 2 a); (x − μ)·rstd (1 m); ·γ + β (1 m, 1 a) | 3 | 4 | 14.7 |
 * | `neuron` | one LIF update, decay input, hard reset to 0 | charge H = V + (X − V)/τ (1 m, 2 a); fire S = H ≥ V_th (1 compare = 1 a); reset V = H·(1 − S) (1 m) | 2 | 3 | 10.1 |
 * | `softmax` | one softmax element (max-subtracted) | row-max share (1 compare = 1 a); x − max (1 a); exp (6 m, 7 a); sum share (1 a); ·(1/sum) (1 m) | 7 | 10 | 34.9 |
 * | `gelu` | one GELU element, tanh form 0.5·x·(1 + tanh(u)) | 2u = 2√(2/π)·x·(1 + 0.044715·x²) (4 m, 1 a); tanh(u) = 1 − 2/(exp(2u) + 1): exp (6 m, 7 a), + 1 (1 a), 2/· (1 m), 1 − · (1 a); 0.5·x·(1 + t) (2 m, 1 a) | 13 | 11 | 58.0 |
 * | `add` | a real-valued add (residual, SEW, mean over T) | | 0 | 1 | 0.9 |
 * | `mul` | a multiply (scale, mask, gate) | | 1 | 0 | 3.7 |
 *
 * The model computes the exact (erf) GELU; the tanh form is what hardware without an erf unit
 * would evaluate, and costs it here. TIM neurons are charged as LIF updates.
 *
 * Energy = Σ over op kinds of count·(pJ per op). The table is exported as
 * {@linkcode ENERGY_PER_OP_PJ} (with its make-up in {@linkcode OP_COMPOSITION}); every entry can
 * be overridden (`macPj`, `acPj`, `normPj`, …), and {@linkcode energyPerOp} re-derives the
 * whole table from other primitive costs (e.g. INT8). Counts are kept apart from energies in the
 * report.
 *
 * ## NeuroBench synaptic operations
 *
 * Alongside the energy convention the report gives NeuroBench's effective synaptic operations
 * and activation sparsity. An operation is *effective* when its activation operand is non-zero
 * (weights are taken as non-zero): effective MACs are those of sites with a real-valued input,
 * effective ACs those of sites with a spike input. Linear: nnz(x)·N; convolution: Σ
 * nnz(x at bin l)·taps(l)·C_out (padded taps are zeros, never effective); matrix product, where
 * both operands are activations: the products with both factors non-zero,
 * Σ_k nnz(A[..., :, k])·nnz(B[..., k, :]). Activation sparsity is the fraction of zero elements
 * over the inputs of all counted weight products (both operands of a matrix product).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { checkKeys, describe } from "../core/validation.ts";
import type { ConvCountOptions, ElementwiseKind, Mode, OpsCollector } from "../nn/types.ts";
import type { Params } from "../core/tree.ts";
import { type Key, key } from "../core/random.ts";
import {
  CONSTANT_KEYS,
  ELEMENTWISE_KINDS,
  type EnergyConstants,
  OP_KINDS,
  type OpEnergiesPj,
  type OpsByKind,
  type OpsByOp,
  resolveEnergyConstants,
} from "./energy_constants.ts";

export interface EnergyRow {
  /** Site name, e.g. `"block0.attn.qk"`. */
  name: string;
  /** `"linear"`, `"conv"` or `"matmul"`. */
  kind: "linear" | "conv" | "matmul";
  /**
   * Whether the (event) input was spikes, so the site was counted in ACs: strictly binary, or
   * integers up to the counter's `spikeLevels`.
   */
  spikeInput: boolean;
  /**
   * Events per input element of a spike input (its firing rate; for binary spikes the fraction of
   * non-zero elements), else the fraction of non-zero elements (of the event operand for matmuls).
   */
  firingRate: number;
  /** MACs of the equivalent dense operation. */
  denseMacs: number;
  /** MACs counted (0 for a spike input). */
  macs: number;
  /** ACs counted (0 for a real-valued input). */
  acs: number;
  /** NeuroBench effective MACs: products with a non-zero real input (0 for a spike input). */
  effectiveMacs: number;
  /** NeuroBench effective ACs: products with a non-zero spike input (0 for a real input). */
  effectiveAcs: number;
  /** Elements of the input (both operands of a matmul). */
  inputNumel: number;
  /** Zero elements of the input (both operands of a matmul). */
  inputZeros: number;
  /** Energy of the site in pJ. */
  energyPj: number;
}

/** One element-wise site of an {@linkcode EnergyReport} (all calls with its name and kind). */
export interface ElementwiseRow {
  /** Site name, e.g. `"block0.ln1"`. */
  name: string;
  /** Kind of the operations. */
  kind: ElementwiseKind;
  /** Element operations, whole batch. */
  count: number;
  /** Energy of the site in pJ. */
  energyPj: number;
}

/** Totals of an {@linkcode EnergyReport} (whole batch, per sample or per bin). */
export interface EnergyTotals {
  /** MACs counted (= `opsByKind.mac`). */
  macs: number;
  /** ACs counted (= `opsByKind.ac`). */
  acs: number;
  /** MACs of the same network's weight products run densely (every site as MACs). */
  denseMacs: number;
  /** Operations by coarse kind; `other` = GELU + add + mul. */
  opsByKind: OpsByKind;
  /** Operations by kind. */
  opsByOp: OpsByOp;
  /** Energy by coarse kind, pJ. */
  energyByKindPj: OpsByKind;
  /** Energy by kind, pJ. */
  energyByOpPj: OpsByOp;
  /** NeuroBench effective MACs (multiply-accumulates on non-zero real inputs). */
  effectiveMacs: number;
  /** NeuroBench effective ACs (accumulates for non-zero spike inputs). */
  effectiveAcs: number;
  /**
   * Fraction of zero elements over the inputs of all counted weight products (a ratio: the same
   * in total, per sample and per bin; 0 when nothing was counted).
   */
  activationSparsity: number;
  /** Energy in pJ (= Σ `energyByKindPj`). */
  energyPj: number;
}

/** The result of {@linkcode energyReport}. */
export interface EnergyReport {
  /** Mode the forward pass ran in. */
  mode: Mode;
  /** Trials in the batch. */
  batchSize: number;
  /** Bins per trial (including forward bins). */
  bins: number;
  /** Energy per operation of each kind, pJ. */
  constants: OpEnergiesPj;
  /** One row per weight-product site, in forward order. */
  rows: EnergyRow[];
  /** One row per element-wise site (name and kind), in order of first report. */
  elementwise: ElementwiseRow[];
  /** Whole batch. */
  total: EnergyTotals;
  /** Per trial (total / batch size). */
  perSample: EnergyTotals;
  /** Per bin of one trial (per sample / bins). */
  perBin: EnergyTotals;
}

/** What a weight-product record resolves to once its kept scalars are read. */
interface Resolved {
  /** Per candidate event operand (both operands of a matmul). */
  candidates: { spikes: boolean; nnz: number; events: number; acs: number; numel: number }[];
  /** Products with every activation factor non-zero. */
  effective: number;
}

interface PendingRow {
  name: string;
  kind: EnergyRow["kind"];
  denseMacs: number;
  /** Read the kept tensors into counts and dispose them. */
  resolve(): Promise<Resolved>;
}

/** Options of {@linkcode opsCounter}. */
export interface OpsCounterOptions {
  /**
   * The most levels a spike input may take (default 1: only 0/1 inputs are spikes). With L > 1 an
   * input whose elements are all integers from 0 to L is a spike input too, and each element of
   * value l counts l events (l ACs per fan-out): the multi-level spikes of `lif.levels`.
   */
  spikeLevels?: number;
}

/** A collector that also resolves its records into rows. */
export interface OpsCounter extends OpsCollector {
  /** Read the weight-product counts (awaits the backend) and release the kept tensors. */
  rows(constants?: EnergyConstants): Promise<EnergyRow[]>;
  /** The element-wise sites so far, one row per (name, kind), with their energy. */
  elementwiseRows(constants?: EnergyConstants): ElementwiseRow[];
}

/** Whether every element of `x` is a spike: an integer from 0 to `levels` (0/1 for 1). */
function isSpikes(x: tf.Tensor, levels: number): tf.Tensor {
  if (levels === 1) return tf.all(tf.logicalOr(tf.equal(x, 0), tf.equal(x, 1)));
  return tf.all(
    tf.logicalAnd(
      tf.equal(x, tf.round(x)),
      tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, levels)),
    ),
  );
}

/**
 * The unit events of a spike tensor, as int32: 1 per binary spike, l per spike of level l (which
 * spike-driven hardware delivers as l unit events); only read where {@linkcode isSpikes} holds.
 */
function spikeEvents(x: tf.Tensor, levels: number): tf.Tensor {
  return levels === 1 ? nonzeroMask(x) : tf.cast(tf.round(tf.clipByValue(x, 0, levels)), "int32");
}

/** 1 where `x` is non-zero, as int32 so that sums of counts stay exact. */
function nonzeroMask(x: tf.Tensor): tf.Tensor {
  return tf.cast(tf.notEqual(x, 0), "int32");
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Read a kept tensor as numbers and dispose it. */
async function take(t: tf.Tensor): Promise<ArrayLike<number>> {
  try {
    return (await t.data()) as ArrayLike<number>;
  } finally {
    t.dispose();
  }
}

/** Read a kept scalar and dispose it. */
async function scalar(t: tf.Tensor): Promise<number> {
  return (await take(t))[0];
}

/**
 * How many outputs of a length-L convolution each input bin reaches.
 *
 * @example
 * ```ts
 * import { convTaps } from "@hest/hest";
 * convTaps(5, { kernel: 3, centered: true }); // [2, 3, 3, 3, 2]
 * ```
 */
export function convTaps(length: number, opts: ConvCountOptions): Float32Array {
  const k = opts.kernel;
  const padLeft = opts.centered ? Math.floor(k / 2) : k - 1;
  const taps = new Float32Array(length);
  for (let m = 0; m < length; m++) {
    for (let j = 0; j < k; j++) {
      const l = m + padLeft - j;
      if (l >= 0 && l < length) taps[m]++;
    }
  }
  return taps;
}

/**
 * A fresh {@linkcode OpsCollector} that counts operations; pass it as `ctx.ops` to a hybrid
 * model's `apply`, then read `rows()` and `elementwiseRows()`.
 *
 * @example
 * ```ts
 * import { opsCounter, tf } from "@hest/hest";
 * const ops = opsCounter();
 * ops.linear("fc", tf.tensor2d([[0, 1, 1, 0]]), 8); // a spike input: 2 non-zeros × 8 outputs
 * ops.elementwise("fc.residual", "add", 8);
 * const [row] = await ops.rows();
 * row.acs; // 16
 * ops.elementwiseRows()[0].energyPj; // 8 · 0.9 = 7.2
 * ```
 */
export function opsCounter(opts: OpsCounterOptions = {}): OpsCounter {
  checkKeys(opts, ["spikeLevels"], "opsCounter option");
  const levels = opts.spikeLevels ?? 1;
  if (!Number.isInteger(levels) || levels < 1) {
    throw new RangeError(
      `opsCounter option "spikeLevels" must be an integer >= 1, found ${
        describe(opts.spikeLevels)
      }`,
    );
  }
  const pending: PendingRow[] = [];
  const elementwise = new Map<string, { name: string; kind: ElementwiseKind; count: number }>();
  return {
    linear(name, x, outFeatures) {
      const numel = size(x.shape);
      const [spikes, nnz, ev] = tf.tidy(() =>
        [isSpikes(x, levels), tf.sum(nonzeroMask(x)), tf.sum(spikeEvents(x, levels))].map(tf.keep)
      );
      pending.push({
        name,
        kind: "linear",
        denseMacs: numel * outFeatures,
        async resolve() {
          const b = await scalar(spikes);
          const n = await scalar(nnz);
          const events = await scalar(ev);
          const acs = events * outFeatures;
          return { candidates: [{ spikes: b !== 0, nnz: n, events, acs, numel }], effective: acs };
        },
      });
    },
    conv(name, x, outChannels, opts) {
      const numel = size(x.shape);
      const L = x.shape[x.rank - 2];
      const [spikes, perBin, eventsPerBin] = tf.tidy(() => {
        const x3 = tf.reshape(x, [-1, L, x.shape[x.rank - 1]]);
        return [
          isSpikes(x, levels),
          // non-zeros and events per bin, summed over everything else
          tf.sum(nonzeroMask(x3), [0, 2]),
          tf.sum(spikeEvents(x3, levels), [0, 2]),
        ].map(tf.keep);
      });
      pending.push({
        name,
        kind: "conv",
        denseMacs: numel * opts.kernel * outChannels,
        async resolve() {
          const b = await scalar(spikes);
          const counts = await take(perBin);
          const eventCounts = await take(eventsPerBin);
          const taps = convTaps(L, opts);
          let nnz = 0, events = 0, reach = 0;
          for (let l = 0; l < L; l++) {
            nnz += counts[l];
            events += eventCounts[l];
            reach += eventCounts[l] * taps[l];
          }
          const acs = reach * outChannels;
          return {
            candidates: [{ spikes: b !== 0, nnz, events, acs, numel }],
            effective: acs,
          };
        },
      });
    },
    matmul(name, a, b, opts = {}) {
      const M = a.shape[a.rank - 2];
      const K = a.shape[a.rank - 1];
      const N = opts.transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1];
      const batch = size(a.shape.slice(0, -2));
      const nA = size(a.shape), nB = size(b.shape);
      const kept = tf.tidy(() => {
        const nzA = nonzeroMask(a), nzB = nonzeroMask(b);
        // non-zeros of A's column k and B's row k, per batch entry: [..., K] each
        const colsA = tf.sum(nzA, a.rank - 2);
        const rowsB = tf.sum(nzB, opts.transposeB ? b.rank - 2 : b.rank - 1);
        return [
          isSpikes(a, levels),
          tf.sum(nzA),
          isSpikes(b, levels),
          tf.sum(nzB),
          tf.mul(colsA, rowsB),
          tf.sum(spikeEvents(a, levels)),
          tf.sum(spikeEvents(b, levels)),
        ].map(tf.keep);
      });
      pending.push({
        name,
        kind: "matmul",
        denseMacs: batch * M * K * N,
        async resolve() {
          const binA = await scalar(kept[0]);
          const nnzA = await scalar(kept[1]);
          const binB = await scalar(kept[2]);
          const nnzB = await scalar(kept[3]);
          // summed here, in float64, as the int32 products can add up past 2³¹
          const pairs = await take(kept[4]);
          const evA = await scalar(kept[5]);
          const evB = await scalar(kept[6]);
          let effective = 0;
          for (let i = 0; i < pairs.length; i++) effective += pairs[i];
          return {
            candidates: [
              { spikes: binA !== 0, nnz: nnzA, events: evA, acs: evA * N, numel: nA },
              { spikes: binB !== 0, nnz: nnzB, events: evB, acs: evB * M, numel: nB },
            ],
            effective,
          };
        },
      });
    },
    elementwise(name, kind, count) {
      if (typeof name !== "string") {
        throw new TypeError(`elementwise site name must be a string, found ${describe(name)}`);
      }
      if (!ELEMENTWISE_KINDS.includes(kind)) {
        throw new TypeError(
          `elementwise kind must be one of ${ELEMENTWISE_KINDS.join(", ")}, found ${
            describe(kind)
          }`,
        );
      }
      if (typeof count !== "number") {
        throw new TypeError(`elementwise count must be a number, found ${describe(count)}`);
      }
      if (!Number.isFinite(count) || count < 0) {
        throw new RangeError(`elementwise count must be finite and >= 0, found ${count}`);
      }
      const id = `${kind}\u0000${name}`;
      const site = elementwise.get(id);
      if (site) site.count += count;
      else elementwise.set(id, { name, kind, count });
    },
    async rows(constants = {}) {
      const { macPj, acPj } = resolveEnergyConstants(constants);
      const out: EnergyRow[] = [];
      const todo = pending.splice(0);
      for (const p of todo) {
        const { candidates, effective } = await p.resolve();
        let best: { acs: number; rate: number } | undefined;
        for (const c of candidates) {
          if (c.spikes && (!best || c.acs < best.acs)) {
            best = { acs: c.acs, rate: c.events / c.numel };
          }
        }
        const macs = best ? 0 : p.denseMacs;
        const acs = best ? best.acs : 0;
        const inputNumel = candidates.reduce((s, c) => s + c.numel, 0);
        const inputNonzero = candidates.reduce((s, c) => s + c.nnz, 0);
        out.push({
          name: p.name,
          kind: p.kind,
          spikeInput: best !== undefined,
          firingRate: best ? best.rate : candidates[0].nnz / candidates[0].numel,
          denseMacs: p.denseMacs,
          macs,
          acs,
          effectiveMacs: best ? 0 : effective,
          effectiveAcs: best ? effective : 0,
          inputNumel,
          inputZeros: inputNumel - inputNonzero,
          energyPj: macs * macPj + acs * acPj,
        });
      }
      return out;
    },
    elementwiseRows(constants = {}) {
      const c = resolveEnergyConstants(constants);
      return [...elementwise.values()].map((s) => ({
        ...s,
        energyPj: s.count * c[`${s.kind}Pj`],
      }));
    },
  };
}

/** Options of {@linkcode energyReport}: the mode, the seed and energy overrides. */
export interface EnergyReportOptions extends EnergyConstants {
  /** Mode of the forward pass (default: the model's first mode). */
  mode?: Mode;
  /**
   * Seed of the key passed to the forward pass (default 0): models that draw at inference (random
   * spike masking) need one, and a fixed seed keeps the counts reproducible.
   */
  seed?: number;
}

/** A model whose `apply` reports its operations to `ctx.ops` (a hybrid model). */
export interface CountingModel {
  /** Forward pass. */
  apply(
    params: Params,
    batch: { input: tf.Tensor; inputMask?: tf.Tensor },
    ctx: { training: boolean; mode?: Mode; key?: Key; ops?: OpsCollector },
  ): tf.Tensor;
  /** Supported modes. */
  readonly modes?: readonly Mode[];
  /** The spike levels of its LIF neurons in spiking mode (absent: 1, binary spikes). */
  readonly spikeLevels?: number;
}

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

function coarse(byOp: OpsByOp): OpsByKind {
  return {
    mac: byOp.mac,
    ac: byOp.ac,
    norm: byOp.norm,
    neuron: byOp.neuron,
    softmax: byOp.softmax,
    other: byOp.gelu + byOp.add + byOp.mul,
  };
}

/** Totals of weight-product and element-wise rows, divided by `div`. */
function totals(
  rows: readonly EnergyRow[],
  elementwise: readonly ElementwiseRow[],
  constants: OpEnergiesPj,
  div: number,
): EnergyTotals {
  const ops = zeros(OP_KINDS);
  let denseMacs = 0, effectiveMacs = 0, effectiveAcs = 0, numel = 0, zeroEls = 0;
  for (const r of rows) {
    ops.mac += r.macs;
    ops.ac += r.acs;
    denseMacs += r.denseMacs;
    effectiveMacs += r.effectiveMacs;
    effectiveAcs += r.effectiveAcs;
    numel += r.inputNumel;
    zeroEls += r.inputZeros;
  }
  for (const e of elementwise) ops[e.kind] += e.count;
  const opsByOp = zeros(OP_KINDS);
  const energyByOpPj = zeros(OP_KINDS);
  let energyPj = 0;
  for (const k of OP_KINDS) {
    opsByOp[k] = ops[k] / div;
    energyByOpPj[k] = ops[k] * constants[`${k}Pj`] / div;
    energyPj += energyByOpPj[k];
  }
  return {
    macs: opsByOp.mac,
    acs: opsByOp.ac,
    denseMacs: denseMacs / div,
    opsByKind: coarse(opsByOp),
    opsByOp,
    energyByKindPj: coarse(energyByOpPj),
    energyByOpPj,
    effectiveMacs: effectiveMacs / div,
    effectiveAcs: effectiveAcs / div,
    activationSparsity: numel > 0 ? zeroEls / numel : 0,
    energyPj,
  };
}

/**
 * Count the operations of one inference forward pass of `model` on `batch` and estimate its
 * energy (see the module docs for the rules and the energy per operation). Returns the per-site
 * tables and totals for the batch, per sample and per bin.
 *
 * @example
 * ```ts
 * import { energyReport, hybridTransformer, key, tf } from "@hest/hest";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const params = model.init(key(0));
 * const batch = { input: tf.ones([2, 10, 3]) };
 * const spiking = await energyReport(model, params, batch, { mode: "spiking" });
 * const standard = await energyReport(model, params, batch, { mode: "standard" });
 * console.log(spiking.perSample.energyPj / standard.perSample.energyPj);
 * console.log(spiking.perSample.opsByKind, spiking.perSample.activationSparsity);
 * ```
 */
export async function energyReport(
  model: CountingModel,
  params: Params,
  batch: { input: tf.Tensor; inputMask?: tf.Tensor },
  opts: EnergyReportOptions = {},
): Promise<EnergyReport> {
  checkKeys(opts, ["mode", "seed", ...CONSTANT_KEYS], "energyReport option");
  const { mode: modeOpt, seed, ...overrides } = opts;
  const constants = resolveEnergyConstants(overrides);
  const mode = modeOpt ?? model.modes?.[0] ?? "standard";
  // multi-level spikes are spike inputs in spiking mode only: the standard mode's inputs are the
  // recorded counts and real values, always counted in MACs unless strictly binary
  const levels = mode === "spiking" ? model.spikeLevels ?? 1 : 1;
  const ops = opsCounter({ spikeLevels: levels });
  const y = model.apply(params, batch, { training: false, mode, key: key(seed ?? 0), ops });
  const bins = y.shape[1] ?? 1;
  y.dispose();
  const rows = await ops.rows(constants);
  const elementwise = ops.elementwiseRows(constants);
  if (rows.length === 0 && elementwise.length === 0) {
    throw new Error(
      "energyReport: the model reported no operations; it must call ctx.ops (hybrid models do)",
    );
  }
  const B = batch.input.shape[0];
  return {
    mode,
    batchSize: B,
    bins,
    constants,
    rows,
    elementwise,
    total: totals(rows, elementwise, constants, 1),
    perSample: totals(rows, elementwise, constants, B),
    perBin: totals(rows, elementwise, constants, B * bins),
  };
}

function fmtCount(x: number): string {
  return x >= 1e6
    ? `${(x / 1e6).toFixed(3)} M`
    : x >= 1e3
    ? `${(x / 1e3).toFixed(2)} k`
    : x.toFixed(1);
}

/**
 * Format an {@linkcode EnergyReport} as Markdown: the per-site table (per-sample counts) and the
 * per-kind summary (operations, pJ per operation, energy and share per sample).
 *
 * @example
 * ```ts
 * import { energyReport, energyTable, hybridTransformer, key, tf } from "@hest/hest";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const r = await energyReport(model, model.init(key(0)), { input: tf.ones([1, 10, 3]) });
 * console.log(energyTable(r));
 * ```
 */
export function energyTable(report: EnergyReport): string {
  const B = report.batchSize;
  const nJ = (pj: number) => (pj / 1e3).toFixed(3);
  const lines = [
    `| site | kind | input | firing rate | MACs | ACs | element ops | energy (nJ) |`,
    `|---|---|---|---|---|---|---|---|`,
  ];
  for (const r of report.rows) {
    lines.push(
      `| ${r.name} | ${r.kind} | ${r.spikeInput ? "spikes" : "real"} | ${
        r.firingRate.toFixed(4)
      } | ${fmtCount(r.macs / B)} | ${fmtCount(r.acs / B)} | - | ${nJ(r.energyPj / B)} |`,
    );
  }
  for (const e of report.elementwise) {
    lines.push(
      `| ${e.name} | ${e.kind} | - | - | - | - | ${fmtCount(e.count / B)} | ${
        nJ(e.energyPj / B)
      } |`,
    );
  }
  const t = report.perSample;
  const elementOps = t.opsByOp.norm + t.opsByOp.neuron + t.opsByOp.softmax + t.opsByKind.other;
  lines.push(
    `| **total per sample** | | | | ${fmtCount(t.macs)} | ${fmtCount(t.acs)} | ${
      fmtCount(elementOps)
    } | ${nJ(t.energyPj)} |`,
    "",
    `| op | ops / sample | pJ / op | energy / sample (nJ) | share |`,
    `|---|---|---|---|---|`,
  );
  for (const k of OP_KINDS) {
    const pj = t.energyByOpPj[k];
    lines.push(
      `| ${k}${k === "gelu" || k === "add" || k === "mul" ? " (other)" : ""} | ${
        fmtCount(t.opsByOp[k])
      } | ${report.constants[`${k}Pj`]} | ${nJ(pj)} | ${
        t.energyPj > 0 ? `${(100 * pj / t.energyPj).toFixed(1)} %` : "-"
      } |`,
    );
  }
  lines.push(
    `| **total** | | | ${nJ(t.energyPj)} | |`,
    "",
    `activation sparsity ${t.activationSparsity.toFixed(4)}; NeuroBench effective MACs ${
      fmtCount(t.effectiveMacs)
    }, effective ACs ${fmtCount(t.effectiveAcs)} per sample`,
  );
  return lines.join("\n");
}
