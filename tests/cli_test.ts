import assert from "node:assert/strict";

import { ROOT, runScript as run } from "./_script_util.ts";
import { refuseNulls, UsageError } from "../scripts/_cli.ts";

/** A Lorenz set small enough for a CLI run in seconds. */
const TINY_LORENZ = {
  kind: "lorenz",
  options: { conditions: 6, trialsPerCondition: 10, bins: 20, forwardBins: 4 },
};

Deno.test("cli: unknown flags and bad values exit 2 with a message naming them", async () => {
  const cases: [string, string[], RegExp][] = [
    ["train.ts", ["--nope"], /Unknown option '--nope'/],
    ["train.ts", ["--steps", "abc"], /--steps must be an integer >= 1, found "abc"/],
    ["train.ts", ["--preset", "huge"], /unknown preset "huge"/],
    ["train.ts", ["--backend", "tpu"], /--backend must be one of wasm, webgpu, cpu, found "tpu"/],
    ["train.ts", ["--lr", "2"], /train option "lr" must be in \(0, 1\)/],
    // negative numbers are values, then range-checked
    ["train.ts", ["--steps", "-5"], /--steps must be an integer >= 1, found "-5"/],
    ["train.ts", ["--steps=-5"], /--steps must be an integer >= 1, found "-5"/],
    ["train.ts", ["--steps", "1e300"], /--steps must be an integer >= 1, found "1e300"/],
    ["train.ts", ["--lr", "-0.5"], /train option "lr" must be in \(0, 1\), found -0.5/],
    ["train.ts", ["--steps", "--quiet"], /--steps needs a value, found the flag "--quiet"/],
    ["train.ts", ["--resume", "--overwrite"], /--resume and --overwrite exclude each other/],
    ["demo.ts", ["--seed", "-1"], /--seed must be an integer >= 0, found "-1"/],
    [
      "train.ts",
      ["--threads", "0"],
      /--threads must be "auto" or an integer from 1 to 16, found "0"/,
    ],
    ["demo.ts", ["--threads", "two"], /--threads must be "auto" or an integer from 1 to 16/],
    ["eval.ts", ["--run", "x", "--split", "-1"], /--split must be train, val or test, found "-1"/],
    ["eval.ts", [], /--run DIR is required/],
    ["eval.ts", ["--run", "/nonexistent"], /no config.json there/],
    ["demo.ts", ["--seed", "x"], /--seed must be an integer/],
    ["bench.ts", ["--steps", "0"], /--steps must be an integer >= 1/],
    ["bench.ts", ["--torch-ref", "/nonexistent"], /--torch-ref is only used with --vs-torch/],
    [
      "bench.ts",
      ["--vs-torch", "--torch-ref", "/nonexistent"],
      /--torch-ref: \/nonexistent not found/,
    ],
  ];
  for (const [script, args, re] of cases) {
    const r = await run(script, args);
    assert.equal(r.code, 2, `${script} ${args.join(" ")}: exit ${r.code}\n${r.err}`);
    assert.match(r.err, re, `${script} ${args.join(" ")}`);
    assert.match(r.err, /usage: deno task/);
  }
});

