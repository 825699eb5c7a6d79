/**
 * Replay recorded trials bin by bin through a causal hybrid model, on the WASM stream engine
 * (kernels/stream_engine.ts) or on TF.js ops (lib/infer/stream.ts), time every step and check that the
 * streamed log-rates equal the full-sequence forward.
 *
 *     deno task stream [--run DIR | --preset NAME] [--data lorenz|PATH] [--mode standard|spiking]
 *                      [--engine wasm|tfjs] [--trials N] [--batch N] [--seed S] [--backend B]
 *                      [--out FILE.json]
 *
 * @module
 */
import type { SpikeDataset } from "../lib/data/dataset.ts";
import type { HybridModel } from "../lib/model/hybrid.ts";
import { writeJsonAtomic } from "../lib/core/io.ts";
import type { Mode } from "../lib/nn/types.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { type ModelPreset, preset, PRESETS, transformerFor } from "../lib/experiments/presets.ts";
import { key } from "../lib/core/random.ts";
import { loadData, loadRun, type RunConfig } from "../lib/experiments/run.ts";
import { disposeStreamState, streamer } from "../lib/infer/stream.ts";
import { streamEngine } from "../kernels/stream_engine.ts";
import { disposeTree, type Params } from "../lib/core/tree.ts";
import {
  dataSpecFromFlag,
  DEFAULT_STREAM_RUN,
  intFlag,
  parseFlags,
  runMain,
  selectBackend,
  UsageError,
} from "./_cli.ts";

const USAGE = `usage: deno task stream [options]

  --run DIR            stream a trained run (config.json + checkpoint.safetensors) of a causal
                       hybrid model (default ${DEFAULT_STREAM_RUN}, the trained
                       hybrid-causal preset)
  --preset NAME        instead of a run: a randomly initialised hybrid model with this preset's
                       sizes and switches, made causal (one of
                       ${Object.keys(PRESETS).join(", ")})
  --data lorenz|PATH   recording to replay (default: the run's data, else the Lorenz set)
  --mode M             standard | spiking (default standard; spiking needs the model's
                       "norm": "causal")
  --engine E           wasm: the WASM stream engine, no TF.js op per bin (default; not on
                       webgpu) | tfjs: streamer() on TF.js ops (default on webgpu)
  --trials N           test trials to replay (default 8)
  --batch N            trials streamed side by side (default 1)
  --seed S             initialisation seed without --run (default 0)
  --backend B          wasm | webgpu | cpu (default wasm)
  --out FILE.json      also write the results there (atomically)
  -h, --help           this text`;

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Build the model, its parameters and the dataset to replay. */
async function setup(f: {
  run?: string;
  preset?: string;
  data?: string;
  seed: number;
  mode: Mode;
}): Promise<{ model: HybridModel; params: Params; ds: SpikeDataset; source: string }> {
  if (f.run !== undefined && f.preset !== undefined) {
    throw new UsageError("--run and --preset exclude each other");
  }
  const run = f.run ?? (f.preset === undefined ? DEFAULT_STREAM_RUN : undefined);
  if (run !== undefined) {
    try {
      await Deno.stat(`${run}/config.json`);
    } catch {
      throw new UsageError(
        `--run ${run}: no config.json there (not a run folder)` +
          (f.run === undefined
            ? `; train one with "deno task train --preset hybrid-causal --out ${run}", or ` +
              `stream a random model with --preset NAME`
            : ""),
      );
    }
    const cfg: RunConfig = JSON.parse(await Deno.readTextFile(`${run}/config.json`));
    if (preset(cfg.preset).kind !== "hybrid") {
      throw new UsageError(
        `--run ${run}: preset "${cfg.preset}" builds the standard NDT transformer; streaming ` +
          `needs a causal hybrid model (preset "hybrid-causal")`,
      );
    }
    const loaded = await loadRun(run, {
      data: f.data !== undefined ? dataSpecFromFlag(f.data) : undefined,
    });
    return {
      model: loaded.model as HybridModel,
      params: loaded.params,
      ds: loaded.dataset,
      source: `trained run ${run}`,
    };
  }
  const name = f.preset!;
  const p = preset(name);
  const ds = await loadData(dataSpecFromFlag(f.data));
  const config: ModelPreset = {
    ...p.model,
    dropout: 0,
    embedDropout: 0,
    rateDropout: 0,
    causal: true,
    // the spiking mode streams with running statistics over the bins so far
    ...(f.mode === "spiking" ? { norm: "causal" as const } : {}),
  };
  const model = transformerFor(ds, config, { kind: "hybrid" }) as HybridModel;
  const params = model.init(key(f.seed));
  return { model, params, ds, source: `preset ${name} (causal, random init, seed ${f.seed})` };
}

