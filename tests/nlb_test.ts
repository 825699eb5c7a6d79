import assert from "node:assert/strict";
import { useBackend } from "../lib/core/backend.ts";
import type { Array3D, SpikeDataset } from "../lib/data/dataset.ts";
import { type Hdf5Tree, openHdf5, writeHdf5 } from "../lib/data/hdf5.ts";
import { loadDataset } from "../lib/data/load.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { bitsPerSpike } from "../lib/eval/bits_per_spike.ts";
import { loadNlb, nlbSubmission, unknownTestTargets, writeNlbSubmission } from "../lib/data/nlb.ts";
import { parseNpy } from "../lib/data/npy.ts";
import { evaluateRun, trainRun } from "../lib/experiments/run.ts";

import { runScript } from "./_script_util.ts";

/** Select trials and neurons of a [trials, bins, neurons] array. */
function pick(a: Array3D, trials: number[], neurons: ArrayLike<number>): Array3D {
  const [, b, c] = a.shape;
  const out = new Float32Array(trials.length * b * neurons.length);
  let k = 0;
  for (const t of trials) {
    for (let j = 0; j < b; j++) {
      for (let n = 0; n < neurons.length; n++) out[k++] = a.data[(t * b + j) * c + neurons[n]];
    }
  }
  return { data: out, shape: [trials.length, b, neurons.length] };
}

const ds0 = lorenzDataset({
  conditions: 6,
  trialsPerCondition: 6,
  bins: 12,
  forwardBins: 3,
  neurons: 10,
});
const trainIdx = [...ds0.split.train, ...ds0.split.val].sort((a, b) => a - b);
const evalIdx = [...ds0.split.test];

/** The NLB tensor layout of ds0 (train = train + val trials, eval = test trials). */
function nlbTree(opts: { evalHeldOut?: boolean; forward?: boolean; evalForward?: boolean } = {}) {
  const t = (a: Array3D, trials: number[], neurons: ArrayLike<number>) => {
    const p = pick(a, trials, neurons);
    return { data: p.data, shape: [...p.shape] };
  };
  const tree: Hdf5Tree = {
    train_spikes_heldin: t(ds0.counts, trainIdx, ds0.heldIn),
    train_spikes_heldout: t(ds0.counts, trainIdx, ds0.heldOut),
    eval_spikes_heldin: t(ds0.counts, evalIdx, ds0.heldIn),
  };
  if (opts.evalHeldOut ?? true) tree.eval_spikes_heldout = t(ds0.counts, evalIdx, ds0.heldOut);
  if (opts.forward ?? true) {
    tree.train_spikes_heldin_forward = t(ds0.forwardCounts, trainIdx, ds0.heldIn);
    tree.train_spikes_heldout_forward = t(ds0.forwardCounts, trainIdx, ds0.heldOut);
    if (opts.evalForward ?? true) {
      tree.eval_spikes_heldin_forward = t(ds0.forwardCounts, evalIdx, ds0.heldIn);
      tree.eval_spikes_heldout_forward = t(ds0.forwardCounts, evalIdx, ds0.heldOut);
    }
  }
  tree.train_behavior = t(ds0.behavior!, trainIdx, [0, 1, 2]);
  tree.eval_behavior = t(ds0.behavior!, evalIdx, [0, 1, 2]);
  return tree;
}

function assertLayout(ds: SpikeDataset) {
  const nIn = ds0.heldIn.length, nOut = ds0.heldOut.length, nTr = trainIdx.length;
  assert.deepEqual([...ds.heldIn], [...Array(nIn).keys()]);
  assert.deepEqual([...ds.heldOut], [...Array(nOut).keys()].map((i) => nIn + i));
  assert.deepEqual(ds.counts.shape, [nTr + evalIdx.length, 12, 10]);
  // dataset trial nTr + i is eval trial i = ds0 test trial evalIdx[i]; neuron nIn + j is heldOut[j]
  const order = [...trainIdx, ...evalIdx];
  const neurons = [...ds0.heldIn, ...ds0.heldOut];
  assert.deepEqual([...ds.counts.data], [...pick(ds0.counts, order, neurons).data]);
  assert.deepEqual([...ds.forwardCounts.data], [...pick(ds0.forwardCounts, order, neurons).data]);
  assert.deepEqual([...ds.behavior!.data], [...pick(ds0.behavior!, order, [0, 1, 2]).data]);
  assert.deepEqual([...ds.split.test], evalIdx.map((_, i) => nTr + i));
  assert.equal(ds.split.train.length + ds.split.val.length, nTr);
  assert.equal(ds.split.val.length, Math.round(0.1 * nTr));
}

