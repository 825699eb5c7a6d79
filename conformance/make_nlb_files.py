"""Write synthetic NLB files in nlb_tools' own layout, with nlb_tools' own save_to_h5.

usage: python3 make_nlb_files.py NLB_TOOLS_DIR OUT_DIR [--seed S]

Writes OUT_DIR/train_input.h5, eval_input.h5 and target_data.h5 as make_train_input_tensors
(include_forward_pred=True), make_eval_input_tensors (test split) and make_eval_target_tensors
(include_psth=True) lay them out for mc_maze_small at 20-ms bins (35 bins = 700 ms, 10 forward
bins = 200 ms), from seeded Poisson counts of smooth rates:

- 5 reach conditions; a condition's rates are exp(bias + weights . latent(t)) with a latent
  bell-shaped speed profile along the reach direction, and the hand velocity follows it;
- eval trials are jittered by whole bins (nlb_tools' `jitter`: trial bin b is condition time
  b + jitter), train trials are not;
- psth = per condition, the mean of Gaussian-smoothed counts (kern_sd 50 ms) of all its trials
  aligned by jitter, NaN where an eval trial's shift leaves a bin uncovered and, for one
  condition, at its last 3 bins (a shorter condition, as nlb_tools pads PSTHs with NaN);
- eval_cond_idx / train_cond_idx are object arrays (save_to_h5 stores them variable-length);
  condition 4 has no eval trials and 2 eval trials are in no condition (as _make_psth drops
  trials shorter than 80% of the mean);
- eval_spikes_heldin has NaN bins in 2 trials (make_eval_input_tensors' allow_nans, a window
  past the recorded data); one train and one eval trial have NaN behaviour (a behaviour mask).
"""

import argparse
import os

import numpy as np
from scipy.ndimage import gaussian_filter1d

from nlb_import import import_nlb_tools

DATASET = "mc_maze_small_20"
B, F = 35, 10  # 700 ms and 200 ms at 20-ms bins
N_IN, N_OUT = 24, 8
N_COND = 5
N_TRAIN, N_EVAL = 60, 20  # eval trials only in conditions 0-3
JITTERS = [0, -2, 1, 0, 2]  # eval trial k: JITTERS[(k // 4) % 5], so each condition mixes them
KERN_SD_BINS = 50 / 20


