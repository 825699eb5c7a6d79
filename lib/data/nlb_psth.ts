/**
 * nlb_tools' PSTH targets of NLB's eval trials: `psth`, `eval_cond_idx` and `eval_jitter` as
 * `make_eval_target_tensors(include_psth=True)` writes them into the target file, read from an
 * {@linkcode ArraySource} and checked, for {@linkcode nlbPsthR2}. (Split from nlb.ts, which
 * loads the rest of the NLB layout.)
 *
 * @module
 */
import { type ArraySource, checkFiniteOrNaN, expectShape, loadError } from "./ndarray.ts";

/** nlb_tools' PSTH targets of the eval trials, as its `eval_psth` takes them. */
export interface NlbPsth {
  /** True PSTHs `[conditions, bins, neurons]`, held-in then held-out; NaN outside trial times. */
  readonly psth: { readonly data: Float64Array; readonly shape: readonly number[] };
  /** Per condition, the indices of its eval trials (0 = the first eval trial); may be empty. */
  readonly evalCondIdx: readonly Int32Array[];
  /** Per eval trial, the bins its rates are shifted by before averaging (zeros when not given). */
  readonly evalJitter: Int32Array;
}

/**
 * Read nlb_tools' `psth`, `eval_cond_idx` and `eval_jitter` from a source holding `nEv` eval
 * trials of `B` bins and `N` neurons (held-in + held-out), or `undefined` without `psth`.
 *
 * They are checked so that nlb_tools' `eval_psth` could score them, and refused with an error
 * naming file and key otherwise: `eval_cond_idx` has one row per condition (variable-length as
 * `save_to_h5` writes it, or a plain 2-D array) of indices in `[0, nEv)`; jitters are whole bins
 * in `(-B, B)`; and every row `eval_psth` keeps (neuron 0's PSTH not NaN) is defined for all
 * neurons and, after each of the condition's trials is shifted by its jitter, lies within it.
 *
 * @example
 * ```ts
 * import { memorySource, ndarray, nlbPsthTargets } from "@hest/hest";
 * const o = { file: "target_data.h5", dtype: "f8" };
 * const src = memorySource("target_data.h5", {
 *   psth: ndarray([1, 2, 3, 4], [1, 2, 2], { ...o, key: "psth" }),
 *   eval_cond_idx: ndarray([0, 1], [1, 2], { ...o, key: "eval_cond_idx" }),
 * });
 * nlbPsthTargets(src, 2, 2, 2)?.evalCondIdx; // [Int32Array [0, 1]]
 * ```
 */
export function nlbPsthTargets(
  src: ArraySource,
  nEv: number,
  B: number,
  N: number,
): NlbPsth | undefined {
  if (!src.has("psth")) return undefined;
  const pw = { file: fileOf(src, "psth"), key: "psth" };
  const psth = src.get("psth");
  expectShape(psth, [null, B, N], { ...pw, what: "[conditions, bins, held-in + held-out]" });
  checkFiniteOrNaN(psth, pw);
  const C = psth.shape[0];
  if (!src.has("eval_cond_idx")) {
    throw loadError(
      pw.file,
      "eval_cond_idx",
      "missing while psth is present: nlb_tools scores PSTHs with both (eval_cond_idx lists " +
        "each condition's eval trials); add it or leave the target file's psth out",
    );
  }
  const cw = { file: fileOf(src, "eval_cond_idx"), key: "eval_cond_idx" };
  const ci = src.get("eval_cond_idx");
  if (ci.shape.length !== 2 || ci.shape[0] !== C) {
    throw loadError(
      cw.file,
      cw.key,
      `expected one list of eval-trial indices per psth condition (${C}), found shape ` +
        `[${ci.shape.join(", ")}] (dtype ${ci.dtype})`,
    );
  }
  const W = ci.shape[1];
  const evalCondIdx = Array.from({ length: C }, (_, i) => {
    const row = Array.from(ci.data.subarray(i * W, (i + 1) * W));
    const n = row.findIndex(Number.isNaN); // a variable-length row ends at its NaN padding
    const idx = n < 0 ? row : row.slice(0, n);
    if (row.slice(idx.length).some((v) => !Number.isNaN(v))) {
      throw loadError(cw.file, cw.key, `condition ${i} has NaN among its trial indices`);
    }
    const bad = idx.find((v) => !Number.isInteger(v) || v < 0 || v >= nEv);
    if (bad !== undefined) {
      throw loadError(
        cw.file,
        cw.key,
        `condition ${i} lists trial ${bad}; expected indices of the ${nEv} eval trials [0, ${nEv})`,
      );
    }
    return Int32Array.from(idx);
  });
  let evalJitter = new Int32Array(nEv);
  if (src.has("eval_jitter")) {
    const jw = { file: fileOf(src, "eval_jitter"), key: "eval_jitter" };
    const j = src.get("eval_jitter");
    expectShape(j, [nEv], { ...jw, what: "[eval trials]" });
    const bad = j.data.findIndex((v) => !Number.isInteger(v) || Math.abs(v) >= B);
    if (bad >= 0) {
      throw loadError(
        jw.file,
        jw.key,
        `eval trial ${bad} has jitter ${j.data[bad]}; expected whole bins in (-${B}, ${B})`,
      );
    }
    evalJitter = Int32Array.from(j.data);
  }
  for (let i = 0; i < C; i++) {
    if (evalCondIdx[i].length === 0) continue; // eval_psth skips conditions without trials
    for (let b = 0; b < B; b++) {
      const row = psth.data.subarray((i * B + b) * N, (i * B + b + 1) * N);
      if (Number.isNaN(row[0])) continue;
      const n = row.findIndex(Number.isNaN);
      if (n >= 0) {
        throw loadError(
          pw.file,
          pw.key,
          `condition ${i}, bin ${b}: neuron ${n} is NaN where neuron 0 is not; nlb_tools keeps ` +
            `the rows where neuron 0 is defined and cannot score NaN in them`,
        );
      }
      for (const t of evalCondIdx[i]) {
        const jt = evalJitter[t];
        if (b - jt < 0 || b - jt >= B) {
          throw loadError(
            pw.file,
            pw.key,
            `condition ${i}, bin ${b} is defined, but eval trial ${t}'s jitter ${jt} shifts its ` +
              `rates off that bin (nlb_tools' eval_psth would find NaN there)`,
          );
        }
      }
    }
  }
  return { psth: { data: psth.data, shape: [...psth.shape] }, evalCondIdx, evalJitter };
}

function fileOf(src: ArraySource, key: string): string {
  return src.fileOf?.(key) ?? src.file;
}