Deno.test("nlb: tensors load with eval trials as test, held-in then held-out neurons", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeHdf5(`${dir}/a.h5`, nlbTree(), { attrs: { bin_size_ms: 20 } });
    const ds = await loadDataset(`${dir}/a.h5`);
    assertLayout(ds);
    assert.equal(ds.binSizeMs, 20);
    assert.equal(ds.name, "a");
    assert.deepEqual(unknownTestTargets(ds), { heldOut: false, forward: false });
    // the same tensors inside a group (as nlb_tools' target files), no attribute: 5 ms default
    await writeHdf5(`${dir}/b.h5`, { mc_maze_small: nlbTree() });
    const g = await loadNlb(`${dir}/b.h5`);
    assertLayout(g);
    assert.equal(g.name, "mc_maze_small");
    assert.equal(g.binSizeMs, 5);
    assert.equal((g.meta.nlb as { binSizeSource: string }).binSizeSource, "default");
    // NLB's naming: a "_20" group has 20-ms bins
    await writeHdf5(`${dir}/c.h5`, { mc_maze_small_20: nlbTree() });
    assert.equal((await loadDataset(`${dir}/c.h5`)).binSizeMs, 20);
    await assert.rejects(
      () => loadDataset(`${dir}/a.h5`, { binSizeMs: 5 }),
      /a\.h5: the file says bin_size_ms = 20 but the binSizeMs option is 5/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: missing eval targets are recorded, the test split then defaults to val", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeHdf5(`${dir}/a.h5`, nlbTree({ evalHeldOut: false, evalForward: false }));
    const ds = await loadDataset(`${dir}/a.h5`, { binSizeMs: 20 });
    assert.deepEqual(unknownTestTargets(ds), { heldOut: true, forward: true });
    const nTr = trainIdx.length, nIn = ds0.heldIn.length;
    // placeholders are zeros, the known parts are the file's
    for (let t = nTr; t < ds.counts.shape[0]; t++) {
      for (let b = 0; b < 12; b++) {
        for (let n = nIn; n < 10; n++) assert.equal(ds.counts.data[(t * 12 + b) * 10 + n], 0);
      }
    }
    // no train forward: no forward window at all
    await writeHdf5(`${dir}/c.h5`, nlbTree({ forward: false }));
    const c = await loadDataset(`${dir}/c.h5`, { binSizeMs: 20 });
    assert.equal(c.forwardCounts.shape[1], 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: bad input → one error naming file, key and problem", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/bad.h5`;
  const cases: [string, (t: Hdf5Tree) => void, RegExp][] = [
    [
      "missing key",
      (t) => delete t.eval_spikes_heldin,
      /bad\.h5: no counts found: expected NLB tensors or one of counts, spikes/,
    ],
    [
      "wrong rank",
      (t) => (t.train_spikes_heldout = { data: new Float32Array(4), shape: [2, 2] }),
      /key "train_spikes_heldout": expected 3 dimensions \[\d+, 12, \*\] \(\[trials, bins, neurons\]\), found shape \[2, 2\]/,
    ],
    [
      "bins disagree",
      (t) => {
        const a = t.eval_spikes_heldin as { data: Float32Array; shape: number[] };
        t.eval_spikes_heldin = {
          data: a.data.subarray(0, a.shape[0] * 11 * a.shape[2]),
          shape: [a.shape[0], 11, a.shape[2]],
        };
      },
      /key "eval_spikes_heldin": expected shape \[\*, 12, \d+\] .*dimension 1 is 11, not 12/,
    ],
    [
      "NaN count",
      (t) => {
        (t.train_spikes_heldin as { data: Float32Array }).data[5] = NaN;
      },
      /key "train_spikes_heldin": spike counts must be non-negative integers; NaN at \[0, 0, 5\]/,
    ],
    [
      "negative count",
      (t) => {
        (t.eval_spikes_heldout as { data: Float32Array }).data[0] = -2;
      },
      /key "eval_spikes_heldout": spike counts must be non-negative integers; negative \(-2\) at \[0, 0, 0\]/,
    ],
    [
      "half a forward pair",
      (t) => delete t.train_spikes_heldout_forward,
      /key "train_spikes_heldout_forward": missing while train_spikes_heldin_forward is present/,
    ],
    [
      "behaviour with wrong bins",
      (
        t,
      ) => (t.eval_behavior = {
        data: new Float32Array(evalIdx.length * 3),
        shape: [evalIdx.length, 1, 3],
      }),
      /key "eval_behavior": expected shape \[\d+, 12, 3\]/,
    ],
    [
      "behaviour with infinity",
      (t) => {
        (t.train_behavior as { data: Float32Array }).data[4] = Infinity;
      },
      /key "train_behavior": value Infinity at \[0, 1, 1\] is not finite/,
    ],
  ];
  try {
    for (const [what, edit, re] of cases) {
      const tree = nlbTree();
      // copy the arrays we edit
      for (const k of Object.keys(tree)) {
        const v = tree[k] as { data: Float32Array; shape: number[] };
        tree[k] = { data: v.data.slice(), shape: v.shape };
      }
      edit(tree);
      await writeHdf5(path, tree);
      await assert.rejects(() => loadDataset(path, { binSizeMs: 20 }), re, what);
    }
    // truncated file and a file that is not HDF5 at all
    await writeHdf5(path, nlbTree());
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(
      () => loadDataset(path),
      /bad\.h5: not a readable HDF5 file: truncated file: eof = \d+/,
    );
    await Deno.writeFile(path, bytes.subarray(0, 4));
    await assert.rejects(() => loadDataset(path), /bad\.h5: unrecognised file format/);
    await assert.rejects(() => loadDataset(`${dir}/none.h5`), /none\.h5: cannot read the file/);
    await Deno.writeFile(path, new Uint8Array(0));
    await assert.rejects(() => loadDataset(path), /bad\.h5: the file is empty/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: submission layout, values and atomic write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeHdf5(`${dir}/a.h5`, nlbTree(), { attrs: { bin_size_ms: 20 } });
    const ds = await loadDataset(`${dir}/a.h5`);
    // true rates in the dataset's order stand in for predictions
    const order = [...trainIdx, ...evalIdx];
    const neurons = [...ds0.heldIn, ...ds0.heldOut];
    const rates = pick(ds0.trueRates!, order, neurons);
    const forwardRates = pick(ds0.forwardTrueRates!, order, neurons);
    const out = `${dir}/sub.h5`;
    await writeNlbSubmission(out, { rates, forwardRates }, ds, { name: "mc_maze_20" });
    const f = await openHdf5(out);
    try {
      assert.deepEqual(f.members(), ["mc_maze_20"]);
      assert.deepEqual(f.members("mc_maze_20").sort(), [
        "eval_rates_heldin",
        "eval_rates_heldin_forward",
        "eval_rates_heldout",
        "eval_rates_heldout_forward",
        "train_rates_heldin",
        "train_rates_heldin_forward",
        "train_rates_heldout",
        "train_rates_heldout_forward",
      ]);
      const ev = f.get("mc_maze_20/eval_rates_heldout");
      assert.equal(ev.dtype, "<f");
      assert.deepEqual(ev.shape, [evalIdx.length, 12, ds0.heldOut.length]);
      assert.deepEqual([...ev.data], [...pick(ds0.trueRates!, evalIdx, ds0.heldOut).data]);
      const tr = f.get("mc_maze_20/train_rates_heldin");
      assert.deepEqual([...tr.data], [...pick(ds0.trueRates!, trainIdx, ds0.heldIn).data]);
      const fw = f.get("mc_maze_20/eval_rates_heldout_forward");
      assert.deepEqual(fw.shape, [evalIdx.length, 3, ds0.heldOut.length]);
      assert.deepEqual([...fw.data], [...pick(ds0.forwardTrueRates!, evalIdx, ds0.heldOut).data]);
    } finally {
      f.close();
    }
    // nothing else left in the folder (the temp file was renamed)
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["a.h5", "sub.h5"]);
    // bad predictions: nothing is written, the old file stays
    const before = await Deno.readFile(out);
    const badRates = { data: rates.data.slice(), shape: rates.shape };
    badRates.data[7] = NaN;
    await assert.rejects(
      () => writeNlbSubmission(out, { rates: badRates, forwardRates }, ds),
      /NLB submission: rate NaN at flat index 7/,
    );
    assert.deepEqual(await Deno.readFile(out), before);
    assert.throws(
      () => nlbSubmission({ rates: { data: new Float32Array(3), shape: [1, 1, 3] } }, ds),
      /rates must be \[\d+, 12, 10\]/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: round trip — train 5 steps on an NLB file, write a submission, read it back", async () => {
  await useBackend("cpu");
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/lorenz_nlb.h5`;
    await writeHdf5(file, nlbTree(), { attrs: { bin_size_ms: 20 } });
    const cfg = {
      data: { kind: "file" as const, path: file },
      preset: "tiny",
      train: { steps: 5, evalEvery: 5, batchSize: 8 },
      seed: 0,
      backend: "cpu",
    };
    const m = await trainRun(cfg, { outDir: `${dir}/run` });
    const sub = `${dir}/sub.h5`;
    const metrics = await evaluateRun(`${dir}/run`, {
      nlbSubmission: sub,
      nlbName: "lorenz",
      npy: `${dir}/rates.npy`,
    });
    assert.equal(metrics.results[0].split, "test");
    assert.ok(Math.abs(metrics.results[0].coBps - m.results[0].coBps) < 1e-9);
    const rates = parseNpy(await Deno.readFile(`${dir}/rates.npy`), {
      file: "rates.npy",
      key: "rates",
    });
    const nTr = trainIdx.length, nEv = evalIdx.length;
    assert.deepEqual(rates.shape, [nTr + nEv, 12, 10]);
    const fwd = parseNpy(await Deno.readFile(`${dir}/rates_forward.npy`), { file: "f", key: "f" });
    assert.deepEqual(fwd.shape, [nTr + nEv, 3, 10]);
    const f = await openHdf5(sub);
    try {
      const evOut = f.get("lorenz/eval_rates_heldout");
      const nIn = ds0.heldIn.length, nOut = ds0.heldOut.length;
      assert.deepEqual(evOut.shape, [nEv, 12, nOut]);
      assert.deepEqual(f.get("lorenz/train_rates_heldin").shape, [nTr, 12, nIn]);
      // submission = the .npy rates of eval trials [nTr, nTr + nEv) and neurons [nIn, 10)
      for (let t = 0; t < nEv; t++) {
        for (let b = 0; b < 12; b++) {
          for (let n = 0; n < nOut; n++) {
            const want = Math.fround(rates.data[((nTr + t) * 12 + b) * 10 + nIn + n]);
            assert.equal(evOut.data[(t * 12 + b) * nOut + n], want);
          }
        }
      }
      // nlb_tools' co-bps of the submission against eval_spikes_heldout = hest's test co-bps
      const spikes = pick(ds0.counts, evalIdx, ds0.heldOut);
      const coBps = await bitsPerSpike(
        { data: Float32Array.from(evOut.data), shape: [nEv, 12, nOut] },
        spikes,
      );
      assert.ok(
        Math.abs(coBps - metrics.results[0].coBps) < 1e-6,
        `${coBps} vs ${metrics.results[0].coBps}`,
      );
    } finally {
      f.close();
    }
    // the same file without eval_spikes_heldout: scores val by default, test is refused
    const noTarget = `${dir}/lorenz_nlb_test_phase.h5`;
    await writeHdf5(noTarget, nlbTree({ evalHeldOut: false, evalForward: false }), {
      attrs: { bin_size_ms: 20 },
    });
    const m2 = await evaluateRun(`${dir}/run`, {
      data: { kind: "file", path: noTarget },
      nlbSubmission: `${dir}/sub2.h5`,
    });
    assert.equal(m2.results[0].split, "val");
    assert.equal(m2.results[0].nTrials, Math.round(0.1 * nTr)); // the val trials
    await assert.rejects(
      () => evaluateRun(`${dir}/run`, { data: { kind: "file", path: noTarget }, split: "test" }),
      /no eval_spikes_heldout.*use split "val"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: deno task train --data FILE.h5 and eval --nlb-submission on the command line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/lorenz_nlb.h5`;
    await writeHdf5(file, nlbTree(), { attrs: { bin_size_ms: 20 } });
    const run = runScript;
    const t = await run("train.ts", [
      "--data",
      file,
      "--preset",
      "tiny",
      "--steps",
      "5",
      "--batch-size",
      "8",
      "--out",
      `${dir}/run`,
      "--backend",
      "cpu",
      "--quiet",
    ]);
    assert.equal(t.code, 0, t.err);
    const e = await run("eval.ts", [
      "--run",
      `${dir}/run`,
      "--data",
      file,
      "--nlb-submission",
      `${dir}/sub.h5`,
      "--nlb-name",
      "mc_maze_20",
      "--backend",
      "cpu",
    ]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /sub\.h5/);
    const f = await openHdf5(`${dir}/sub.h5`);
    try {
      assert.deepEqual(f.get("mc_maze_20/eval_rates_heldout").shape, [
        evalIdx.length,
        12,
        ds0.heldOut.length,
      ]);
    } finally {
      f.close();
    }
    // a bad data option in a config file is a usage error naming it
    await Deno.writeTextFile(
      `${dir}/cfg.json`,
      JSON.stringify({
        preset: "tiny",
        data: { kind: "file", path: file, options: { windowMs: -1 } },
      }),
    );
    const bad = await run("train.ts", ["--config", `${dir}/cfg.json`, "--out", `${dir}/r2`]);
    assert.equal(bad.code, 2, bad.err);
    assert.match(bad.err, /data option "windowMs" must be a positive number, found -1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
