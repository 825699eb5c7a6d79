/**
 * Energy accounting from counted operations: MACs (multiply-accumulates) for real-valued inputs,
 * ACs (accumulates) for spike inputs, counted from the actual forward pass of a model.
 *
 * The model reports every weight product it computes to an {@linkcode OpsCollector} (hybrid
 * models do so when `ctx.ops` is set): linear layers, convolutions over bins and the attention
 * matrix products. `energyReport` then applies the counting rules of the Spikingformer counter
 * (../shared/research/components.md H), the de-facto convention of the spiking-transformer
 * papers:
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
 * - Norms, activations, neurons, softmax and the mean over T are not counted (as in the papers).
 * - Counts cover the whole batch and every SNN timestep (T is in the tensors' leading axis), and
 *   are reported in total, per sample and per bin.
 *
 * Energy = MACs·E_MAC + ACs·E_AC with E_MAC = 4.6 pJ and E_AC = 0.9 pJ by default (45 nm, FP32,
 * Horowitz 2014).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { checkKeys, finiteOption } from "../core/validation.ts";
import type { ConvCountOptions, MatMulCountOptions, Mode, OpsCollector } from "../nn/types.ts";
import type { Params } from "../core/tree.ts";

/** One counted operation site of an {@linkcode EnergyReport}. */
export interface EnergyRow {
  /** Site name, e.g. `"block0.attn.qk"`. */
  name: string;
  /** `"linear"`, `"conv"` or `"matmul"`. */
  kind: "linear" | "conv" | "matmul";
  /** Whether the (event) input was strictly binary, so the site was counted in ACs. */
  spikeInput: boolean;
  /** Fraction of non-zero elements of the input (of the event operand for matmuls). */
  firingRate: number;
  /** MACs of the equivalent dense operation. */
  denseMacs: number;
  /** MACs counted (0 for a spike input). */
  macs: number;
  /** ACs counted (0 for a real-valued input). */
  acs: number;
  /** Energy of the site in pJ. */
  energyPj: number;
}

/** Totals of an {@linkcode EnergyReport}. */
export interface EnergyTotals {
  /** MACs counted. */
  macs: number;
  /** ACs counted. */
  acs: number;
  /** MACs of the same network run densely (every site as MACs). */
  denseMacs: number;
  /** Energy in pJ. */
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
  /** Energy per MAC and per AC, pJ. */
  constants: { macPj: number; acPj: number };
  /** One row per counted site, in forward order. */
  rows: EnergyRow[];
  /** Whole batch. */
  total: EnergyTotals;
  /** Per trial (total / batch size). */
  perSample: EnergyTotals;
  /** Per bin of one trial (per sample / bins). */
  perBin: EnergyTotals;
}

/** Energy constants, pJ. */
export interface EnergyConstants {
  /** Energy of one multiply-accumulate (default 4.6 pJ). */
  macPj?: number;
  /** Energy of one accumulate (default 0.9 pJ). */
  acPj?: number;
}

interface PendingRow {
  name: string;
  kind: EnergyRow["kind"];
  denseMacs: number;
  numel: number;
  /** Per candidate event operand: [binary flag, nnz, weighted AC count] scalars. */
  candidates: { binary: tf.Tensor; nnz: tf.Tensor; acs: tf.Tensor; numel: number }[];
}

/** A collector that also resolves its records into rows. */
export interface OpsCounter extends OpsCollector {
  /** Read the counts (awaits the backend) and release the kept scalars. */
  rows(constants?: EnergyConstants): Promise<EnergyRow[]>;
}

function isBinary(x: tf.Tensor): tf.Tensor {
  return tf.all(tf.logicalOr(tf.equal(x, 0), tf.equal(x, 1)));
}

