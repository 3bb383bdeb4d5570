"""``landscape tradeoff RUN ...``: test accuracy against sparsity per method, table and figure.

Thin: find the runs (:func:`landscape.experiment.runs.find_runs`, which skips the result store
and fitted curves of an experiment directory, so ``landscape tradeoff runs/*`` works), read
their config and last metrics (:func:`landscape.pruning.tradeoff_points`), print the table (or
one JSON object), draw the figure (:func:`landscape.plotting.plot_tradeoff`) with
``--figures DIR``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.commands._args import add_figures_flag
from landscape.commands._cliutil import add_json_flag, emit_json

__all__ = ["register"]


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return value


def _run(args: argparse.Namespace) -> int:
    from landscape.experiment.runs import find_runs
    from landscape.pruning import compare_at, format_table, tradeoff_points

    points = tradeoff_points(find_runs(args.runs))
    if not points:
        raise ValueError(f"none of the runs under {args.runs} has a finished epoch yet")
    figures = []
    if args.figures:
        from landscape.plotting import plot_tradeoff

        figure = Path(args.figures) / "tradeoff.png"
        plot_tradeoff(points, figure, title=args.title)
        figures.append(str(figure))
    at = compare_at(points, args.at, tolerance=args.tolerance) if args.at is not None else None
    if args.json:
        out = {"points": [p.to_dict() for p in points], "figures": figures}
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
    for figure in figures:
        print(f"\nfigure: {figure}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape tradeoff``."""
    p = sub.add_parser(
        "tradeoff", help="test accuracy vs sparsity of finished runs (table and figure)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run directories, or folders holding them (the --out of train); "
                        "result stores and fitted curves among them are skipped")
    p.add_argument("--title", help="figure title")
    p.add_argument("--at", type=_fraction, metavar="S",
                   help="also report the best run per method at sparsity S (a fraction, "
                        "e.g. 0.9)")
    p.add_argument("--tolerance", type=_fraction, default=0.02,
                   help="sparsity band of --at, a fraction (default %(default)s)")
    g = p.add_argument_group("output")
    add_figures_flag(g)
    add_json_flag(g)
    p.set_defaults(func=_run)
