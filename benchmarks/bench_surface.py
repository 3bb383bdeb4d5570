"""Loss-surface benchmark: our grid evaluation vs the `loss-landscapes` package (one process).

Same model, data (the full mnist5k training split, 4,000 samples in batches of 1,000) and plane
for everyone: the plane through a trained point ``w`` and ``w + d_1``, ``w + d_2`` (two
filter-normalised random directions, Li et al. 2018), given to the peer as three models.

The peer, ``loss_landscapes.planar_interpolation(start, end_one, end_two, metrics.Loss(...),
steps=S)``, walks the plane in place with steps ``(end - start) / S``: column ``i`` is at
``x = i / S``, and row ``m`` at ``y = (m + 1) / S`` in even columns but ``y = m / S`` in odd
ones (it walks back down odd columns, re-evaluating their first point's neighbour). We
evaluate exactly those points (directions ``end - start`` in float64), so (a) compares the
loss point by point. (b) compares the time per point: ours, the peer's, and one plain
evaluation pass of the model over the same batches (``model(x)`` + cross-entropy).

Install the peer outside the venv (it needs only numpy):
``pip install --no-deps --target /tmp/peers loss-landscapes``, then, on one pinned core:

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_surface.py \
        --peers /tmp/peers [--models mlp cnn] [--grid S] [--runs 3] [--quick]

On a GPU: ``--device cuda --models mlp cnn vgg16 --strategies loop vmap`` (``vgg16``: VGG16-BN
on 4,000 synthetic 3x32x32 samples, too slow for a CPU).

``--max-batch N`` also times ours with the data's batches split to N samples and, as its fair
baseline, a plain pass over the same split batches; ``--share-input-layer`` times ours with
the input layer shared whatever its fan-in (the conv net's 3x3 convolution of one channel);
``--channels-last`` times a plain pass in channels-last memory format; ``--cpu-time`` measures
process CPU time instead of wall time (steadier on a shared machine; the ratios are the same
on a quiet one).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from _problems import build, train_point  # the script's folder is sys.path[0]
from torch import nn

from landscape.data import EvalSet, get_dataset
from landscape.surface import SurfaceDirections, SurfaceEvaluator, random_directions


def peer_coordinates(steps: int) -> np.ndarray:
    """``[steps, steps, 2]`` plane coordinates of the peer's ``data_matrix[i][m]``."""
    out = np.zeros((steps, steps, 2))
    for i in range(steps):
        for m in range(steps):
            out[i, m] = (i / steps, (m + 1 if i % 2 == 0 else m) / steps)
    return out


