"""``landscape report EXPERIMENT_DIR``: one self-contained HTML page of an experiment (thin).

Gathers what the run directories and the result store beside them hold, builds the page
(:mod:`landscape.report`; nothing is computed: what is missing is listed with the command
that computes it), writes it atomically and prints its path.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path

from landscape.commands._args import STORE_ENV
from landscape.commands._cliutil import add_json_flag, emit_json

__all__ = ["register"]

_DESCRIPTION = """\
Write one HTML page about an experiment (the --out of `landscape train`: sibling runs, the
fitted curves beside them and the result store): the runs, training curves, Hessian spectra
and top-k eigenvalues over epochs, curves and planes, loss surfaces, projection shares,
feature statistics, the sparsity-accuracy trade-off and the directional-pruning verdict
(Chao et al. 2020) with each criterion's value and threshold. Built from cached results only:
nothing is computed, and each missing analysis is listed with the exact command that computes
it. Every number links to its store key and the command that produced it. The file embeds
its figures and plotly.js: it works offline, when mailed, and with JavaScript off."""


def _run(args: argparse.Namespace) -> int:
    from landscape.report import build_report, write_report
    from landscape.verify import Thresholds

    thresholds = Thresholds(**{f.name: getattr(args, f.name) for f in fields(Thresholds)})
    store = args.store or os.environ.get(STORE_ENV) or None
    report = build_report(args.experiment, store=store, thresholds=thresholds,
                          title=args.title)
    out = Path(args.out) if args.out else Path(args.experiment) / "report.html"
    path = write_report(report, out)
    missing = [{"section": where, "what": m.what, "command": m.command}
               for where, m in report.missing]
    if args.json:
        emit_json({"report": str(path), "bytes": path.stat().st_size, "seconds": report.seconds,
                   "entries": report.entries, "missing": missing,
                   "store": str(report.experiment.store.root)
                   if report.experiment.store is not None else None})
        return 0
    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB, {len(report.entries)} store "
          f"entries, built in {report.seconds:.1f} s)")
    if missing:
        print(f"{len(missing)} analyses are not in the store yet (listed on the page):")
        for m in missing:
            print(f"  {m['what']}:\n    {m['command']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape report``."""
    p = sub.add_parser("report", help="one self-contained HTML page of an experiment "
                                      "(from cached results only)",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", metavar="EXPERIMENT_DIR",
                   help="the --out of `landscape train` (run directories side by side)")
    p.add_argument("--out", metavar="FILE.html",
                   help="where to write the page (default EXPERIMENT_DIR/report.html)")
    p.add_argument("--store", metavar="DIR", default=None,
                   help=f"result store (default: ${STORE_ENV} if set, else the 'store' "
                        "directory beside the runs)")
    p.add_argument("--title", help="page title (default: names the experiment directory)")
    from landscape.verify.judgement import THRESHOLD_HELP, Thresholds

    t = p.add_argument_group("thresholds of the verdict (as `landscape verify`'s)")
    defaults = Thresholds()
    for f in fields(Thresholds):
        t.add_argument(f"--{f.name.replace('_', '-')}", type=float,
                       default=getattr(defaults, f.name), help=THRESHOLD_HELP[f.name])
    add_json_flag(p)
    p.set_defaults(func=_run)
