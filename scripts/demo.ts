/**
 * The quick-start demo: train the `standard` preset on the built-in Lorenz data, evaluate it on
 * the test trials against the true rates, print a results table and write `runs/demo/`.
 *
 *     deno task demo [--steps N] [--seed S] [--backend B] [--out DIR] [--quiet]
 *
 * @module
 */
import { formatResults, type RunConfig, trainRun } from "../lib/run.ts";
import { intFlag, parseFlags, runMain, selectBackend, validateRunConfig } from "./_cli.ts";

const USAGE = `usage: deno task demo [options]

  --steps N            optimiser steps (default: the standard preset's)
  --seed S             seed (default 0)
  --backend B          wasm | webgpu | cpu (default wasm)
  --out DIR            run folder (default runs/demo)
  --quiet              no progress bar
  -h, --help           this text`;

await runMain(USAGE, async () => {
  const f = parseFlags({
    steps: { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  const steps = intFlag("steps", f.steps, 1);
  const cfg: RunConfig = {
    data: { kind: "lorenz" },
    preset: "standard",
    train: steps !== undefined ? { steps } : {},
    seed: intFlag("seed", f.seed) ?? 0,
    backend: f.backend ?? "wasm",
  };
  validateRunConfig(cfg);
  cfg.backend = await selectBackend(cfg.backend);
  const out = f.out ?? "runs/demo";
  console.error(
    `hest demo: standard transformer on synthetic Lorenz spiking data (backend ${cfg.backend}) -> ${out}`,
  );
  const t0 = performance.now();
  const metrics = await trainRun(cfg, { outDir: out, progress: !f.quiet });
  const ds = metrics.dataset as { trials: number; neurons: number; heldOut: number; bins: number };
  console.log(
    `\nLorenz data: ${ds.trials} trials x ${ds.bins} bins x ${ds.neurons} neurons ` +
      `(${ds.heldOut} held out); results on the test trials:\n`,
  );
  console.log(formatResults(metrics.results));
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${out}/`);
});
