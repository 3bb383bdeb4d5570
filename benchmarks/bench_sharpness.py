"""Curvature over training and along a curve: warm-started Lanczos against cold starts.

The top-10 Hessian eigenpairs (relative residual tolerance 1e-3, as ``landscape sharpness``
and ``landscape curve hessian``) at a sequence of nearby points:

* the 8 consecutive epoch checkpoints of the demo's SGD run (MLP 784-300-100-10 on the 4,000
  mnist5k training digits, SGD lr 0.1, batch 64, seed 0), full training set in batches of
  1,000;
* ``--points`` (default 11) points of a quadratic Bezier curve fitted (the demo's settings)
  from that SGD minimum to the gRDA minimum (c = 0.01, mu = 0.6, same seed) after 8 epochs.

Three ways to start each Lanczos, with the same stopping rule:

* ``cold``: a seeded Gaussian vector (what every point gets without a sequence);
* ``warm``: the previous point's 10 eigenvectors and one seeded random vector
  (:func:`landscape.experiment.sharpness.warm_start`, what the commands use);
* ``vectors``: the previous point's eigenvectors alone (a start that may miss an eigenvalue
  rising from outside their span; for comparison, with ``--starts cold warm vectors``).

The first point of a sequence starts cold in every column. Reported per sequence: the
Hessian-vector products (deterministic), the wall time of the solves (the operator is built
outside the timing), their spread over ``--runs``, and the largest relative difference of the
warm eigenvalues from the cold ones. Run on one pinned core with one thread, as printed above
the tables:

    taskset -c 0 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sharpness.py
    ... --quick          # 4 epochs, 6 curve points, one run

The runs and the curve are trained into ``--work`` (default ``checkpoints/bench_sharpness``)
once and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from landscape.curvature import HessianOperator, lanczos, subspace_overlap
from landscape.evaluation import recalibrate_bn
from landscape.experiment.curves import CurveFitConfig, fit_curve_run, load_curve
from landscape.experiment.sharpness import warm_start
from landscape.experiment.subject import DataOptions, at_checkpoint, resolve_subject
from landscape.rundir import RunDir
from landscape.train import TrainConfig, train

STARTS = ("cold", "warm", "vectors")
TOL_NOTE = "1e-3"


def runs(work: Path, epochs: int) -> tuple[Path, Path, Path]:
    """The demo's SGD and gRDA (mu 0.6) runs and the curve between their minima."""
    base = TrainConfig(model="mlp", model_args={"widths": [300, 100]}, dataset="mnist5k",
                       optimizer="sgd", lr=0.1, epochs=epochs, batch_size=64, seed=0)
    grda = TrainConfig(**{**base.__dict__, "optimizer": "grda",
                          "optimizer_args": {"c": 0.01, "mu": 0.6}})
    paths = (work / "sgd", work / "grda_mu0.6", work / "curve_sgd__grda_mu0.6")
    for cfg, path in zip((base, grda), paths):
        if RunDir(path).last_epoch() != epochs:
            train(cfg, path, resume=RunDir(path).exists(), progress=False)
    if RunDir(paths[2]).last_epoch() != CurveFitConfig().epochs:
        fit_curve_run(RunDir(paths[0]).checkpoint_path(epochs),
                      RunDir(paths[1]).checkpoint_path(epochs), paths[2],
                      resume=RunDir(paths[2]).exists(), progress=False)
    return paths


def operators_of_epochs(sgd: Path, epochs: list[int]):
    """``(label, build)`` per epoch: ``build()`` makes the Hessian operator at that epoch."""
    subject = resolve_subject(sgd, epoch=epochs[0], data=DataOptions())
    for e in epochs:
        here = at_checkpoint(subject, RunDir(sgd).checkpoint_path(e))
        yield f"epoch {e}", lambda here=here: HessianOperator(here.model, here.split("train"))


def operators_along(curve_dir: Path, points: int):
    """``(label, build)`` per ``t``: BatchNorm recalibrated as ``curve hessian`` does."""
    loaded = load_curve(curve_dir)
    train_set = loaded.data["train"]
    for t in np.linspace(0.0, 1.0, points):
        def build(t: float = float(t)) -> HessianOperator:
            with torch.no_grad():
                params = loaded.curve.point(t)
            net = loaded.model
            for name, value in recalibrate_bn(net, params, train_set).items():
                net.get_buffer(name).copy_(value)
            return HessianOperator(net, train_set, point=params)
        yield f"t={t:.2f}", build


