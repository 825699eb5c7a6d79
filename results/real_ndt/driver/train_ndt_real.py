"""Train NDT (snel-repo/neural-data-transformers, unmodified src/) on one cell of hest's real-data
protocol with a wall-time budget and score the best-validation checkpoint on the cell's test
windows (co-bps with nlb_tools; vel R^2 as hest's protocol computes it).

Adapted from ../shared/bench/ndt_lorenz/train_ndt.py: the scoring (no true rates on real data)
and the paths changed; NDT_BENCH names the folder of that driver (its shims), NDT_SRC NDT's source.

Uses NDT's own Runner: its data loader (NLB path), masker, model, AdamW, train_epoch() (one pass
over the training set = one NDT "update"), its validation every VAL_INTERVAL updates and its
early-stopping checkpoint <variant>.lve.pth (best masked validation loss). This driver only
replaces Runner.train()'s loop with one that also stops on wall time and, at chosen training
wall times, scores the current .lve.pth checkpoint on hest's val and test trials with nlb_tools.

usage: results/real_ndt/driver/run_cell.sh (from the project root)
"""
import argparse, copy, json, os, sys, time, types

HERE = os.environ.get("NDT_BENCH", os.path.join(os.getcwd(), "..", "shared", "bench", "ndt_lorenz"))
NDT = os.environ.get("NDT_SRC", os.path.join(HERE, "..", "..", "peers", "ndt"))
sys.path[:0] = [os.path.join(HERE, "shims"), NDT, os.path.join(HERE, "..", "..", "peers", "nlb_tools")]
import ndt_tb_noop  # noqa: E402
sys.modules["src.tb_wrapper"] = types.SimpleNamespace(TensorboardWriter=ndt_tb_noop.TensorboardWriter)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from nlb_tools.evaluation import bits_per_spike  # noqa: E402
from src.run import prepare_config  # noqa: E402
from src.runner import Runner  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--config", required=True)
p.add_argument("--budget-s", type=float, required=True, help="training wall-time budget (s)")
p.add_argument("--snap-s", default="", help="comma list of training wall times to score at")
p.add_argument("--snap-epochs", default="", help="comma list of epochs (NDT updates) to score at")
p.add_argument("--every-s", type=float, default=120.0, help="also score every this many seconds")
p.add_argument("--out", required=True)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--data", default=os.path.join(HERE, "data"))
p.add_argument("opts", nargs=argparse.REMAINDER)
args = p.parse_args()
torch.set_num_threads(args.threads)
os.makedirs(args.out, exist_ok=True)

config, _ = prepare_config(args.config, "train", None, args.opts or None)
runner = Runner(config)
# --- Runner.train() setup, verbatim order ---
runner.load_device()
runner.load_train_val_data_and_masker()
runner.setup_model(runner.device)
runner.load_optimizer(None)
n_params = sum(p.numel() for p in runner.model.parameters() if p.requires_grad)
n_batches = len(runner.training_generator)
print(f"params {n_params}  batches/epoch {n_batches}  trial_length {runner.trial_length} "
      f"neurons {runner.num_neurons}  max_spikes {runner.max_spikes}", flush=True)

test = np.load(os.path.join(args.data, "test.npz"))
val = np.load(os.path.join(args.data, "val.npz"))
trn = np.load(os.path.join(args.data, "train.npz"))
HI, HO = test["heldIn"], test["heldOut"]
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402


def predict(model, counts):
    """counts [N, T, neurons] (original order) -> expected counts [N, T, neurons] (original order)."""
    x = torch.tensor(counts[:, :, HI]).long().clamp(max=runner.max_spikes)
    n, t, _ = x.shape
    x = torch.cat([x, torch.zeros(n, t, len(HO), dtype=torch.long)], -1)
    model.eval()
    with torch.no_grad():
        _, rates, *_ = model(x, mask_labels=x)
    rates = rates.exp().numpy().astype(np.float64)
    out = np.empty_like(rates)
    out[..., HI] = rates[..., : len(HI)]
    out[..., HO] = rates[..., len(HI):]
    return out


