import assert from "node:assert/strict";

import { runScript as run } from "./_script_util.ts";

Deno.test("cli: unknown flags and bad values exit 2 with a message naming them", async () => {
  const cases: [string, string[], RegExp][] = [
    ["train.ts", ["--nope"], /Unknown option '--nope'/],
    ["train.ts", ["--steps", "abc"], /--steps must be an integer >= 1, found "abc"/],
    ["train.ts", ["--preset", "huge"], /unknown preset "huge"/],
    ["train.ts", ["--backend", "tpu"], /--backend must be one of wasm, webgpu, cpu, found "tpu"/],
    ["train.ts", ["--lr", "2"], /train option "lr" must be in \(0, 1\)/],
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
  ];
  for (const [cfg, re] of cases) {
    const path = `${dir}/cfg.json`;
    await Deno.writeTextFile(path, JSON.stringify(cfg));
    const r = await run("train.ts", ["--config", path, "--out", `${dir}/run`]);
    assert.equal(r.code, 2, `${JSON.stringify(cfg)}: exit ${r.code}\n${r.err}`);
    assert.match(r.err, re);
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
    data: {
      kind: "lorenz",
      options: { conditions: 6, trialsPerCondition: 10, bins: 20, forwardBins: 4 },
    },
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
