/**
 * Train a preset on a dataset and write a run folder.
 *
 *     deno task train [--data lorenz|PATH] [--preset NAME] [--steps N] [--seed S]
 *                     [--backend wasm|webgpu|cpu] [--out DIR] [--config FILE.json]
 *                     [--resume | --overwrite] ...
 *
 * An `--out` folder that already holds a run (`config.json`, `checkpoint.safetensors` or
 * `state.safetensors`) is refused unless `--resume` continues it or `--overwrite` replaces it
 * (its run files are removed once the new run's data and model are built). Exit codes: see
 * `scripts/_cli.ts`.
 *
 * @module
 */
import { PRESETS } from "../lib/experiments/presets.ts";
import {
  existingRunFiles,
  formatResults,
  type RunConfig,
  trainRun,
} from "../lib/experiments/run.ts";
import { MAX_STEPS } from "../lib/train/train_options.ts";
import { canonicalJson } from "../lib/train/train_state.ts";
import {
  checkDataFile,
  checkKeys,
  dataSpecFromFlag,
  floatFlag,
  InputError,
  intFlag,
  parseFlags,
  readJson,
  refuseNulls,
  runMain,
  selectBackend,
  threadNote,
  threadsFlag,
  UsageError,
  validateRunConfig,
} from "./_cli.ts";

const USAGE = `usage: deno task train [options]

  --data lorenz|PATH   dataset: the built-in Lorenz set (default) or a data file, format picked
                       by content: NLB tensor / NWB / plain HDF5, MATLAB .mat (v5, v7.3),
                       NumPy .npy/.npz, hest dataset .json (loader options: config "data")
  --preset NAME        ${Object.keys(PRESETS).join(" | ")} (default standard)
  --steps N            optimiser steps, 1 to ${MAX_STEPS} (default: the preset's)
  --lr X               peak learning rate (default: the preset's)
  --batch-size N       trials per batch (default: the preset's)
  --seed S             seed of the run (default 0)
  --backend B          wasm | webgpu | cpu (default wasm)
  --threads N|auto     threads of the wasm kernels' products (default 1, or HEST_KERNEL_THREADS;
                       auto: the machine's cores, at most 4); results do not change with it
  --out DIR            run folder (default runs/<preset>); one that already holds a run is
                       refused unless --resume or --overwrite is given
  --config FILE.json   {"data", "preset", "model", "train", "seed", "backend", "out"}; flags override it
                       (no nulls but model.lif.vReset's, the soft reset; "train" takes no
                       code-only options such as "key" or "seed")
  --resume             continue the run in --out (or the config's "out") from its state.safetensors;
                       unset settings come from its config.json, set ones must equal it
  --overwrite          replace the run already in --out (its run files are removed)
  --quiet              no progress bar
  -h, --help           this text

Negative numbers are read as values (--seed -1); exit code 2 for usage, config, data and
run-folder errors, 1 for internal failures.`;

