import assert from "node:assert/strict";
import { gunzipSync } from "fflate";
import { type Array3D, array3d } from "../lib/data/dataset.ts";
import { type Hdf5Tree, openHdf5, writeHdf5 } from "../lib/data/hdf5.ts";
import { loadNlb, type NlbMeta } from "../lib/data/nlb.ts";
import { evaluate, nlbPsthR2 } from "../lib/eval/evaluate.ts";

/**
 * `mc_maze_small_20/eval_cond_idx` = [[0, 3], [], [1, 2, 4]] as nlb_tools writes it (h5wasm
 * cannot write variable-length data), gzip + base64. Made by:
 *   idx = np.array([np.array([0, 3]), np.array([], dtype=int), np.array([1, 2, 4])], dtype=object)
 *   nlb_tools.make_tensors.save_to_h5({"mc_maze_small_20": {"eval_cond_idx": idx}}, "c.h5")
 * (h5py 3.7, HDF5 1.10: a chunked, gzip-filtered vlen int32 dataset in a global heap).
 */
const COND_IDX_H5_GZ_B64 = `
H4sICO9LE2sCA2NvbmRfaWR4Lmg1AOv0cHHj5ZLiYgABDg4GFgYBBmTwHwpOK6LyYfIJUJoRSndA6RVMMHFGsJwEVFwQaj66
upAgV1eQ6v9oAGbPA1YIzcEwCkYi8HB1DADREVC+ApQ+wYSqLjc5PjexKjW+ODcxJyfeyIABLX1akGgvrvTrwQzhZ7ASl34t
OEbT72j6RaRfWHrqYEVVl1qWmBOfnJ+XEp+ZUoGUbh3ItDfYz98FlIJh6U6BGTU/oKfjUYCrHGCDhBkjjA+JQUZGiAA0GJFo
CbBSSSAGlRgCwAhgQSq5WIExApJnYoaYyA0UZwSbBzOfA1zypKSm5SSWpEL1gsoPiL3MTEwNnAgrkSrtBLqEB3q60mAfTSPk
AFC9wYil3pDGoX6DIioflt4ERoNyFIyCUTAKRsEoGLbA3dnfhxGpwmdkwOxXgtoEsG4xD1L/FyTGgmbeDv7RMB0Fo2AUjIJR
MApGwSgYBaNgFIyCUTAKBhuoiEtOSki4oXCCga1HgIvVwFjhycwGCQZtJsZuAAL+NGLLIQAA`;

const NTR = 6, NEV = 5, B = 6, NIN = 3, NOUT = 2, N = NIN + NOUT;
/** Eval trials 0 and 3 are condition 0 (jitter +1 and −1), 1, 2 and 4 condition 2; 1 is empty. */
const COND_IDX = [[0, 3], [], [1, 2, 4]];
const JITTER = [1, 0, 0, -1, 0];

function counts(trials: number, neurons: number, seed: number): Float32Array {
  return Float32Array.from({ length: trials * B * neurons }, (_, i) => (i * 7 + seed) % 4);
}

/** True PSTHs [3, B, N]: condition 0 defined on bins 1–4 (its jitters ±1), condition 2 on 0–4. */
function psthData(): Float64Array {
  const p = new Float64Array(3 * B * N).fill(NaN);
  for (const [c, lo, hi] of [[0, 1, 4], [1, 0, 5], [2, 0, 4]]) {
    for (let b = lo; b <= hi; b++) {
      for (let n = 0; n < N; n++) p[(c * B + b) * N + n] = 1 + c + 0.5 * b + 0.25 * n * b;
    }
  }
  return p;
}

function ds(data: ArrayLike<number>, shape: number[]) {
  return { data: data instanceof Float32Array ? data : Float32Array.from(data), shape };
}

