/**
 * Train a preset on a dataset and write a run folder.
 *
 *     deno task train [--data lorenz|PATH] [--preset NAME] [--steps N] [--seed S]
 *                     [--backend wasm|webgpu|cpu] [--out DIR] [--config FILE.json] ...
 *
 * @module
 */
import { PRESETS } from "../lib/presets.ts";
import { formatResults, type RunConfig, trainRun } from "../lib/run.ts";
import {
  checkKeys,
  dataSpecFromFlag,
  floatFlag,
  intFlag,
  parseFlags,
  readJson,
  runMain,
  selectBackend,
  UsageError,
  validateRunConfig,
} from "./_cli.ts";

const USAGE = `usage: deno task train [options]

  --data lorenz|PATH   dataset: the built-in Lorenz set (default) or a hest dataset .json
  --preset NAME        ${Object.keys(PRESETS).join(" | ")} (default standard)
  --steps N            optimiser steps (default: the preset's)
  --lr X               peak learning rate (default: the preset's)
  --batch-size N       trials per batch (default: the preset's)
  --seed S             seed of the run (default 0)
  --backend B          wasm | webgpu | cpu (default wasm)
  --out DIR            run folder (default runs/<preset>)
  --config FILE.json   {"data", "preset", "model", "train", "seed", "backend", "out"}; flags override it
  --quiet              no progress bar
  -h, --help           this text`;

await runMain(USAGE, async () => {
  const f = parseFlags({
    data: { type: "string" },
    preset: { type: "string" },
    steps: { type: "string" },
    lr: { type: "string" },
    "batch-size": { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    config: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  let fileCfg: Record<string, unknown> = {};
  if (f.config) {
    const raw = await readJson(f.config);
    checkKeys(f.config, raw, ["data", "preset", "model", "train", "seed", "backend", "out"]);
    fileCfg = raw as Record<string, unknown>;
  }
  const trainOverrides = { ...(fileCfg.train as Record<string, unknown> ?? {}) };
  const steps = intFlag("steps", f.steps, 1);
  if (steps !== undefined) trainOverrides.steps = steps;
  const lr = floatFlag("lr", f.lr);
  if (lr !== undefined) trainOverrides.lr = lr;
  const bs = intFlag("batch-size", f["batch-size"], 1);
  if (bs !== undefined) trainOverrides.batchSize = bs;
  const cfg: RunConfig = {
    data: f.data !== undefined ? dataSpecFromFlag(f.data) : (fileCfg.data as RunConfig["data"]) ??
      { kind: "lorenz" },
    preset: f.preset ?? (fileCfg.preset as string) ?? "standard",
    model: fileCfg.model as RunConfig["model"],
    train: trainOverrides,
    seed: intFlag("seed", f.seed) ?? (fileCfg.seed as number) ?? 0,
    backend: f.backend ?? (fileCfg.backend as string) ?? "wasm",
  };
  validateRunConfig(cfg);
  const out = f.out ?? (fileCfg.out as string) ?? `runs/${cfg.preset}`;
  if (typeof out !== "string") throw new UsageError(`"out" must be a folder path`);
  cfg.backend = await selectBackend(cfg.backend);
  console.error(
    `hest train: preset ${cfg.preset}, backend ${cfg.backend}, seed ${cfg.seed} -> ${out}`,
  );
  const metrics = await trainRun(cfg, { outDir: out, progress: !f.quiet });
  console.log(formatResults(metrics.results));
  console.log(
    `\nwrote ${out}/{config.json, checkpoint.safetensors, log.jsonl, predictions.safetensors, metrics.json}`,
  );
});
