"""Time per training step of gRDA vs SGD on the same model and batches, in one process.

For each model (an MLP 784-1000-10 and a small conv net with BatchNorm) both optimizers take
the same sequence of steps (forward, backward, optimizer step) on the same batches, from the
same initial weights, interleaved in blocks so that machine load hits both alike. Reported:
median step time of each, the ratio gRDA / SGD (seed 004 measured 1.42x on VGG16/V100; our goal
is <= 1.10x), and the median of the optimizer step alone. Memory: on CUDA the peak allocated
memory of a step (``torch.cuda.max_memory_allocated``); on CPU the bytes held by the
optimizer state plus the peak bytes of temporaries its step allocates (tracemalloc cannot see
torch's allocator, so the temporaries are estimated from the multi-tensor path: one clamped
copy of the accumulators).

Usage: python benchmarks/bench_grda.py [--steps 60] [--device cpu|cuda] [--batch 128]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from landscape.models import create_model
from landscape.optim import create_optimizer


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _state_bytes(opt):
    return sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
               if isinstance(t, torch.Tensor))


def bench(model_name, kwargs, input_shape, *, steps, batch, device):
    models = {n: create_model(model_name, seed=0, input_shape=input_shape, **kwargs).to(device)
              for n in ("sgd", "grda")}
    opts = {"sgd": create_optimizer("sgd", models["sgd"].parameters(), lr=0.05),
            "grda": create_optimizer("grda", models["grda"].parameters(), lr=0.05, c=1e-3,
                                     mu=0.51)}
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(batch, *input_shape, generator=g).to(device) for _ in range(8)]
    ys = [torch.randint(0, 10, (batch,), generator=g).to(device) for _ in range(8)]
    times = {n: [] for n in opts}
    opt_times = {n: [] for n in opts}
    peak = {}
    for block in range(steps // 5 + 2):
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
                    times[name].append(t2 - t0)
                    opt_times[name].append(t2 - t1)
            if device.type == "cuda":
                peak[name] = torch.cuda.max_memory_allocated()
    params = sum(p.numel() * p.element_size() for p in models["sgd"].parameters())
    row = {n: statistics.median(times[n]) for n in opts}
    row.update({f"{n}_opt": statistics.median(opt_times[n]) for n in opts})
    row["ratio"] = row["grda"] / row["sgd"]
    row["opt_ratio"] = row["grda_opt"] / row["sgd_opt"]
    if device.type == "cuda":
        row["mem"] = {n: peak[n] / 2**20 for n in opts}
    else:
        row["mem"] = {"sgd": _state_bytes(opts["sgd"]) / 2**20,
                      "grda": (_state_bytes(opts["grda"]) + params) / 2**20}
    row["params_mb"] = params / 2**20
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.steps} timed steps each, batch {args.batch}")
    cases = [("mlp 784-1000-10", "mlp", {"widths": [1000]}, (1, 28, 28)),
             ("vgg16_bn x1/8 (BatchNorm)", "vgg16_bn", {"width": 0.125}, (3, 32, 32))]
    if device.type == "cuda":
        cases.append(("vgg16_bn full (BatchNorm)", "vgg16_bn", {}, (3, 32, 32)))
    what = "peak MiB (cuda)" if device.type == "cuda" else "optimizer MiB (state + temps)"
    print(f"{'model':<28}{'sgd ms':>9}{'grda ms':>9}{'ratio':>7}{'step-only':>11}  {what}")
    for label, name, kw, shape in cases:
        r = bench(name, kw, shape, steps=args.steps, batch=args.batch, device=device)
        print(f"{label:<28}{r['sgd'] * 1e3:9.2f}{r['grda'] * 1e3:9.2f}{r['ratio']:7.3f}"
              f"{r['opt_ratio']:10.2f}x  sgd {r['mem']['sgd']:.1f} / grda {r['mem']['grda']:.1f}"
              f" (params {r['params_mb']:.1f})")


if __name__ == "__main__":
    main()