async function writeFiles(dir: string, target: Hdf5Tree = {}): Promise<string> {
  const tr = `${dir}/train_input.h5`, ev = `${dir}/eval_input.h5`, tg = `${dir}/target_data.h5`;
  const ci = `${dir}/cond_idx.h5`;
  await writeHdf5(tr, {
    train_spikes_heldin: ds(counts(NTR, NIN, 1), [NTR, B, NIN]),
    train_spikes_heldout: ds(counts(NTR, NOUT, 2), [NTR, B, NOUT]),
  });
  await writeHdf5(ev, { eval_spikes_heldin: ds(counts(NEV, NIN, 3), [NEV, B, NIN]) });
  await writeHdf5(tg, {
    mc_maze_small_20: {
      eval_spikes_heldout: ds(counts(NEV, NOUT, 4), [NEV, B, NOUT]),
      psth: { data: Float32Array.from(psthData()), shape: [3, B, N] },
      eval_jitter: { data: Int32Array.from(JITTER), shape: [NEV] },
      ...target,
    },
  });
  const b64 = COND_IDX_H5_GZ_B64.replace(/\s/g, "");
  await Deno.writeFile(ci, gunzipSync(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
  return `${tr},${ev},${tg},${ci}`;
}

/** Rates whose jitter-shifted condition means are exactly the PSTHs (filler elsewhere). */
function oracleRates(nTrain: number): Array3D {
  const psth = Float64Array.from(Float32Array.from(psthData()));
  const r = new Float32Array((nTrain + NEV) * B * N).fill(0.5);
  COND_IDX.forEach((trials, c) => {
    for (const t of trials) {
      for (let b = 0; b < B; b++) {
        const at = b + JITTER[t]; // eval_psth moves trial row b to row b + jitter
        if (at < 0 || at >= B || Number.isNaN(psth[(c * B + at) * N])) continue;
        for (let n = 0; n < N; n++) {
          r[((nTrain + t) * B + b) * N + n] = psth[(c * B + at) * N + n];
        }
      }
    }
  });
  return array3d(r, [nTrain + NEV, B, N]);
}

Deno.test("hdf5: variable-length int rows (nlb_tools' eval_cond_idx) read as NaN-padded rows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeFiles(dir);
    const f = await openHdf5(`${dir}/cond_idx.h5`);
    try {
      const a = f.get("mc_maze_small_20/eval_cond_idx");
      assert.equal(a.dtype, "vlen<i4>");
      assert.deepEqual(a.shape, [3, 3]);
      assert.deepEqual([...a.data], [0, 3, NaN, NaN, NaN, NaN, 1, 2, 4]);
    } finally {
      f.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: psth, eval_cond_idx (vlen) and eval_jitter load; test PSTH R² is nlb_tools' eval_psth", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await writeFiles(dir);
    const d = await loadNlb(path);
    const m = d.meta.nlb as NlbMeta;
    assert.ok(m.psth);
    assert.deepEqual(m.psth.evalCondIdx.map((r) => [...r]), COND_IDX);
    assert.deepEqual([...m.psth.evalJitter], JITTER);
    assert.deepEqual(m.psth.psth.shape, [3, B, N]);
    assert.deepEqual([...m.psth.psth.data], [...Float32Array.from(psthData())]);
    // rates whose shifted means are the PSTHs score 1; any change to the kept rows lowers it
    const rates = oracleRates(NTR);
    const test = await evaluate({ rates }, d, { onWarning: () => {} });
    assert.equal(test.psthR2, 1);
    // one value moved by 0.5 (eval trial 1, of condition 2's 3 trials, bin 0, neuron 0): that
    // condition mean moves by 1/6, SS_res = 1/36. Neuron 0's 9 kept rows are 1.5 + 0.5b (bins
    // 1–4 of condition 0) and 3 + 0.5b (bins 0–4 of condition 2): sum 29, sum of squares 104,
    // SS_tot = 104 − 29²/9 = 95/9, R² = 1 − (1/36)/(95/9) = 1 − 1/380; the other 4 neurons
    // stay 1, so the uniform average is 1 − 1/1900
    const moved = array3d(Float32Array.from(rates.data), [...rates.shape]);
    moved.data[((NTR + 1) * B + 0) * N + 0] += 0.5;
    const r2 = (await evaluate({ rates: moved }, d, { onWarning: () => {} })).psthR2!;
    assert.ok(Math.abs(r2 - (1 - 1 / 1900)) < 1e-15, `${r2}`);
    // the val split has no PSTH targets (nlb_tools' index the eval trials only)
    assert.equal(
      (await evaluate({ rates }, d, { split: "val", onWarning: () => {} })).psthR2,
      undefined,
    );
    // evaluate takes the eval trials' rates, held-in then held-out, as nlb_tools does
    const own = await nlbPsthR2(array3d(moved.data.slice(NTR * B * N), [NEV, B, N]), m.psth);
    assert.equal(own, r2);
    // a plain 2-D eval_cond_idx works as well (each row a condition, here of equal length)
    const plain = await writeFiles(dir, {
      eval_cond_idx: { data: Int32Array.of(0, 3, 1, 2, 1, 2), shape: [3, 2] },
    });
    const p = (await loadNlb(plain)).meta.nlb as NlbMeta;
    assert.deepEqual(p.psth!.evalCondIdx.map((r) => [...r]), [[0, 3], [1, 2], [1, 2]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nlb: PSTH targets nlb_tools could not score are refused, naming file, key and problem", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const psth = (edit: (p: Float32Array) => void) => {
      const p = Float32Array.from(psthData());
      edit(p);
      return { psth: { data: p, shape: [3, B, N] } };
    };
    const cases: [Hdf5Tree, RegExp][] = [
      [
        { psth: { data: new Float32Array(3 * B * 4), shape: [3, B, 4] } },
        /target_data\.h5: key "psth": expected shape \[\*, 6, 5\] \(\[conditions, bins, held-in \+ held-out\]\), found \[3, 6, 4\]/,
      ],
      [
        { eval_cond_idx: { data: Int32Array.of(0, 1), shape: [2, 1] } },
        /key "eval_cond_idx": expected one list of eval-trial indices per psth condition \(3\), found shape \[2, 1\]/,
      ],
      [
        { eval_cond_idx: { data: Int32Array.of(0, 5, 1), shape: [3, 1] } },
        /key "eval_cond_idx": condition 1 lists trial 5; expected indices of the 5 eval trials \[0, 5\)/,
      ],
      [
        { eval_jitter: { data: Int32Array.of(0, 0, 6, 0, 0), shape: [NEV] } },
        /key "eval_jitter": eval trial 2 has jitter 6; expected whole bins in \(-6, 6\)/,
      ],
      [
        { eval_jitter: { data: Int32Array.of(0, 0), shape: [2] } },
        /key "eval_jitter": expected shape \[5\] \(\[eval trials\]\), found \[2\]/,
      ],
      [
        // condition 0 defined at bin 0, but trial 0 moves one bin later: nothing to average
        psth((p) => p.fill(1, 0, N)),
        /key "psth": condition 0, bin 0 is defined, but eval trial 0's jitter 1 shifts its rates off that bin/,
      ],
      [
        psth((p) => (p[(2 * B + 1) * N + 3] = NaN)),
        /key "psth": condition 2, bin 1: neuron 3 is NaN where neuron 0 is not/,
      ],
    ];
    for (const [target, err] of cases) {
      await assert.rejects(async () => loadNlb(await writeFiles(dir, target)), err);
    }
    // psth without eval_cond_idx: nlb_tools would fail, so hest says what is missing
    const path = await writeFiles(dir);
    const noIdx = path.split(",").slice(0, 3).join(",");
    await assert.rejects(
      () => loadNlb(noIdx),
      /target_data\.h5: key "eval_cond_idx": missing while psth is present/,
    );
    // condition 1 has no trials, so its PSTH may be anything (eval_psth skips it)
    await loadNlb(await writeFiles(dir, psth((p) => p.fill(NaN, B * N + 1, B * N + 2))));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
