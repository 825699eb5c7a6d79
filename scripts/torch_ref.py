#!/usr/bin/env python3
"""PyTorch peer of hest's speed benchmark (scripts/bench.ts).

The models and steps of bench.ts's reference configuration, written in plain PyTorch
(nn.Module, autograd), so that `deno task bench --vs-torch` can set hest's rows against
the same work done by PyTorch on the same machine:

  workload   32 trials x 100 bins x 100 neurons of Poisson(0.44) counts
  models     width 128, 4 blocks, 4 heads, feed-forward 512, dropout 0; sinusoidal
             positions, raw counts in (bench's `reference` HybridConfig), a learned mask
             token for masked bins, final layer norm, linear read-out to log-rates.
             One parameter tree serves both modes, as in hest's hybrid model.
    standard   pre-norm blocks, softmax attention (fused QKV linear), exact GELU MLP
    conv       standard, with Q and K from a centred kernel-3 convolution over bins
    spiking    T = 4 timesteps (the embedding repeated over T); in front of every LIF a
               per-trial norm over T and bins; multi-step LIF (tau 2, V_th 1, hard reset
               to 0, input decayed, reset detached, sigmoid surrogate alpha 4);
               softmax-free attention Q.K^T.V x 0.125 with an attention LIF at
               V_th 0.5; SEW-ADD residuals; mean over T before the read-out
  train step mask sampling (Bernoulli 0.2 per trial and bin, masked bins zeroed),
             forward, masked Poisson NLL, backward, global-norm clip 1.0, AdamW
             (lr 1e-4, weight decay 0.01 on weight matrices only)
  inference  forward only, unmasked, batch 32 and batch 1

Each model runs in its own Python process with the given thread count (torch threads,
OMP/OpenBLAS/MKL pools), so thread pools and peak RSS are its own. Every model prints one
JSON line to stdout (train_step_ms, infer_ms_b32, infer_ms_b1: medians in ms; on failure
"error" and "stderr_tail"); lines starting with "#" are information for people.

PyTorch comes from Debian's python3-torch (run with /usr/bin/python3). Install
libopenblas0-openmp (or another OpenBLAS) as well: without it torch's matrix products
run on the netlib reference BLAS and the timings say little; every line reports the
BLAS in use ("blas") and warns about the reference one.

  /usr/bin/python3 scripts/torch_ref.py --models standard,spiking --steps 5
"""
import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

# bench.ts's reference configuration (keep the two in step: bench pairs rows by these)
BATCH, BINS, NEURONS = 32, 100, 100
WIDTH, LAYERS, HEADS, FF = 128, 4, 4, 512
TIMESTEPS = 4
POSITION = "sinusoidal"  # bench: position "sinusoidal"
INPUT_TRANSFORM = "none"  # bench: inputTransform "none"
MEAN_COUNT = 0.44
MASK_RATIO = 0.2
LR, WEIGHT_DECAY, CLIP_NORM = 1e-4, 0.01, 1.0
LIF_TAU, LIF_THRESHOLD, SURROGATE_ALPHA = 2.0, 1.0, 4.0
ATTN_THRESHOLD, SSA_SCALE = 0.5, 0.125
NORM_EPS = 1e-5

# model name -> (attention kind, mode)
MODELS = {
    "standard": ("dot", "standard"),
    "conv": ("conv", "standard"),
    "spiking": ("dot", "spiking"),
}


def config():
    """The configuration every JSON line carries, so a saved result describes itself."""
    return {
        "batch": BATCH, "bins": BINS, "neurons": NEURONS, "dModel": WIDTH, "nLayers": LAYERS,
        "nHeads": HEADS, "dFF": FF, "timesteps": TIMESTEPS, "position": POSITION,
        "inputTransform": INPUT_TRANSFORM, "maskRatio": MASK_RATIO,
    }


# ------------------------------------------------------------------------------ helpers
def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux


