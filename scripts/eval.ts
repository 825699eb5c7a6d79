/**
 * Re-evaluate a run folder written by `deno task train` or `deno task demo`.
 *
 *     deno task eval --run DIR [--split test|val|train] [--backend B]
 *
 * @module
 */
import { evaluateRun, formatResults } from "../lib/run.ts";
import { parseFlags, runMain, selectBackend, UsageError } from "./_cli.ts";

const USAGE = `usage: deno task eval --run DIR [options]

  --run DIR            run folder with config.json and checkpoint.safetensors
  --split NAME         test (default) | val | train
  --backend B          wasm | webgpu | cpu (default wasm)
  -h, --help           this text`;

await runMain(USAGE, async () => {
  const f = parseFlags({
    run: { type: "string" },
    split: { type: "string" },
    backend: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  if (!f.run) throw new UsageError("--run DIR is required");
  const split = f.split ?? "test";
  if (!["train", "val", "test"].includes(split)) {
    throw new UsageError(`--split must be train, val or test, found "${split}"`);
  }
  try {
    const st = await Deno.stat(`${f.run}/config.json`);
    if (!st.isFile) throw new Error();
  } catch {
    throw new UsageError(`--run ${f.run}: no config.json there (not a run folder)`);
  }
  await selectBackend(f.backend);
  const metrics = await evaluateRun(f.run, { split: split as "train" | "val" | "test" });
  console.log(formatResults(metrics.results));
  console.log(`\nwrote ${f.run}/metrics.json and ${f.run}/predictions.safetensors`);
});
