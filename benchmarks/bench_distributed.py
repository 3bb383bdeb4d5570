"""Scale-out under torchrun: distributed HVPs and data-parallel training steps vs one process.

Run as a script; it relaunches itself with ``torchrun --standalone --nproc-per-node N``. On
rank 0, in the same process, it times (interleaved, medians):

* a Hessian-vector product over the whole evaluation set by one process (the baseline, other
  ranks waiting) against the distributed product (each rank its shard, one all-reduce);
* a single-process training step on the global minibatch against the DDP step on slices
  (exact weighting, ``landscape.distributed.DataParallel``);

and prints the ratios ``single / distributed`` (speed-up) together with the all-reduce share.

Usage: python benchmarks/bench_distributed.py [--nproc 2] [--reps 15] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch


def _time(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _job(args):
    import torch.nn.functional as F

    from landscape.curvature import DistributedHessian, HessianOperator
    from landscape.data import EvalSet
    from landscape.distributed import (
        DataParallel,
        all_reduce_,
        barrier,
        context,
        destroy,
    )
    from landscape.models import create_model

    ctx = context()
    device = torch.device(args.device if args.device == "cpu" else "cuda")
    torch.set_num_threads(1)
    kw = {"widths": [512, 256], "num_classes": 10, "input_shape": [784]}
    model = create_model("mlp", seed=0, **kw).to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 784, generator=g).to(device)
    y = torch.randint(0, 10, (4096,), generator=g).to(device)
    data = EvalSet.from_tensors(x, y, batch_size=1024)
    dist_op = DistributedHessian(model, data, method="reverse", check_deterministic=False)
    v = torch.randn(dist_op.dim, 1, generator=g).to(device)
    single_op = HessianOperator(model, data, method="reverse", check_deterministic=False) \
        if ctx.is_main else None
    comm = torch.randn(dist_op.dim, 1).to(device)

    dp = DataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xb, yb = x[:512], y[:512]

    def dist_step():
        for xs, ys in dp.batches([(xb, yb)]):
            opt.zero_grad()
            dp.loss(xs, ys)[1].backward()
            opt.step()

    def single_step():
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    times = {k: [] for k in ("hvp1", "hvpN", "allreduce", "step1", "stepN")}
    for _ in range(args.reps):
        if ctx.is_main:
            times["hvp1"].append(_time(lambda: single_op.matmat(v), device))
            times["step1"].append(_time(single_step, device))
        barrier()
        times["hvpN"].append(_time(lambda: dist_op.matmat(v), device))
        times["allreduce"].append(_time(lambda: all_reduce_(comm), device))
        times["stepN"].append(_time(dist_step, device))
        barrier()
    if ctx.is_main:
        med = {k: statistics.median(t) * 1e3 for k, t in times.items()}
        print(f"world size {ctx.world_size} ({ctx.backend}, {device}), P = {dist_op.dim:,}, "
              f"N = 4096, {args.reps} reps, medians on rank 0")
        print(f"HVP       single {med['hvp1']:8.1f} ms | distributed {med['hvpN']:8.1f} ms | "
              f"speed-up {med['hvp1'] / med['hvpN']:.2f}x | all-reduce of [P] "
              f"{med['allreduce']:.1f} ms ({med['allreduce'] / med['hvpN']:.0%})")
        print(f"SGD step  single {med['step1']:8.1f} ms | DDP slices  {med['stepN']:8.1f} ms | "
              f"speed-up {med['step1'] / med['stepN']:.2f}x (global batch 512)")
    destroy()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args()
    if "WORLD_SIZE" in os.environ:
        _job(args)
        return
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if allowed is not None and len(allowed) < args.nproc and (os.cpu_count() or 1) >= args.nproc:
        # pinned to fewer cores than ranks (make bench pins to one): ranks sharing a core
        # would measure nothing, so the job gets the machine's cores (one thread per rank)
        os.sched_setaffinity(0, range(os.cpu_count()))
        print(f"(ranks need a core each: the job runs on cores 0-{os.cpu_count() - 1}, not on "
              f"the {len(allowed)} this process was pinned to)")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           str(args.nproc), __file__, "--reps", str(args.reps), "--device", args.device]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    raise SystemExit(subprocess.call(cmd, env=env))


if __name__ == "__main__":
    main()
