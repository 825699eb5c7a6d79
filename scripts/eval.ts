/**
 * Re-evaluate a run folder written by `deno task train` or `deno task demo`.
 *
 *     deno task eval --run DIR [--split test|val|train] [--data PATH] [--nlb-submission FILE.h5]
 *                    [--nlb-name NAME] [--npy FILE.npy] [--mode M] [--timesteps N] [--backend B]
 *
 * The metrics go to the run's `metrics.json` for the default or test split and to
 * `metrics_val.json` / `metrics_train.json` for `--split val|train`, so scoring another split
 * never replaces the run's own metrics; `--timesteps N` (the spiking mode at N SNN timesteps)
 * adds `_tN` to the metrics and predictions files. The last line names the files written. Exit
 * codes: see `scripts/_cli.ts`.
 *
 * @module
 */
import {
  type DataSpec,
  evaluateRun,
  formatResults,
  metricsFileName,
} from "../lib/experiments/run.ts";
import { predictionsFile } from "../lib/experiments/run_folder.ts";
import type { Mode } from "../lib/nn/types.ts";
import {
  checkDataFile,
  dataSpecFromFlag,
  InputError,
  intFlag,
  parseFlags,
  readJson,
  runMain,
  selectBackend,
  UsageError,
} from "./_cli.ts";

const USAGE = `usage: deno task eval --run DIR [options]

  --run DIR            run folder with config.json and checkpoint.safetensors
  --split NAME         test (default; val when the data has no held-out counts for the test
                       trials, as NLB files without eval_spikes_heldout) | val | train;
                       metrics.json holds the default or test split, metrics_val.json and
                       metrics_train.json the others
  --data PATH          evaluate on this data file instead of the run's (same neurons and bins;
                       the run's data options are kept)
  --nlb-submission F   also write the rates as an NLB submission HDF5 file F
  --nlb-name NAME      group name in the submission (default: the NLB dataset name of the
                       data file's group; required when the data carry none, since nlb_tools'
                       evaluate scores only NLB dataset names)
  --npy FILE           also write the rates [trials, bins, neurons] as .npy (forward rates to
                       FILE_forward.npy)
  --mode M             standard | spiking: whose rates go into --nlb-submission and --npy
                       (default: the run's first mode, standard for hybrid runs)
  --timesteps N        run the spiking mode with N SNN timesteps instead of the trained ones
                       (the weights do not depend on T; energy grows with it); writes
                       metrics_tN.json (metrics_<split>_tN.json) and predictions*_tN.safetensors,
                       leaving the run's own files as they are
  --backend B          wasm | webgpu | cpu (default wasm)
  -h, --help           this text`;

await runMain(USAGE, async () => {
  const f = parseFlags({
    run: { type: "string" },
    split: { type: "string" },
    data: { type: "string" },
    "nlb-submission": { type: "string" },
    "nlb-name": { type: "string" },
    npy: { type: "string" },
    mode: { type: "string" },
    timesteps: { type: "string" },
    backend: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  if (!f.run) throw new UsageError("--run DIR is required");
  const split = f.split;
  if (split !== undefined && !["train", "val", "test"].includes(split)) {
    throw new UsageError(`--split must be train, val or test, found "${split}"`);
  }
  try {
    const st = await Deno.stat(`${f.run}/config.json`);
    if (!st.isFile) throw new Error();
  } catch {
    throw new UsageError(`--run ${f.run}: no config.json there (not a run folder)`);
  }
  let data: DataSpec | undefined;
  if (f.data !== undefined) {
    const cfg = await readJson(`${f.run}/config.json`);
    if (!cfg || typeof cfg !== "object" || Array.isArray(cfg)) {
      throw new InputError(`${f.run}/config.json must be a JSON object (a run config)`);
    }
    const own = (cfg as { data?: DataSpec }).data;
    data = dataSpecFromFlag(f.data);
    await checkDataFile(data, "--data");
    if (data.kind === "file" && own?.kind === "file" && own.options) data.options = own.options;
    if (data.kind === "lorenz" && own?.kind === "lorenz") data = own;
  }
  if (f.mode !== undefined && f.mode !== "standard" && f.mode !== "spiking") {
    throw new UsageError(`--mode must be standard or spiking, found "${f.mode}"`);
  }
  if (f.mode !== undefined && f["nlb-submission"] === undefined && f.npy === undefined) {
    throw new UsageError("--mode selects the rates of --nlb-submission / --npy; give one of them");
  }
  const timesteps = intFlag("timesteps", f.timesteps, 1);
  await selectBackend(f.backend);
  const metrics = await evaluateRun(f.run, {
    mode: f.mode as Mode | undefined,
    split: split as "train" | "val" | "test" | undefined,
    data,
    nlbSubmission: f["nlb-submission"],
    nlbName: f["nlb-name"],
    npy: f.npy,
    timesteps,
  });
  console.log(formatResults(metrics.results));
  if (timesteps !== undefined) console.log(`\nspiking mode run at ${timesteps} SNN timesteps`);
  const written = [
    `${f.run}/${metricsFileName(split as "train" | "val" | "test" | undefined, { timesteps })}`,
    ...metrics.results.map((r) => predictionsFile(f.run!, r.mode, { metrics, timesteps })),
    ...[f["nlb-submission"], f.npy].filter((x) => x !== undefined),
  ];
  if (f.npy !== undefined && (metrics.dataset.forwardBins as number) > 0) {
    written.push(f.npy.replace(/(\.npy)?$/, "_forward.npy"));
  }
  console.log(`\nwrote ${written.join(", ")}`);
  if (f["nlb-submission"] !== undefined || f.npy !== undefined) {
    const exported = f.mode ?? metrics.results[0].mode;
    console.log(`exported rates: ${exported} mode`);
  }
});