await runMain(USAGE, async () => {
  const f = parseFlags({
    run: { type: "string" },
    preset: { type: "string" },
    data: { type: "string" },
    mode: { type: "string" },
    engine: { type: "string" },
    trials: { type: "string" },
    batch: { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  const mode = (f.mode ?? "standard") as Mode;
  if (mode !== "standard" && mode !== "spiking") {
    throw new UsageError(`--mode must be standard or spiking, found "${f.mode}"`);
  }
  const nTrials = intFlag("trials", f.trials, 1) ?? 8;
  const batch = intFlag("batch", f.batch, 1) ?? 1;
  const seed = intFlag("seed", f.seed, 0) ?? 0;
  if (f.preset !== undefined && !PRESETS[f.preset]) {
    throw new UsageError(
      `--preset must be one of ${Object.keys(PRESETS).join(", ")}, found "${f.preset}"`,
    );
  }
  const backend = await selectBackend(f.backend);
  const { model, params, ds, source } = await setup({
    run: f.run,
    preset: f.preset,
    data: f.data,
    seed,
    mode,
  });
  const engine = f.engine ?? (backend === "webgpu" ? "tfjs" : "wasm");
  if (engine !== "wasm" && engine !== "tfjs") {
    throw new UsageError(`--engine must be wasm or tfjs, found "${f.engine}"`);
  }
  if (engine === "wasm" && backend === "webgpu") {
    throw new UsageError(
      `--engine wasm reads the parameters synchronously, which the webgpu backend cannot; use ` +
        `--engine tfjs there`,
    );
  }
  /** One stream: `reset()` before each group of trials, `step(row)` per bin. */
  let runner: { reset(): void; step(row: Float32Array): Promise<Float32Array>; dispose(): void };
  try {
    if (engine === "wasm") {
      const en = streamEngine(model, params, { mode, batch });
      runner = {
        reset: () => en.reset(),
        step: (row) => Promise.resolve(en.step(row)),
        dispose() {},
      };
    } else {
      const s = streamer(model, params, { mode, batch });
      let state = s.init();
      runner = {
        reset() {
          disposeStreamState(state);
          state = s.init();
        },
        async step(row) {
          const r = s.step(state, row);
          state = r.state;
          const y = await r.logRates.data() as Float32Array;
          r.logRates.dispose();
          return y;
        },
        dispose() {
          disposeStreamState(state);
          s.dispose();
        },
      };
    }
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const c = model.config;
  const total = c.bins + c.forwardBins;
  const pool = ds.split.test.length > 0 ? ds.split.test : ds.split.train;
  if (pool.length < batch) {
    throw new UsageError(`--batch ${batch} is more than the ${pool.length} test trials`);
  }
  const groups = Math.max(1, Math.floor(Math.min(nTrials, pool.length) / batch));
  const times: number[] = [];
  let maxDiff = 0;
  const t0 = performance.now();
  // one untimed warm-up pass over the first group, then every group timed
  for (let g = -1; g < groups; g++) {
    const trials = pool.slice(Math.max(0, g) * batch, Math.max(0, g) * batch + batch);
    const input = maskedBatch(ds, trials, { key: key(0), unmasked: true });
    const x = await input.input.data();
    const full = model.apply(params, { input: input.input }, {
      training: false,
      mode,
      key: key(0),
    });
    const fd = await full.data();
    full.dispose();
    disposeBatch(input);
    runner.reset();
    const nIn = c.nInputs;
    for (let l = 0; l < total; l++) {
      const row = new Float32Array(batch * nIn);
      if (l < c.bins) {
        for (let b = 0; b < batch; b++) {
          row.set(x.subarray((b * c.bins + l) * nIn, (b * c.bins + l + 1) * nIn), b * nIn);
        }
      }
      const ts = performance.now();
      const y = await runner.step(row);
      if (g >= 0) times.push(performance.now() - ts);
      for (let b = 0; b < batch; b++) {
        for (let o = 0; o < c.nOutputs; o++) {
          const d = Math.abs(y[b * c.nOutputs + o] - fd[(b * total + l) * c.nOutputs + o]);
          if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
        }
      }
    }
  }
  const wall = (performance.now() - t0) / 1000;
  runner.dispose();
  disposeTree(params);
  const sorted = [...times].sort((a, b) => a - b);
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  // streamer's spiking mode reproduces the full forward bit for bit on wasm/cpu; standard mode
  // and the WASM engine (its own summation order) to float32 rounding
  const tolerance = mode === "spiking" && engine === "tfjs" && backend !== "webgpu" ? 1e-5 : 1e-4;
  const result = {
    source,
    data: ds.name,
    mode,
    engine,
    backend,
    attention: c.attention,
    dModel: c.dModel,
    nLayers: c.nLayers,
    trials: groups * batch,
    batch,
    bins: c.bins,
    forwardBins: c.forwardBins,
    steps: times.length,
    stepMedianMs: r3(quantile(sorted, 0.5)),
    stepP99Ms: r3(quantile(sorted, 0.99)),
    stepMaxMs: r3(sorted[sorted.length - 1]),
    maxAbsDiff: maxDiff,
    tolerance,
    equal: maxDiff <= tolerance,
    wallSeconds: Math.round(wall * 10) / 10,
  };
  console.log(
    `stream: ${source}, ${mode} mode, ${c.attention} attention, width ${c.dModel} x ` +
      `${c.nLayers} layers; ${result.trials} ${ds.name} trials x ${total} bins ` +
      `(${c.bins} + ${c.forwardBins} forward), batch ${batch}, ${backend}, ${engine} engine`,
  );
  console.log(
    `step latency: median ${result.stepMedianMs.toFixed(3)} ms, p99 ${
      result.stepP99Ms.toFixed(3)
    } ms, max ${result.stepMaxMs.toFixed(3)} ms (${times.length} steps)`,
  );
  console.log(
    `full-forward check: max |Δ log-rate| ${maxDiff.toExponential(2)} (tolerance ${tolerance}): ${
      result.equal ? "equal" : "DIFFERENT"
    }`,
  );
  if (f.out) {
    await writeJsonAtomic(f.out, result);
    console.log(`wrote ${f.out}`);
  }
  if (!result.equal) Deno.exit(1);
});
