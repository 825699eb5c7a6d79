import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { tf, useBackend } from "../lib/core/backend.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { preset, transformerFor } from "../lib/experiments/presets.ts";
import { loadData, type RunConfig } from "../lib/experiments/run.ts";
import { train } from "../lib/train/train.ts";
import type { TrainOptions } from "../lib/train/train_options.ts";
import {
  decodeTrainState,
  disposeTrainState,
  encodeTrainState,
  loadTrainState,
  TRAIN_STATE_FORMAT,
} from "../lib/train/train_state.ts";
import { disposeTree, flatten, type Params } from "../lib/core/tree.ts";
import { decodeSafetensors } from "../lib/train/checkpoint.ts";

import { runScript } from "./_script_util.ts";
import { assertSameBits, trainUntilCrash } from "./_train_util.ts";
const small = { conditions: 4, trialsPerCondition: 10, bins: 16, forwardBins: 4, seed: 2 };
// dropout on, so the per-step dropout keys matter for the trajectory
const tinyModel = {
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
  dFF: 32,
  dropout: 0.1,
  embedDropout: 0.1,
  rateDropout: 0.1,
};
const opts: TrainOptions = {
  steps: 12,
  lr: 5e-3,
  batchSize: 8,
  evalEvery: 4,
  checkpointEvery: 3,
  patience: 0,
  seed: 7,
};

async function maxAbsDiff(a: Params, b: Params): Promise<number> {
  const la = flatten(a), lb = flatten(b);
  let m = 0;
  for (let i = 0; i < la.length; i++) {
    const x = await la[i].tensor.data(), y = await lb[i].tensor.data();
    for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j] - y[j]));
  }
  return m;
}

