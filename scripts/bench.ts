/**
 * Speed benchmarks of the reference configuration (batch 32, 100 bins, 100 neurons, width 128,
 * 4 layers, 4 heads, feed-forward 512, T = 4 SNN timesteps; dropout 0), optionally timed side by
 * side with its PyTorch peer `scripts/torch_ref.py` (the same models and steps in PyTorch).
 *
 *     deno task bench [--out FILE.json] [--vs-torch --torch-ref FILE] [--backend B] [--reps N]
 *                     [--warmup N] [--rows A,B,…]
 *
 * Every row but the last two uses the hybrid model (`hybridTransformer`, one parameter tree for
 * both modes); `*.ndt` rows use the NDT transformer (lib/model/transformer.ts) the earlier figures
 * were taken with.
 *
 * | row | what is timed |
 * |---|---|
 * | `train.standard`, `train.conv`, `train.spiking` | one optimiser step: mask sampling (20 % of bins), forward, masked Poisson loss, backward, global-norm clip 1.0, AdamW (lr 1e-4, wd 0.01) |
 * | `train.standard.fast`, `infer.standard.b32.fast` | the same as without `.fast` on the fast kernel build (relaxed-SIMD multiply-add, `kernels/precision.ts`); the row's `kernels` says which build ran |
 * | `train.standard.t2`, `train.spiking.t2`, `infer.standard.b32.t2` | the same with the kernel products on two threads (`kernels/threads.ts`), in a process of their own started with `HEST_KERNEL_THREADS=2` (TF.js's memory shared; the row's `process` says so); with `--vs-torch` PyTorch also runs on two threads and the row gets `torchT2MedianMs` and `ratioT2` beside its one-thread pair |
 * | `train.demo.standard`, `train.demo.spiking` | one step of `deno task demo`'s training, on one thread: the `hybrid` preset's model (width 64, 2 blocks, conv attention, T = 4) on the Lorenz data, 32 training trials, the preset's masking, and in the spiking step the standard mode's forward as the distillation teacher (λ = 1); AdamW as the other rows (the speed does not depend on lr) |
 * | `train.long.standard`, `train.long.spiking` | the same for `results/long`'s model (the `hybrid` preset's with 4 blocks and dropout 0.1 / 0.2 / 0.2) and its spiking step (rate distillation λ = 1 and feature distillation λ_f = 0.25) |
 * | `train.standard.remat`, `train.spiking.remat` | the same with every block rematerialised (`remat: true`, lib/core/remat.ts); run first, so their `rssHwmMb` is their own peak |
 * | `infer.standard.b32`, `infer.spiking.b32`, `infer.*.b1` | forward only, unmasked, batch 32 / 1 |
 * | `stream.step` | one bin of streaming inference, batch 1, of the trained `hybrid-causal` run committed in results/hybrid_causal (width 64, 2 blocks, causal conv attention) replaying Lorenz test trials, on the WASM stream engine (kernels/stream_engine.ts) |
 * | `stream.step.spiking` | the same in spiking mode |
 * | `stream.step.tfjs`, `stream.step.spiking.tfjs` | the same two on TF.js ops (`streamer`, lib/infer/stream.ts) |
 * | `train.standard.ndt`, `infer.standard.ndt.b32` | the NDT transformer |
 *
 * `conv` rows use convolutional attention (Q and K from a kernel-3 convolution over bins). Each
 * row is the median (and p99) of `--reps` repetitions after `--warmup` untimed ones; a stream row
 * times every step of `--reps` passes over one test trial's bins (its forward window included).
 * `--vs-torch` runs `scripts/torch_ref.py --threads-list 1` (one thread; another copy with
 * `--torch-ref FILE` or `HEST_TORCH_REF`) under /usr/bin/python3 with PyTorch from Debian's
 * python3-torch, on the models the selected rows are paired with (`standard`, `conv`, `spiking`),
 * with the same repetitions in the same invocation, and pairs its medians with the rows (see
 * `TORCH_PAIRS`). `peakRssMb` is this process's VmHWM
 * (/proc/self/status) at the end, and every row records the VmHWM after it (`rssHwmMb`).
 *
 * @module
 */