Deno.test("cli: config files with unknown keys or bad values exit 2", async () => {
  const dir = await Deno.makeTempDir();
  const cases: [unknown, RegExp][] = [
    [{ preset: "tiny", stepz: 3 }, /unknown key "stepz"/],
    [{ preset: "tiny", model: { dModel: 30, nHeads: 4 } }, /divisible/],
    [{ preset: "tiny", model: { width: 8 } }, /unknown model config key "width"/],
    [{ preset: "tiny", train: { batch: 8 } }, /unknown train option "batch"/],
    [{ preset: "tiny", data: { kind: "lorenz", options: { neuron: 5 } } }, /neuron/],
    [{ preset: "tiny", data: { kind: "csv" } }, /data "kind" must be "lorenz" or "file"/],
    [{ preset: "tiny", data: { options: {} } }, /data "kind" must be "lorenz" or "file"/],
    // a path without a kind is a file: the error is then about that file
    [{ preset: "tiny", data: { path: "/nonexistent/x.mat" } }, /\/nonexistent\/x\.mat/],
    // JSON-facing checks: no nulls, no code-only keys, no absurd values
    [{ preset: "tiny", train: { lr: null } }, /"train\.lr" is null in .*cfg\.json/],
    [{ preset: "tiny", backend: null }, /"backend" is null in .*cfg\.json/],
    [{ preset: "tiny", seed: null }, /"seed" is null in/],
    [{ preset: "tiny", model: { dModel: null } }, /"model\.dModel" is null in/],
    [{ preset: "hybrid", model: { lif: { tau: null } } }, /"model\.lif\.tau" is null in/],
    [{ preset: "tiny", train: { steps: 1e300 } }, /"steps" must be an integer in \[1, 10000000\]/],
    [{ preset: "tiny", train: { key: [0, 1] } }, /train\.key can only be given in code/],
    [{ preset: "tiny", train: { onStep: 1 } }, /train\.onStep can only be given in code/],
    [{ preset: "tiny", train: { seed: 4 } }, /train\.seed is not a train override/],
    [{ preset: "tiny", train: "fast" }, /"train" in .*cfg\.json must be a JSON object/],
    [{ preset: "tiny", seed: 1e300 }, /"seed" must be an integer/],
  ];
  for (const [cfg, re] of cases) {
    const path = `${dir}/cfg.json`;
    await Deno.writeTextFile(path, JSON.stringify(cfg));
    const r = await run("train.ts", ["--config", path, "--out", `${dir}/run`]);
    assert.equal(r.code, 2, `${JSON.stringify(cfg)}: exit ${r.code}\n${r.err}`);
    assert.match(r.err, re);
    await assert.rejects(Deno.stat(`${dir}/run`), Deno.errors.NotFound, "nothing written");
  }
  await Deno.writeTextFile(`${dir}/bad.json`, "{ not json");
  const r = await run("train.ts", ["--config", `${dir}/bad.json`]);
  assert.equal(r.code, 2);
  assert.match(r.err, /is not valid JSON/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: train then eval a tiny run folder", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = {
    preset: "tiny",
    data: TINY_LORENZ,
    train: { steps: 20, evalEvery: 10 },
    seed: 3,
  };
  await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
  const t = await run("train.ts", [
    "--config",
    `${dir}/cfg.json`,
    "--out",
    `${dir}/run`,
    "--backend",
    "cpu",
  ]);
  assert.equal(t.code, 0, t.err);
  for (
    const f of [
      "config.json",
      "checkpoint.safetensors",
      "log.jsonl",
      "predictions.safetensors",
      "metrics.json",
    ]
  ) {
    const st = await Deno.stat(`${dir}/run/${f}`);
    assert.ok(st.size > 0, f);
  }
  const m1 = JSON.parse(await Deno.readTextFile(`${dir}/run/metrics.json`));
  assert.equal(m1.results[0].mode, "standard");
  assert.equal(typeof m1.results[0].coBps, "number");
  assert.equal(typeof m1.results[0].oracleCoBps, "number");
  const e = await run("eval.ts", ["--run", `${dir}/run`, "--backend", "cpu"]);
  assert.equal(e.code, 0, e.err);
  const m2 = JSON.parse(await Deno.readTextFile(`${dir}/run/metrics.json`));
  // the checkpoint re-evaluated on the same backend gives the same numbers
  assert.ok(Math.abs(m2.results[0].coBps - m1.results[0].coBps) < 1e-9);
  assert.match(e.out, /co-bps/);
  const lines = (await Deno.readTextFile(`${dir}/run/log.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.ok(lines.some((l) => l.kind === "val") && lines.some((l) => l.kind === "train"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: data errors exit 2 naming the file; a failed write exits 1", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/junk.npy`, "not a numpy file");
  const base = ["--preset", "tiny", "--steps", "1", "--backend", "cpu", "--quiet"];
  const cases: [string[], RegExp][] = [
    [["--data", dir], new RegExp(`--data: ${dir} is a directory; expected a data file`)],
    [["--data", `${dir}/none.h5`], /--data: cannot read the data file .*none\.h5/],
    [["--data", `${dir}/junk.npy`], /junk\.npy: unrecognised file format/],
  ];
  for (const [args, re] of cases) {
    const r = await run("train.ts", [...args, ...base, "--out", `${dir}/run`]);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.err}`);
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /usage:|\n\s+at /, "one line, no usage, no stack trace");
    await assert.rejects(Deno.stat(`${dir}/run`), Deno.errors.NotFound, "nothing written");
  }
  // an internal failure (here: log.jsonl cannot be written) exits 1 with one error line
  await Deno.mkdir(`${dir}/broken/log.jsonl`, { recursive: true });
  const w = await run("train.ts", [...base, "--out", `${dir}/broken`]);
  assert.equal(w.code, 1, w.err);
  assert.match(w.err, /error: .*log\.jsonl/);
  assert.doesNotMatch(w.err, /usage:|\n\s+at /);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: an existing run folder is refused unless --overwrite; eval splits keep metrics.json", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = {
    preset: "tiny",
    data: {
      kind: "lorenz",
      options: { conditions: 4, trialsPerCondition: 10, bins: 16, forwardBins: 4 },
    },
    train: { steps: 4, evalEvery: 2 },
    seed: 1,
    backend: "cpu",
  };
  await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
  const args = ["--config", `${dir}/cfg.json`, "--out", `${dir}/run`, "--quiet"];
  const t = await run("train.ts", args);
  assert.equal(t.code, 0, t.err);
  const ckpt = await Deno.readFile(`${dir}/run/checkpoint.safetensors`);
  const log = await Deno.readTextFile(`${dir}/run/log.jsonl`);

  // a second train into the same folder is refused and leaves every file as it was
  const again = await run("train.ts", [...args, "--seed", "2"]);
  assert.equal(again.code, 2, again.err);
  assert.match(again.err, /--out .*run already holds a run \(config\.json, checkpoint/);
  assert.match(again.err, /--resume to continue it, --overwrite to replace it/);
  assert.deepEqual(await Deno.readFile(`${dir}/run/checkpoint.safetensors`), ckpt);
  assert.equal(await Deno.readTextFile(`${dir}/run/log.jsonl`), log);
  assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/run/config.json`)).seed, 1);

  // eval of another split writes its own metrics file and says so
  const m1 = await Deno.readTextFile(`${dir}/run/metrics.json`);
  const ev = await run("eval.ts", ["--run", `${dir}/run`, "--split", "val", "--backend", "cpu"]);
  assert.equal(ev.code, 0, ev.err);
  assert.match(ev.out, /wrote .*run\/metrics_val\.json, /);
  assert.doesNotMatch(ev.out, /metrics\.json/);
  assert.equal(await Deno.readTextFile(`${dir}/run/metrics.json`), m1);
  const mv = JSON.parse(await Deno.readTextFile(`${dir}/run/metrics_val.json`));
  assert.equal(mv.results[0].split, "val");
  const et = await run("eval.ts", ["--run", `${dir}/run`, "--split", "test", "--backend", "cpu"]);
  assert.equal(et.code, 0, et.err);
  assert.match(et.out, /wrote .*run\/metrics\.json, /);

  // --overwrite replaces the run, stale files of the old one included
  const o = await run("train.ts", [...args, "--seed", "2", "--overwrite"]);
  assert.equal(o.code, 0, o.err);
  assert.match(o.err, /\(replacing the run there\)/);
  assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/run/config.json`)).seed, 2);
  await assert.rejects(Deno.stat(`${dir}/run/metrics_val.json`), Deno.errors.NotFound);

  // a checkpoint of another model: eval refuses it, naming the file
  await Deno.writeTextFile(
    `${dir}/cfg16.json`,
    JSON.stringify({ ...cfg, model: { dModel: 16 }, train: { steps: 1, evalEvery: 1 } }),
  );
  const s = await run("train.ts", ["--config", `${dir}/cfg16.json`, "--out", `${dir}/small`]);
  assert.equal(s.code, 0, s.err);
  await Deno.copyFile(`${dir}/small/checkpoint.safetensors`, `${dir}/run/checkpoint.safetensors`);
  const bad = await run("eval.ts", ["--run", `${dir}/run`, "--backend", "cpu"]);
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /error: .*run\/checkpoint\.safetensors does not match the model of/);
  assert.doesNotMatch(bad.err, /usage:|\n\s+at /);

  const d = await run("eval.ts", ["--run", `${dir}/run`, "--data", dir]);
  assert.equal(d.code, 2, d.err);
  assert.match(d.err, /--data: .* is a directory; expected a data file/);
  await Deno.remove(dir, { recursive: true });
});

/** Run `deno run -A <ROOT>/<path> ...args` from `cwd`. */
async function runIn(cwd: string, path: string, args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", `${ROOT}deno.json`, `${ROOT}${path}`, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("cli: the demo replaces its own runs/demo (saying so) but refuses another run folder", async () => {
  const dir = await Deno.makeTempDir();
  // an earlier demo run (of another preset, with a file this one does not write)
  await Deno.mkdir(`${dir}/runs/demo`, { recursive: true });
  await Deno.writeTextFile(`${dir}/runs/demo/config.json`, "{}");
  await Deno.writeTextFile(`${dir}/runs/demo/predictions_spiking.safetensors`, "old");
  await Deno.mkdir(`${dir}/mine`);
  await Deno.writeTextFile(`${dir}/mine/checkpoint.safetensors`, "precious");
  const args = ["--preset", "tiny", "--steps", "2", "--backend", "cpu", "--quiet"];

  const refused = await runIn(dir, "scripts/demo.ts", [...args, "--out", "mine"]);
  assert.equal(refused.code, 2, refused.err);
  assert.match(refused.err, /--out mine already holds a run \(checkpoint\.safetensors\)/);
  assert.equal(await Deno.readTextFile(`${dir}/mine/checkpoint.safetensors`), "precious");

  const r = await runIn(dir, "scripts/demo.ts", args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /-> runs\/demo \(replacing the earlier run there\)/);
  assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/runs/demo/config.json`)).preset, "tiny");
  await assert.rejects(
    Deno.stat(`${dir}/runs/demo/predictions_spiking.safetensors`),
    Deno.errors.NotFound,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: kernels/build.ts has a usage text and clean errors", async () => {
  const dir = await Deno.makeTempDir();
  const h = await runIn(dir, "kernels/build.ts", ["--help"]);
  assert.equal(h.code, 0, h.err);
  assert.match(h.out, /usage: deno task kernels/);
  assert.match(h.out, /--out FILE/);
  const cases: [string[], RegExp][] = [
    [["--nope"], /error: Unknown option '--nope'/],
    [["--out", dir], /error: --out .* is a directory; expected a \.wasm file path/],
    [["--out", `${dir}/no/such/k.wasm`], /error: --out .*: folder .*no\/such does not exist/],
  ];
  for (const [args, re] of cases) {
    const r = await runIn(dir, "kernels/build.ts", args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
    assert.match(r.err, /usage: deno task kernels/);
    assert.doesNotMatch(r.err, /Uncaught|\n\s+at /, "no stack trace");
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: --threads runs the products on more threads with the same checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const cfg = {
    preset: "tiny",
    data: TINY_LORENZ,
    // wide enough that the products pass THREADED_MIN_FLOPS (ff1: 2·32·24·64·256 = 25 MFLOP)
    model: { dModel: 64, dFF: 256 },
    train: { steps: 6, evalEvery: 3, batchSize: 32 },
    seed: 1,
  };
  await Deno.writeTextFile(`${dir}/cfg.json`, JSON.stringify(cfg));
  const ckpt: Uint8Array[] = [];
  for (const n of ["1", "2"]) {
    const t = await run("train.ts", [
      "--config",
      `${dir}/cfg.json`,
      "--out",
      `${dir}/t${n}`,
      "--threads",
      n,
    ]);
    assert.equal(t.code, 0, t.err);
    // the startup line says so, and metrics.json records the threads next to the seconds
    assert.equal(/backend wasm, 2 kernel threads, seed 1/.test(t.err), n === "2", t.err);
    const m = JSON.parse(await Deno.readTextFile(`${dir}/t${n}/metrics.json`));
    assert.equal(m.results[0].trainThreads, Number(n));
    ckpt.push(await Deno.readFile(`${dir}/t${n}/checkpoint.safetensors`));
  }
  assert.deepEqual(ckpt[1], ckpt[0]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: model.lif.vReset may be null (the soft reset), no other key may", () => {
  refuseNulls({ preset: "hybrid", model: { lif: { vReset: null } } }, "cfg.json");
  assert.throws(
    () => refuseNulls({ model: { lif: { vThreshold: null } } }, "cfg.json"),
    (e: Error) => e instanceof UsageError && /"model\.lif\.vThreshold" is null/.test(e.message),
  );
  assert.throws(() => refuseNulls({ train: { lif: { vReset: null } } }, "cfg.json"), UsageError);
});
