/**
 * What a run writes besides its metrics: `predictions.safetensors` and the export files (NLB
 * submission HDF5, NumPy), each written atomically.
 *
 * @module
 */
import { tf } from "../core/backend.ts";
import { writeFileAtomic } from "../core/io.ts";
import { disposeTree, type Params } from "../core/tree.ts";
import { DatasetError, type RatePredictions, type SpikeDataset } from "../data/dataset.ts";
import { writeNlbSubmission } from "../data/nlb.ts";
import { writeNpy } from "../data/npy.ts";
import type { Mode } from "../nn/types.ts";
import { encodeSafetensors } from "../train/checkpoint.ts";

/**
 * Write predictions as safetensors (`rates` `[trials, bins, neurons]`, `forwardRates`), readable
 * with `safetensors.numpy.load_file`.
 *
 * @example
 * ```ts
 * import { writePredictions } from "@hest/hest";
 * // await writePredictions("runs/demo/predictions.safetensors", preds);
 * ```
 */
export async function writePredictions(path: string, preds: RatePredictions): Promise<void> {
  const tensors: Params = { rates: tf.tensor(preds.rates.data, [...preds.rates.shape]) };
  if (preds.forwardRates && preds.forwardRates.shape[1] > 0) {
    tensors.forwardRates = tf.tensor(preds.forwardRates.data, [...preds.forwardRates.shape]);
  }
  const bytes = await encodeSafetensors(tensors, {
    metadata: { units: "expected counts per bin", layout: "[trials, bins, neurons]" },
  });
  disposeTree(tensors);
  await writeFileAtomic(path, bytes);
}

/** Extra files a run's predictions are written to (besides `predictions.safetensors`). */
export interface RunExports {
  /** NLB submission HDF5 (`{name}/{train,eval}_rates_{heldin,heldout}[_forward]`). */
  nlbSubmission?: string;
  /** Group name in the submission (default: the data's NLB dataset name; see {@linkcode nlbSubmissionName}). */
  nlbName?: string;
  /** Rates `[trials, bins, neurons]` as .npy; forward rates go to `<name>_forward.npy`. */
  npy?: string;
  /** Which mode's predictions go into the files (default: the run's first mode). */
  mode?: Mode;
}

/**
 * The dataset groups nlb_tools' `evaluate` scores (5-ms bins; `_20` for 20-ms bins). It skips any
 * other group without a word, so a submission under another name would score nothing.
 */
export const NLB_SUBMISSION_NAMES: readonly string[] = [
  "mc_maze",
  "mc_rtt",
  "area2_bump",
  "dmfc_rsg",
  "mc_maze_large",
  "mc_maze_medium",
  "mc_maze_small",
].flatMap((n) => [n, `${n}_20`]);

/**
 * The group name of an NLB submission of `ds`: `explicit` when given, else the NLB dataset name
 * the loaded file carries (its group, e.g. `mc_maze_small_20`) when nlb_tools scores it; anything
 * else is refused, saying to pass a name.
 *
 * @example
 * ```ts
 * import { lorenzDataset, nlbSubmissionName } from "@hest/hest";
 * nlbSubmissionName(lorenzDataset({ conditions: 2 }), "mc_maze_small"); // "mc_maze_small"
 * ```
 */
export function nlbSubmissionName(ds: SpikeDataset, explicit?: string): string {
  if (explicit !== undefined) return explicit;
  const nlb = ds.meta.nlb as { name?: unknown } | undefined;
  const found = typeof nlb?.name === "string" ? nlb.name : undefined;
  if (found !== undefined && NLB_SUBMISSION_NAMES.includes(found)) return found;
  throw new DatasetError(
    `NLB submission of ${ds.meta.source ?? ds.name}: ` +
      (found === undefined
        ? "the data carry no NLB dataset name"
        : `its group "${found}" is not an NLB dataset name`) +
      `, and nlb_tools' evaluate scores only ${NLB_SUBMISSION_NAMES.join(", ")}; ` +
      `give the name (--nlb-name / nlbName)`,
  );
}

/**
 * Write a run's predictions to the extra files `exports` names (each atomically).
 *
 * @example
 * ```ts
 * import { lorenzDataset, writeRunExports } from "@hest/hest";
 * const ds = lorenzDataset({ conditions: 2 });
 * await writeRunExports({ rates: ds.trueRates! }, ds, { npy: "/tmp/rates.npy" });
 * ```
 */
export async function writeRunExports(
  preds: RatePredictions,
  ds: SpikeDataset,
  exports: RunExports,
): Promise<void> {
  if (exports.nlbSubmission) {
    const name = nlbSubmissionName(ds, exports.nlbName);
    await writeNlbSubmission(exports.nlbSubmission, preds, ds, { name });
  }
  if (exports.npy) {
    await writeNpy(exports.npy, preds.rates);
    if (preds.forwardRates && preds.forwardRates.shape[1] > 0) {
      await writeNpy(exports.npy.replace(/(\.npy)?$/, "_forward.npy"), preds.forwardRates);
    }
  }
}