def main():
    p = argparse.ArgumentParser()
    p.add_argument("nlb_tools")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    make_tensors, _ = import_nlb_tools(a.nlb_tools)
    rng = np.random.default_rng(a.seed)
    n = N_IN + N_OUT

    # condition templates over condition time tau = -2 .. B + F + 2 (room for the jitter)
    pad = max(abs(j) for j in JITTERS)
    tau = np.arange(-pad, B + F + pad, dtype=float)
    angle = 2 * np.pi * np.arange(N_COND) / N_COND
    speed = np.exp(-(((tau - 17) / 5) ** 2))
    late = np.exp(-(((tau - 27) / 6) ** 2))
    vel = speed[None, :, None] * np.stack([np.cos(angle), np.sin(angle)], -1)[:, None, :]
    latent = np.concatenate([vel, np.broadcast_to(late[None, :, None], (N_COND, len(tau), 1))], -1)
    bias = np.log(rng.uniform(0.1, 0.6, n))
    w = rng.normal(0, 0.8, (3, n))
    rates = np.exp(bias + latent @ w)  # [conditions, tau, neurons], expected counts per bin

    cond = np.concatenate([np.arange(N_TRAIN) % N_COND, np.arange(N_EVAL) % (N_COND - 1)])
    jitter = np.zeros(N_TRAIN + N_EVAL, dtype=int)
    jitter[N_TRAIN:] = [JITTERS[(k // 4) % len(JITTERS)] for k in range(N_EVAL)]
    spikes = np.empty((N_TRAIN + N_EVAL, B + F, n))
    behavior = np.empty((N_TRAIN + N_EVAL, B, 2))
    for t in range(N_TRAIN + N_EVAL):
        at = np.arange(B + F) + jitter[t] + pad  # trial bin b is condition time b + jitter
        spikes[t] = rng.poisson(rates[cond[t], at])
        behavior[t] = 100 * vel[cond[t], at[:B]] + rng.normal(0, 2, (B, 2))
    behavior[5] = np.nan
    behavior[N_TRAIN + 4] = np.nan

    # PSTHs: smoothed counts of every trial of a condition, aligned by jitter
    smooth = gaussian_filter1d(spikes[:, :B], KERN_SD_BINS, axis=1, mode="nearest")
    psth = np.full((N_COND, B, n), np.nan)
    for c in range(N_COND):
        acc, cnt = np.zeros((B, n)), np.zeros((B, 1))
        for t in np.flatnonzero(cond == c):
            rows = np.arange(B) + jitter[t]
            ok = (rows >= 0) & (rows < B)
            acc[rows[ok]] += smooth[t, ok]
            cnt[rows[ok]] += 1
        psth[c] = acc / cnt
    eval_idx = [np.flatnonzero(cond[N_TRAIN:] == c) for c in range(N_COND)]
    eval_idx[0] = eval_idx[0][eval_idx[0] != 8]  # eval trials 8 and 10: in no condition
    eval_idx[2] = eval_idx[2][eval_idx[2] != 10]
    for c in range(N_COND):
        js = jitter[N_TRAIN:][eval_idx[c]]
        if len(js) == 0:
            continue
        psth[c, : max(js.max(), 0)] = np.nan  # a later trial does not cover the first bins
        psth[c, B + min(js.min(), 0) :] = np.nan
    psth[1, B - 3 :] = np.nan

    def objects(rows):
        out = np.empty(len(rows), dtype=object)  # an object array even when rows are equal length
        for i, r in enumerate(rows):
            out[i] = np.asarray(r, dtype=np.int64)
        return out

    train_idx = [np.flatnonzero(cond[:N_TRAIN] == c) for c in range(N_COND)]
    held_in, held_out = slice(0, N_IN), slice(N_IN, n)
    tr, ev = slice(0, N_TRAIN), slice(N_TRAIN, None)
    eval_heldin = spikes[ev, :B, held_in].copy()
    eval_heldin[3, B - 2 :] = np.nan  # allow_nans: the window ran past the recording
    eval_heldin[7, :1] = np.nan

    os.makedirs(a.out, exist_ok=True)
    save = make_tensors.save_to_h5
    save(
        {
            "train_spikes_heldin": spikes[tr, :B, held_in],
            "train_spikes_heldout": spikes[tr, :B, held_out],
            "train_spikes_heldin_forward": spikes[tr, B:, held_in],
            "train_spikes_heldout_forward": spikes[tr, B:, held_out],
        },
        os.path.join(a.out, "train_input.h5"),
        overwrite=True,
    )
    save({"eval_spikes_heldin": eval_heldin}, os.path.join(a.out, "eval_input.h5"), overwrite=True)
    save(
        {
            DATASET: {
                "eval_spikes_heldout": spikes[ev, :B, held_out],
                "train_behavior": behavior[tr],
                "eval_behavior": behavior[ev],
                "eval_spikes_heldin_forward": spikes[ev, B:, held_in],
                "eval_spikes_heldout_forward": spikes[ev, B:, held_out],
                "eval_cond_idx": objects(eval_idx),
                "train_cond_idx": objects(train_idx),
                "psth": psth,
                "eval_jitter": jitter[ev],
                "train_jitter": jitter[tr],
            }
        },
        os.path.join(a.out, "target_data.h5"),
        overwrite=True,
    )
    print(
        f"wrote {a.out}/{{train_input,eval_input,target_data}}.h5: {DATASET}, {N_TRAIN} train + "
        f"{N_EVAL} eval trials, {B} + {F} bins, {N_IN} + {N_OUT} neurons, {N_COND} conditions, "
        f"eval jitters {sorted(set(jitter[ev].tolist()))}"
    )


if __name__ == "__main__":
    main()
