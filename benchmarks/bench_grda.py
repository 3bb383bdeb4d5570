"""Time per training step of gRDA vs SGD on the same model and batches, in one process.

For each model (an MLP 784-1000-10 and a VGG16-BN at 1/8 width) both optimizers take the same
sequence of steps (forward, backward, optimizer step) on the same batches, from the same
initial weights, interleaved in blocks of 5 steps so that machine load hits both alike; two
blocks per optimizer warm up first. Reported per model: the ratio gRDA / SGD of the median full
step and of the median optimizer step alone, each as the median and the spread (min-max) over
``--runs`` independent runs (fresh models and optimizers). Chao et al. 2020 (Table 7) measured
1.42x on VGG16/CIFAR-10 on a V100; our goal is <= 1.10x for the full step.

Memory: on CUDA the peak allocated memory of the steps (``torch.cuda.max_memory_allocated``);
on CPU the bytes held by the optimizer state (gRDA's accumulator, 1x the parameters; its step
allocates no temporaries unless ``l2`` is set).

Run it on one pinned core with one thread (the script prints the command it ran under):

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_grda.py
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from landscape.models import create_model
from landscape.optim import create_optimizer

CASES = {
    "mlp": ("mlp 784-1000-10", "mlp", {"widths": [1000]}, (1, 28, 28), 60),
    "vgg": ("vgg16_bn x1/8 (BatchNorm)", "vgg16_bn", {"width": 0.125}, (3, 32, 32), 15),
    "vgg-full": ("vgg16_bn full (BatchNorm)", "vgg16_bn", {}, (3, 32, 32), 30),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _state_bytes(opt: torch.optim.Optimizer) -> int:
    return sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
               if isinstance(t, torch.Tensor))


def run_once(model_name, kwargs, input_shape, *, steps, batch, device):
    """One interleaved run; returns the median full-step and optimizer-step times and memory."""
    models = {n: create_model(model_name, seed=0, input_shape=input_shape, **kwargs).to(device)
              for n in ("sgd", "grda")}
    opts = {"sgd": create_optimizer("sgd", models["sgd"].parameters(), lr=0.05),
            "grda": create_optimizer("grda", models["grda"].parameters(), lr=0.05, c=1e-3,
                                     mu=0.51)}
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(batch, *input_shape, generator=g).to(device) for _ in range(8)]
    ys = [torch.randint(0, 10, (batch,), generator=g).to(device) for _ in range(8)]
    full = {n: [] for n in opts}
    alone = {n: [] for n in opts}
    peak = {}
    blocks = -(-steps // 5) + 2
    for block in range(blocks):
        for name, opt in opts.items():
            model = models[name]
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            for i in range(5):
                x, y = xs[(block * 5 + i) % 8], ys[(block * 5 + i) % 8]
                _sync(device)
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                _sync(device)
                t1 = time.perf_counter()
                opt.step()
                _sync(device)
                t2 = time.perf_counter()
                if block >= 2:                  # two warm-up blocks
                    full[name].append(t2 - t0)
                    alone[name].append(t2 - t1)
            if device.type == "cuda":
                peak[name] = max(peak.get(name, 0), torch.cuda.max_memory_allocated())
    row = {f"{n}_{what}": statistics.median(times[n])
           for n in opts for what, times in (("full", full), ("alone", alone))}
    if device.type == "cuda":
        row["mem"] = {n: peak[n] / 2**20 for n in opts}
    else:
        row["mem"] = {n: _state_bytes(opts[n]) / 2**20 for n in opts}
    row["params_mb"] = sum(p.numel() * p.element_size()
                           for p in models["sgd"].parameters()) / 2**20
    return row


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def _command() -> str:
    """The command line this process runs under, with its core pinning and thread count."""
    parts = []
    if hasattr(os, "sched_getaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < (os.cpu_count() or len(cores)):
            parts.append(f"taskset -c {','.join(map(str, cores))}")
    if "OMP_NUM_THREADS" in os.environ:
        parts.append(f"env OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    exe = os.path.relpath(sys.executable) if not sys.executable.startswith("/usr") else "python"
    return " ".join(parts + [exe] + [shlex.quote(a) for a in sys.argv])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=sorted(CASES), default=None,
                    help="default: mlp and vgg (and vgg-full on CUDA)")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed steps per optimizer and run (default: 60 mlp, 15 vgg, 30 full)")
    ap.add_argument("--runs", type=int, default=3, help="independent runs for the spread")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    names = args.models or (["mlp", "vgg"] + (["vgg-full"] if device.type == "cuda" else []))
    print(f"command: {_command()}")
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, {args.runs} runs; ratios gRDA/SGD as median (min-max) over runs")
    what = "peak MiB (cuda)" if device.type == "cuda" else "optimizer state MiB"
    print(f"{'model':<27}{'sgd ms':>8}{'grda ms':>9}  {'full step ratio':<22}"
          f"{'optimizer step alone':<22}{what}")
    for key in names:
        label, name, kw, shape, default_steps = CASES[key]
        rows = [run_once(name, kw, shape, steps=args.steps or default_steps, batch=args.batch,
                         device=device) for _ in range(args.runs)]
        full = [r["grda_full"] / r["sgd_full"] for r in rows]
        alone = [r["grda_alone"] / r["sgd_alone"] for r in rows]
        sgd_ms = statistics.median(r["sgd_full"] for r in rows) * 1e3
        grda_ms = statistics.median(r["grda_full"] for r in rows) * 1e3
        mem = rows[-1]["mem"]
        print(f"{label:<27}{sgd_ms:8.2f}{grda_ms:9.2f}  {_spread(full):<22}{_spread(alone):<22}"
              f"sgd {mem['sgd']:.1f} / grda {mem['grda']:.1f} (params "
              f"{rows[-1]['params_mb']:.1f})", flush=True)


if __name__ == "__main__":
    main()
