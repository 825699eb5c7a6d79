import assert from "node:assert/strict";
import { useBackend } from "../lib/core/backend.ts";
import type { Array3D, SpikeDataset } from "../lib/data/dataset.ts";
import { type Hdf5Tree, openHdf5, writeHdf5 } from "../lib/data/hdf5.ts";
import { loadDataset } from "../lib/data/load.ts";
import { lorenzDataset } from "../lib/data/lorenz.ts";
import { bitsPerSpike } from "../lib/eval/bits_per_spike.ts";
import { loadNlb, nlbSubmission, unknownTestTargets, writeNlbSubmission } from "../lib/data/nlb.ts";
import { parseNpy } from "../lib/data/npy.ts";
import { evaluateRun, loadData, trainRun } from "../lib/experiments/run.ts";

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

function assertLayout(ds: SpikeDataset, valFraction = 0.1) {
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
  assert.equal(ds.split.val.length, Math.round(valFraction * nTr));
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
    // the same tensors inside a group named as nlb_tools names them: no suffix is 5 ms
    await writeHdf5(`${dir}/b.h5`, { mc_maze_small: nlbTree() });
    const g = await loadNlb(`${dir}/b.h5`);
    assertLayout(g);
    assert.equal(g.name, "mc_maze_small");
    assert.equal(g.binSizeMs, 5);
    assert.equal((g.meta.nlb as { binSizeSource: string }).binSizeSource, "group name");
    // NLB's naming: a "_20" group has 20-ms bins
    await writeHdf5(`${dir}/c.h5`, { mc_maze_small_20: nlbTree() });
    assert.equal((await loadDataset(`${dir}/c.h5`)).binSizeMs, 20);
    await assert.rejects(
      () => loadDataset(`${dir}/c.h5`, { binSizeMs: 5 }),
      /c\.h5: the nlb_tools group "mc_maze_small_20" holds 20-ms bins but the binSizeMs option is 5/,
    );
    // no attribute, no NLB group: the width is unknown and never guessed
    for (const [file, tree] of [["d.h5", nlbTree()], ["e.h5", { my_data: nlbTree() }]] as const) {
      await writeHdf5(`${dir}/${file}`, tree);
      await assert.rejects(
        () => loadDataset(`${dir}/${file}`),
        new RegExp(
          `${file.replace(".", "\\.")}: the bin width is not stored: no bin_size_ms attribute ` +
            `and no nlb_tools dataset group .*; give it with the binSizeMs option`,
        ),
      );
      assert.equal((await loadDataset(`${dir}/${file}`, { binSizeMs: 10 })).binSizeMs, 10);
    }
    await assert.rejects(() => loadNlb(`${dir}/d.h5`), /d\.h5: the bin width is not stored/);
    await assert.rejects(
      () => loadDataset(`${dir}/a.h5`, { binSizeMs: 5 }),
      /a\.h5: the file says bin_size_ms = 20 but the binSizeMs option is 5/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('nlb: split "chronological" takes val as the last train trials, random is seeded', async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeHdf5(`${dir}/a.h5`, nlbTree(), { attrs: { bin_size_ms: 20 } });
    const nTr = trainIdx.length;
    const nVal = Math.round(0.2 * nTr);
    const chrono = await loadDataset(`${dir}/a.h5`, { valFraction: 0.2, split: "chronological" });
    assertLayout(chrono, 0.2);
    // the last nVal train trials in file order, just before the eval trials; train is the rest
    assert.deepEqual([...chrono.split.val], [...Array(nVal).keys()].map((i) => nTr - nVal + i));
    assert.deepEqual([...chrono.split.train], [...Array(nTr - nVal).keys()]);
    const random = await loadDataset(`${dir}/a.h5`, { valFraction: 0.2 });
    assertLayout(random, 0.2);
    assert.notDeepEqual([...random.split.val], [...chrono.split.val]);
    const again = await loadDataset(`${dir}/a.h5`, { valFraction: 0.2, seed: 0 });
    assert.deepEqual([...again.split.val], [...random.split.val]);
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
      /bad\.h5: holds NLB tensors \(train_spikes_heldin, train_spikes_heldout, eval_spikes_heldout, .*\) but not eval_spikes_heldin; nlb_tools writes the train and eval inputs to separate files: give them together as one comma-separated path/,
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

/**
 * ds0 in nlb_tools' own file layout: `make_train_input_tensors` (train_input.h5, root),
 * `make_eval_input_tensors` (eval_input.h5, root; `eval_spikes_heldout` only for the val split)
 * and `make_eval_target_tensors` (target_data.h5, one `{dataset}` group), as `save_to_h5`
 * writes them.
 */
function nlbToolsFiles(opts: { valSplit?: boolean } = {}) {
  const all = nlbTree();
  const take = (...keys: string[]) => Object.fromEntries(keys.map((k) => [k, all[k]])) as Hdf5Tree;
  const trainInput = take(
    "train_spikes_heldin",
    "train_spikes_heldout",
    "train_spikes_heldin_forward",
    "train_spikes_heldout_forward",
    "train_behavior",
  );
  const evalInput = opts.valSplit
    ? take("eval_spikes_heldin", "eval_spikes_heldout")
    : take("eval_spikes_heldin");
  const target = take(
    "eval_spikes_heldout",
    "train_behavior",
    "eval_behavior",
    "eval_spikes_heldin_forward",
    "eval_spikes_heldout_forward",
  );
  // extra evaluation arrays nlb_tools may add are not NLB tensors and are ignored
  target.eval_decode_mask = {
    data: new Uint8Array(evalIdx.length).fill(1),
    shape: [evalIdx.length],
  };
  return { trainInput, evalInput, target };
}

/** Deep copy of a tree's arrays, to edit one case without touching the others. */
function copyTree(t: Hdf5Tree): Hdf5Tree {
  return Object.fromEntries(
    Object.entries(t).map(([k, v]) => {
      const d = v as { data: Float32Array; shape: number[] };
      return [k, { data: d.data.slice(), shape: [...d.shape] }];
    }),
  );
}

Deno.test("nlb: nlb_tools' separate train input, eval input and target files load as one dataset", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { trainInput, evalInput, target } = nlbToolsFiles();
    const tr = `${dir}/train_input.h5`, ev = `${dir}/eval_input.h5`, tg = `${dir}/target_data.h5`;
    await writeHdf5(tr, trainInput);
    await writeHdf5(ev, evalInput);
    await writeHdf5(tg, { mc_maze_small: target });
    const ds = await loadDataset(`${tr},${ev},${tg}`);
    assertLayout(ds);
    assert.equal(ds.name, "mc_maze_small");
    assert.equal(ds.binSizeMs, 5); // nlb_tools names 5-ms groups without a suffix
    assert.deepEqual(unknownTestTargets(ds), { heldOut: false, forward: false });
    const meta = ds.meta.nlb as { binSizeSource: string; maskedEvalInputs: number };
    assert.equal(meta.binSizeSource, "group name");
    assert.equal(meta.maskedEvalInputs, 0);
    // any order, blanks after the commas, and loadNlb read the same
    const other = await loadNlb(`${tg}, ${ev}, ${tr}`);
    assert.deepEqual([...other.counts.data], [...ds.counts.data]);
    // the run's data spec goes through the same path (the --data flag and a config's "path")
    const viaRun = await loadData({ kind: "file", path: `${tr},${ev},${tg}` });
    assert.deepEqual([...viaRun.counts.data], [...ds.counts.data]);
    // a 20-ms target group
    await writeHdf5(tg, { mc_maze_small_20: target });
    assert.equal((await loadDataset(`${tr},${ev},${tg}`)).binSizeMs, 20);

    // the input files without the target file: no width anywhere, so the option must give it
    await assert.rejects(
      () => loadDataset(`${tr},${ev}`),
      /train_input\.h5,.*eval_input\.h5: the bin width is not stored: .*give it with the binSizeMs option/,
    );
    const inputs = await loadDataset(`${tr},${ev}`, { binSizeMs: 5 });
    assert.equal(inputs.name, "train_input");
    assert.deepEqual(unknownTestTargets(inputs), { heldOut: true, forward: true });
    assert.equal(inputs.behavior, undefined); // train_behavior alone is half of it
    // the val split's eval input carries eval_spikes_heldout itself
    const val = nlbToolsFiles({ valSplit: true });
    await writeHdf5(ev, val.evalInput);
    const withVal = await loadDataset(`${tr},${ev}`, { binSizeMs: 5 });
    assert.deepEqual(unknownTestTargets(withVal), { heldOut: false, forward: true });

    // one input file alone is half a dataset: the error says to list both
    await assert.rejects(
      () => loadDataset(tr, { binSizeMs: 5 }),
      /train_input\.h5: holds NLB tensors \(train_spikes_heldin, train_spikes_heldout, train_spikes_heldin_forward, train_spikes_heldout_forward\) but not eval_spikes_heldin; .*comma-separated path, e\.g\. "train_input\.h5,eval_input\.h5"/,
    );
    await assert.rejects(
      () => loadDataset(ev, { binSizeMs: 5 }),
      /eval_input\.h5: holds NLB tensors \(eval_spikes_heldin, eval_spikes_heldout\) but not train_spikes_heldin, train_spikes_heldout/,
    );
    await assert.rejects(
      () => loadNlb(`${tr},${tg}`),
      /key "eval_spikes_heldin": missing from every file: NLB tensors need/,
    );
    // a bad array is reported against the file it came from (listed first, the target
    // file's eval_spikes_heldout is the one read, not the eval input's)
    const bad = copyTree(target);
    (bad.eval_spikes_heldout as { data: Float32Array }).data[2] = -1;
    await writeHdf5(tg, { mc_maze_small: bad });
    await loadDataset(`${tr},${ev},${tg}`);
    await assert.rejects(
      () => loadDataset(`${tg},${tr},${ev}`),
      /target_data\.h5: key "eval_spikes_heldout": spike counts must be non-negative integers; negative \(-1\) at \[0, 0, 2\]/,
    );
    // files that disagree on the bin width, and a list with an empty entry or a repeat
    await writeHdf5(tr, trainInput, { attrs: { bin_size_ms: 5 } });
    await writeHdf5(ev, evalInput, { attrs: { bin_size_ms: 20 } });
    await assert.rejects(
      () => loadDataset(`${tr},${ev}`),
      /the files disagree on bin_size_ms: .*train_input\.h5 says 5, .*eval_input\.h5 says 20/,
    );
    await assert.rejects(
      () => loadDataset(`${tr},,${ev}`),
      /an empty entry in the comma-separated list/,
    );
    await assert.rejects(() => loadDataset(`${tr},${tr}`), /train_input\.h5" is listed twice/);
    await assert.rejects(
      () => loadDataset(`${tr},${dir}/none.h5`),
      /none\.h5: cannot read the file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: NaN in eval inputs is masked, eval targets with NaN are unknown, NaN in train is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { trainInput, evalInput, target } = nlbToolsFiles({ valSplit: true });
    const tr = `${dir}/train_input.h5`, ev = `${dir}/eval_input.h5`, tg = `${dir}/target_data.h5`;
    await writeHdf5(tr, trainInput);
    await writeHdf5(tg, { mc_maze_small: target });
    // eval trial 1 has no data in its last two bins: nlb_tools' allow_nans leaves NaN there
    const nIn = ds0.heldIn.length, nOut = ds0.heldOut.length, nTr = trainIdx.length;
    const masked = copyTree(evalInput);
    const evIn = masked.eval_spikes_heldin as { data: Float32Array };
    for (let b = 10; b < 12; b++) {
      for (let n = 0; n < nIn; n++) evIn.data[(1 * 12 + b) * nIn + n] = NaN;
    }
    await writeHdf5(ev, masked);
    // the target file is listed first: its NaN-free eval_spikes_heldout is the one read
    const ds = await loadDataset(`${tg},${tr},${ev}`);
    const meta = ds.meta.nlb as { maskedEvalInputs: number; notes: string[] };
    assert.equal(meta.maskedEvalInputs, 2 * nIn);
    assert.deepEqual(unknownTestTargets(ds), { heldOut: false, forward: false });
    const order = [...trainIdx, ...evalIdx];
    const want = pick(ds0.counts, order, [...ds0.heldIn, ...ds0.heldOut]).data;
    for (let t = 0; t < ds.counts.shape[0]; t++) {
      for (let b = 0; b < 12; b++) {
        for (let n = 0; n < 10; n++) {
          const i = (t * 12 + b) * 10 + n;
          const isMasked = t === nTr + 1 && b >= 10 && n < nIn;
          assert.equal(ds.counts.data[i], isMasked ? 0 : want[i], `[${t}, ${b}, ${n}]`);
        }
      }
    }
    // the eval input's own eval_spikes_heldout has NaN at the same bins: those targets are
    // unknown (nlb_tools leaves NaN out of its score, hest's dense scoring cannot)
    const evOut = masked.eval_spikes_heldout as { data: Float32Array };
    for (let b = 10; b < 12; b++) {
      for (let n = 0; n < nOut; n++) evOut.data[(1 * 12 + b) * nOut + n] = NaN;
    }
    await writeHdf5(ev, masked);
    const unk = await loadDataset(`${tr},${ev}`, { binSizeMs: 5 });
    assert.deepEqual(unknownTestTargets(unk), { heldOut: true, forward: true });
    assert.match(
      (unk.meta.nlb as { notes: string[] }).notes.join("\n"),
      /eval_spikes_heldout \(.*eval_input\.h5\) has 6 NaN entries.*treated as unknown/,
    );
    // NaN in the target file's eval forward window: the forward targets are unknown
    const fwd = copyTree(target);
    (fwd.eval_spikes_heldout_forward as { data: Float32Array }).data[0] = NaN;
    await writeHdf5(tg, { mc_maze_small: fwd });
    const f = await loadDataset(`${tr},${ev},${tg}`);
    assert.deepEqual(unknownTestTargets(f), { heldOut: true, forward: true });
    // a masked input is still checked for what is not NaN
    evIn.data[0] = 1.5;
    await writeHdf5(ev, masked);
    await assert.rejects(
      () => loadDataset(`${tr},${ev}`, { binSizeMs: 5 }),
      /eval_input\.h5: key "eval_spikes_heldin": spike counts must be non-negative integers; not a non-negative integer \(1\.5\) at \[0, 0, 0\]/,
    );
    // train inputs are never masked by nlb_tools: NaN there is bad data
    const badTrain = copyTree(trainInput);
    (badTrain.train_spikes_heldout as { data: Float32Array }).data[3] = NaN;
    await writeHdf5(tr, badTrain);
    await writeHdf5(ev, evalInput);
    await assert.rejects(
      () => loadDataset(`${tr},${ev}`, { binSizeMs: 5 }),
      /train_input\.h5: key "train_spikes_heldout": spike counts must be non-negative integers; NaN at \[0, 1, 0\]/,
    );
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
    // the file's name is no NLB dataset name: nlb_tools would skip the group, so it is refused
    await assert.rejects(
      () =>
        evaluateRun(`${dir}/run`, {
          data: { kind: "file", path: noTarget },
          nlbSubmission: `${dir}/sub2.h5`,
        }),
      /not an NLB dataset name.*--nlb-name/,
    );
    const m2 = await evaluateRun(`${dir}/run`, {
      data: { kind: "file", path: noTarget },
      nlbSubmission: `${dir}/sub2.h5`,
      nlbName: "mc_maze_small_20",
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