function nonzero(x: tf.Tensor): tf.Tensor {
  return tf.sum(tf.cast(tf.notEqual(x, 0), "float32"));
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** How many outputs of a length-L convolution each input bin reaches. */
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
 * model's `apply`, then read `rows()`.
 *
 * @example
 * ```ts
 * import { opsCounter, tf } from "./mod.ts";
 * const ops = opsCounter();
 * ops.linear("fc", tf.tensor2d([[0, 1, 1, 0]]), 8); // a spike input: 2 non-zeros × 8 outputs
 * const [row] = await ops.rows();
 * row.acs; // 16
 * ```
 */
export function opsCounter(): OpsCounter {
  const pending: PendingRow[] = [];
  const keep = (t: tf.Tensor) => tf.keep(t);
  return {
    linear(name, x, outFeatures) {
      const numel = size(x.shape);
      tf.tidy(() => {
        const nnz = keep(nonzero(x));
        pending.push({
          name,
          kind: "linear",
          numel,
          denseMacs: numel * outFeatures,
          candidates: [{
            binary: keep(isBinary(x)),
            nnz,
            acs: keep(tf.mul(nnz, outFeatures)),
            numel,
          }],
        });
      });
    },
    conv(name, x, outChannels, opts) {
      const numel = size(x.shape);
      const L = x.shape[x.rank - 2];
      tf.tidy(() => {
        const taps = tf.tensor1d(convTaps(L, opts));
        // non-zeros per bin, summed over everything else
        const perBin = tf.sum(
          tf.cast(tf.notEqual(tf.reshape(x, [-1, L, x.shape[x.rank - 1]]), 0), "float32"),
          [0, 2],
        );
        pending.push({
          name,
          kind: "conv",
          numel,
          denseMacs: numel * opts.kernel * outChannels,
          candidates: [{
            binary: keep(isBinary(x)),
            nnz: keep(tf.sum(perBin)),
            acs: keep(tf.mul(tf.sum(tf.mul(perBin, taps)), outChannels)),
            numel,
          }],
        });
      });
    },
    matmul(name, a, b, opts = {}) {
      const M = a.shape[a.rank - 2];
      const K = a.shape[a.rank - 1];
      const N = opts.transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1];
      const batch = size(a.shape.slice(0, -2));
      const nA = size(a.shape), nB = size(b.shape);
      tf.tidy(() => {
        const nnzA = keep(nonzero(a));
        const nnzB = keep(nonzero(b));
        pending.push({
          name,
          kind: "matmul",
          numel: nA,
          denseMacs: batch * M * K * N,
          candidates: [
            { binary: keep(isBinary(a)), nnz: nnzA, acs: keep(tf.mul(nnzA, N)), numel: nA },
            { binary: keep(isBinary(b)), nnz: nnzB, acs: keep(tf.mul(nnzB, M)), numel: nB },
          ],
        });
      });
    },
    async rows(constants = {}) {
      const { macPj, acPj } = resolveConstants(constants);
      const out: EnergyRow[] = [];
      for (const p of pending) {
        let best: { acs: number; rate: number } | undefined;
        let rate0 = NaN;
        for (const c of p.candidates) {
          const [bin] = await c.binary.data();
          const [nnz] = await c.nnz.data();
          const [acs] = await c.acs.data();
          if (Number.isNaN(rate0)) rate0 = nnz / c.numel;
          if (bin && (!best || acs < best.acs)) best = { acs, rate: nnz / c.numel };
          c.binary.dispose();
          c.nnz.dispose();
          c.acs.dispose();
        }
        const macs = best ? 0 : p.denseMacs;
        const acs = best ? best.acs : 0;
        out.push({
          name: p.name,
          kind: p.kind,
          spikeInput: best !== undefined,
          firingRate: best ? best.rate : rate0,
          denseMacs: p.denseMacs,
          macs,
          acs,
          energyPj: macs * macPj + acs * acPj,
        });
      }
      pending.length = 0;
      return out;
    },
  };
}

function resolveConstants(c: EnergyConstants): { macPj: number; acPj: number } {
  checkKeys(c, ["macPj", "acPj"], "energy constant");
  const macPj = finiteOption("energy constant", "macPj", c.macPj ?? 4.6);
  const acPj = finiteOption("energy constant", "acPj", c.acPj ?? 0.9);
  if (macPj < 0 || acPj < 0) {
    throw new Error(`energy constants must be >= 0 pJ, found macPj ${macPj}, acPj ${acPj}`);
  }
  return { macPj, acPj };
}

