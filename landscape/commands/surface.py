"""``landscape surface CHECKPOINT --directions random|eigen|pca|points|minima``: loss surfaces.

Thin: resolve the subjects (landscape checkpoints or runs, or your own weights with
``--model``/``--model-file``, on the run's data or ``--dataset``/``--data-file``), build the
directions, ask the store for the grid (computing and storing the missing points), print,
draw the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from landscape.commands._args import (
    add_epochs_flag,
    add_output_flags,
    add_subject_flags,
    data_options,
    model_options,
    open_store,
    subject_from_args,
)
from landscape.commands._cliutil import emit_json, int_at_least, show_progress

__all__ = ["register"]

METHODS = ("random", "eigen", "pca", "points", "minima")  # experiment.surface.METHODS
NORMS = ("filter", "layer", "none")  # landscape.surface.NORMS

DESCRIPTION = """\
Loss and error over a line or a plane of weight space around CHECKPOINT (the origin),
cached point by point in the result store (a killed run resumes; a second identical call
answers from the store). Directions:

  random   seeded Gaussian directions, filter-normalised (Li et al. 2018; --norm, --seed,
           --include-bn-bias); default range [-1, 1]
  eigen    the top Hessian eigenvectors at CHECKPOINT (Yao et al. 2020), from the cached
           top-k (--top-k, --eigenvectors; computed when absent); unit norm
  pca      the first principal directions of the run's trajectory w_e - w_final (Li et al.
           2018, Sec. 7; --at-epochs), with the trajectory drawn in
  points   the line CHECKPOINT -> B (Goodfellow et al. 2015) with --points B, or the plane
           through CHECKPOINT, B, C with --points B C; A at 0, B at 1
  minima   the plane of w_gRDA - w_SGD and the top Hessian eigenvector at w_SGD (Chao et
           al. 2020): CHECKPOINT is the SGD minimum, --grda GRDA the gRDA one; SGD at (0, 0),
           gRDA at (1, 0), both axes in units of ||w_gRDA - w_SGD||

