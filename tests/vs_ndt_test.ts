import assert from "node:assert/strict";
import {
  checkPeerPython,
  parsePeerLog,
  peerRowTimes,
  type PeerSnapshot,
  runPeer,
  snapshotAt,
} from "../lib/experiments/ndt_peer.ts";
import { coBpsTimeChart } from "../lib/figures/time_charts.ts";
import { modelColor } from "../lib/figures/style.ts";
import { runScript } from "./_script_util.ts";

function snapLine(t: number, co: number, opts: { best?: boolean } = {}): string {
  const scores = {
    val: { co_bps: co - 0.01 },
    test: { co_bps: co, oracle_co_bps: 0.8, rate_r2: co + 0.1, fp_bps: co / 2 },
  };
  return JSON.stringify({
    tag: "periodic",
    train_wall_s: t,
    epochs: t / 3,
    ...(opts.best === false ? { last: scores } : { best: scores, last: { val: {}, test: {} } }),
  });
}

Deno.test("parsePeerLog: the best-validation checkpoint's scores, in file order; bad lines named", () => {
  const text = [snapLine(120, 0.5), "", snapLine(240, 0.6, { best: false })].join("\n");
  const s = parsePeerLog(text, { seed: 7, source: "x.jsonl" });
  assert.equal(s.length, 2);
  assert.deepEqual(s[0], {
    seed: 7,
    tag: "periodic",
    trainSeconds: 120,
    epochs: 40,
    coBps: 0.5,
    oracleCoBps: 0.8,
    rateR2: 0.6,
    fpBps: 0.25,
    valCoBps: 0.49,
  });
  // no best checkpoint yet: the current weights' scores
  assert.equal(s[1].coBps, 0.6);
  assert.throws(() => parsePeerLog("{not json", { seed: 0, source: "x.jsonl" }), /x.jsonl line 1/);
  assert.throws(
    () => parsePeerLog(JSON.stringify({ tag: "a", train_wall_s: 1, epochs: 1 }), { seed: 0 }),
    /line 1: expected "best" \(or "last"\)/,
  );
  const noR2 = JSON.parse(snapLine(1, 0.5));
  delete noR2.best.test.rate_r2;
  assert.throws(
    () => parsePeerLog(JSON.stringify(noR2), { seed: 0 }),
    /expected a finite number at test.rate_r2, found undefined/,
  );
});

Deno.test("snapshotAt: the last snapshot at or before the time", () => {
  const s = (t: number) => ({ trainSeconds: t, coBps: t }) as PeerSnapshot;
  const snaps = [s(360), s(120), s(240)];
  assert.equal(snapshotAt(snaps, 300)?.trainSeconds, 240);
  assert.equal(snapshotAt(snaps, 240)?.trainSeconds, 240);
  assert.equal(snapshotAt(snaps, 1e9)?.trainSeconds, 360);
  assert.equal(snapshotAt(snaps, 100), undefined);
});

Deno.test("peerRowTimes: hest times rounded, capped at the budget, with the budget; bad input named", () => {
  assert.deepEqual(peerRowTimes([599, 126.4, 2261, 598.6], 2050), [126, 599, 2050]);
  // without the cap, a hest row past the budget gave a second row of NDT's final checkpoint
  assert.deepEqual(peerRowTimes([3000], 2050), [2050]);
  assert.deepEqual(peerRowTimes([], 60), [60]);
  assert.throws(() => peerRowTimes([1], 0), /budget must be .* > 0, found 0/);
  assert.throws(() => peerRowTimes([1, NaN], 60), /hestSeconds\[1\] must be .* >= 0, found NaN/);
});

