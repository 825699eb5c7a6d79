import assert from "node:assert/strict";
import { useBackend } from "../lib/core/backend.ts";
import { DatasetError } from "../lib/data/dataset.ts";
import {
  existingRunFiles,
  loadData,
  metricsFileName,
  type RunConfig,
  RunFolderError,
  trainRun,
} from "../lib/experiments/run.ts";
import {
  checkTrainOverrides,
  MAX_STEPS,
  resolveTrainOptions,
  type TrainOptions,
} from "../lib/train/train_options.ts";
import { InputError, isInputError, UsageError } from "../scripts/_cli.ts";

Deno.test("train options: null, non-finite and absurd values are refused, naming the option", () => {
  const bad: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
    [{ lr: null }, TypeError, /train option "lr" must be in \(0, 1\), found null/],
    [{ steps: 1e300 }, RangeError, /"steps" must be an integer in \[1, 10000000\], found 1e\+300/],
    [{ steps: MAX_STEPS + 1 }, RangeError, /"steps" must be an integer in \[1, 10000000\]/],
    [{ steps: 2.5 }, RangeError, /"steps"/],
    [{ steps: null }, TypeError, /"steps" .*found null/],
    [
      { batchSize: 2 ** 60 },
      RangeError,
      /"batchSize" must be an integer >= 1, found 1152921504606847000/,
    ],
    [{ weightDecay: Infinity }, RangeError, /"weightDecay" .*found Infinity/],
    [{ clipNorm: Infinity }, RangeError, /"clipNorm" must be finite and > 0/],
    [{ minLr: NaN }, RangeError, /"minLr" .*found NaN/],
    [{ evalEvery: null }, TypeError, /"evalEvery"/],
    [{ seed: 1e300 }, RangeError, /"seed" must be a safe integer/],
    [{ progress: null }, TypeError, /"progress" must be true or false, found null/],
    [{ masking: null }, TypeError, /"masking" must be an object, found null/],
    [{ masking: { ratio: null } }, TypeError, /masking option "ratio" must be set or left out/],
    [{ modeSchedule: null }, TypeError, /"modeSchedule" must be .*found null/],
  ];
  for (const [opts, E, re] of bad) {
    assert.throws(() => resolveTrainOptions(opts as TrainOptions), (err: Error) => {
      assert.ok(err instanceof E, `${JSON.stringify(opts)}: ${err.constructor.name}`);
      assert.match(err.message, re);
      return true;
    });
  }
  // absent keys still take the defaults, and in-range values pass through
  const r = resolveTrainOptions({ steps: MAX_STEPS, lr: 3e-3 });
  assert.equal(r.steps, MAX_STEPS);
  assert.equal(r.lr, 3e-3);
  assert.equal(r.batchSize, 32);
});

Deno.test("train overrides from a run config: code-only keys and nulls are refused, naming the key", () => {
  const bad: [unknown, RegExp][] = [
    [{ key: [0, 7] }, /train\.key can only be given in code/],
    [{ onStep: 1 }, /train\.onStep can only be given in code/],
    [{ initialParams: {} }, /train\.initialParams can only be given in code/],
    [{ progress: true }, /train\.progress can only be given in code/],
    [{ resumeFrom: {} }, /train\.resumeFrom can only be given in code/],
    [{ outDir: "x" }, /train\.outDir can only be given in code/],
    [{ metadata: {} }, /train\.metadata can only be given in code/],
    [{ seed: 5 }, /train\.seed is not a train override: set the run's top-level "seed"/],
    [{ lr: null }, /train\.lr must be set or left out, found null/],
    [{ masking: { mode: null } }, /train\.masking\.mode must be set or left out, found null/],
    [{ steps: 1e300 }, /train option "steps" must be an integer in \[1, 10000000\]/],
    [null, /train must be a JSON object, found null/],
    [[1], /train must be a JSON object/],
  ];
  for (const [o, re] of bad) {
    assert.throws(() => checkTrainOverrides(o), re, JSON.stringify(o));
  }
  checkTrainOverrides({ steps: 10, lr: 1e-3, masking: { ratio: 0.3 } });
});

Deno.test("run folders: trainRun refuses code-only overrides and, when asked, an existing run", async () => {
  await useBackend("cpu");
  const dir = await Deno.makeTempDir();
  try {
    const cfg: RunConfig = {
      data: { kind: "lorenz", options: { conditions: 2, trialsPerCondition: 4, bins: 8 } },
      preset: "tiny",
      train: { steps: 1, evalEvery: 1, key: [0, 9] } as RunConfig["train"],
      seed: 0,
      backend: "cpu",
    };
    await assert.rejects(trainRun(cfg, { outDir: `${dir}/r` }), /train\.key can only be given/);
    assert.deepEqual(await existingRunFiles(`${dir}/r`), [], "nothing written");

    await Deno.mkdir(`${dir}/r`);
    await Deno.writeTextFile(`${dir}/r/config.json`, "{}");
    await Deno.writeTextFile(`${dir}/r/metrics_val.json`, "{}");
    await Deno.writeTextFile(`${dir}/r/notes.txt`, "mine");
    assert.deepEqual(await existingRunFiles(`${dir}/r`), ["config.json"]);
    const ok = { ...cfg, train: { steps: 1, evalEvery: 1 } };
    await assert.rejects(
      trainRun(ok, { outDir: `${dir}/r`, ifExists: "refuse" }),
      (err: Error) => err instanceof RunFolderError && /r already holds a run/.test(err.message),
    );
    assert.equal(await Deno.readTextFile(`${dir}/r/config.json`), "{}", "refused untouched");
    // replacing removes the old run's files (a stale metrics_val.json too), nothing else
    await trainRun(ok, { outDir: `${dir}/r`, ifExists: "replace" });
    await assert.rejects(Deno.stat(`${dir}/r/metrics_val.json`), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(`${dir}/r/notes.txt`), "mine");
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/r/config.json`)).preset, "tiny");

    await Deno.writeTextFile(`${dir}/file`, "");
    await assert.rejects(existingRunFiles(`${dir}/file`), RunFolderError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run folders: data paths, metrics file names and exit-code classes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      loadData({ kind: "file", path: dir }),
      (err: Error) =>
        err instanceof DatasetError && err.message.startsWith(`${dir} is a directory; expected`),
    );
    await assert.rejects(loadData({ kind: "file", path: `${dir}/none.h5` }), DatasetError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(metricsFileName(), "metrics.json");
  assert.equal(metricsFileName("test"), "metrics.json");
  assert.equal(metricsFileName("val"), "metrics_val.json");
  assert.equal(metricsFileName("train"), "metrics_train.json");
  for (const e of [new UsageError("x"), new InputError("x"), new DatasetError("x")]) {
    assert.ok(isInputError(e), e.name);
  }
  assert.ok(isInputError(new RunFolderError("x")));
  assert.ok(isInputError(new Error("wrapped", { cause: new DatasetError("x") })));
  assert.ok(!isInputError(new Error("disk full")));
  assert.ok(!isInputError(new TypeError("undefined is not a function")));
});
