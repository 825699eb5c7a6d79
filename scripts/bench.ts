/**
 * Speed benchmarks of the reference configuration (batch 32, 100 bins, 100 neurons, width 128,
 * 4 layers, 4 heads, feed-forward 512; dropout 0), the same workload as
 * ../shared/bench/torch_ref.py so the two can be set side by side.
 *
 *     deno task bench [--out FILE.json] [--backend B] [--steps N] [--warmup N]
 *
 * Rows: `train.standard` (one optimiser step: mask sampling, forward, masked Poisson loss,
 * backward, global-norm clip 1.0, AdamW lr 1e-4 wd 0.01), `infer.standard.b32` and
 * `infer.standard.b1` (forward only, unmasked). Each row is the median (and p99) of `--steps`
 * timed repetitions after `--warmup` untimed ones.
 *
 * @module
 */
import { tf } from "../lib/backend.ts";
import { writeJsonAtomic } from "../lib/io.ts";
import { array3d, spikeDataset } from "../lib/dataset.ts";
import { disposeBatch, maskedBatch } from "../lib/masking.ts";
import { adamw } from "../lib/optim.ts";
import { foldIn, key, stream } from "../lib/random.ts";
import { trainStep } from "../lib/train.ts";
import { transformer } from "../lib/transformer.ts";
import { countParams, disposeTree } from "../lib/tree.ts";
import { intFlag, parseFlags, runMain, selectBackend } from "./_cli.ts";

const USAGE = `usage: deno task bench [options]

  --out FILE.json      also write the results there (atomically)
  --backend B          wasm | webgpu | cpu (default wasm)
  --steps N            timed repetitions per row (default 20)
  --warmup N           untimed repetitions first (default 3)
  -h, --help           this text`;

/** One benchmark row. */
interface Row {
  name: string;
  medianMs: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
  n: number;
  [k: string]: unknown;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

async function time(
  name: string,
  warmup: number,
  steps: number,
  fn: () => Promise<void>,
  extra: Record<string, unknown> = {},
): Promise<Row> {
  for (let i = 0; i < warmup; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    name,
    medianMs: r(quantile(ts, 0.5)),
    p99Ms: r(quantile(ts, 0.99)),
    minMs: r(ts[0]),
    maxMs: r(ts[ts.length - 1]),
    n: steps,
    ...extra,
  };
}

/** Peak resident set size (VmHWM) in MiB, or the current RSS where /proc is unavailable. */
async function peakRssMb(): Promise<number> {
  try {
    const status = await Deno.readTextFile("/proc/self/status");
    const m = status.match(/VmHWM:\s+(\d+) kB/);
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {
    // not Linux: fall through
  }
  return Math.round(Deno.memoryUsage().rss / 2 ** 20);
}

await runMain(USAGE, async () => {
  const f = parseFlags({
    out: { type: "string" },
    backend: { type: "string" },
    steps: { type: "string" },
    warmup: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (f.help) {
    console.log(USAGE);
    return;
  }
  const steps = intFlag("steps", f.steps, 1) ?? 20;
  const warmup = intFlag("warmup", f.warmup, 0) ?? 3;
  const backend = await selectBackend(f.backend);

  // The torch_ref workload: 32 trials x 100 bins x 100 neurons, mean count ~0.44 per bin.
  const B = 32, L = 100, N = 100;
  const s = stream(key(1234));
  const counts = new Float32Array(B * L * N);
  for (let i = 0; i < counts.length; i++) counts[i] = s.poisson(0.44);
  const ds = spikeDataset({
    name: "bench",
    binSizeMs: 10,
    counts: array3d(counts, [B, L, N]),
    heldOut: [],
    split: { train: [...Array(B).keys()], val: [], test: [] },
  });
  const model = transformer({
    nInputs: N,
    nOutputs: N,
    bins: L,
    dModel: 128,
    nLayers: 4,
    nHeads: 4,
    dFF: 512,
    dropout: 0,
    embedDropout: 0,
    rateDropout: 0,
    position: "sinusoidal",
    inputTransform: "none",
  });
  const optimizer = adamw({ lr: 1e-4, weightDecay: 0.01 });
  let params = model.init(key(0));
  let state = optimizer.init(params);
  const nParams = countParams(params);
  const all = ds.split.train;
  const masking = { ratio: 0.2, mode: "timestep" as const };
  let i = 0;
  const rows: Row[] = [];
  const before = tf.memory().numTensors;

  rows.push(
    await time("train.standard", warmup, steps, async () => {
      const k = foldIn(key(7), i++);
      const batch = maskedBatch(ds, all, { key: k, masking });
      const r = await trainStep(model, { params, state }, batch, { optimizer, key: k });
      disposeBatch(batch);
      params = r.params;
      state = r.state;
    }, { batch: B, params: nParams }),
  );
  const input32 = maskedBatch(ds, all, { key: key(0), unmasked: true });
  rows.push(
    await time("infer.standard.b32", warmup, steps, async () => {
      const y = model.apply(params, { input: input32.input }, { training: false });
      await y.data();
      y.dispose();
    }, { batch: B }),
  );
  const input1 = maskedBatch(ds, all.subarray(0, 1), { key: key(0), unmasked: true });
  rows.push(
    await time("infer.standard.b1", warmup, steps, async () => {
      const y = model.apply(params, { input: input1.input }, { training: false });
      await y.data();
      y.dispose();
    }, { batch: 1 }),
  );
  disposeBatch(input32);
  disposeBatch(input1);
  disposeTree(params);
  disposeTree(state.mu);
  disposeTree(state.nu);
  const leaked = tf.memory().numTensors - before;

  const result = {
    config: { batch: B, bins: L, neurons: N, dModel: 128, nLayers: 4, nHeads: 4, dFF: 512 },
    backend,
    versions: { deno: Deno.version.deno, v8: Deno.version.v8, tfjs: tf.version.tfjs },
    date: new Date().toISOString(),
    rows,
    peakRssMb: await peakRssMb(),
    tensorsLeft: leaked,
  };
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(22)} median ${r.medianMs.toFixed(2).padStart(9)} ms   p99 ${
        r.p99Ms.toFixed(2).padStart(9)
      } ms`,
    );
  }
  if (f.out) {
    await writeJsonAtomic(f.out, result);
    console.log(`wrote ${f.out}`);
  } else {
    console.log(JSON.stringify(result));
  }
});
