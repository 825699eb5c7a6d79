/**
 * Re-evaluate a run folder written by `deno task train` or `deno task demo`.
 *
 *     deno task eval --run DIR [--split test|val|train] [--data PATH] [--nlb-submission FILE.h5]
 *                    [--nlb-name NAME] [--npy FILE.npy] [--backend B]
 *
 * @module
 */
import { type DataSpec, evaluateRun, formatResults } from "../lib/experiments/run.ts";
import { dataSpecFromFlag, parseFlags, runMain, selectBackend, UsageError } from "./_cli.ts";

const USAGE = `usage: deno task eval --run DIR [options]

  --run DIR            run folder with config.json and checkpoint.safetensors
  --split NAME         test (default; val when the data has no held-out counts for the test
                       trials, as NLB files without eval_spikes_heldout) | val | train
  --data PATH          evaluate on this data file instead of the run's (same neurons and bins;
                       the run's data options are kept)
  --nlb-submission F   also write the rates as an NLB submission HDF5 file F
  --nlb-name NAME      group name in the submission (default: the NLB dataset name)
  --npy FILE           also write the rates [trials, bins, neurons] as .npy (forward rates to
                       FILE_forward.npy)
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
  await selectBackend(f.backend);
  let data: DataSpec | undefined;
  if (f.data !== undefined) {
    const own = JSON.parse(await Deno.readTextFile(`${f.run}/config.json`)).data as DataSpec;
    data = dataSpecFromFlag(f.data);
    if (data.kind === "file" && own?.kind === "file" && own.options) data.options = own.options;
    if (data.kind === "lorenz" && own?.kind === "lorenz") data = own;
  }
  const metrics = await evaluateRun(f.run, {
    split: split as "train" | "val" | "test" | undefined,
    data,
    nlbSubmission: f["nlb-submission"],
    nlbName: f["nlb-name"],
    npy: f.npy,
  });
  console.log(formatResults(metrics.results));
  const extra = [f["nlb-submission"], f.npy].filter((x) => x !== undefined);
  console.log(
    `\nwrote ${f.run}/metrics.json and ${f.run}/predictions.safetensors` +
      (extra.length ? `, ${extra.join(", ")}` : ""),
  );
});
