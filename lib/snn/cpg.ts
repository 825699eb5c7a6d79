/**
 * CPG-PE: the central-pattern-generator positional encoding of Lv et al., "Advancing Spiking
 * Neural Networks for Sequential Modeling with Central Pattern Generators" (NeurIPS 2024,
 * arXiv 2405.14362; code `microsoft/SeqSNN`, `SeqSNN/module/positional_encoding.py::NeuronPE`
 * and `SeqSNN/module/CPG.py`).
 *
 * For position p and N_pe neurons (`dims`), with ω_i = w_max^(−2i / N_pe) and threshold a:
 *
 * ```
 * CPG(p)[2i]     = Θ( sin(p·ω_i) − a )
 * CPG(p)[2i + 1] = Θ( cos(p·ω_i) − a )          Θ(x) = 1 where x ≥ 0 (torch.heaviside, values = 1)
 * ```
 *
 * The result is a fixed binary table (no parameters, no gradient). Defaults follow SeqSNN:
 * w_max = 10000 (`neuron_pe_scale`) and a = 0.8 (hard-coded there).
 *
 * **Indexing by bin, not by t·L + l.** SeqSNN's `NeuronPE` reshapes spikes `[T, B, L, C]` to
 * `[B, T·L, C]` and concatenates `pe[0 : T·L]`, so the position index is t·L + l: the code of a
 * time bin changes with the SNN timestep t, and bin l at step t ≥ 1 gets an index that depends
 * on the window length L. In hest the T SNN timesteps are repeated simulations of the same bins
 * (direct encoding), not later times, so the table here is indexed by the **time bin p = l**
 * only and is broadcast over T (and B). Every bin then has one code, the same in standard mode
 * `[B, L, D]` and spiking mode `[T, B, L, D]`, and independent of L. To reproduce SeqSNN
 * deliberately, build `cpgEncoding(T * L, dims)` and reshape it to `[T, L, dims]`.
 *
 * The table is computed in float64 in JavaScript (SeqSNN computes in float32 torch), so it is
 * identical on every backend. An odd `dims` is accepted: the last column is a sine column
 * (SeqSNN itself fails on an odd width).
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { checkKeys, describe, finiteOption, positiveInt } from "../core/validation.ts";

/** Options of {@linkcode cpgEncoding} and {@linkcode cpgTable}; every field is optional. */
export interface CpgOptions {
  /** w_max, the base of the frequencies ω_i = w_max^(−2i/dims): finite and > 0 (default 1e4). */
  wMax?: number;
  /** Firing threshold a: a column fires where sin or cos − a ≥ 0. Finite (default 0.8). */
  threshold?: number;
}

const CPG_KEYS = ["wMax", "threshold"];

function resolve(opts: CpgOptions): { wMax: number; threshold: number } {
  checkKeys(opts, CPG_KEYS, "CPG option");
  const wMax = opts.wMax ?? 1e4;
  if (typeof wMax !== "number" || !Number.isFinite(wMax) || wMax <= 0) {
    throw new (typeof wMax === "number" ? RangeError : TypeError)(
      `CPG option "wMax" must be a finite number > 0, found ${describe(wMax)}`,
    );
  }
  return { wMax, threshold: finiteOption("CPG option", "threshold", opts.threshold ?? 0.8) };
}

/**
 * The CPG-PE table as a row-major `Float32Array` of `length × dims` zeros and ones: row p is
 * the code of time bin p, column 2i = Θ(sin(p·ω_i) − a), column 2i+1 = Θ(cos(p·ω_i) − a).
 * Computed in float64; see the module documentation for the bin indexing.
 *
 * @example
 * ```ts
 * import { cpgTable } from "@hest/hest";
 * const t = cpgTable(8, 4); // ω = [1, 0.01]
 * Array.from(t.subarray(4, 8)); // p = 1: [1, 0, 0, 1]
 * ```
 */
export function cpgTable(length: number, dims: number, opts: CpgOptions = {}): Float32Array {
  positiveInt("CPG length", length);
  positiveInt("CPG dims", dims);
  const { wMax, threshold } = resolve(opts);
  const out = new Float32Array(length * dims);
  const pairs = Math.ceil(dims / 2);
  const omega = new Float64Array(pairs);
  for (let i = 0; i < pairs; i++) omega[i] = Math.pow(wMax, (-2 * i) / dims);
  for (let p = 0; p < length; p++) {
    const row = p * dims;
    for (let i = 0; i < pairs; i++) {
      const phase = p * omega[i];
      out[row + 2 * i] = Math.sin(phase) - threshold >= 0 ? 1 : 0;
      if (2 * i + 1 < dims) out[row + 2 * i + 1] = Math.cos(phase) - threshold >= 0 ? 1 : 0;
    }
  }
  return out;
}

/**
 * The CPG-PE table as a float32 tensor `[length, dims]` of zeros and ones, indexed by time bin
 * (broadcast it over B, and over T in spiking mode). Fixed: it has no parameters.
 *
 * @example
 * ```ts
 * import { cpgEncoding } from "@hest/hest";
 * const pe = cpgEncoding(50, 10); // [50, 10], w_max 1e4, a 0.8
 * const loose = cpgEncoding(50, 10, { threshold: 0.5 });
 * ```
 */
export function cpgEncoding(length: number, dims: number, opts: CpgOptions = {}): tf.Tensor2D {
  return tf.tensor2d(cpgTable(length, dims, opts), [length, dims]);
}