def vel_r2(ptrain, ptest):
    """hest's protocol: 5-fold CV ridge (alpha in logspace(-4, 0, 9)) from all rates to velocity,
    fit on the train windows, R^2 (uniform over dims) on the test windows; NaN behaviour rows dropped."""
    X, Y = ptrain.reshape(-1, ptrain.shape[-1]), trn["behavior"].reshape(-1, trn["behavior"].shape[-1])
    ok = np.isfinite(Y).all(1)
    g = GridSearchCV(Ridge(), {"alpha": np.logspace(-4, 0, 9)}, cv=5).fit(X[ok], Y[ok])
    Xt, Yt = ptest.reshape(-1, ptest.shape[-1]), test["behavior"].reshape(-1, test["behavior"].shape[-1])
    okt = np.isfinite(Yt).all(1)
    from sklearn.metrics import r2_score as r2
    return float(r2(Yt[okt], g.predict(Xt[okt]), multioutput="uniform_average"))


def score(pred, d, ptrain=None):
    r = {"co_bps": float(bits_per_spike(pred[:, :, HO], d["counts"][:, :, HO].astype(np.float64))),
         "heldin_bps": float(bits_per_spike(pred[:, :, HI], d["counts"][:, :, HI].astype(np.float64)))}
    if ptrain is not None:
        r["vel_r2"] = vel_r2(ptrain, pred)
    return r


eval_model = copy.deepcopy(runner.model)
lve = os.path.join(config.CHECKPOINT_DIR, f"{config.VARIANT}.lve.pth")
log = open(os.path.join(args.out, "log.jsonl"), "w")


def snapshot(tag, train_s, wall_s):
    row = {"tag": tag, "train_wall_s": round(train_s, 1), "total_wall_s": round(wall_s, 1),
           "epochs": runner.count_updates, "steps": runner.count_updates * n_batches,
           "best_val_masked_loss": runner.best_val["value"], "best_val_epoch": runner.best_val["update"]}
    if os.path.exists(lve):
        eval_model.load_state_dict(torch.load(lve, map_location="cpu")["state_dict"])
        row["best"] = {"val": score(predict(eval_model, val["counts"]), val),
                       "test": score(predict(eval_model, test["counts"]), test, predict(eval_model, trn["counts"]) if tag == "final" else None)}
    row["last"] = {"val": score(predict(runner.model, val["counts"]), val),
                   "test": score(predict(runner.model, test["counts"]), test)}
    runner.model.train()
    log.write(json.dumps(row) + "\n"); log.flush()
    b = row.get("best", row["last"])
    print(f"[{tag}] train {train_s:.0f}s epochs {row['epochs']} steps {row['steps']} best@{row['best_val_epoch']}"
          f" | best-ckpt val co-bps {b['val']['co_bps']:.4f} test co-bps {b['test']['co_bps']:.4f}"
          f" vel R2 {b['test'].get('vel_r2', float('nan')):.3f} | last test co-bps {row['last']['test']['co_bps']:.4f}", flush=True)
    return row


snaps = sorted(float(s) for s in args.snap_s.split(",") if s)
snap_epochs = sorted(int(s) for s in args.snap_epochs.split(",") if s)
t0 = time.time()
train_s = 0.0
next_every = args.every_s
metrics = {"done": False}
while runner.count_updates < config.TRAIN.NUM_UPDATES and train_s < args.budget_s:
    t = time.time()
    metrics = runner.train_epoch()  # one pass over the training set (+ NDT's val every VAL_INTERVAL)
    train_s += time.time() - t
    while snaps and train_s >= snaps[0]:
        snapshot(f"snap{snaps.pop(0):.0f}", train_s, time.time() - t0)
    while snap_epochs and runner.count_updates >= snap_epochs[0]:
        snapshot(f"epoch{snap_epochs.pop(0)}", train_s, time.time() - t0)
    if train_s >= next_every:
        snapshot("periodic", train_s, time.time() - t0)
        next_every += args.every_s
    if metrics["done"]:
        print("NDT early stopping triggered", flush=True)
        break
final = snapshot("final", train_s, time.time() - t0)
json.dump({"params": n_params, "batches_per_epoch": n_batches, "config": json.loads(json.dumps(config)),
           "final": final}, open(os.path.join(args.out, "summary.json"), "w"), indent=1)
