/**
 * The quick-start demo: train the `hybrid` preset (conv attention, the membrane-shortcut residual
 * and soft-reset LIF neurons; one parameter set, its standard mode trained alone for half the
 * steps, then both modes alternately) on the built-in Lorenz data, evaluate both modes on the
 * test trials against the true rates, print a results table with the energy per trial of each
 * mode and write `runs/demo/` (`metrics.json` has one row per mode, with co-bps, oracle co-bps,
 * per-layer firing rates and energy).
 *
 *     deno task demo [--steps N] [--seed S] [--backend B] [--threads N|auto] [--out DIR]
 *                    [--overwrite] [--quiet]
 *
 * The demo runs the kernel products on the machine's cores (`--threads auto`, at most 4): the
 * numbers are the same bit for bit as on one thread, only sooner.
 *
 * `runs/demo/` is the demo's own folder: running the demo again replaces the run there (and says
 * so). Any other `--out` folder that already holds a run is refused unless `--overwrite` is
 * given, as with `deno task train`.
 *
 * @module
 */
import { resolve } from "node:path";
import {
  existingRunFiles,
  formatResults,
  type RunConfig,
  trainRun,
} from "../lib/experiments/run.ts";
import {
  InputError,
  intFlag,
  parseFlags,
  runMain,
  selectBackend,
  threadNote,
  threadsFlag,
  validateRunConfig,
} from "./_cli.ts";

/** The demo's own run folder, replaced by every run of the demo. */
const DEMO_DIR = "runs/demo";

const USAGE = `usage: deno task demo [options]

  --steps N            optimiser steps (default: the hybrid preset's)
  --preset NAME        preset to train (default hybrid)
  --seed S             seed (default 0)
  --backend B          wasm | webgpu | cpu (default wasm)
  --threads N|auto     threads of the wasm kernels' products (default auto: the machine's cores,
                       at most 4); results do not change with it
  --out DIR            run folder (default runs/demo, which each demo run replaces); another
                       folder that already holds a run is refused unless --overwrite is given
  --overwrite          replace the run already in --out
  --quiet              no progress bar
  -h, --help           this text`;

await runMain(USAGE, async () => {
  const f = parseFlags({
    steps: { type: "string" },
    preset: { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    threads: { type: "string" },
    out: { type: "string" },
    overwrite: { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  const steps = intFlag("steps", f.steps, 1);
  const threads = threadsFlag(f.threads ?? "auto");
  const cfg: RunConfig = {
    data: { kind: "lorenz" },
    preset: f.preset ?? "hybrid",
    train: steps !== undefined ? { steps } : {},
    seed: intFlag("seed", f.seed) ?? 0,
    backend: f.backend ?? "wasm",
  };
  validateRunConfig(cfg);
  cfg.backend = await selectBackend(cfg.backend, threads);
  const out = f.out ?? DEMO_DIR;
  const existing = await existingRunFiles(out);
  if (existing.length > 0 && !f.overwrite && resolve(out) !== resolve(DEMO_DIR)) {
    throw new InputError(
      `--out ${out} already holds a run (${existing.join(", ")}); add --overwrite to replace it ` +
        `or choose another --out`,
    );
  }
  console.error(
    `hest demo: ${cfg.preset} preset on synthetic Lorenz spiking data (backend ${cfg.backend}${threadNote()}) -> ${out}` +
      (existing.length > 0 ? ` (replacing the earlier run there)` : ""),
  );
  const t0 = performance.now();
  const metrics = await trainRun(cfg, { outDir: out, progress: !f.quiet, ifExists: "replace" });
  const ds = metrics.dataset as { trials: number; neurons: number; heldOut: number; bins: number };
  console.log(
    `\nLorenz data: ${ds.trials} trials x ${ds.bins} bins x ${ds.neurons} neurons ` +
      `(${ds.heldOut} held out); results on the test trials:\n`,
  );
  console.log(formatResults(metrics.results));
  const byMode = Object.fromEntries(metrics.results.map((r) => [r.mode, r]));
  if (byMode.standard && byMode.spiking) {
    const s = byMode.standard, k = byMode.spiking;
    console.log(
      `\nspiking / standard co-bps: ${(k.coBps / s.coBps).toFixed(3)}; energy per trial ` +
        `${k.energy!.perSampleUj.toFixed(2)} µJ (spiking) vs ${
          s.energy!.perSampleUj.toFixed(2)
        } µJ (standard): ${(s.energy!.perSampleUj / k.energy!.perSampleUj).toFixed(1)}× less`,
    );
  }
  console.log(`\n${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${out}/`);
});