Deno.test("runPeer: calls CMD WORKDIR BUDGET SEED and reads its log; a failing driver's output is quoted", async () => {
  const dir = await Deno.makeTempDir();
  const driver = `${dir}/driver.sh`;
  // a stand-in driver: logs its arguments and one snapshot at the budget
  await Deno.writeTextFile(
    driver,
    `#!/bin/sh\nmkdir -p "$1/run$3"\necho "args $*"\n` +
      `echo '${snapLine(0, 0.7).replace('"train_wall_s":0', '"train_wall_s":"BUDGET"')}' | ` +
      `sed "s/\\"BUDGET\\"/$2/" > "$1/run$3/log.jsonl"\n`,
  );
  await Deno.chmod(driver, 0o755);
  const snaps = await runPeer({ command: driver, workDir: `${dir}/w 1`, budgetS: 42, seed: 3 });
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0].trainSeconds, 42);
  assert.equal(snaps[0].seed, 3);
  assert.match(
    await Deno.readTextFile(`${dir}/w 1/driver3.log`),
    new RegExp(`args ${dir}/w 1 42 3`),
  );
  await assert.rejects(
    runPeer({ command: "echo boom; exit 3;", workDir: `${dir}/w2`, budgetS: 1, seed: 0 }),
    /the peer driver failed \(exit 3\)[\s\S]*boom/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkPeerPython: says which import fails, or that the interpreter is missing", async () => {
  const dir = await Deno.makeTempDir();
  // a "python" whose imports fail the way a Python without torch does
  const fake = `${dir}/python`;
  await Deno.writeTextFile(
    fake,
    `#!/bin/sh\necho "ModuleNotFoundError: No module named 'torch'" >&2\nexit 1\n`,
  );
  await Deno.chmod(fake, 0o755);
  assert.match((await checkPeerPython(fake))!, /cannot import .*torch.*No module named 'torch'/);
  assert.match((await checkPeerPython(`${dir}/none`))!, /cannot run .*none/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("coBpsTimeChart: lines join a series in time, points stand alone, the oracle rule; bad input named", () => {
  const spec = coBpsTimeChart([
    { model: "NDT reference code", mode: "standard", seconds: 240, coBps: 0.7, series: "seed 1" },
    { model: "NDT reference code", mode: "standard", seconds: 120, coBps: 0.6, series: "seed 1" },
    { model: "hybrid", mode: "spiking", seconds: 300, coBps: 0.69 },
  ], { oracle: 0.82 }) as unknown as {
    data: { values: { line: string | null }[] };
    layer: { encoding?: { color?: { scale: { range: string[] } } } }[];
  };
  assert.deepEqual(spec.data.values.map((v) => v.line), [
    "NDT reference code · seed 1",
    "NDT reference code · seed 1",
    null,
  ]);
  assert.equal(spec.layer.length, 3);
  assert.deepEqual(spec.layer[1].encoding!.color!.scale.range, [
    modelColor("NDT reference code"),
    modelColor("hybrid"),
  ]);
  // NDT's own code has its own colour, not the hest standard transformer's
  assert.notEqual(modelColor("NDT reference code"), modelColor("standard transformer"));
  assert.throws(
    () => coBpsTimeChart([{ model: "a", mode: "b", seconds: -1, coBps: 0 }]),
    /points\[0\].seconds must be >= 0, found -1/,
  );
  assert.throws(() => coBpsTimeChart([]), /points/);
});

Deno.test("vs-ndt --quick: hest rows in both modes, NDT rows from a driver, skipped without torch", async () => {
  const dir = await Deno.makeTempDir();
  const driver = `${dir}/driver.sh`;
  const lines = [snapLine(1, 0.3), snapLine(2, 0.4), snapLine(1e6, 0.5)].join("\n");
  await Deno.writeTextFile(
    driver,
    `#!/bin/sh\nmkdir -p "$1/run$3"\ncat > "$1/run$3/log.jsonl" <<'EOF'\n${lines}\nEOF\n` +
      `echo '{}' > "$1/run$3/summary.json"\n`,
  );
  await Deno.chmod(driver, 0o755);
  const python = `${dir}/python`;
  await Deno.writeTextFile(python, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(python, 0o755);
  const out = `${dir}/out`;
  const r = await runScript("vs_ndt.ts", [
    "--quick",
    "--quiet",
    "--out",
    out,
    "--ndt",
    driver,
    "--ndt-python",
    python,
    "--ndt-budget",
    "1000000",
  ]);
  assert.equal(r.code, 0, r.out + r.err);
  const res = JSON.parse(await Deno.readTextFile(`${out}/results.json`));
  assert.deepEqual(
    res.hest.map((h: { model: string; mode: string }) => `${h.model}/${h.mode}`),
    [
      "hest standard transformer/standard",
      "hest hybrid/standard",
      "hest hybrid/spiking",
    ],
  );
  assert.equal(res.ndtSnapshots.length, 3);
  // a row at the budget quotes the last snapshot
  const last = res.ndt[res.ndt.length - 1];
  assert.equal(last.atSeconds, 1000000);
  assert.equal(last.coBps, 0.5);
  const md = await Deno.readTextFile(`${out}/report.md`);
  assert.match(md, /NDT reference code \(snapshot at ≤ 1000000 s\)/);
  const png = await Deno.readFile(`${out}/cobps_vs_time.png`);
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  // a Python without torch: the NDT rows are skipped, saying why, and the hest rows stay
  const noTorch = `${dir}/python2`;
  await Deno.writeTextFile(
    noTorch,
    `#!/bin/sh\necho "ModuleNotFoundError: No module named 'torch'" >&2\nexit 1\n`,
  );
  await Deno.chmod(noTorch, 0o755);
  // a run scored at other SNN timesteps than trained (inferenceTimesteps) says so in its row
  const hybridDir = [...Deno.readDirSync(`${out}/runs`)].map((e) => e.name)
    .find((n) => n.startsWith("hybrid"))!;
  const scored = JSON.parse(await Deno.readTextFile(`${out}/runs/${hybridDir}/metrics.json`));
  scored.results.find((x: { mode: string }) => x.mode === "spiking").timesteps = 8;
  await Deno.mkdir(`${dir}/t8`);
  await Deno.writeTextFile(`${dir}/t8/metrics.json`, JSON.stringify(scored));
  // the same recipe on another seed: LABEL=DIR+DIR is one row, mean ± sd over the folders
  const seedB = structuredClone(scored);
  for (const x of seedB.results) x.coBps += 0.01;
  await Deno.mkdir(`${dir}/t8b`);
  await Deno.writeTextFile(`${dir}/t8b/metrics.json`, JSON.stringify(seedB));
  const r2 = await runScript("vs_ndt.ts", [
    "--quick",
    "--quiet",
    "--out",
    `${dir}/out2`,
    "--runs",
    `${out}/runs`,
    "--ndt",
    driver,
    "--ndt-python",
    noTorch,
    "--add-runs",
    `again=${out}/runs/standard_s0/,at8=${dir}/t8,two seeds=${dir}/t8+${dir}/t8b/`,
  ]);
  assert.equal(r2.code, 0, r2.out + r2.err);
  assert.match(r2.err, /NDT rows skipped: .*No module named 'torch'/);
  const res2 = JSON.parse(await Deno.readTextFile(`${dir}/out2/results.json`));
  assert.equal(res2.ndt.length, 0);
  assert.match(res2.ndtSkipped, /torch/);
  // the added run folder is a row of its own, with its own numbers
  assert.equal(res2.hest.length, 8);
  assert.equal(res2.hest[3].model, "hest again");
  assert.deepEqual(res2.hest[3].coBps, res2.hest[0].coBps);
  assert.deepEqual(
    res2.hest.slice(4, 6).map((h: { model: string; mode: string }) => `${h.model}/${h.mode}`),
    ["hest at8/standard", "hest at8/spiking (T = 8)"],
  );
  assert.match(
    await Deno.readTextFile(`${dir}/out2/report.md`),
    /\| hest at8 \| spiking \(T = 8\) \|/,
  );
  const two = res2.hest.slice(6);
  assert.deepEqual(
    two.map((h: { model: string; mode: string; n: number }) => `${h.model}/${h.mode}/${h.n}`),
    ["hest two seeds/standard/2", "hest two seeds/spiking (T = 8)/2"],
  );
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(two[i].coBps.mean - (res2.hest[4 + i].coBps.mean + 0.005)) < 1e-12);
    assert.ok(Math.abs(two[i].coBps.sd - Math.SQRT1_2 * 0.01) < 1e-9, `${two[i].coBps.sd}`);
  }
  // runs scored at different timesteps are not one row
  // vs-ndt over the finished quick runs, with --add-runs `spec`, into `outDir`
  const withAdded = (outDir: string, spec: string) =>
    runScript("vs_ndt.ts", [
      "--quick",
      "--out",
      outDir,
      "--runs",
      `${out}/runs`,
      "--add-runs",
      spec,
    ]);
  const mixed = await withAdded(`${dir}/out4`, `mixed=${dir}/t8+${out}/runs/${hybridDir}`);
  assert.equal(mixed.code, 2);
  assert.match(
    mixed.err,
    /the runs of "mixed" scored their spiking mode at different SNN timesteps/,
  );
  const bad = await withAdded(`${dir}/out3`, `${dir}/nope`);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--add-runs: cannot read .*nope\/metrics.json/);
  await Deno.remove(dir, { recursive: true });
});
