"""Mode connectivity: curve-fitting epoch vs training epoch; cost of one plane grid point.

Baselines are measured in the same process, back to back in every run:

* a training epoch (SGD with momentum) on the epoch runner (:class:`landscape.optim.
  EpochRunner`) against the same epoch as a bare loop: the runner's own cost (lr, seeding,
  sums on the device, the finiteness flag);
* a curve-fitting epoch on the runner (one t per minibatch, phi(t) as a parameter dict,
  the network's parameter slots swapped: :func:`landscape.curves.curve_step`) against the
  training epoch on the runner, and against an earlier implementation of the same epoch as
  a bare loop (phi(t) built as one flat vector and split into views, evaluated with
  ``functional_call``, so backward gathers the per-tensor gradients into the flat control
  point and scales it; loss and error read back every step);
* a plane grid point (``evaluate_grid_point``: BN recalibration + train/test evaluation)
  against the sum of its parts measured alone (one BN pass + one evaluation pass).

Each ratio is taken per run (the epochs of a run timed back to back on the same
minibatches) and reported as the median (min-max) over ``--repeats`` runs. Meant for one
pinned core and one thread, exactly as printed above the table:

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_curves.py

``--clock cpu`` times the process's CPU (for a shared machine), ``--device cuda`` a GPU.
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

from landscape.curves import Curve, curve_step, evaluate_grid_point, plane_basis
from landscape.data import EvalSet, TrainLoader, get_dataset
from landscape.evaluation import evaluate_loss_error, forward_at, recalibrate_bn
from landscape.models import create_model
from landscape.optim import EpochRunner, Step

MODELS = {
    "mlp (widths=1000)": ("mlp", {"widths": [1000]}),
    "lenet300_100": ("lenet300_100", {}),
    "basicnet width=0.125 (CNN, BN)": ("basicnet", {"width": 0.125}),
}


_clock = time.perf_counter  # --clock cpu: time.process_time (immune to waiting for a core)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _times(fns, device, repeats: int) -> list[list[float]]:
    """``repeats`` times of each function, measured interleaved (robust to drift)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            _sync(device)
            t0 = _clock()
            fn()
            _sync(device)
            out.append(_clock() - t0)
    return times


def previous_curve_epoch(curve: Curve, model, batches, optimizer, ts) -> None:
    """The fitting epoch as it was before per-tensor points (the reference for the speed-up).

    ``phi(t)`` is one flat allocation plus fused in-place adds, split into views; backward
    gathers the per-tensor gradients into the flat middle point and scales it by ``b_1(t)``;
    the loss and error are read back every step.
    """
    for k, (x, y) in enumerate(batches):
        vec = None
        for wj, theta in zip(curve.coefficients(ts[k]), curve.control_points()):
            if wj != 0.0:
                vec = theta * wj if vec is None else vec.add_(theta, alpha=wj)
        out = forward_at(model, curve.split(vec), x)
        loss = F.cross_entropy(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss.detach()), int((out.detach().argmax(1) != y).sum())


def bench_model(label: str, name: str, kw: dict, ds, device, repeats: int) -> None:
    common = {"num_classes": ds.num_classes, "input_shape": ds.input_shape, **kw}
    a = create_model(name, seed=1, **common).to(device)
    b = create_model(name, seed=2, **common).to(device)
    loader = TrainLoader(ds, batch_size=128, seed=0, device=device)
    batches = list(loader.epoch(0))  # same batches for both; data loading not measured

    model = create_model(name, seed=3, **common).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def bare_epoch() -> None:
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

    def train_step(epoch: int, k: int, x: torch.Tensor, y: torch.Tensor) -> Step:
        loss = F.cross_entropy(model(x), y)
        return Step(loss, loss, int(y.shape[0]))

    trainer = EpochRunner(opt, lambda e: 0.01, epochs=1, seed=0, model=model, device=device)

    curve = Curve(dict(a.named_parameters()), dict(b.named_parameters()), degree=2).to(device)
    copt = torch.optim.SGD(curve.middle.parameters(), lr=0.01, momentum=0.9)
    net = create_model(name, **common).to(device).train()
    fitter = EpochRunner(copt, lambda e: 0.01, epochs=1, seed=0, stream="curve_dropout",
                         model=net, device=device)
    fit_step = curve_step(curve, net, seed=0)
    ts = torch.rand(len(batches), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    epochs = [bare_epoch, lambda: trainer.run(train_step, batches),
              lambda: fitter.run(fit_step, batches),
              lambda: previous_curve_epoch(curve, net, batches, copt, ts)]
    for fn in epochs:  # warm-up
        fn()
    times = _times(epochs, device, repeats)
    per_run = [(b, t, f, p) for b, t, f, p in zip(*times)]

    train = EvalSet(ds, "train", batch_size=1000, device=device)
    test = EvalSet(ds, "test", batch_size=1000, device=device)
    with torch.no_grad():
        curve.middle[0].add_(0.01 * torch.randn_like(curve.middle[0]))
    basis = plane_basis(curve.start, curve.middle[0].detach(), curve.end)
    params = curve.split(basis.point(0.3, 0.7))

    def grid_point():
        with torch.no_grad():
            evaluate_grid_point(net, basis, curve.split, 0.3, 0.7, train, test)

    def bn_pass():
        recalibrate_bn(net, params, train)

    buffers = recalibrate_bn(net, params, train)

    def eval_pass():
        evaluate_loss_error(net, params, train, buffers=buffers)
        evaluate_loss_error(net, params, test, buffers=buffers)

    grid_point()
    grid = [p / (b + e) for p, b, e in zip(*_times([grid_point, bn_pass, eval_pass], device,
                                                   repeats))]
    train_s = statistics.median(t for _, t, _, _ in per_run)
    fit_s = statistics.median(f for _, _, f, _ in per_run)
    print(f"| {label} | {curve.num_parameters:,} | {train_s:.3f} s | "
          f"{spread([t / b for b, t, _, _ in per_run])} | {fit_s:.3f} s | "
          f"**{spread([f / t for _, t, f, _ in per_run])}** | "
          f"{spread([p / t for _, t, _, p in per_run])} | {spread(grid)} |", flush=True)


def spread(values: list[float]) -> str:
    """``median (min-max)`` of per-run ratios."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="runs (spread reported)")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or CPU time of this process (for a shared machine)")
    args = parser.parse_args()
    global _clock
    _clock = time.perf_counter if args.clock == "wall" else time.process_time
    device = torch.device(args.device)
    ds = get_dataset("mnist5k")
    cmd = ("taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_curves.py "
           + " ".join(shlex.quote(a) for a in sys.argv[1:])).rstrip()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"# {cmd}")
    print(f"# mnist5k ({len(ds.train)} train / {len(ds.test)} test, batches of 128), device "
          f"{device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {cores} "
          f"core(s) allowed, {args.clock} clock, {args.repeats} runs")
    if device.type == "cpu" and (cores != 1 or torch.get_num_threads() != 1):
        print("# WARNING: not one pinned core with one thread: figures are not comparable")
    print(f"\n`{cmd}`\n")
    print("| model | params | training epoch | runner / bare loop | curve epoch | "
          "**curve / training** (goal <= 1.3) | earlier curve step / training | "
          "grid point / (BN + eval) |")
    print("|---|---|---|---|---|---|---|---|")
    for label in args.models:
        name, kw = MODELS[label]
        bench_model(label, name, kw, ds, device, args.repeats)


if __name__ == "__main__":
    main()