B, C and GRDA are checkpoints, run directories (their last epoch) or weights files like
CHECKPOINT. Errors are fractions in --json, percent in the printed text and the figures.
"""


def _grid(args: argparse.Namespace) -> tuple[int, ...]:
    if args.grid is not None:
        if len(args.grid) > 2:
            raise ValueError(f"--grid takes NX (a line) or NX NY (a plane), got "
                             f"{len(args.grid)} values")
        return tuple(args.grid)
    return (51,) if args.directions == "points" and len(args.points or []) == 1 else (21, 21)


def _check(args: argparse.Namespace, grid: tuple[int, ...]) -> None:
    """Refuse flags that do not fit the method or the grid, naming them, before any work."""
    method = args.directions
    only = {"--points": ("points", args.points), "--grda": ("minima", args.grda),
            "--at-epochs": ("pca", args.at_epochs), "--norm": ("random", args.norm),
            "--seed": ("random", args.seed), "--eigenvectors": ("eigen", args.eigenvectors)}
    for flag, (owner, value) in only.items():
        if value is not None and method != owner:
            raise ValueError(f"{flag} belongs to --directions {owner}, not {method}")
    if args.include_bn_bias and method != "random":
        raise ValueError(f"--include-bn-bias belongs to --directions random, not {method}")
    if method == "points":
        if not args.points or len(args.points) > 2:
            raise ValueError("--directions points needs --points B (a line) or --points B C "
                             "(a plane)")
        if len(args.points) != len(grid):
            raise ValueError(
                f"--points with {len(args.points)} checkpoint(s) draws a "
                f"{'line' if len(args.points) == 1 else 'plane'}: give --grid "
                f"{'NX' if len(args.points) == 1 else 'NX NY'} ({len(args.points)} value(s))")
    if method == "minima":
        if args.grda is None:
            raise ValueError("--directions minima needs the gRDA minimum: --grda GRDA (a "
                             "checkpoint, run directory or weights file)")
        if len(grid) != 2:
            raise ValueError("--directions minima draws a plane: give --grid NX NY (the line "
                             "SGD -> gRDA is --directions points --points GRDA)")
    if args.range is not None and len(args.range) != 2 * len(grid):
        raise ValueError(
            f"--range takes XMIN XMAX for a line (--grid NX) or XMIN XMAX YMIN YMAX for a "
            f"plane (--grid NX NY); got {len(args.range)} value(s) for a grid of "
            f"{len(grid)} axis/axes")
    if args.eigenvectors is not None and len(args.eigenvectors) != len(grid):
        raise ValueError(f"--eigenvectors takes {len(grid)} number(s) for a grid of "
                         f"{len(grid)} axis/axes, got {len(args.eigenvectors)}")
    wanted = max(args.eigenvectors or [len(grid) if method == "eigen" else 1])
    if method in ("eigen", "minima") and args.top_k < wanted:
        raise ValueError(f"--top-k {args.top_k} is below the eigenvector asked for ({wanted})")
    if args.export and not args.figures:
        raise ValueError("--export vtk writes into the --figures DIR: add --figures DIR")


def _others(args: argparse.Namespace, subject: Any) -> list[Any]:
    """B (and C), or GRDA: same model flags, no data of their own (the origin's are used)."""
    from landscape.checkpoint import is_landscape_checkpoint
    from landscape.experiment.subject import at_checkpoint, resolve_subject
    from landscape.rundir import resolve_checkpoint

    targets = args.points if args.directions == "points" else (
        [args.grda] if args.directions == "minima" else [])
    out = []
    for target in targets:
        path = resolve_checkpoint(target, None)
        if subject.checkpoint is not None and is_landscape_checkpoint(path):
            out.append(at_checkpoint(subject, path))
        else:
            out.append(resolve_subject(path, model=model_options(args),
                                       data=data_options(args), splits=()))
    if args.directions == "minima" and subject.checkpoint is not None and all(
            o.checkpoint is not None for o in out):
        from landscape.experiment.runs import check_roles
        from landscape.rundir import RunDir

        runs = [Path(subject.path).parent, Path(out[0].path).parent]
        if all(RunDir(r).exists() for r in runs):
            try:
                check_roles(runs[0], [runs[1]])
            except ValueError as exc:  # said in this command's terms
                raise ValueError(
                    "--directions minima takes the SGD minimum as CHECKPOINT and the gRDA one "
                    "as --grda: " + str(exc).replace("GRDA_RUN", "--grda").replace(
                        "SGD_RUN", "CHECKPOINT").replace("(SGD_RUN GRDA_RUN)", "")) from None
    return out


def _basis(args: argparse.Namespace, subject: Any, store: Any, num: int, progress: bool
           ) -> Any:
    from landscape.experiment.surface import surface_basis

    options: dict[str, Any] = {}
    if args.directions == "random":
        options = {"seed": args.seed or 0, "norm": args.norm or "filter",
                   "include_bn_bias": args.include_bn_bias}
    elif args.directions == "eigen":
        options = {"top_k": args.top_k, "indices": [i - 1 for i in args.eigenvectors]
                   if args.eigenvectors else None}
    elif args.directions == "minima":
        options = {"top_k": args.top_k}
    elif args.directions == "pca":
        options = {"epochs": args.at_epochs}
    return surface_basis(args.directions, subject, store=store, num=num,
                         others=_others(args, subject), progress=progress, **options)


def _stem(subject: Any, method: str) -> str:
    path = subject.path
    base = f"{path.parent.name}_{path.stem}" if path is not None else "subject"
    return f"{base}_surface_{method}"


def _report(res: dict[str, Any], label: str) -> None:
    import numpy as np

    shape = " x ".join(str(len(res[a])) for a in ("x", "y") if a in res)
    state = "from the store" if res["cached"] else f"computed {res['computed']} points"
    print(f"loss surface of {label}: {res['method']} directions, {shape} grid ({state}) "
          f"[{res['key'][:12]}]")
    for i, axis in enumerate(res["axis_labels"]):
        lo, hi = res[("x", "y")[i]][0], res[("x", "y")[i]][-1]
        print(f"  axis {i + 1} [{lo:.4g}, {hi:.4g}]: {axis}")
    origin = tuple(int(np.abs(np.asarray(res[a])).argmin()) for a in ("x", "y") if a in res)
    for field in res["fields"]:
        z = np.asarray(res[field])
        scale, unit = (100.0, "%") if field.endswith("error") else (1.0, "")
        at = np.unravel_index(int(np.nanargmin(z)), z.shape)
        where = ", ".join(f"{res[a][k]:.3g}" for a, k in zip(("x", "y"), at))
        print(f"  {field:<11} {scale * z[origin]:.4g}{unit} at the grid point nearest the "
              f"origin; min {scale * np.nanmin(z):.4g}{unit} at ({where}), max "
              f"{scale * np.nanmax(z):.4g}{unit}")
    info = res.get("info", {})
    if res["method"] == "pca":
        ratios = ", ".join(f"PC {i + 1} {100 * r:.1f}%" for i, r in
                           enumerate(info["explained_variance_ratio"]))
        print(f"  explained variance of the trajectory: {ratios}")
    if res["method"] == "minima":
        from landscape.experiment.surface import minima_summary

        s = minima_summary(res)
        grda = f"{s['grda_loss']:.4g}" if s["grda_loss"] is not None else "(off the grid)"
        print(f"  gRDA at (1, 0) (||w_gRDA - w_SGD|| = {s['delta_norm']:.4g}): train loss "
              f"{grda} vs {s['sgd_loss']:.4g} at SGD; curvature at SGD along delta "
              f"{s['curvature_delta']:.4g}, along the top eigenvector "
              f"{s['curvature_eigenvector']:.4g}: the eigenvector direction is "
              f"{'sharper' if s['sharper_eigenvector'] else 'not sharper'}")


def _run(args: argparse.Namespace) -> int:
    from landscape.distributed import context

    ctx = context()  # under torchrun: join the process group first
    grid = _grid(args)
    _check(args, grid)
    progress = show_progress(args) and ctx.is_main
    from landscape.experiment.surface import minima_summary, surface_cached

    subject = subject_from_args(args, splits=("train",) if args.no_test else ("train", "test"))
    store = open_store(args.store, subject.path)
    basis = _basis(args, subject, store, len(grid), progress)
    res = surface_cached(store, subject, basis, grid=grid, ranges=args.range, bn=args.bn,
                         test=not args.no_test, strategy=args.strategy,
                         max_batch=args.max_batch or "auto", points_per_pass=args.per_pass,
                         progress=progress)
    if res is None:  # torchrun, rank > 0: rank 0 reports
        return 0
    figures: list[str] = []
    if args.figures:
        from landscape.plotting.surface import export_vtk, write_surface_figures

        stem = _stem(subject, args.directions)
        figures = [str(p) for p in write_surface_figures(res, args.figures, stem,
                                                         subject=subject.label)]
        if args.export == "vtk":
            figures.append(str(export_vtk(res, Path(args.figures) / f"{stem}.vtk")))
    if args.json:
        out = {k: v for k, v in res.items() if k != "done"}
        if args.directions == "minima":
            out["minima"] = minima_summary(res)
        emit_json(out | {"checkpoint": str(subject.path), "store": str(store.root),
                         "figures": figures})
        return 0
    _report(res, subject.label)
    for path in figures:
        print(f"wrote {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``surface`` subcommand."""
    p = subparsers.add_parser(
        "surface", help="loss surfaces: random, Hessian-eigenvector, trajectory-PCA, points "
                        "and minima planes, cached in the store",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_subject_flags(p)
    g = p.add_argument_group("directions")
    g.add_argument("--directions", choices=METHODS, required=True,
                   help="how the line or plane is chosen (see above)")
    g.add_argument("--norm", choices=NORMS, default=None,
                   help="random: per-filter (Li et al. 2018, the default), per-layer or no "
                        "normalisation")
    g.add_argument("--include-bn-bias", action="store_true",
                   help="random: move biases and BatchNorm parameters too (normalised by "
                        "their own norm; by default they stay at the origin's values)")
    g.add_argument("--seed", type=int, default=None, help="random: seed of the draws (0)")
    g.add_argument("--top-k", type=int_at_least(1), default=10, metavar="K",
                   help="eigen, minima: the Hessian top-k entry the eigenvectors come from "
                        "(the one `landscape hessian --top-k K` stores; default 10)")
    g.add_argument("--eigenvectors", type=int_at_least(1), nargs="+", metavar="I",
                   help="eigen: which eigenvectors, 1 = the top one (default 1 2; 1 on a line)")
    add_epochs_flag(g, "of the trajectory (pca; the final epoch is always included)",
                    default="every checkpointed epoch up to CHECKPOINT's")
    g.add_argument("--points", nargs="+", metavar="B",
                   help="points: B (the line CHECKPOINT -> B) or B C (the plane through "
                        "CHECKPOINT, B and C)")
    g.add_argument("--grda", metavar="GRDA",
                   help="minima: the gRDA minimum (CHECKPOINT is the SGD minimum)")
    e = p.add_argument_group("grid and evaluation")
    e.add_argument("--grid", type=int_at_least(2), nargs="+", metavar="N",
                   help="points per axis: NX (a line) or NX NY (a plane); default 21 21 (51 "
                        "for the line of --points B)")
    e.add_argument("--range", type=float, nargs="+", metavar="V",
                   help="XMIN XMAX [YMIN YMAX] (default: random [-1, 1], eigen [-0.5, 0.5], "
                        "pca around the trajectory, points [-0.25, 1.25], minima [-0.5, 1.5] x "
                        "[-1, 1])")
    e.add_argument("--bn", choices=("keep", "recalibrate"), default="keep",
                   help="BatchNorm statistics: keep the origin's (Li et al. 2018, default) or "
                        "recalibrate them exactly at every point")
    e.add_argument("--no-test", action="store_true",
                   help="evaluate the training split only (half the passes)")
    e.add_argument("--strategy", choices=("loop", "vmap"), default="loop",
                   help="K points per pass one after the other (loop, default; the fastest "
                        "on a CPU) or as one vmap (fewer, larger kernels: try it on a GPU)")
    e.add_argument("--per-pass", type=int_at_least(1), metavar="K",
                   help="points per pass over the data (default: from a 512 MiB budget)")
    e.add_argument("--max-batch", type=int_at_least(1), metavar="N",
                   help="split the data's batches to at most N samples for evaluation "
                        "(default: on a CPU, pieces of at most 32 MiB of activations)")
    add_output_flags(p)
    p.add_argument("--export", choices=("vtk",),
                   help="also write the grid as a VTK file into --figures DIR (ParaView)")
    p.set_defaults(func=_run)
