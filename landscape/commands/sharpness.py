"""``landscape sharpness RUN [RUN ...]``: curvature over training (Cohen et al. 2021), thin.

Parse, ask :func:`landscape.experiment.sharpness.sharpness_over_training` (every epoch's
eigenpairs, trace and gradient share a cached store entry), print a table per run or one JSON
object, draw the figure.
"""

from __future__ import annotations

import argparse
from typing import Any

from landscape.commands._args import (
    add_data_flags,
    add_epochs_flag,
    add_output_flags,
    data_options,
    open_store,
)
from landscape.commands._cliutil import (
    emit_json,
    int_at_least,
    positive_float,
    show_progress,
    write_figure,
)

__all__ = ["register"]


def _num(value: float | None, fmt: str) -> str:
    """``value`` formatted, or a dash as wide (``fmt`` is ``>W.Pg`` or ``>W.Pf``)."""
    return format(value, fmt) if value is not None else "-".rjust(int(fmt[1:].split(".")[0]))


def _table(label: str, r: dict[str, Any], k: int, random: float) -> list[str]:
    lines = [f"{label} ({r['optimizer']}, {r['run']}): top-{k} Hessian eigenvalues per epoch "
             f"(gradient share and overlap: random ~ {random:.2e})",
             f"{'epoch':>6}{'lr':>9}{'limit':>9}{'lambda_1':>11}{f'lambda_{k}':>11}"
             f"{'trace':>11}{'+-':>8}{'grad share':>12}{'overlap':>9}{'loss':>9}"]
    for i, e in enumerate(r["epochs"]):
        ok = "" if r["converged"][i] == k else f"  ({r['converged'][i]}/{k} converged)"
        lines.append(
            f"{e:>6}{_num(r['lr'][i], '>9.3g')}{_num(r['stability_limit'][i], '>9.3g')}"
            f"{r['lambda_max'][i]:>11.4g}{r['lambda_k'][i]:>11.4g}"
            f"{_num(r['trace'][i], '>11.4g')}{_num(r['trace_stderr'][i], '>8.2g')}"
            f"{r['gradient_share'][i]:>12.3e}{_num(r['overlap_previous'][i], '>9.3f')}"
            f"{r['loss'][i]:>9.4f}{ok}")
    return lines


def _run(args: argparse.Namespace) -> int:
    from landscape.experiment.runs import find_runs
    from landscape.experiment.sharpness import sharpness_over_training

    runs = find_runs(args.runs)
    store = open_store(args.store, runs[0])
    result = sharpness_over_training(
        store, runs, data=data_options(args), top_k=args.top_k, epochs=args.at_epochs,
        tol=args.tol, trace_probes=args.trace_probes, seed=args.seed, warm=not args.cold,
        progress=show_progress(args))
    figures: list[str] = []
    if args.figures:
        from landscape.plotting.sharpness import plot_sharpness

        figures.append(write_figure(args.figures, "sharpness_over_training.png",
                                    plot_sharpness, result))
    if args.json:
        emit_json({**result, "store": str(store.root), "figures": figures})
        return 0
    for label, r in result["runs"].items():
        print("\n".join(_table(label, r, result["top_k"], result["random_expected"])))
        computed = sum(bool(c) for c in r["computed"])
        print(f"  {computed} epoch(s) computed, {len(r['epochs']) - computed} from the store "
              f"({store.root}); limit = 2(1+momentum)/lr for SGD (Cohen et al. 2021)\n")
    for path in figures:
        print(f"figure: {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape sharpness``."""
    p = sub.add_parser(
        "sharpness", help="top-k eigenvalues, trace and gradient share at every epoch of runs",
        description="Curvature over training: at every saved epoch of each run, the top-k "
                    "Hessian eigenvalues (Lanczos started from the previous epoch's "
                    "eigenvectors), the trace (Hutchinson 1989) with its standard error, the "
                    "share of the full-batch gradient in the top-k eigenspace (Gur-Ari et al. "
                    "2018) and the overlap of consecutive eigenspaces, beside the stability "
                    "limit 2/lr of SGD (Cohen et al. 2021). Each number is cached per "
                    "checkpoint; the eigenpairs are those of `landscape hessian`.",
    )
    p.add_argument("runs", metavar="RUN", nargs="+",
                   help="run directories (or a folder holding runs, e.g. the demo's output)")
    g = p.add_argument_group("analysis")
    g.add_argument("--top-k", type=int_at_least(1), default=10,
                   help="Hessian eigenpairs per epoch (default %(default)s)")
    add_epochs_flag(g, "to analyse", default="every checkpointed epoch of each run")
    g.add_argument("--tol", type=positive_float, default=1e-3,
                   help="relative Ritz residual ||Hv - lambda v|| / |lambda| (default 1e-3)")
    g.add_argument("--trace-probes", type=int_at_least(0), default=100,
                   help="Hutchinson probes per epoch (0: no trace; default %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random start and probes")
    g.add_argument("--cold", action="store_true",
                   help="start every Lanczos from a random vector (same answer, more products)")
    add_data_flags(p)
    add_output_flags(p)
    p.set_defaults(func=_run)