def drift(op: HessianOperator, previous: torch.Tensor, vectors: torch.Tensor
          ) -> tuple[float, float]:
    """How far the previous point's eigenvectors are from this point's (not timed).

    ``(overlap, residual)``: the overlap ``||V_prev^T V||_F^2 / k`` of the two eigenspaces and
    the largest relative residual ``||H v - (v^T H v) v|| / |v^T H v|`` of a previous
    eigenvector at this point (what a start from them has to bring down to ``tol``).
    """
    hv = op.matmat_rows(previous)
    theta = (hv * previous).sum(1)
    resid = ((hv - theta[:, None] * previous).norm(dim=1) / theta.abs()).max()
    return subspace_overlap(previous, vectors), float(resid)


def sequence(ops: list, k: int, tol: float, starts: tuple[str, ...]) -> dict[str, dict]:
    """Products, seconds and eigenvalues of each start over one sequence."""
    out = {}
    for how in starts:
        previous, products, seconds, values, converged = None, [], [], [], True
        drifts = []
        for _, build in ops:
            op = build()
            start = None
            if previous is not None and how == "warm":
                start = warm_start(previous)
            elif previous is not None and how == "vectors":
                start = previous.T
            began = time.perf_counter()
            res = lanczos(op, k, tol=tol, start=start)
            seconds.append(time.perf_counter() - began)
            products.append(res.num_products)
            values.append(res.eigenvalues.double())
            converged &= res.all_converged
            if how == "cold" and previous is not None:
                drifts.append(drift(op, previous, res.eigenvectors))
            previous = res.eigenvectors.T.contiguous()
        out[how] = {"products": products, "seconds": seconds, "values": torch.stack(values),
                    "converged": converged, "drift": drifts}
    return out


def spread(values: list[float]) -> str:
    return (f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})"
            if len(values) > 1 else f"{values[0]:.1f} s")


def report(name: str, results: list[dict[str, dict]]) -> dict:
    first = results[0]
    starts = tuple(first)
    cold = first["cold"]
    rows = {}
    print(f"\n{name}: {len(cold['products'])} points, top-k with the same residual tolerance")
    print(f"{'start':<9}{'HVPs':>7}{'x cold':>8}{'HVPs after the 1st':>20}"
          f"{'time (median, range)':>26}{'max rel. diff':>15}{'converged':>11}")
    for how in starts:
        r = first[how]
        total, rest = sum(r["products"]), sum(r["products"][1:])
        times = [sum(res[how]["seconds"]) for res in results]
        diff = float(((r["values"] - cold["values"]).abs() / cold["values"].abs()).max())
        print(f"{how:<9}{total:>7}{total / sum(cold['products']):>8.2f}{rest:>20}"
              f"{spread(times):>26}{diff:>15.1e}{r['converged']!s:>11}")
        rows[how] = {"products": r["products"], "total": total, "seconds": times,
                     "max_rel_diff": diff, "converged": r["converged"]}
    print(f"per point ({' / '.join(starts)}): " + ", ".join(
        "/".join(map(str, counts)) for counts in zip(*(first[h]["products"] for h in starts))))
    overlaps = [o for o, _ in cold["drift"]]
    resid = [r for _, r in cold["drift"]]
    print(f"from one point to the next: eigenspace overlap {min(overlaps):.3f}-"
          f"{max(overlaps):.3f} (median {statistics.median(overlaps):.3f}); the previous "
          f"eigenvectors' largest relative residual here {min(resid):.2g}-{max(resid):.2g} "
          f"(median {statistics.median(resid):.2g}; the tolerance is {TOL_NOTE})")
    rows["drift"] = {"overlap": overlaps, "residual": resid}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="checkpoints/bench_sharpness",
                        help="where the runs and the curve are trained (reused)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (spread reported)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the SGD run")
    parser.add_argument("--points", type=int, default=11,
                        help="points along the curve (the issue's figure: 21)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--starts", nargs="+", choices=STARTS, default=["cold", "warm"],
                        help="how to start each Lanczos (cold is always run first)")
    parser.add_argument("--quick", action="store_true", help="4 epochs, 6 points, one run")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    args = parser.parse_args()
    global TOL_NOTE
    TOL_NOTE = f"{args.tol:g}"
    if args.quick:
        args.runs, args.points = 1, 6
    torch.set_num_threads(args.threads)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print("# " + " ".join(["taskset -c 0 env OMP_NUM_THREADS=1", ".venv/bin/python",
                           "benchmarks/bench_sharpness.py", *map(shlex.quote, sys.argv[1:])]))
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} thread(s), {cores} core(s) "
          f"allowed; top-{args.k}, tol {args.tol:g}")
    sgd, _, curve = runs(Path(args.work), args.epochs)
    epochs = list(range(1, args.epochs + 1))[: 4 if args.quick else None]
    out = {}
    for name, ops in (("SGD epochs", list(operators_of_epochs(sgd, epochs))),
                      ("curve points", list(operators_along(curve, args.points)))):
        starts = ("cold", *[s for s in args.starts if s != "cold"])
        results = [sequence(ops, args.k, args.tol, starts) for _ in range(args.runs)]
        out[name] = report(name, results)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
