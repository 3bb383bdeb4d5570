"""``landscape project SGD_RUN GRDA_RUN [GRDA_RUN ...]``: Chao et al. 2020, Fig. 6 (thin)."""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape._cliutil import (
    add_device_flag,
    add_json_flag,
    add_progress_flag,
    emit_json,
    resolve_device,
    show_progress,
)
from landscape.data import EvalSet, dataset_from_config
from landscape.rundir import RunDir
from landscape.stats.trajectory import check_roles, check_same_experiment, projection_over_epochs
from landscape.store import add_store_flag, open_store

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    # refuse any run in the wrong role or of another experiment before computing anything
    check_roles(args.sgd_run, args.grda_runs, baseline_run=args.baseline_run)
    for run in args.grda_runs:
        check_same_experiment(Path(args.sgd_run), Path(run), same_seed=True)
    if args.baseline_run:
        check_same_experiment(Path(args.sgd_run), Path(args.baseline_run), same_seed=False)
    device = resolve_device(args.device)
    config = RunDir(args.sgd_run).read_config()
    dataset = dataset_from_config(config)
    data = EvalSet(dataset, "train", batch_size=args.batch_size, device=device,
                   subset=args.subset)
    store = open_store(args.store, Path(args.sgd_run))
    progress = show_progress(args)
    results = {
        Path(run).name: projection_over_epochs(
            store, args.sgd_run, run, data, top_k=args.top_k, epochs=args.epochs,
            baseline_run=args.baseline_run, device=device, progress=progress,
        )
        for run in args.grda_runs
    }
    figure = None
    if args.figures:
        from landscape.plotting import plot_projection, save_figure

        figure = str(save_figure(plot_projection(results),
                                 Path(args.figures) / "projection_share.png"))
    if args.json:
        emit_json({"sgd_run": args.sgd_run, "runs": results, "figure": figure})
        return 0
    for name, p in results.items():
        print(f"{name}: share of w_gRDA - w_SGD in the top-{p['top_k']} eigenspace "
              f"(random direction ~ {p['random_expected']:.2e})")
        header = f"{'epoch':>7}{'ratio':>10}{'share':>12}{'random':>12}{'||delta||':>11}"
        print(header + (f"{'SGD seeds':>12}" if p["baseline_share"] else ""))
        for i, e in enumerate(p["epochs"]):
            row = (f"{e:>7}{p['ratio'][i]:>10.4f}{p['share'][i]:>12.4e}"
                   f"{p['random_share'][i]:>12.4e}{p['delta_norm'][i]:>11.4f}")
            if p["baseline_share"]:
                row += f"{p['baseline_share'][i]:>12.4e}"
            print(row)
    if figure:
        print(f"figure: {figure}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape project``."""
    p = sub.add_parser(
        "project", help="share of w_gRDA - w_SGD in the top-k Hessian eigenspace, per epoch",
        description="Share of w_gRDA(e) - w_SGD(e) in the top-k Hessian eigenspace at "
                    "w_SGD(e), epoch by epoch (Chao et al. 2020, Fig. 6), beside a random "
                    "direction (k/P) and, with --baseline-run, two SGD runs from different "
                    "seeds. SGD_RUN must be an SGD run and each GRDA_RUN a gRDA run of the "
                    "same seed (read from their config.json).",
    )
    p.add_argument("sgd_run", metavar="SGD_RUN", help="run trained with SGD")
    p.add_argument("grda_runs", metavar="GRDA_RUN", nargs="+",
                   help="runs trained with gRDA, same seed as SGD_RUN")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--epochs", type=int, nargs="+", help="epochs (default: all shared but 0)")
    p.add_argument("--baseline-run", metavar="SGD_RUN_2",
                   help="SGD run from another seed (the SGD-vs-SGD baseline)")
    p.add_argument("--subset", type=int, help="training samples in the Hessian (default all)")
    p.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size")
    p.add_argument("--figures", metavar="DIR", help="write the Fig. 6 style figure into DIR")
    add_store_flag(p)
    add_device_flag(p)
    add_progress_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_run)