import { tf, tfWasmBackend } from "../lib/core/backend.ts";
import { array3d, spikeDataset } from "../lib/data/dataset.ts";
import { hybridTransformer } from "../lib/model/hybrid.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { type ModelPreset, preset, transformerFor } from "../lib/experiments/presets.ts";
import type { SpikeDataset } from "../lib/data/dataset.ts";
import type { MaskingOptions } from "../lib/train/masking.ts";
import type { HybridConfig } from "../lib/model/config.ts";
import { writeJsonAtomic } from "../lib/core/io.ts";
import type { Mode } from "../lib/nn/types.ts";
import { disposeBatch, maskedBatch } from "../lib/train/masking.ts";
import { adamw, type OptState } from "../lib/train/optim.ts";
import { foldIn, key, stream as randomStream } from "../lib/core/random.ts";
import { disposeStreamState, streamer } from "../lib/infer/stream.ts";
import { streamEngine } from "../kernels/stream_engine.ts";
import { trainStep } from "../lib/train/train.ts";
import { transformer } from "../lib/model/transformer.ts";
import type { HybridModel, Model } from "../lib/model/hybrid.ts";
import { countParams, disposeTree, type Params } from "../lib/core/tree.ts";
import {
  DEFAULT_STREAM_RUN,
  intFlag,
  parseFlags,
  runMain,
  selectBackend,
  UsageError,
} from "./_cli.ts";
import { loadRun } from "../lib/experiments/run.ts";
import { formatProfile, profileOps } from "../kernels/profile.ts";
import { setKernelPrecision } from "../kernels/precision.ts";
import { setKernelThreads } from "../kernels/threads.ts";
import { checkTorch, formatTable, type Row, runTorch, TORCH_PAIRS } from "./_bench_torch.ts";
import { machine, peakRssMb, readText, round2, summary, time } from "./_bench_util.ts";

/** The demo rows' data: the Lorenz dataset, the preset's masking and distillation weight. */
interface DemoData {
  ds: SpikeDataset;
  masking?: MaskingOptions;
  distill: number;
  distillFeatures?: number;
  /** The row's `model` description. */
  label: string;
}

/** Every row, in the order they run (training first, so the VmHWM after them is theirs). */
const ROWS = [
  "train.standard.remat",
  "train.spiking.remat",
  "train.standard",
  "train.standard.fast",
  "train.standard.t2",
  "train.conv",
  "train.spiking",
  "train.spiking.t2",
  "train.demo.standard",
  "train.demo.spiking",
  "train.long.standard",
  "train.long.spiking",
  "train.standard.ndt",
  "infer.standard.b32",
  "infer.standard.b32.fast",
  "infer.standard.b32.t2",
  "infer.standard.b1",
  "infer.spiking.b32",
  "infer.spiking.b1",
  "infer.standard.ndt.b32",
  "stream.step",
  "stream.step.spiking",
  "stream.step.tfjs",
  "stream.step.spiking.tfjs",
] as const;

const USAGE = `usage: deno task bench [options]

  --out FILE.json      also write the results there (atomically)
  --vs-torch           also run the PyTorch peer scripts/torch_ref.py (1 thread) in this
                       invocation, add torchMedianMs and ratio to the rows it pairs, print the
                       table (needs /usr/bin/python3 with Debian's python3-torch; install
                       libopenblas0-openmp too, else torch runs on the reference BLAS)
  --torch-ref FILE     another torch_ref.py for --vs-torch (default: $HEST_TORCH_REF, else
                       scripts/torch_ref.py)
  --backend B          wasm | webgpu | cpu (default wasm)
  --reps N             timed repetitions per row (default 5; --steps is an alias)
  --warmup N           untimed repetitions first (default 1)
  --rows A,B,...       only these rows (default all): ${ROWS.join(", ")}
  --profile            after timing a train or infer row, run it --reps more times with every
                       op timed (kernels/profile.ts): print the per-op table and keep it in
                       the row's "profile" (products with their GFLOP/s)
  --profile-shapes     --profile with TF.js ops keyed by their input shapes too
  -h, --help           this text`;