def mapped_blas():
    """The BLAS libraries mapped into this process (torch's sgemm_ comes from one of them)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
    except OSError:
        return []
    return sorted(paths)


def blas_warning(libs):
    # Debian's netlib build lives in .../blas/; OpenBLAS in .../openblas-*/
    if any("/blas/libblas" in p for p in libs) and not any("openblas" in p for p in libs):
        return ("torch uses the netlib reference BLAS: install libopenblas0-openmp for timings "
                "worth comparing")
    return None


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts), max(ts)


# ------------------------------------------------------------------------------ models
def build(torch):
    """The model classes; torch is imported by the worker only, so --help needs none."""
    import torch.nn as nn
    import torch.nn.functional as F

    class SpikeFn(torch.autograd.Function):
        """Heaviside step forward; the derivative of sigmoid(alpha x) backward."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x >= 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            s = torch.sigmoid(SURROGATE_ALPHA * x)
            return grad * SURROGATE_ALPHA * s * (1 - s)

    class NormLIF(nn.Module):
        """Per-trial norm of [T, B, L, C] over T and L (gain and bias per channel), then a
        multi-step LIF over T. The norm gives every bin an input of comparable scale, so
        masked (zeroed) bins still spike."""

        def __init__(self, channels, threshold=LIF_THRESHOLD):
            super().__init__()
            self.g = nn.Parameter(torch.ones(channels))
            self.b = nn.Parameter(torch.zeros(channels))
            self.threshold = threshold

        def forward(self, x):
            var, mean = torch.var_mean(x, dim=(0, 2), unbiased=False, keepdim=True)
            x = (x - mean) * torch.rsqrt(var + NORM_EPS) * self.g + self.b
            v = torch.zeros_like(x[0])
            spikes = []
            for xt in x:
                h = v + (xt - v) / LIF_TAU  # charge, input decayed, V_reset = 0
                s = SpikeFn.apply(h - self.threshold)
                v = h * (1 - s.detach())  # hard reset; no gradient through the reset
                spikes.append(s)
            return torch.stack(spikes)

    class BinConv(nn.Conv1d):
        """Centred convolution over the bin axis of [..., L, C]."""

        def __init__(self, channels, kernel):
            super().__init__(channels, channels, kernel, padding=kernel // 2)

        def forward(self, x):
            lead, (length, c) = x.shape[:-2], x.shape[-2:]
            y = super().forward(x.reshape(-1, length, c).transpose(1, 2))
            return y.transpose(1, 2).reshape(*lead, length, c)

    def heads(x):  # [..., L, D] -> [..., H, L, D/H]
        return x.unflatten(-1, (HEADS, WIDTH // HEADS)).transpose(-3, -2)

    def merge(x):  # [..., H, L, d] -> [..., L, D]
        return x.transpose(-3, -2).flatten(-2)

    class Block(nn.Module):
        """One block of both modes: shared projections, the standard mode's pre-norms and
        the spiking mode's norm+LIF sites."""

        def __init__(self, attention):
            super().__init__()
            self.ln1 = nn.LayerNorm(WIDTH, eps=NORM_EPS)
            self.ln2 = nn.LayerNorm(WIDTH, eps=NORM_EPS)
            self.conv = attention == "conv"
            if self.conv:
                self.q = BinConv(WIDTH, 3)
                self.k = BinConv(WIDTH, 3)
                self.v = nn.Linear(WIDTH, WIDTH)
            else:
                self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
            self.o = nn.Linear(WIDTH, WIDTH)
            self.ff1 = nn.Linear(WIDTH, FF)
            self.ff2 = nn.Linear(FF, WIDTH)
            self.lif_q, self.lif_k, self.lif_v = (NormLIF(WIDTH) for _ in range(3))
            self.lif_attn = NormLIF(WIDTH, ATTN_THRESHOLD)
            self.lif_o = NormLIF(WIDTH)
            self.lif_ff1 = NormLIF(FF)
            self.lif_ff2 = NormLIF(WIDTH)

        def project(self, x):
            if self.conv:
                return self.q(x), self.k(x), self.v(x)
            return self.qkv(x).chunk(3, dim=-1)

        def standard(self, x):  # [B, L, D]
            q, k, v = (heads(t) for t in self.project(self.ln1(x)))
            att = torch.softmax(q @ k.transpose(-2, -1) * (WIDTH // HEADS) ** -0.5, dim=-1)
            x = x + self.o(merge(att @ v))
            return x + self.ff2(F.gelu(self.ff1(self.ln2(x))))

        def spiking(self, x):  # [T, B, L, D]
            q, k, v = self.project(x)
            q, k, v = heads(self.lif_q(q)), heads(self.lif_k(k)), heads(self.lif_v(v))
            att = q @ k.transpose(-2, -1) * SSA_SCALE  # softmax-free: spikes in, no softmax
            x = x + self.lif_o(self.o(self.lif_attn(merge(att @ v))))  # SEW ADD
            return x + self.lif_ff2(self.ff2(self.lif_ff1(self.ff1(x))))

    def sinusoids(length, dim):
        pos = torch.arange(length, dtype=torch.float32)[:, None]
        freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
        pe = torch.zeros(length, dim)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)
        return pe

    class Hybrid(nn.Module):
        """Counts [B, L, N] -> log-rates [B, L, N] in "standard" or "spiking" mode."""

        def __init__(self, attention):
            super().__init__()
            self.embed = nn.Linear(NEURONS, WIDTH)
            self.mask_token = nn.Parameter(torch.randn(WIDTH) * 0.02)
            if POSITION == "learned":
                self.pos = nn.Parameter(torch.randn(BINS, WIDTH) * 0.02)
            else:
                self.register_buffer("pos", sinusoids(BINS, WIDTH))
            self.lif_embed = NormLIF(WIDTH)
            self.blocks = nn.ModuleList(Block(attention) for _ in range(LAYERS))
            self.ln_final = nn.LayerNorm(WIDTH, eps=NORM_EPS)
            self.readout = nn.Linear(WIDTH, NEURONS)
            self._init_like_hest()

        def _init_like_hest(self):
            # hest's initialisation (Glorot-uniform weights, zero biases, residual outputs
            # scaled by 1/sqrt(2 layers)) rather than PyTorch's defaults, so both sides start
            # from the same distribution and the spiking mode fires at comparable rates
            out_gain = 1 / math.sqrt(2 * LAYERS)
            for name, m in self.named_modules():
                if isinstance(m, (nn.Linear, nn.Conv1d)):
                    last = name.rsplit(".", 1)[-1]
                    gain = out_gain if last in ("o", "ff2") else 1.0
                    nn.init.xavier_uniform_(m.weight, gain=gain)
                    nn.init.zeros_(m.bias)

        def embedding(self, x, masked_bins):
            if INPUT_TRANSFORM == "log1p":
                x = torch.log1p(x)
            e = self.embed(x)
            if masked_bins is not None:
                e = torch.where(masked_bins[..., None], self.mask_token, e)
            return e + self.pos

        def forward(self, x, masked_bins=None, mode="standard"):
            e = self.embedding(x, masked_bins)
            if mode == "standard":
                for block in self.blocks:
                    e = block.standard(e)
            else:
                # direct encoding: the same input at every timestep, embedded once
                s = self.lif_embed(e.expand(TIMESTEPS, *e.shape))
                for block in self.blocks:
                    s = block.spiking(s)
                e = s.mean(0)
            return self.readout(self.ln_final(e))

    def masked_poisson_nll(log_rates, counts, masked_bins):
        nll = F.poisson_nll_loss(log_rates, counts, log_input=True, full=False, reduction="none")
        w = masked_bins[..., None].expand_as(nll).to(nll.dtype)
        return (nll * w).sum() / w.sum().clamp(min=1)

    return Hybrid, masked_poisson_nll


# ------------------------------------------------------------------------------ workers
def worker_model(args):
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    Hybrid, masked_poisson_nll = build(torch)
    attention, mode = MODELS[args.worker]
    gen = torch.Generator().manual_seed(7)
    counts = torch.poisson(torch.full((BATCH, BINS, NEURONS), MEAN_COUNT), generator=gen)
    model = Hybrid(attention)
    params = list(model.parameters())
    # weight decay on weight matrices only (hest's default decay mask)
    opt = torch.optim.AdamW(
        [{"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.999), eps=1e-8)
    losses, norms = [], []

    def train_step():
        masked = torch.rand(BATCH, BINS, generator=gen) < MASK_RATIO
        x = counts.masked_fill(masked[..., None], 0.0)
        loss = masked_poisson_nll(model(x, masked, mode), counts, masked)
        # the parameters the other mode uses keep grad None: AdamW and the clip skip them
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)))
        opt.step()
        losses.append(float(loss))

    model.train()
    train = median_ms(train_step, args.warmup, args.steps)
    model.eval()
    infer = {}
    with torch.inference_mode():
        for b in (32, 1):
            x = counts[:b].contiguous()
            infer[b] = median_ms(lambda: model(x, None, mode), args.warmup, args.infer_steps)
    libs = mapped_blas()
    out = {
        "model": args.worker,
        "mode": mode,
        "attention": attention,
        "threads": torch.get_num_threads(),
        "train_step_ms": round(train[0], 3),
        "train_step_ms_min": round(train[1], 3),
        "train_step_ms_max": round(train[2], 3),
        "infer_ms_b32": round(infer[32][0], 3),
        "infer_ms_b32_min": round(infer[32][1], 3),
        "infer_ms_b1": round(infer[1][0], 3),
        "infer_ms_b1_min": round(infer[1][1], 3),
        "params": sum(p.numel() for p in params),
        "loss_first": round(losses[0], 5),
        "loss_last": round(losses[-1], 5),
        "grad_norm_last": round(norms[-1], 4),
        "peak_rss_mb": peak_rss_mb(),
        "steps": args.steps,
        "warmup": args.warmup,
        "infer_steps": args.infer_steps,
        "torch": torch.__version__,
        "blas": libs,
        "config": config(),
    }
    warning = blas_warning(libs)
    if warning:
        out["warning"] = warning
    print(json.dumps(out), flush=True)


def worker_matmul(args):
    """GFLOP/s of plain products, to tell a slow BLAS from a slow model."""
    import torch

    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    out = {"probe": "matmul", "threads": torch.get_num_threads()}
    # a square product and the model's widest linear (all bins of the batch, width -> FF)
    for name, (m, k, n) in {"mm_1024": (1024, 1024, 1024),
                            "linear_3200x128x512": (BATCH * BINS, WIDTH, FF)}.items():
        a = torch.randn(m, k, generator=gen)
        b = torch.randn(k, n, generator=gen)
        ms = median_ms(lambda: a @ b, 2, 10)[0]
        out[f"gflops_{name}"] = round(2 * m * k * n / ms / 1e6, 1)
    out["blas"] = mapped_blas()
    print(json.dumps(out), flush=True)


# ------------------------------------------------------------------------------ driver
def busy_cores(window=1.0):
    """Cores' worth of CPU time used on the machine over `window` seconds."""
    def busy():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:8]]
        return v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq

    b0 = busy()
    time.sleep(window)
    return (busy() - b0) / os.sysconf("SC_CLK_TCK") / window


def wait_for_quiet(max_s):
    """Wait (at most max_s seconds) until other processes use under a quarter of a core."""
    t0 = time.monotonic()
    try:
        load = busy_cores()
        while load > 0.25 and time.monotonic() - t0 < max_s:
            load = busy_cores()
    except OSError:
        return
    if load > 0.25:
        print(f"# still {load:.2f} cores busy after waiting {max_s:g} s", flush=True)


def run_worker(kind, threads, args):
    """Run one worker process; forward its JSON line, or print an error line. True if ok."""
    if args.quiet_wait > 0:
        wait_for_quiet(args.quiet_wait)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)  # BLAS pools sized like torch's, set before torch loads them
    argv = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--threads", str(threads),
            "--steps", str(args.steps), "--warmup", str(args.warmup),
            "--infer-steps", str(args.infer_steps)]
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or not lines:
        err = {"error": f"{kind} worker exited with status {r.returncode}",
               "threads": threads, "stderr_tail": r.stderr[-2000:]}
        if kind in MODELS:
            err = {"model": kind, **err}
        print(json.dumps(err), flush=True)
        return False
    print(lines[-1], flush=True)
    return True


