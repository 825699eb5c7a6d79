"""hest cell export (OUTDIR/*.f32 + meta.json) -> NLB-style h5 for NDT (train = hest train windows,
eval = hest val windows) + test.npz / val.npz / train.npz for scoring."""
import json, sys, numpy as np, h5py
d = sys.argv[1]
meta = json.load(open(f"{d}/meta.json"))
A = {k: np.fromfile(f"{d}/{k}.f32", dtype="<f4").reshape(s) for k, s in meta["arrays"].items()}
hi, ho = np.array(meta["heldIn"]), np.array(meta["heldOut"])
sp = {k: np.array(v) for k, v in meta["split"].items()}
with h5py.File(f"{d}/cell.h5", "w") as f:
    for pre, tr in (("train", sp["train"]), ("eval", sp["val"])):
        f[f"{pre}_spikes_heldin"] = A["counts"][tr][:, :, hi]
        f[f"{pre}_spikes_heldout"] = A["counts"][tr][:, :, ho]
        f[f"{pre}_spikes_heldin_forward"] = A["forwardCounts"][tr][:, :, hi]
        f[f"{pre}_spikes_heldout_forward"] = A["forwardCounts"][tr][:, :, ho]
for name in ("train", "val", "test"):
    np.savez(f"{d}/{name}.npz", counts=A["counts"][sp[name]], behavior=A["behavior"][sp[name]], heldIn=hi, heldOut=ho)
print({k: v.shape for k, v in A.items()}, {k: len(v) for k, v in sp.items()}, "max", A["counts"].max(), "mean", A["counts"].mean())