def shifted(model: nn.Module, direction: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` with parameters ``w + d`` (buffers unchanged)."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in other.named_parameters():
            p.add_(direction[name].to(p.dtype))
    return other


def plain_pass(model: nn.Module, data: EvalSet, *, max_batch: int | None = None,
               channels_last: bool = False) -> float:
    """``model(x)`` + cross-entropy over the batches (split to ``max_batch`` samples)."""
    loss = 0.0
    with torch.no_grad():
        for x, y in data:
            pieces = zip(x.split(max_batch), y.split(max_batch)) if max_batch else [(x, y)]
            for xb, yb in pieces:
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                loss += float(F.cross_entropy(model(xb).double(), yb, reduction="sum"))
    return loss / data.num_samples


CLOCK = time.perf_counter


def seconds(fn) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def against_plain(fn, model: nn.Module, data: EvalSet, points: int) -> tuple[float, float]:
    """``(seconds per point, per point / plain pass)``: the plain pass timed before and after.

    The ratio to a plain pass run right before and after is robust to the load of a shared
    machine changing between measurements; the seconds are not.
    """
    before = seconds(lambda: plain_pass(model, data))
    per_point = seconds(fn) / points
    after = seconds(lambda: plain_pass(model, data))
    return per_point, per_point / (0.5 * (before + after))


def spread(values: list[float], unit: str = "") -> str:
    return (f"{statistics.median(values):.3g}{unit} (min {min(values):.3g}, max "
            f"{max(values):.3g}, {len(values)} runs)")


def bench(name: str, data: EvalSet, args: argparse.Namespace, planar, metric_cls) -> None:
    model = build(name).to(data.device)
    train_point(model, data, args.train_epochs)
    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    rand = random_directions(params, seed=0, model=model)
    end_one, end_two = shifted(model, rand.vectors[0]), shifted(model, rand.vectors[1])
    # the peer's plane: directions end - start of the float32 models, exactly
    dirs = SurfaceDirections(
        tuple({k: p.detach().double() - params[k].double() for k, p in m.named_parameters()}
              for m in (end_one, end_two)),
        params, {"method": "peer plane"}, ("end_one - start", "end_two - start"))
    steps = args.grid or (21 if name == "mlp" else 5)
    coords = peer_coordinates(steps).reshape(-1, 2)
    print(f"== {name}: {sum(p.numel() for p in params.values()):,} parameters, "
          f"{data.num_samples} samples in batches of {data.batch_size}, {steps} x {steps} "
          f"plane, torch threads {torch.get_num_threads()}", flush=True)
    plain_pass(model, data)  # warm-up
    t_plain = [seconds(lambda: plain_pass(model, data)) for _ in range(args.runs)]
    print(f"  {'plain evaluation pass (model(x) + CE)':<40} {spread(t_plain, ' s')}", flush=True)
    others = {}
    if args.max_batch:
        others[f"plain pass, batches split to {args.max_batch}"] = {"max_batch": args.max_batch}
    if args.channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        others["plain pass, channels-last"] = {"channels_last": True}
        if args.max_batch:
            others[f"plain pass, channels-last, split to {args.max_batch}"] = {
                "channels_last": True, "max_batch": args.max_batch}
    for label, options in others.items():
        cl_model = (copy.deepcopy(model).to(memory_format=torch.channels_last)
                    if options.get("channels_last") else model)
        rows = [against_plain(lambda o=options, m=cl_model: plain_pass(m, data, **o), model,
                              data, 1) for _ in range(args.runs)]
        print(f"  {label:<40} / plain pass {spread([r for _, r in rows], 'x')}", flush=True)
    base = SurfaceEvaluator(model, dirs, data, memory_budget=args.memory, error_fn=None)
    variants = {"ours (loop)": {}}
    if base.points_per_pass and base.shared_layer is not None:  # (K first: it probes)
        variants["ours (loop, input layer not shared)"] = {"share_input_layer": False}
    strategies = args.strategies or (["loop", "vmap"] if name == "mlp" else ["loop"])
    if "vmap" in strategies:
        variants["ours (vmap)"] = {"strategy": "vmap"}
    if args.max_batch:
        variants[f"ours (loop, max_batch {args.max_batch})"] = {"max_batch": args.max_batch}
    if args.share_input_layer and base.shared_layer is None:
        variants["ours (loop, input layer shared)"] = {"share_input_layer": True}
    if base.channels_last and args.layouts:  # the default for conv nets; the model's layout
        variants["ours (loop, model's own memory layout)"] = {"channels_last": False}
    if args.layouts and base.max_rows is not None and base.max_rows < data.batch_size:
        variants["ours (loop, the data's batches)"] = {"max_batch": None}
        variants["ours (loop, data's batches, own layout)"] = {"max_batch": None,
                                                               "channels_last": False}
    ours, ratios = {}, {}
    for label, options in variants.items():
        ev = SurfaceEvaluator(model, dirs, data, memory_budget=args.memory, error_fn=None,
                              **options)
        rows = [against_plain(lambda ev=ev, label=label: ours.__setitem__(
            label, ev.evaluate(coords)["train_loss"]), model, data, len(coords))
            for _ in range(args.runs)]
        ratios[label] = [r for _, r in rows]
        print(f"  {label:<40} {spread([t for t, _ in rows], ' s/point')}; / plain pass "
              f"{spread(ratios[label], 'x')}; K = {ev.points_per_pass}, input layer shared: "
              f"{ev.shared_layer or 'no'}, pieces of {ev.max_rows or data.batch_size}, "
              f"{'channels-last' if ev.channels_last else 'own layout'}", flush=True)
    goal = 0.5 if name == "mlp" else 0.8
    print(f"  (b) goal: ours / plain pass <= {goal}x per point")
    if planar is None:
        return
    metric = metric_cls(F.cross_entropy, data.x, data.y)
    peer, peer_rows = None, []
    for _ in range(args.runs):
        start = copy.deepcopy(model).eval()

        def run(start=start):
            nonlocal peer
            peer = np.asarray(planar(start, end_one, end_two, metric, steps=steps))
        peer_rows.append(against_plain(run, model, data, len(coords)))
    peer_ratio = [r for _, r in peer_rows]
    print(f"  {'peer loss-landscapes planar_interpolation':<40} "
          f"{spread([t for t, _ in peer_rows], ' s/point')}; / plain pass "
          f"{spread(peer_ratio, 'x')}")
    flat = peer.reshape(-1)
    for label, values in ours.items():
        rel = np.abs(values - flat) / np.abs(flat)
        print(f"  (a) {label}: max relative difference to the peer over {len(flat)} points "
              f"{rel.max():.2e} ({'ok' if rel.max() <= 1e-5 else 'ABOVE 1e-5'})")
    for label, values in ratios.items():
        speedup = [p / o for p, o in zip(peer_ratio, values)]
        print(f"  (b) peer / {label} per point: {spread(speedup, 'x')} (goal >= 5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"],
                        choices=["mlp", "cnn", "vgg16"],
                        help="vgg16: VGG16-BN on 4,000 synthetic 3x32x32 samples (for a GPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peers", default=os.environ.get("LANDSCAPE_BENCH_PEERS", "/tmp/peers"),
                        help="folder with the loss_landscapes package (added to sys.path; "
                        "default $LANDSCAPE_BENCH_PEERS, where `make bench` installs it, else "
                        "/tmp/peers)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--grid", type=int, default=None,
                        help="points per axis (the peer's steps); default 21 for the MLP, 5 for "
                        "the conv nets (a conv-net point costs 30 MLP points; the ratios per "
                        "point do not depend on the grid)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 5 x 5 plane, one run")
    parser.add_argument("--memory", type=int, default=2**29, help="our memory budget, bytes")
    parser.add_argument("--strategies", nargs="+", default=None, choices=["loop", "vmap"],
                        help="our strategies to time (loop always; default: loop and vmap for "
                        "the MLP, loop for the conv nets, where vmap is 2x slower on a CPU)")
    parser.add_argument("--layouts", action="store_true",
                        help="also time ours (conv nets) in the model's own memory layout and "
                        "over the data's whole batches, the two choices the default makes")
    parser.add_argument("--max-batch", type=int, default=None,
                        help="also time ours with data batches split to this size")
    parser.add_argument("--share-input-layer", action="store_true",
                        help="also time ours with the input layer shared whatever its fan-in")
    parser.add_argument("--channels-last", action="store_true",
                        help="also time a plain pass in channels-last memory format (conv nets)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="process CPU time instead of wall time (a shared machine)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-epochs", type=int, default=2, help="SGD epochs to the point")
    args = parser.parse_args()
    if args.quick:
        args.grid, args.runs = 5, 1
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    torch.set_num_threads(args.threads)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    print("command: " + " ".join(["taskset -c 0 env OMP_NUM_THREADS=1", sys.executable,
                                  *sys.argv]))
    print(f"cores {cores}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"clock {'process CPU time' if args.cpu_time else 'wall'}")
    planar = metric_cls = None
    if not args.no_peers:
        sys.path.insert(0, args.peers)
        try:
            from loss_landscapes import planar_interpolation
            from loss_landscapes.metrics import Loss
            planar, metric_cls = planar_interpolation, Loss
        except ImportError as exc:
            print(f"skipping the peer: {exc} (pip install --no-deps --target /tmp/peers "
                  "loss-landscapes, then --peers /tmp/peers)")
    mnist = EvalSet(get_dataset("mnist5k"), "train", batch_size=1000, device=args.device)
    for name in args.models:
        data = mnist if name != "vgg16" else EvalSet(get_dataset(
            "synthetic", input_shape=(3, 32, 32), num_classes=10, num_train=4000, seed=0),
            "train", batch_size=250, device=args.device)
        bench(name, data, args, planar, metric_cls)


if __name__ == "__main__":
    main()
