"""hest export (results/real_ndt/driver/export_cell.ts) of a cell config (cell_s7.json: M1, 1-s windows,
20 % held out, first 80 % train / last 20 % eval) ->
one NLB-layout h5 as nlb_tools' save_to_h5 would hold train input, eval input and targets."""
import json, sys, numpy as np, h5py
d, out = sys.argv[1], sys.argv[2]
meta = json.load(open(f"{d}/meta.json"))
A = {k: np.fromfile(f"{d}/{k}.f32", dtype="<f4").reshape(s) for k, s in meta["arrays"].items()}
hi, ho = np.array(meta["heldIn"]), np.array(meta["heldOut"])
tr, te = np.array(meta["split"]["train"]), np.array(meta["split"]["test"])
with h5py.File(out, "w") as f:
    g = f.create_group("m1_stevenson_50")
    g.attrs["bin_size_ms"] = 50
    for pre, idx in (("train", tr), ("eval", te)):
        g[f"{pre}_spikes_heldin"] = A["counts"][idx][:, :, hi]
        g[f"{pre}_spikes_heldout"] = A["counts"][idx][:, :, ho]
        g[f"{pre}_behavior"] = A["behavior"][idx]
print("train", len(tr), "eval", len(te), "heldin", len(hi), "heldout", len(ho))