async function readLog(dir: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(`${dir}/log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
}

for (const backend of ["wasm", "cpu"]) {
  Deno.test(`resume: 6 steps + resume to 12 equals 12 uninterrupted, bit for bit (${backend})`, async () => {
    await useBackend(backend);
    const ds = lorenzDataset(small);
    const model = transformerFor(ds, tinyModel);
    const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();

    const a = await train(model, ds, { ...opts, outDir: dirA });

    // run B crashes while taking step index 8: its last state is the one after 6 steps (the
    // checkpoint every 3 steps), and the validation after 8 steps was already logged after it
    const seen: number[] = [];
    await trainUntilCrash(model, ds, { ...opts, outDir: dirB, at: 8, seen: (s) => seen.push(s) });
    const partial = await loadTrainState(`${dirB}/state.safetensors`);
    assert.equal(partial.step, 6);
    assert.equal(partial.opt.step, 6);
    // a transformer uses every parameter in every step: each was updated 6 times
    const paths = flatten(partial.params).map((l) => l.path);
    assert.deepEqual(partial.opt.paramSteps, Object.fromEntries(paths.map((p) => [p, 6])));
    assert.equal(partial.bestStep, 4);
    assert.equal(partial.history.length, 1);
    const crashedLog = await readLog(dirB);
    const linesBefore = crashedLog.length;
    assert.deepEqual(crashedLog.filter((l) => l.kind === "val").map((l) => l.step), [4, 8]);

    const b = await train(model, ds, { ...opts, outDir: dirB, resumeFrom: partial });
    assert.equal(b.stepsTaken, 12);
    assert.equal(b.bestStep, a.bestStep);
    assert.equal(b.bestScore, a.bestScore);
    assert.deepEqual(b.history, a.history);
    await assertSameBits(b.params, a.params, "best params");

    // the final states (params, AdamW moments, best) are identical bit for bit
    const sa = await loadTrainState(`${dirA}/state.safetensors`);
    const sb = await loadTrainState(`${dirB}/state.safetensors`);
    assert.equal(sa.step, 12);
    assert.equal(sb.step, 12);
    assert.equal(sb.opt.step, sa.opt.step);
    assert.deepEqual(sb.opt.paramSteps, sa.opt.paramSteps);
    await assertSameBits(sb.params, sa.params, "final params");
    await assertSameBits(sb.opt.mu, sa.opt.mu, "adamw mu");
    await assertSameBits(sb.opt.nu, sa.opt.nu, "adamw nu");
    await assertSameBits(sb.best!, sa.best!, "best");
    // and the best checkpoint files hold the same tensors
    const ca = decodeSafetensors(await Deno.readFile(`${dirA}/checkpoint.safetensors`));
    const cb = decodeSafetensors(await Deno.readFile(`${dirB}/checkpoint.safetensors`));
    await assertSameBits(cb.params, ca.params, "checkpoint");

    // the crashed run had logged step index 6 after its last state: the resumed log drops
    // that record (the resumed run logs it again), marks the resumption once, and otherwise
    // holds exactly the records of the uninterrupted run
    const log = await readLog(dirB);
    const logA = await readLog(dirA);
    const noSeconds = (l: Record<string, unknown>) => ({ ...l, seconds: undefined });
    const marker = log.findIndex((l) => l.kind === "resume");
    assert.ok(marker > 0 && marker < linesBefore, `resume marker at ${marker}`);
    assert.deepEqual(log[marker], { kind: "resume", step: 6 });
    assert.equal(log.filter((l) => l.kind === "resume").length, 1);
    assert.deepEqual(
      log.filter((l) => l.kind !== "resume").map(noSeconds),
      logA.map(noSeconds),
      "the resumed log holds each record once, as the uninterrupted log",
    );
    assert.ok(log.slice(0, marker).every((l) => l.kind !== "train" || (l.step as number) < 6));
    assert.deepEqual(log.filter((l) => l.kind === "val").map((l) => l.step), [4, 8, 12]);

    for (const t of [a.params, b.params, ca.params, cb.params]) disposeTree(t);
    for (const s of [partial, sa, sb]) {
      disposeTree(s.params);
      disposeTree(s.opt.mu);
      disposeTree(s.opt.nu);
      if (s.best) disposeTree(s.best);
    }
    await Deno.remove(dirA, { recursive: true });
    await Deno.remove(dirB, { recursive: true });
  });
}

Deno.test("resume: early stopping and the best checkpoint continue as uninterrupted", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset(small);
  const model = transformerFor(ds, tinyModel);
  // this setting improves for a while, then stops after 3 validations without improvement; the
  // interrupted run must reproduce the uninterrupted one's best step and stop exactly
  const es: TrainOptions = { ...opts, steps: 40, lr: 0.05, evalEvery: 2, patience: 3 };
  const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();
  const a = await train(model, ds, { ...es, outDir: dirA });
  assert.ok(a.stoppedEarly);
  const best = a.bestStep;
  assert.ok(best >= 4 && best % 2 === 0, `best step ${best}`);
  assert.equal(a.stepsTaken, best + 6);
  // crash after step best + 3: the last state holds the best step and the validations since
  await trainUntilCrash(model, ds, { ...es, outDir: dirB, at: best + 3 });
  const partial = await loadTrainState(`${dirB}/state.safetensors`);
  // the last state written before the crash is past the best step (validations every 2 steps)
  assert.ok(partial.step > best && partial.step <= best + 3, `state at step ${partial.step}`);
  assert.equal(partial.bestStep, best);
  assert.equal(partial.sinceBest, Math.floor((partial.step - best) / 2));
  const b = await train(model, ds, { ...es, outDir: dirB, resumeFrom: partial });
  assert.ok(b.stoppedEarly);
  assert.equal(b.stepsTaken, a.stepsTaken);
  assert.equal(b.bestStep, best);
  assert.deepEqual(b.history, a.history);
  await assertSameBits(b.params, a.params, "best params");
  const sb = await loadTrainState(`${dirB}/state.safetensors`);
  assert.equal(sb.step, a.stepsTaken);
  assert.ok(sb.stoppedEarly);
  // resuming a run that stopped early takes no further step
  const c = await train(model, ds, { ...es, resumeFrom: sb });
  assert.equal(c.stepsTaken, a.stepsTaken);
  assert.equal(c.history.length, a.history.length);
  for (const t of [a.params, b.params, c.params]) disposeTree(t);
  await Deno.remove(dirA, { recursive: true });
  await Deno.remove(dirB, { recursive: true });
});

Deno.test("resume: the test is sensitive — a state without the AdamW moments ends elsewhere", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset(small);
  const model = transformerFor(ds, tinyModel);
  const dir = await Deno.makeTempDir();
  const a = await train(model, ds, { ...opts, outDir: dir });
  const sa = await loadTrainState(`${dir}/state.safetensors`);
  // the 6-step state of a second run that crashes while taking step index 6
  const dir2 = await Deno.makeTempDir();
  await trainUntilCrash(model, ds, { ...opts, outDir: dir2, at: 6 });
  const partial = await loadTrainState(`${dir2}/state.safetensors`);
  assert.equal(partial.step, 6);
  const mu = partial.opt.mu, nu = partial.opt.nu;
  partial.opt = { ...partial.opt, mu: mapZeros(mu), nu: mapZeros(nu) };
  disposeTree(mu);
  disposeTree(nu);
  const b = await train(model, ds, { ...opts, outDir: dir2, resumeFrom: partial });
  const sb = await loadTrainState(`${dir2}/state.safetensors`);
  const d = await maxAbsDiff(sb.params, sa.params);
  assert.ok(d > 1e-6, `dropping the moments must change the final parameters, max |diff| ${d}`);
  for (const t of [a.params, b.params]) disposeTree(t);
  disposeTrainState(sa);
  disposeTrainState(sb);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(dir2, { recursive: true });
});

Deno.test("resume: alternating training counts AdamW steps per parameter and resumes bit for bit", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset(small);
  // ln1/ln2 are used in standard mode only, sn.*/tim.*/snEmbed.* in spiking mode only (usesParam)
  const model = transformerFor(ds, {
    dModel: 8,
    nLayers: 1,
    nHeads: 2,
    dFF: 16,
    timesteps: 2,
    tim: {},
    rsm: { ratio: 0.25 },
  }, { kind: "hybrid" });
  const alt: TrainOptions = {
    steps: 6,
    lr: 5e-3,
    batchSize: 8,
    evalEvery: 6,
    checkpointEvery: 2,
    patience: 0,
    seed: 4,
    modeSchedule: "alternate",
    switchEvery: 1,
  };
  const dirA = await Deno.makeTempDir(), dirB = await Deno.makeTempDir();
  const a = await train(model, ds, { ...alt, outDir: dirA });
  const sa = await loadTrainState(`${dirA}/state.safetensors`);
  // steps 0, 2, 4 standard and 1, 3, 5 spiking: 3 each, 6 for the shared parameters
  const expected = (path: string): number =>
    /^blocks\.\d+\.ln[12]\./.test(path) || /^(blocks\.\d+\.(sn|tim)|snEmbed)\./.test(path) ? 3 : 6;
  const paths = flatten(sa.params).map((l) => l.path);
  assert.ok(
    paths.some((p) => expected(p) === 3) && paths.some((p) => expected(p) === 6),
    "both kinds",
  );
  assert.deepEqual(sa.opt.paramSteps, Object.fromEntries(paths.map((p) => [p, expected(p)])));
  assert.equal(sa.opt.step, 6);
  // crash while taking step index 5: the last state is after 4 steps (2 standard, 2 spiking)
  await trainUntilCrash(model, ds, { ...alt, outDir: dirB, at: 5 });
  const partial = await loadTrainState(`${dirB}/state.safetensors`);
  assert.equal(partial.step, 4);
  assert.deepEqual(
    partial.opt.paramSteps,
    Object.fromEntries(paths.map((p) => [p, expected(p) === 3 ? 2 : 4])),
  );
  const b = await train(model, ds, { ...alt, outDir: dirB, resumeFrom: partial });
  const sb = await loadTrainState(`${dirB}/state.safetensors`);
  assert.deepEqual(sb.opt.paramSteps, sa.opt.paramSteps);
  await assertSameBits(sb.params, sa.params, "final params");
  await assertSameBits(sb.opt.mu, sa.opt.mu, "adamw mu");
  await assertSameBits(sb.opt.nu, sa.opt.nu, "adamw nu");
  for (const t of [a.params, b.params]) disposeTree(t);
  for (const s of [sa, sb]) disposeTrainState(s);
  await Deno.remove(dirA, { recursive: true });
  await Deno.remove(dirB, { recursive: true });
});

function mapZeros(p: Params): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(p)) {
    out[k] = v instanceof tf.Tensor ? tf.zerosLike(v) : mapZeros(v);
  }
  return out;
}

Deno.test("resume: other settings are refused, naming them", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset(small);
  const model = transformerFor(ds, tinyModel);
  const dir = await Deno.makeTempDir();
  const r = await train(model, ds, { ...opts, steps: 3, outDir: dir });
  disposeTree(r.params);
  const state = await loadTrainState(`${dir}/state.safetensors`);
  const cases: [TrainOptions, RegExp][] = [
    [{ steps: 4 }, /options\.steps: saved 3, now 4/],
    [{ steps: 3, lr: 1e-3 }, /options\.lr: saved 0\.005, now 0\.001/],
    [{ steps: 3, seed: 8 }, /seed\/key: saved \[/],
    [{ steps: 3, masking: { ratio: 0.5 } }, /options\.masking\.ratio: saved 0\.25, now 0\.5/],
  ];
  for (const [o, re] of cases) {
    await assert.rejects(
      train(model, ds, { ...opts, ...o, resumeFrom: state }),
      (err: Error) => {
        assert.match(err.message, /train option "resumeFrom": the saved state was made with/);
        assert.match(err.message, re);
        return true;
      },
    );
  }
  // other data and another model are refused too
  await assert.rejects(
    train(model, lorenzDataset({ ...small, seed: 3 }), { ...opts, steps: 3, resumeFrom: state }),
    /data\.hash: saved "[0-9a-f]+", now "[0-9a-f]+"/,
  );
  const wider = transformerFor(ds, { ...tinyModel, dFF: 48 });
  await assert.rejects(
    train(wider, ds, { ...opts, steps: 3, resumeFrom: state }),
    /model\.dFF: saved 32, now 48/,
  );
  // a finished run resumes to itself: no step taken, the same best parameters
  const again = await train(model, ds, { ...opts, steps: 3, resumeFrom: state });
  assert.equal(again.stepsTaken, 3);
  assert.equal(again.bestStep, 3);
  disposeTree(again.params);
  disposeTree(state.params);
  disposeTree(state.opt.mu);
  disposeTree(state.opt.nu);
  await Deno.remove(dir, { recursive: true });
});

/** A minimal, independent safetensors header reader (the format's spec, nothing of hest's). */
function readHeader(bytes: Uint8Array): {
  header: Record<string, unknown>;
  headerLength: number;
  dataLength: number;
} {
  assert.ok(bytes.length >= 8);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  assert.ok(8 + n <= bytes.length, "header length within the file");
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  assert.equal(text[0], "{", "header starts with {");
  const header = JSON.parse(text);
  return { header, headerLength: n, dataLength: bytes.length - 8 - n };
}

function assertStandardSafetensors(bytes: Uint8Array, what: string): Record<string, string> {
  const { header, headerLength, dataLength } = readHeader(bytes);
  assert.equal(headerLength % 8, 0, `${what}: header padded to 8 bytes`);
  const meta = header.__metadata__ as Record<string, unknown>;
  assert.ok(meta && typeof meta === "object", `${what}: has __metadata__`);
  for (const [k, v] of Object.entries(meta)) {
    assert.equal(typeof v, "string", `${what}: metadata ${k} is a string`);
  }
  const spans: [number, number][] = [];
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: off } = e as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    assert.equal(dtype, "F32", `${what} ${name}: dtype`);
    assert.ok(shape.every((d) => Number.isInteger(d) && d >= 0), `${what} ${name}: shape`);
    assert.equal(off[1] - off[0], 4 * shape.reduce((p, d) => p * d, 1), `${what} ${name}: size`);
    spans.push(off);
  }
  spans.sort((x, y) => x[0] - y[0]);
  let pos = 0;
  for (const [b, e] of spans) {
    assert.equal(b, pos, `${what}: contiguous offsets`);
    pos = e;
  }
  assert.equal(pos, dataLength, `${what}: tensors cover the data section`);
  return meta as Record<string, string>;
}

Deno.test("state and checkpoint files are standard safetensors with config and versions", async () => {
  await useBackend("wasm");
  const ds = lorenzDataset(small);
  const model = transformerFor(ds, tinyModel);
  const dir = await Deno.makeTempDir();
  const r = await train(model, ds, { ...opts, steps: 4, outDir: dir, metadata: { note: "x" } });
  disposeTree(r.params);
  const st = assertStandardSafetensors(await Deno.readFile(`${dir}/state.safetensors`), "state");
  const ck = assertStandardSafetensors(
    await Deno.readFile(`${dir}/checkpoint.safetensors`),
    "checkpoint",
  );
  for (const m of [st, ck]) {
    assert.equal(m.hest, denoJson.version);
    assert.equal(m.tfjs, tf.version.tfjs);
    assert.equal(m.backend, "wasm");
    assert.equal(m.note, "x");
    const cfg = JSON.parse(m.trainConfig);
    assert.equal(cfg.options.steps, 4);
    assert.equal(cfg.model.dModel, 16);
    assert.equal(JSON.parse(m.modelConfig).dFF, 32);
  }
  assert.equal(st.format, TRAIN_STATE_FORMAT);
  assert.equal(st.step, "4");
  assert.equal(ck.step, "4");
  // tensor names: params.*, opt.mu.*, opt.nu.*, best.*, each the parameter count
  const { header } = readHeader(await Deno.readFile(`${dir}/state.safetensors`));
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const nParams = flatten(model.init([0, 0])).length;
  for (const p of ["params.", "opt.mu.", "opt.nu.", "best."]) {
    assert.equal(names.filter((k) => k.startsWith(p)).length, nParams, p);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train state: round trip keeps every number; corrupt files are clear errors", async () => {
  await useBackend("cpu");
  const params: Params = { a: { w: tf.tensor2d([[1, 2], [3, 4]]) }, b: tf.tensor1d([0.1]) };
  const zeros = (): Params => ({ a: { w: tf.zeros([2, 2]) }, b: tf.zeros([1]) });
  const state = {
    step: 5,
    params,
    // per-parameter counts differ from the global one (b sat out 3 of the 4 steps)
    opt: { step: 4, paramSteps: { "a.w": 4, b: 1 }, mu: zeros(), nu: zeros() },
    bestScore: -Infinity,
    bestStep: 0,
    sinceBest: 2,
    history: [{ step: 4, score: NaN, metric: "coBps", byMode: { standard: NaN }, trainLoss: 0.1 }],
    lossSum: 0.1 + 0.2,
    lossN: 3,
    stoppedEarly: false,
    seconds: 1.5,
    trainConfig: '{"x":1}',
    metadata: { note: "n" },
  };
  const bytes = await encodeTrainState(state);
  const back = decodeTrainState(bytes);
  assert.equal(back.step, 5);
  assert.equal(back.opt.step, 4);
  assert.deepEqual(back.opt.paramSteps, { "a.w": 4, b: 1 });
  assert.equal(back.bestScore, -Infinity);
  assert.equal(back.lossSum, 0.1 + 0.2); // 0.30000000000000004, exactly
  assert.ok(Number.isNaN(back.history[0].score));
  assert.equal(back.best, undefined);
  assert.equal(back.metadata.note, "n");
  const w = (back.params.a as Params).w as tf.Tensor;
  assert.deepEqual(Array.from(await w.data() as Float32Array), [1, 2, 3, 4]);
  disposeTrainState(back);

  const before = tf.memory().numTensors;
  const corrupt = (edit: (h: Record<string, unknown>) => void): Uint8Array => {
    const { header, headerLength } = readHeader(bytes);
    edit(header);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + bytes.length - 8 - headerLength);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(bytes.subarray(8 + headerLength), 8 + json.length);
    return out;
  };
  const meta = (h: Record<string, unknown>) => h.__metadata__ as Record<string, string>;
  const cases: [(h: Record<string, unknown>) => void, RegExp][] = [
    [(h) => meta(h).format = "other", /expected metadata "format" = "hest-train-state\/2"/],
    [
      (h) => meta(h).format = "hest-train-state/1",
      /found "hest-train-state\/1": the state is from an older version of hest, .*per parameter/,
    ],
    [
      (h) => delete meta(h).optParamSteps,
      /expected metadata "optParamSteps" to be a JSON object .*one per parameter path, found none/,
    ],
    [
      (h) => meta(h).optParamSteps = '{"a.w":4}',
      /"optParamSteps" .*in \[0, 4\].*found missing "b"/,
    ],
    [(h) => meta(h).optParamSteps = '{"a.w":5,"b":1}', /found 5 for "a\.w"/],
    [(h) => meta(h).optParamSteps = "[4,1]", /"optParamSteps" .*found "\[4,1\]"/],
    [
      (h) => delete meta(h).optStep,
      /expected metadata "optStep" to be an integer >= 0, found none/,
    ],
    [(h) => meta(h).step = "1.5", /"step" to be an integer >= 0, found "1.5"/],
    [(h) => meta(h).history = "{", /"history" to be a JSON array/],
    [(h) => meta(h).stoppedEarly = "yes", /"stoppedEarly" to be "true" or "false"/],
    [(h) => {
      // rename a moment so its paths differ from the parameters'
      h["opt.mu.c"] = h["opt.mu.b"];
      delete h["opt.mu.b"];
    }, /expected "opt.mu.\*" to have the same paths and shapes as "params.\*"/],
  ];
  for (const [edit, re] of cases) {
    const bad = corrupt(edit);
    assert.throws(() => decodeTrainState(bad, "runs/x/state.safetensors"), (err: Error) => {
      assert.match(err.message, /^runs\/x\/state\.safetensors: /);
      assert.match(err.message, re);
      return true;
    });
  }
  assert.throws(
    () => decodeTrainState(bytes.subarray(0, 20), "f"),
    /f: safetensors: header length/,
  );
  assert.equal(tf.memory().numTensors, before, "no tensor left behind by failed decodes");
  await assert.rejects(loadTrainState("/nonexistent/state.safetensors"), /cannot read/);
});

// ---------------------------------------------------------------------------------------------
// Command line

function cli(args: string[]) {
  return runScript("train.ts", args);
}

Deno.test("cli: --resume continues a crashed run folder to the uninterrupted result", async () => {
  const dir = await Deno.makeTempDir();
  const cfg: RunConfig = {
    preset: "tiny",
    data: { kind: "lorenz", options: { ...small } },
    train: { steps: 12, evalEvery: 4, checkpointEvery: 3, batchSize: 8 },
    seed: 3,
    backend: "cpu",
  };
  await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
  const a = await cli(["--config", `${dir}/cfg.json`, "--out", `${dir}/a`, "--quiet"]);
  assert.equal(a.code, 0, a.err);

  // nothing to resume in a fresh folder
  const none = await cli(["--resume", "--out", `${dir}/empty`]);
  assert.equal(none.code, 2);
  assert.match(none.err, /--resume: nothing to resume in .*empty: expected .*config\.json/);

  // a crashed run "b": same config, trained in-process exactly as trainRun does, crashing
  // while taking step index 7 (its last state is after 6 steps)
  await Deno.mkdir(`${dir}/b`);
  await Deno.copyFile(`${dir}/a/config.json`, `${dir}/b/config.json`);
  await useBackend("cpu");
  const ds = await loadData(cfg.data);
  const p = preset(cfg.preset);
  const model = transformerFor(ds, { ...p.model }, { kind: p.kind });
  await trainUntilCrash(model, ds, {
    ...p.train,
    ...cfg.train,
    seed: cfg.seed,
    outDir: `${dir}/b`,
    at: 7,
  });
  assert.equal(
    decodeSafetensors(await Deno.readFile(`${dir}/b/state.safetensors`)).metadata.step,
    "6",
  );

  // settings that differ from the saved run are refused, naming them
  const bad = await cli(["--resume", "--out", `${dir}/b`, "--steps", "20"]);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /"train\.steps" is 20 here but 12 in .*config\.json/);
  const bad2 = await cli(["--resume", "--out", `${dir}/b`, "--backend", "wasm"]);
  assert.equal(bad2.code, 2, bad2.err);
  assert.match(bad2.err, /"backend" is "wasm" here but "cpu"/);

  // a write interrupted before its rename left a temporary file: resuming removes it (and only
  // files of the atomic writer's own temp-name pattern)
  const orphan = `.state.safetensors.0b7c6a3e-1f2d-4c5b-9a8e-7d6c5b4a3f21.tmp`;
  await Deno.writeTextFile(`${dir}/b/${orphan}`, "partial");
  await Deno.writeTextFile(`${dir}/b/notes.tmp`, "mine");

  // --resume with only --out takes every setting from the saved config.json
  const b = await cli(["--resume", "--out", `${dir}/b`, "--quiet"]);
  assert.equal(b.code, 0, b.err);
  assert.match(b.err, /\(resuming\)/);
  await assert.rejects(Deno.stat(`${dir}/b/${orphan}`), Deno.errors.NotFound);
  assert.equal(await Deno.readTextFile(`${dir}/b/notes.tmp`), "mine");
  // each record once, as in the uninterrupted run's log, plus one resume marker
  const strip = (l: Record<string, unknown>) => ({ ...l, seconds: undefined });
  const logB = await readLog(`${dir}/b`);
  assert.deepEqual(logB.filter((l) => l.kind === "resume"), [{ kind: "resume", step: 6 }]);
  assert.deepEqual(
    logB.filter((l) => l.kind !== "resume").map(strip),
    (await readLog(`${dir}/a`)).map(strip),
  );
  const sa = decodeSafetensors(await Deno.readFile(`${dir}/a/state.safetensors`));
  const sb = decodeSafetensors(await Deno.readFile(`${dir}/b/state.safetensors`));
  assert.equal(sb.metadata.step, "12");
  await assertSameBits(sb.params, sa.params, "final state");
  const ma = JSON.parse(await Deno.readTextFile(`${dir}/a/metrics.json`));
  const mb = JSON.parse(await Deno.readTextFile(`${dir}/b/metrics.json`));
  assert.equal(mb.results[0].coBps, ma.results[0].coBps);
  assert.equal(mb.results[0].bestStep, ma.results[0].bestStep);
  const ck = decodeSafetensors(await Deno.readFile(`${dir}/b/checkpoint.safetensors`));
  assert.deepEqual(JSON.parse(ck.metadata.runConfig), cfg);
  disposeTree(sa.params);
  disposeTree(sb.params);
  disposeTree(ck.params);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: --resume from a state of another model or a damaged state exits 2 naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = {
    preset: "tiny",
    data: { kind: "lorenz", options: { ...small } },
    train: { steps: 3, evalEvery: 3, batchSize: 8 },
    seed: 3,
    backend: "cpu",
  };
  await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
  await Deno.writeTextFile(`${dir}/cfg16.json`, JSON.stringify({ ...cfg, model: { dModel: 16 } }));
  const a = await cli(["--config", `${dir}/cfg.json`, "--out", `${dir}/a`, "--quiet"]);
  assert.equal(a.code, 0, a.err);
  const o = await cli(["--config", `${dir}/cfg16.json`, "--out", `${dir}/other`, "--quiet"]);
  assert.equal(o.code, 0, o.err);
  const stateA = await Deno.readFile(`${dir}/a/state.safetensors`);
  const logA = await Deno.readTextFile(`${dir}/a/log.jsonl`);

  await Deno.copyFile(`${dir}/other/state.safetensors`, `${dir}/a/state.safetensors`);
  const r = await cli(["--resume", "--out", `${dir}/a`, "--quiet"]);
  assert.equal(r.code, 2, r.err);
  assert.match(
    r.err,
    /error: cannot resume from .*\/a\/state\.safetensors: .*model\.dModel: saved 16, now 32/,
  );
  assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");

  await Deno.writeFile(`${dir}/a/state.safetensors`, stateA.subarray(0, 100));
  const d = await cli(["--resume", "--out", `${dir}/a`, "--quiet"]);
  assert.equal(d.code, 2, d.err);
  assert.match(
    d.err,
    /error: cannot resume: .*\/a\/state\.safetensors: safetensors: header length/,
  );
  // refused before anything was written
  assert.equal(await Deno.readTextFile(`${dir}/a/log.jsonl`), logA);
  await Deno.remove(dir, { recursive: true });
});