await runMain(USAGE, async () => {
  const f = parseFlags({
    out: { type: "string" },
    "vs-torch": { type: "boolean" },
    "torch-ref": { type: "string" },
    backend: { type: "string" },
    reps: { type: "string" },
    steps: { type: "string" },
    warmup: { type: "string" },
    rows: { type: "string" },
    profile: { type: "boolean" },
    "profile-shapes": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  const doProfile = f.profile === true || f["profile-shapes"] === true;
  const byShape = f["profile-shapes"] === true;
  if (f.help) {
    console.log(USAGE);
    return;
  }
  if (f.reps !== undefined && f.steps !== undefined) {
    throw new UsageError("--reps and --steps are the same option; give one");
  }
  const reps = intFlag(f.reps !== undefined ? "reps" : "steps", f.reps ?? f.steps, 1) ?? 5;
  const warmup = intFlag("warmup", f.warmup, 0) ?? 1;
  let wanted: Set<string> = new Set(ROWS);
  if (f.rows !== undefined) {
    const names = f.rows.split(",").map((s) => s.trim()).filter((s) => s);
    for (const n of names) {
      if (!(ROWS as readonly string[]).includes(n)) {
        throw new UsageError(`--rows: unknown row "${n}"; expected some of ${ROWS.join(", ")}`);
      }
    }
    wanted = new Set(names);
  }
  const skipped: string[] = [];
  if (f["torch-ref"] !== undefined && !f["vs-torch"]) {
    throw new UsageError("--torch-ref is only used with --vs-torch");
  }
  const torchRef = f["vs-torch"] ? await checkTorch(f["torch-ref"]) : undefined;
  const backend = await selectBackend(f.backend);
  const machineInfo = await machine(backend);

  // The torch_ref workload: 32 trials x 100 bins x 100 neurons, mean count ~0.44 per bin.
  const B = 32, L = 100, N = 100, T = 4;
  const s = randomStream(key(1234));
  const counts = new Float32Array(B * L * N);
  for (let i = 0; i < counts.length; i++) counts[i] = s.poisson(0.44);
  const ds = spikeDataset({
    name: "bench",
    binSizeMs: 10,
    counts: array3d(counts, [B, L, N]),
    heldOut: [],
    split: { train: [...Array(B).keys()], val: [], test: [] },
  });
  const reference: HybridConfig = {
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
    timesteps: T,
  };
  const all = ds.split.train;
  const masking = { ratio: 0.2, mode: "timestep" as const };
  const rows: Row[] = [];
  const before = tf.memory().numTensors;
  const input32 = maskedBatch(ds, all, { key: key(0), unmasked: true });
  const input1 = maskedBatch(ds, all.subarray(0, 1), { key: key(0), unmasked: true });

  /** Run `f` on the fast (relaxed-SIMD) kernel build; the row says which build ran. */
  async function fastKernels<T>(f: () => Promise<T>): Promise<T> {
    const got = setKernelPrecision("fast");
    try {
      const r = await f();
      rows[rows.length - 1].kernels = got;
      return r;
    } finally {
      setKernelPrecision("exact");
    }
  }

  // The two-thread rows need TF.js's wasm memory shared, which costs the one-thread rows a few
  // per cent (docs/performance.md): unless this process shares it already (HEST_KERNEL_THREADS),
  // they run in a process of their own, started here with HEST_KERNEL_THREADS=2.
  const t2Wanted = ROWS.filter((r) => r.endsWith(".t2") && wanted.has(r));
  // the other rows run on one thread, also where HEST_KERNEL_THREADS set more
  await setKernelThreads(1);
  const sharedHere = tfWasmBackend()?.wasm.asm?.memory?.buffer instanceof SharedArrayBuffer;
  const t2Rows = new Map<string, Row>();
  if (t2Wanted.length > 0 && backend === "wasm" && !sharedHere) {
    const out = await Deno.makeTempFile({ prefix: "hest-bench-t2-", suffix: ".json" });
    try {
      const flags = [
        ...(f.profile ? ["--profile"] : []),
        ...(f["profile-shapes"] ? ["--profile-shapes"] : []),
      ];
      const child = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--frozen",
          new URL(import.meta.url).pathname,
          ...["--rows", t2Wanted.join(","), "--reps", String(reps), "--warmup", String(warmup)],
          ...["--out", out, ...flags],
        ],
        env: { HEST_KERNEL_THREADS: "2" },
        stdout: "null",
        stderr: "inherit",
      }).output();
      if (!child.success) throw new Error(`the two-thread rows' process failed (${child.code})`);
      const got = JSON.parse(await Deno.readTextFile(out)) as { rows: Row[] };
      for (const r of got.rows) t2Rows.set(r.name, { ...r, process: "HEST_KERNEL_THREADS=2" });
    } finally {
      await Deno.remove(out).catch(() => {});
    }
  }

  /**
   * Run `f` with the kernel products on two threads (kernels/threads.ts), or, when the rows ran
   * in their own process, take its row `name` instead.
   */
  async function twoThreads<T>(name: string, f: () => Promise<T>, keep: T): Promise<T> {
    const done = t2Rows.get(name);
    if (done) {
      rows.push(done);
      console.error(`${name}: median ${done.medianMs} ms (own process)`);
      return keep;
    }
    await setKernelThreads(2);
    try {
      return await f();
    } finally {
      await setKernelThreads(1);
    }
  }

  /** With --profile: `reps` more runs of `f` under `profileOps`, printed and kept in the row. */
  async function profiled(name: string, f: () => Promise<void>): Promise<{ profile?: unknown }> {
    if (!doProfile) return {};
    const { profile } = await profileOps(async () => {
      for (let r = 0; r < reps; r++) await f();
    }, { byShape: byShape });
    console.error(`${name} profile (${reps} runs):\n${formatProfile(profile, { runs: reps })}`);
    return {
      profile: {
        totalMsPerRun: round2(profile.totalMs / reps),
        ops: profile.ops.map((o) => ({
          name: o.name,
          callsPerRun: o.calls / reps,
          msPerRun: round2(o.ms / reps),
          ...(o.flops > 0 ? { gflops: round2(o.flops / (o.ms * 1e6)) } : {}),
        })),
      },
    };
  }

  async function trainRow(
    name: string,
    model: Model,
    mode: Mode,
    params: Params,
    opts: { remat?: boolean; demo?: DemoData } = {},
  ): Promise<Params> {
    const optimizer = adamw({ lr: 1e-4, weightDecay: 0.01 });
    let p = params;
    let state: OptState = optimizer.init(p);
    let i = 0;
    let loss = NaN;
    const demo = opts.demo;
    async function step(): Promise<void> {
      const k = foldIn(key(7), i++);
      const batch = demo
        ? maskedBatch(demo.ds, demo.ds.split.train.subarray(0, B), {
          key: k,
          masking: demo.masking,
        })
        : maskedBatch(ds, all, { key: k, masking });
      const r = await trainStep(model, { params: p, state }, batch, {
        optimizer,
        key: k,
        mode,
        remat: opts.remat,
        // the demo's spiking steps also run the standard mode as the distillation teacher
        distill: demo && mode === "spiking" ? demo.distill : 0,
        distillFeatures: demo && mode === "spiking" ? demo.distillFeatures : undefined,
      });
      disposeBatch(batch);
      p = r.params;
      state = r.state;
      loss = r.loss;
    }
    const ts = await time(warmup, reps, step);
    const profile = await profiled(name, step);
    disposeTree(state.mu);
    disposeTree(state.nu);
    rows.push(summary(name, ts, {
      batch: B,
      mode,
      params: countParams(p),
      lossLast: Math.round(loss * 1e5) / 1e5,
      ...(demo ? { model: demo.label } : {}),
      rssHwmMb: await peakRssMb(),
      ...profile,
    }));
    console.error(`${name}: median ${rows[rows.length - 1].medianMs} ms`);
    return p;
  }

  async function inferRow(
    name: string,
    model: Model,
    mode: Mode,
    params: Params,
    input: tf.Tensor,
  ): Promise<void> {
    async function forward(): Promise<void> {
      const y = model.apply(params, { input }, { training: false, mode, key: key(0) });
      await y.data();
      y.dispose();
    }
    const ts = await time(warmup, reps, forward);
    const profile = await profiled(name, forward);
    rows.push(summary(name, ts, {
      batch: input.shape[0],
      mode,
      rssHwmMb: await peakRssMb(),
      ...profile,
    }));
    console.error(`${name}: median ${rows[rows.length - 1].medianMs} ms`);
  }

  /** The trained causal run of the stream rows (loaded once) and one test trial's counts. */
  let streamRun: { model: HybridModel; params: Params; rows: Float32Array } | undefined;
  async function trainedStream() {
    if (streamRun) return streamRun;
    const run = await loadRun(DEFAULT_STREAM_RUN);
    const ds = run.dataset;
    const b = maskedBatch(ds, ds.split.test.slice(0, 1), { key: key(0), unmasked: true });
    const rows = await b.input.data() as Float32Array;
    disposeBatch(b);
    streamRun = { model: run.model as HybridModel, params: run.params, rows };
    return streamRun;
  }

  async function streamRow(name: string, mode: Mode, engine: "wasm" | "tfjs"): Promise<void> {
    const { model, params, rows: x } = await trainedStream();
    const c = model.config;
    const N = c.nInputs;
    // the trial's bins, then the forward window with zero counts (as the full forward)
    const L = c.bins + c.forwardBins;
    const zeros = new Float32Array(N);
    const binRow = (l: number) => l < c.bins ? x.subarray(l * N, (l + 1) * N) : zeros;
    const ts: number[] = [];
    if (engine === "wasm") {
      const en = streamEngine(model, params, { mode, batch: 1 });
      for (let pass = 0; pass < warmup + reps; pass++) {
        en.reset();
        for (let l = 0; l < L; l++) {
          const t0 = performance.now();
          en.step(binRow(l));
          if (pass >= warmup) ts.push(performance.now() - t0);
        }
      }
    } else {
      const st = streamer(model, params, { mode, batch: 1 });
      for (let pass = 0; pass < warmup + reps; pass++) {
        let state = st.init();
        for (let l = 0; l < L; l++) {
          const t0 = performance.now();
          const r = st.step(state, binRow(l));
          await r.logRates.data();
          if (pass >= warmup) ts.push(performance.now() - t0);
          r.logRates.dispose();
          state = r.state;
        }
        disposeStreamState(state);
      }
      st.dispose();
    }
    rows.push(summary(name, ts, {
      batch: 1,
      mode,
      model: `trained ${DEFAULT_STREAM_RUN} (${c.dModel} wide, ${c.nLayers} blocks)`,
      engine: engine === "wasm" ? "WASM stream engine" : "TF.js ops (streamer)",
      params: countParams(params),
      rssHwmMb: await peakRssMb(),
    }));
    console.error(`${name}: median ${rows[rows.length - 1].medianMs} ms`);
  }

  const t0 = performance.now();
  // one hybrid parameter tree, trained a few steps in standard then spiking mode, then inferred
  const hybrid = hybridTransformer(reference);
  let hp: Params = hybrid.init(key(0));
  const paramsHybrid = countParams(hp);
  // the rematerialised rows first, so the VmHWM after them is their own peak
  if (wanted.has("train.standard.remat")) {
    disposeTree(
      await trainRow("train.standard.remat", hybrid, "standard", hybrid.init(key(0)), {
        remat: true,
      }),
    );
  }
  if (wanted.has("train.spiking.remat")) {
    disposeTree(
      await trainRow("train.spiking.remat", hybrid, "spiking", hybrid.init(key(0)), {
        remat: true,
      }),
    );
  }
  if (wanted.has("train.standard")) hp = await trainRow("train.standard", hybrid, "standard", hp);
  if (wanted.has("train.standard.t2")) {
    hp = await twoThreads(
      "train.standard.t2",
      () => trainRow("train.standard.t2", hybrid, "standard", hp),
      hp,
    );
  }
  if (wanted.has("train.standard.fast")) {
    hp = await fastKernels(() => trainRow("train.standard.fast", hybrid, "standard", hp));
  }
  if (wanted.has("train.conv")) {
    const conv = hybridTransformer({ ...reference, attention: "conv" });
    disposeTree(await trainRow("train.conv", conv, "standard", conv.init(key(0))));
  }
  if (wanted.has("train.spiking")) hp = await trainRow("train.spiking", hybrid, "spiking", hp);
  if (wanted.has("train.spiking.t2")) {
    hp = await twoThreads(
      "train.spiking.t2",
      () => trainRow("train.spiking.t2", hybrid, "spiking", hp),
      hp,
    );
  }
  /** The `train.demo.*` or `train.long.*` rows: the `hybrid` preset's model on the Lorenz data. */
  async function lorenzRows(
    rows: "demo" | "long",
    model: Partial<ModelPreset>,
    extra: Pick<DemoData, "distillFeatures" | "label">,
  ): Promise<void> {
    if (!wanted.has(`train.${rows}.standard`) && !wanted.has(`train.${rows}.spiking`)) return;
    const lorenz = lorenzDataset({ seed: 0 });
    const hybridPreset = preset("hybrid");
    const demo: DemoData = {
      ds: lorenz,
      masking: hybridPreset.train.masking,
      distill: hybridPreset.train.distill ?? 0,
      ...extra,
    };
    const m = transformerFor(lorenz, { ...hybridPreset.model, ...model }, { kind: "hybrid" });
    let p = m.init(key(0));
    for (const mode of ["standard", "spiking"] as const) {
      const name = `train.${rows}.${mode}`;
      if (wanted.has(name)) p = await trainRow(name, m, mode, p, { demo });
    }
    disposeTree(p);
  }
  await lorenzRows("demo", {}, {
    label: "the demo's: hybrid preset, Lorenz data, distillation in spiking mode",
  });
  // results/long's model and spiking step: the hybrid preset's model with 4 blocks and NDT's
  // dropout, distillation of the rates (λ = 1) and of every block's features (λ_f = 0.25)
  await lorenzRows("long", { nLayers: 4, dropout: 0.1, embedDropout: 0.2, rateDropout: 0.2 }, {
    distillFeatures: 0.25,
    label: "results/long's: hybrid preset with 4 blocks and dropout, Lorenz data, " +
      "rate and feature distillation in spiking mode",
  });
  const ndt = transformer({
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
  let np = ndt.init(key(0));
  const paramsNdt = countParams(np);
  if (wanted.has("train.standard.ndt")) {
    np = await trainRow("train.standard.ndt", ndt, "standard", np);
  }
  const trainPeakRssMb = await peakRssMb();
  if (wanted.has("infer.standard.b32")) {
    await inferRow("infer.standard.b32", hybrid, "standard", hp, input32.input);
  }
  if (wanted.has("infer.standard.b32.t2")) {
    await twoThreads(
      "infer.standard.b32.t2",
      () => inferRow("infer.standard.b32.t2", hybrid, "standard", hp, input32.input),
      undefined,
    );
  }
  if (wanted.has("infer.standard.b32.fast")) {
    await fastKernels(() =>
      inferRow("infer.standard.b32.fast", hybrid, "standard", hp, input32.input)
    );
  }
  if (wanted.has("infer.standard.b1")) {
    await inferRow("infer.standard.b1", hybrid, "standard", hp, input1.input);
  }
  if (wanted.has("infer.spiking.b32")) {
    await inferRow("infer.spiking.b32", hybrid, "spiking", hp, input32.input);
  }
  if (wanted.has("infer.spiking.b1")) {
    await inferRow("infer.spiking.b1", hybrid, "spiking", hp, input1.input);
  }
  if (wanted.has("infer.standard.ndt.b32")) {
    await inferRow("infer.standard.ndt.b32", ndt, "standard", np, input32.input);
  }
  disposeTree(hp);
  disposeTree(np);
  if (wanted.has("stream.step")) await streamRow("stream.step", "standard", "wasm");
  if (wanted.has("stream.step.spiking")) {
    await streamRow("stream.step.spiking", "spiking", "wasm");
  }
  if (wanted.has("stream.step.tfjs")) await streamRow("stream.step.tfjs", "standard", "tfjs");
  if (wanted.has("stream.step.spiking.tfjs")) {
    await streamRow("stream.step.spiking.tfjs", "spiking", "tfjs");
  }
  disposeBatch(input32);
  disposeBatch(input1);
  if (streamRun) disposeTree(streamRun.params);
  const hestSeconds = (performance.now() - t0) / 1000;
  const leaked = tf.memory().numTensors - before;

  let torch: Awaited<ReturnType<typeof runTorch>> | undefined;
  // only the PyTorch models some timed row is paired with (a spiking step takes seconds there)
  const torchModels = [
    ...new Set(rows.flatMap((r) => TORCH_PAIRS[r.name] ? [TORCH_PAIRS[r.name][0]] : [])),
  ];
  if (torchRef !== undefined && torchModels.length === 0) {
    console.error("--vs-torch: no selected row has a PyTorch counterpart; torch_ref.py not run");
  }
  if (torchRef !== undefined && torchModels.length > 0) {
    const t2 = rows.some((r) => r.name.endsWith(".t2"));
    torch = await runTorch(torchRef, torchModels, reps, warmup, t2 ? [1, 2] : [1]);
    for (const r of rows) {
      const pair = TORCH_PAIRS[r.name];
      const tr = pair ? torch.results[pair[0]] : undefined;
      const v = tr?.[pair![1]];
      if (typeof v === "number") {
        r.torchRef = `${pair![0]}.${pair![1]}`;
        r.torchMedianMs = v;
        r.ratio = Math.round((r.medianMs / v) * 100) / 100;
      }
      // two-thread rows: also against PyTorch on two threads
      const v2 = r.name.endsWith(".t2") ? torch.results[`${pair?.[0]}.t2`]?.[pair![1]] : undefined;
      if (typeof v2 === "number") {
        r.torchT2MedianMs = v2;
        r.ratioT2 = Math.round((r.medianMs / v2) * 100) / 100;
      }
    }
  }

  const result = {
    config: {
      batch: B,
      bins: L,
      neurons: N,
      dModel: 128,
      nLayers: 4,
      nHeads: 4,
      dFF: 512,
      timesteps: T,
      paramsHybrid,
      paramsNdt,
      reps,
      warmup,
    },
    backend,
    machine: {
      ...machineInfo,
      loadAvgEnd: (await readText("/proc/loadavg"))?.split(" ").slice(0, 3).map(Number),
    },
    versions: { deno: Deno.version.deno, v8: Deno.version.v8, tfjs: tf.version.tfjs },
    date: new Date().toISOString(),
    rows,
    peakRssMb: await peakRssMb(),
    trainPeakRssMb,
    hestSeconds: Math.round(hestSeconds),
    tensorsLeft: leaked,
    ...(skipped.length ? { skippedRows: skipped } : {}),
    ...(torch
      ? {
        torch: {
          command: torch.command.join(" "),
          seconds: Math.round(torch.seconds),
          results: torch.results,
        },
      }
      : {}),
  };
  console.log(formatTable(rows));
  console.log(
    `peak RSS ${result.peakRssMb} MiB (after the training rows ${trainPeakRssMb} MiB); ` +
      `${backend}; ${machineInfo.cpu ?? "unknown CPU"}`,
  );
  if (f.out) {
    await writeJsonAtomic(f.out, result);
    console.log(`wrote ${f.out}`);
  }
});