/** Options of {@linkcode energyReport}. */
export interface EnergyReportOptions extends EnergyConstants {
  /** Mode of the forward pass (default: the model's first mode). */
  mode?: Mode;
}

/** A model whose `apply` reports its operations to `ctx.ops` (a hybrid model). */
export interface CountingModel {
  /** Forward pass. */
  apply(
    params: Params,
    batch: { input: tf.Tensor; inputMask?: tf.Tensor },
    ctx: { training: boolean; mode?: Mode; ops?: OpsCollector },
  ): tf.Tensor;
  /** Supported modes. */
  readonly modes?: readonly Mode[];
}

function totals(rows: readonly EnergyRow[], div: number): EnergyTotals {
  const t = { macs: 0, acs: 0, denseMacs: 0, energyPj: 0 };
  for (const r of rows) {
    t.macs += r.macs;
    t.acs += r.acs;
    t.denseMacs += r.denseMacs;
    t.energyPj += r.energyPj;
  }
  return {
    macs: t.macs / div,
    acs: t.acs / div,
    denseMacs: t.denseMacs / div,
    energyPj: t.energyPj / div,
  };
}

/**
 * Count the operations of one inference forward pass of `model` on `batch` and estimate its
 * energy (see the module docs for the rules). Returns the per-site table and totals for the
 * batch, per sample and per bin.
 *
 * @example
 * ```ts
 * import { energyReport, hybridTransformer, key, tf } from "./mod.ts";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const params = model.init(key(0));
 * const batch = { input: tf.ones([2, 10, 3]) };
 * const spiking = await energyReport(model, params, batch, { mode: "spiking" });
 * const standard = await energyReport(model, params, batch, { mode: "standard" });
 * console.log(spiking.perSample.energyPj / standard.perSample.energyPj);
 * ```
 */
export async function energyReport(
  model: CountingModel,
  params: Params,
  batch: { input: tf.Tensor; inputMask?: tf.Tensor },
  opts: EnergyReportOptions = {},
): Promise<EnergyReport> {
  checkKeys(opts, ["mode", "macPj", "acPj"], "energyReport option");
  const constants = resolveConstants({ macPj: opts.macPj, acPj: opts.acPj });
  const mode = opts.mode ?? model.modes?.[0] ?? "standard";
  const ops = opsCounter();
  const y = model.apply(params, batch, { training: false, mode, ops });
  const bins = y.shape[1] ?? 1;
  y.dispose();
  const rows = await ops.rows(constants);
  if (rows.length === 0) {
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
    total: totals(rows, 1),
    perSample: totals(rows, B),
    perBin: totals(rows, B * bins),
  };
}

/**
 * Format an {@linkcode EnergyReport} as a Markdown table (per-sample counts).
 *
 * @example
 * ```ts
 * import { energyReport, energyTable, hybridTransformer, key, tf } from "./mod.ts";
 * const model = hybridTransformer({ nInputs: 3, nOutputs: 4, bins: 10, dModel: 8 });
 * const r = await energyReport(model, model.init(key(0)), { input: tf.ones([1, 10, 3]) });
 * console.log(energyTable(r));
 * ```
 */
export function energyTable(report: EnergyReport): string {
  const B = report.batchSize;
  const fmt = (x: number) =>
    x >= 1e6 ? `${(x / 1e6).toFixed(3)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(2)} k` : x.toFixed(1);
  const lines = [
    `| site | kind | input | firing rate | MACs | ACs | energy (nJ) |`,
    `|---|---|---|---|---|---|---|`,
  ];
  for (const r of report.rows) {
    lines.push(
      `| ${r.name} | ${r.kind} | ${r.spikeInput ? "spikes" : "real"} | ${
        r.firingRate.toFixed(4)
      } | ${fmt(r.macs / B)} | ${fmt(r.acs / B)} | ${(r.energyPj / B / 1e3).toFixed(3)} |`,
    );
  }
  const t = report.perSample;
  lines.push(
    `| **total per sample** | | | | ${fmt(t.macs)} | ${fmt(t.acs)} | ${
      (t.energyPj / 1e3).toFixed(3)
    } |`,
  );
  return lines.join("\n");
}
