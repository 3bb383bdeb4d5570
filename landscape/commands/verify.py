"""``landscape verify SGD_RUN GRDA_RUN``: the evidence and the verdict (thin).

Parse, gather the evidence with :func:`landscape.verify.verify` (everything expensive from
the result store), print :func:`landscape.verify.format_report` or one JSON object.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from landscape.commands._args import add_epochs_flag, add_output_flags, open_store
from landscape.commands._cliutil import emit_json, int_at_least, resolve_device, show_progress

__all__ = ["register"]

_DESCRIPTION = """\
Does gRDA perform directional pruning here (Chao et al. 2020)? Gathers the evidence from the
result store (computing what is missing: a Bezier curve between the two final minima, the
top-k Hessian eigenpairs, the projection of w_gRDA - w_SGD on them epoch by epoch) and judges
four criteria, each against a yardstick the analysis measures, so that each can fail:
same_valley (barrier of the fitted curve; the straight line's barrier says whether the line
is flat too), flat_directions (the share in the top-k eigenspace against a random direction,
k/P, and against two SGD runs from different seeds), sparse, comparable_accuracy.
SGD_RUN must be an SGD run and GRDA_RUN a gRDA run of the same seed (each run's optimizer is
read from its config.json). With --baseline-run (an SGD run of another seed) the curve and
the line between the two SGD runs are evaluated too, as a control."""


def _run(args: argparse.Namespace) -> int:
    from landscape.experiment.curves import CurveFitConfig
    from landscape.verify import Thresholds, format_report, verify

    device = resolve_device(args.device)
    thresholds = Thresholds(**{f.name: getattr(args, f.name) for f in fields(Thresholds)})
    store = open_store(args.store, Path(args.sgd_run))
    fit = CurveFitConfig(epochs=args.curve_epochs, batch_size=args.curve_batch_size,
                         lr=args.curve_lr)
    report = verify(store, args.sgd_run, args.grda_run, curve_dir=args.curve,
                    baseline_run=args.baseline_run, control=not args.no_control,
                    top_k=args.top_k, fit=fit, points=args.points, subset=args.subset,
                    thresholds=thresholds, projection_epochs=args.at_epochs,
                    allow_unfinished=args.allow_unfinished, device=device,
                    progress=show_progress(args))
    report["store"] = str(store.root)
    if args.figures:
        from landscape.plotting.directional import plot_report

        report["figures"] = [str(p) for p in plot_report(report, Path(args.figures))]
    if args.json:
        emit_json(report)
    else:
        print(format_report(report))
        for f in report.get("figures", []):
            print(f"figure: {f}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape verify``."""
    p = sub.add_parser("verify", help="evidence and verdict: did gRDA perform directional pruning?",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sgd_run", metavar="SGD_RUN", help="run trained with SGD")
    p.add_argument("grda_run", metavar="GRDA_RUN", help="run trained with gRDA, same seed")
    g = p.add_argument_group("analyses")
    g.add_argument("--curve", metavar="CURVE_DIR",
                   help="fitted curve between the final checkpoints (default: "
                        "SGD_RUN/../curve_SGD__GRDA, fitted there when absent)")
    g.add_argument("--baseline-run", metavar="SGD_RUN_2",
                   help="SGD run from another seed: SGD-vs-SGD share and connectivity control")
    g.add_argument("--no-control", action="store_true",
                   help="with --baseline-run: skip the curve between the two SGD runs (a "
                        "second curve fit)")
    g.add_argument("--top-k", type=int_at_least(1), default=10,
                   help="Hessian eigenpairs (default 10)")
    g.add_argument("--points", type=int_at_least(2), default=61,
                   help="points along the curve (default 61)")
    g.add_argument("--subset", type=int_at_least(1),
                   help="training samples in the Hessian (default all)")
    add_epochs_flag(g, "of the projection (the final epoch is always added)",
                    default="every epoch both runs have, except 0")
    g.add_argument("--allow-unfinished", action="store_true",
                   help="judge runs that stopped before their configured epochs")
    g.add_argument("--curve-epochs", type=int_at_least(1), default=10,
                   help="epochs of a curve fit (default %(default)s, as `landscape curve fit`)")
    g.add_argument("--curve-batch-size", type=int_at_least(1), default=128,
                   help="minibatch of a curve fit (default %(default)s)")
    g.add_argument("--curve-lr", type=float, default=0.1,
                   help="learning rate of a curve fit (default %(default)s)")
    t = p.add_argument_group(
        "thresholds of the verdict",
        "each criterion is judged against a yardstick it can fail; the reasoning behind\n"
        "each default is in the docstring of landscape.verify.Thresholds",
    )
    from landscape.verify.judgement import THRESHOLD_HELP, Thresholds

    defaults = Thresholds()
    for f in fields(Thresholds):
        t.add_argument(f"--{f.name.replace('_', '-')}", type=float,
                       default=getattr(defaults, f.name), help=THRESHOLD_HELP[f.name])
    add_output_flags(p)
    p.set_defaults(func=_run)