await runMain(USAGE, async () => {
  const f = parseFlags({
    data: { type: "string" },
    preset: { type: "string" },
    steps: { type: "string" },
    lr: { type: "string" },
    "batch-size": { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    threads: { type: "string" },
    out: { type: "string" },
    config: { type: "string" },
    resume: { type: "boolean" },
    overwrite: { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  if (f.resume && f.overwrite) {
    throw new UsageError(
      "--resume and --overwrite exclude each other: continue the run or replace it",
    );
  }
  let fileCfg: Record<string, unknown> = {};
  if (f.config) {
    const raw = await readJson(f.config);
    checkKeys(f.config, raw, ["data", "preset", "model", "train", "seed", "backend", "out"]);
    refuseNulls(raw, f.config);
    fileCfg = raw as Record<string, unknown>;
    checkFileTypes(fileCfg, f.config);
  }
  let saved: Record<string, unknown> | undefined;
  let out = f.out ?? (fileCfg.out as string | undefined);
  if (f.resume) {
    out ??= `runs/${f.preset ?? (fileCfg.preset as string) ?? "standard"}`;
    saved = await savedRunConfig(out);
  }
  const base = { ...(saved ?? {}), ...fileCfg };
  const trainOverrides = { ...(base.train as Record<string, unknown> ?? {}) };
  const threads = threadsFlag(f.threads);
  const steps = intFlag("steps", f.steps, 1);
  if (steps !== undefined) trainOverrides.steps = steps;
  const lr = floatFlag("lr", f.lr);
  if (lr !== undefined) trainOverrides.lr = lr;
  const bs = intFlag("batch-size", f["batch-size"], 1);
  if (bs !== undefined) trainOverrides.batchSize = bs;
  const cfg: RunConfig = {
    data: f.data !== undefined ? dataSpecFromFlag(f.data) : dataWithKind(base.data),
    preset: f.preset ?? (base.preset as string) ?? "standard",
    model: base.model as RunConfig["model"],
    train: trainOverrides,
    seed: intFlag("seed", f.seed) ?? (base.seed as number) ?? 0,
    backend: f.backend ?? (base.backend as string) ?? "wasm",
  };
  validateRunConfig(cfg);
  out ??= `runs/${cfg.preset}`;
  await checkDataFile(
    cfg.data,
    f.data !== undefined
      ? "--data"
      : `"data.path" in ${fileCfg.data !== undefined ? f.config : `${out}/config.json`}`,
  );
  if (saved) sameRunConfig(cfg, saved, out);
  const existing = saved ? [] : await existingRunFiles(out);
  if (existing.length > 0 && !f.overwrite) {
    throw new InputError(
      `--out ${out} already holds a run (${existing.join(", ")}); add --resume to continue it, ` +
        `--overwrite to replace it, or choose another --out`,
    );
  }
  cfg.backend = await selectBackend(cfg.backend, threads);
  console.error(
    `hest train: preset ${cfg.preset}, backend ${cfg.backend}${threadNote()}, seed ${cfg.seed} ` +
      `-> ${out}` +
      (saved ? " (resuming)" : existing.length > 0 ? " (replacing the run there)" : ""),
  );
  const metrics = await trainRun(cfg, {
    outDir: out,
    progress: !f.quiet,
    resume: !!saved,
    ifExists: f.overwrite ? "replace" : "refuse",
  });
  console.log(formatResults(metrics.results));
  const predictions = metrics.results.map((r, i) =>
    i === 0 ? "predictions.safetensors" : `predictions_${r.mode}.safetensors`
  );
  console.log(
    `\nwrote ${out}/{config.json, checkpoint.safetensors, state.safetensors, log.jsonl, ` +
      `${predictions.join(", ")}, metrics.json}`,
  );
});

/** The top-level values of a `--config` file have the right JSON types (nulls already refused). */
function checkFileTypes(cfg: Record<string, unknown>, file: string): void {
  const want: Record<string, string> = {
    data: "object",
    preset: "string",
    model: "object",
    train: "object",
    seed: "number",
    backend: "string",
    out: "string",
  };
  for (const [k, v] of Object.entries(cfg)) {
    const type = Array.isArray(v) ? "array" : typeof v;
    if (type !== want[k]) {
      throw new UsageError(
        `"${k}" in ${file} must be a JSON ${want[k]}, found ${JSON.stringify(v)}`,
      );
    }
  }
}

/**
 * The config's "data", Lorenz when absent; a data object with a "path" and no "kind" names a
 * file (`{"path": "x.mat"}` means `{"kind": "file", "path": "x.mat"}`).
 */
function dataWithKind(data: unknown): RunConfig["data"] {
  if (data === undefined) return { kind: "lorenz" };
  const d = data as Record<string, unknown>;
  if (d && typeof d === "object" && d.kind === undefined && typeof d.path === "string") {
    return { ...d, kind: "file" } as RunConfig["data"];
  }
  return data as RunConfig["data"];
}

/** The saved `config.json` of a run folder to resume; a usage error when there is nothing. */
async function savedRunConfig(out: string): Promise<Record<string, unknown>> {
  for (const f of ["config.json", "state.safetensors"]) {
    try {
      await Deno.stat(`${out}/${f}`);
    } catch {
      throw new UsageError(
        `--resume: nothing to resume in ${out}: expected ${out}/${f} (written by an earlier ` +
          `\`deno task train --out ${out}\`), found none`,
      );
    }
  }
  const raw = await readJson(`${out}/config.json`);
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new UsageError(`${out}/config.json must be a JSON object`);
  }
  // the run settings only; the file also records resolved values and versions
  const keys = ["data", "preset", "model", "train", "seed", "backend"];
  return Object.fromEntries(
    Object.entries(raw as Record<string, unknown>).filter(([k]) => keys.includes(k)),
  );
}

/** Refuse to resume with settings other than the saved ones, naming each difference. */
function sameRunConfig(cfg: RunConfig, saved: Record<string, unknown>, out: string): void {
  const diffs: string[] = [];
  const keys = ["data", "preset", "model", "train", "seed", "backend"] as const;
  for (const k of keys) {
    const a = (cfg as unknown as Record<string, unknown>)[k], b = saved[k];
    const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
    const sub = isObj(a) || isObj(b)
      ? [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])].sort()
      : [undefined];
    for (const s of sub) {
      const x = s === undefined ? a : (a as Record<string, unknown> | undefined)?.[s];
      const y = s === undefined ? b : (b as Record<string, unknown> | undefined)?.[s];
      if (canonicalJson(x ?? null) !== canonicalJson(y ?? null)) {
        diffs.push(
          `"${s === undefined ? k : `${k}.${s}`}" is ${canonicalJson(x ?? null)} here but ` +
            `${canonicalJson(y ?? null)} in ${out}/config.json`,
        );
      }
    }
  }
  if (diffs.length) {
    throw new UsageError(
      `--resume: the run settings differ from the saved run: ${diffs.join("; ")}; a resumed ` +
        `run must use the saved settings (or train into a new --out folder)`,
    );
  }
}
