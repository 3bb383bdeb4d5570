"""``landscape project SGD_RUN GRDA_RUN [GRDA_RUN ...]``: Chao et al. 2020, Fig. 6 (thin).

Parse, ask :func:`landscape.experiment.projection.projection_over_epochs` per gRDA run (every
epoch a cached store entry), print a table per run or one JSON object, draw the figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from landscape.commands._args import (
    add_data_flags,
    add_epochs_flag,
    add_output_flags,
    data_options,
    open_store,
)
from landscape.commands._cliutil import emit_json, int_at_least, show_progress, write_figure

__all__ = ["register"]


def _table(name: str, p: dict[str, Any]) -> list[str]:
    lines = [f"{name}: share of w_gRDA - w_SGD in the top-{p['top_k']} eigenspace "
             f"(random direction ~ {p['random_expected']:.2e})"]
    header = f"{'epoch':>7}{'ratio':>10}{'share':>12}{'random':>12}{'||delta||':>11}"
    lines.append(header + (f"{'SGD seeds':>12}" if p["baseline_share"] else "")
                 + f"{'grad share':>12}{'overlap prev':>14}")
    for i, e in enumerate(p["epochs"]):
        row = (f"{e:>7}{p['ratio'][i]:>10.4f}{p['share'][i]:>12.4e}"
               f"{p['random_share'][i]:>12.4e}{p['delta_norm'][i]:>11.4f}")
        if p["baseline_share"]:
            row += f"{p['baseline_share'][i]:>12.4e}"
        overlap = p["overlap_previous"][i]
        row += f"{p['gradient_share'][i]:>12.4e}" + (f"{overlap:>14.4f}" if overlap is not None
                                                     else f"{'-':>14}")
        lines.append(row)
    lines.append(f"  grad share: the full-batch gradient at w_SGD in its top-{p['top_k']} "
                 "eigenspace (Gur-Ari et al. 2018); overlap prev: ||V_prev^T V||_F^2 / k with "
                 "the previous epoch's (random: k/P for both)")
    m = p.get("minima")
    if m:
        angles = ", ".join(f"{a:.3g}" for a in m["angles"])
        lines.append(f"  top-{p['top_k']} eigenspaces at w_SGD and w_gRDA (epoch {m['epoch']}): "
                     f"overlap {m['overlap']:.4f} (random {m['random_expected']:.2e}); "
                     f"principal angles (rad) {angles}")
    return lines


def _run(args: argparse.Namespace) -> int:
    from landscape.experiment.projection import projection_over_epochs
    from landscape.experiment.runs import check_roles, check_same_experiment

    # refuse any run in the wrong role or of another experiment before computing anything
    check_roles(args.sgd_run, args.grda_runs, baseline_run=args.baseline_run)
    for run in args.grda_runs:
        check_same_experiment(args.sgd_run, run, same_seed=True)
    if args.baseline_run:
        check_same_experiment(args.sgd_run, args.baseline_run, same_seed=False)
    store = open_store(args.store, Path(args.sgd_run))
    data, progress = data_options(args), show_progress(args)
    results = {
        Path(run).name: projection_over_epochs(
            store, args.sgd_run, run, data=data, top_k=args.top_k, epochs=args.at_epochs,
            baseline_run=args.baseline_run, minima=True, progress=progress,
        )
        for run in args.grda_runs
    }
    figures = []
    if args.figures:
        from landscape.plotting import plot_projection

        figures.append(write_figure(args.figures, "projection_share.png", plot_projection,
                                    results))
    if args.json:
        emit_json({"sgd_run": args.sgd_run, "runs": results, "store": str(store.root),
                   "figures": figures})
        return 0
    for name, p in results.items():
        print("\n".join(_table(name, p)))
    for path in figures:
        print(f"figure: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape project``."""
    p = sub.add_parser(
        "project", help="share of w_gRDA - w_SGD in the top-k Hessian eigenspace, per epoch",
        description="Share of w_gRDA(e) - w_SGD(e) in the top-k Hessian eigenspace at "
                    "w_SGD(e), epoch by epoch (Chao et al. 2020, Fig. 6), beside a random "
                    "direction (k/P) and, with --baseline-run, two SGD runs from different "
                    "seeds; also the share of the full-batch gradient in that eigenspace and "
                    "the overlap of consecutive eigenspaces (Gur-Ari et al. 2018), and the "
                    "principal angles between the eigenspaces at the SGD and gRDA minima. "
                    "SGD_RUN must be an SGD run and each GRDA_RUN a gRDA run of the "
                    "same seed (read from their config.json). The Hessian is that of the "
                    "runs' training data unless the data flags name other data.",
    )
    p.add_argument("sgd_run", metavar="SGD_RUN", help="run trained with SGD")
    p.add_argument("grda_runs", metavar="GRDA_RUN", nargs="+",
                   help="runs trained with gRDA, same seed as SGD_RUN")
    g = p.add_argument_group("analysis")
    g.add_argument("--top-k", type=int_at_least(1), default=10,
                   help="Hessian eigenpairs (default %(default)s)")
    add_epochs_flag(g, "to analyse", default="every epoch all runs have, except 0")
    g.add_argument("--baseline-run", metavar="SGD_RUN_2",
                   help="SGD run from another seed (the SGD-vs-SGD baseline)")
    add_data_flags(p)
    add_output_flags(p)
    p.set_defaults(func=_run)
