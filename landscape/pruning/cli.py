"""``landscape tradeoff RUN ...``: test accuracy against sparsity per method, figure and table.

Thin: find the finished runs, read their config and last metrics (:mod:`landscape.pruning.
tradeoff`), print the table (or one JSON object), draw the figure
(:func:`landscape.plotting.plot_tradeoff`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape._cliutil import add_json_flag, emit_json
from landscape.pruning.tradeoff import compare_at, format_table, tradeoff_points

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    points = tradeoff_points(args.runs)
    if not points:
        raise ValueError(f"none of the runs under {args.runs} has a finished epoch yet")
    figure = None
    if not args.no_figure:
        from landscape.plotting import plot_tradeoff

        figure = Path(args.figure)
        plot_tradeoff(points, figure, title=args.title)
    at = compare_at(points, args.at, tolerance=args.tolerance) if args.at is not None else None
    if args.json:
        out = {"points": [p.to_dict() for p in points],
               "figure": str(figure) if figure else None}
        if at is not None:
            out["at"] = {"sparsity": args.at, "tolerance": args.tolerance,
                         "best": {m: p.to_dict() for m, p in at.items()}}
        emit_json(out)
        return 0
    print(format_table(points))
    if at is not None:
        print(f"\nbest test accuracy at sparsity {100 * args.at:g}% "
              f"(+/- {100 * args.tolerance:g} points):")
        for method, p in sorted(at.items(), key=lambda kv: -kv[1].test_acc):
            print(f"  {method:<16} {100 * p.test_acc:6.2f}%  ({p.setting}, sparsity "
                  f"{100 * p.sparsity:.2f}%)")
    if figure:
        print(f"\nfigure: {figure}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape tradeoff``."""
    p = sub.add_parser(
        "tradeoff", help="test accuracy vs sparsity of finished runs (figure and table)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run directories, or folders holding them (the --out of train)")
    p.add_argument("--figure", default="figures/tradeoff.png",
                   help="where to write the figure (default %(default)s)")
    p.add_argument("--no-figure", action="store_true", help="only the table")
    p.add_argument("--title", help="figure title")
    p.add_argument("--at", type=float, metavar="S",
                   help="also report the best run per method at sparsity S (e.g. 0.9)")
    p.add_argument("--tolerance", type=float, default=0.02,
                   help="sparsity band of --at (default %(default)s)")
    add_json_flag(p)
    p.set_defaults(func=_run)