def sysinfo():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), None)
    except OSError:
        pass
    # Debian's alternatives link: which BLAS a plain `import torch` will load
    link = f"/usr/lib/{platform.machine()}-linux-gnu/libblas.so.3"
    blas = f"; system libblas.so.3 -> {os.path.realpath(link)}" if os.path.exists(link) else ""
    print(f"# torch_ref.py: python {platform.python_version()} ({sys.executable}), "
          f"{os.cpu_count()} cpus, {cpu or 'unknown CPU'}{blas}", flush=True)


# ------------------------------------------------------------------------------ command line
def csv_of(parse, what):
    def f(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}")
        return [parse(t) for t in items]
    return f


def model_name(text):
    if text not in MODELS:
        raise argparse.ArgumentTypeError(
            f"unknown model {text!r}; expected some of {', '.join(MODELS)}")
    return text


def int_at_least(lo):
    def f(text):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < lo:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, found {text!r}")
        return v
    return f


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="torch_ref.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=csv_of(model_name, "models"), default=list(MODELS),
                    help=f"comma-separated models to time (default {','.join(MODELS)})")
    ap.add_argument("--threads-list", type=csv_of(int_at_least(1), "thread counts"), default=[1],
                    help="comma-separated thread counts, each model is run with each (default 1)")
    ap.add_argument("--steps", type=int_at_least(1), default=5,
                    help="timed train steps (default 5)")
    ap.add_argument("--warmup", type=int_at_least(0), default=1,
                    help="untimed train steps and inference calls first (default 1)")
    ap.add_argument("--infer-steps", type=int_at_least(1), default=5,
                    help="timed inference calls per batch size (default 5)")
    ap.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                    help="before each model, wait up to this long for the machine to be idle "
                         "(default 0: do not wait)")
    ap.add_argument("--no-matmul", action="store_true",
                    help="skip the matmul GFLOP/s probe run first for each thread count")
    ap.add_argument("--no-sysinfo", action="store_true",
                    help="skip the '#' line describing the machine")
    # internal: one worker process per (model or probe, thread count)
    ap.add_argument("--worker", choices=[*MODELS, "matmul"], help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int_at_least(1), default=1, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main():
    args = parse_args()
    if args.worker == "matmul":
        worker_matmul(args)
        return 0
    if args.worker:
        worker_model(args)
        return 0
    if not args.no_sysinfo:
        sysinfo()
    ok = True
    for threads in args.threads_list:
        if not args.no_matmul:
            ok = run_worker("matmul", threads, args) and ok
        for m in args.models:
            ok = run_worker(m, threads, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
