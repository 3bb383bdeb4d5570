"""One self-contained HTML page per experiment, built from cached results only.

``landscape report EXPERIMENT_DIR`` (:mod:`landscape.commands.report`) gathers what the run
directories and the result store hold (:func:`gather_experiment`), builds each registered
section (:mod:`landscape.report.sections`: runs, training curves, curvature, connectivity,
surfaces, projections, features, trade-off, verdict) and renders them with Jinja2
(autoescaped) into one file with its figures embedded: static PNGs, and Plotly figures drawn
by plotly.js embedded once. Nothing is computed; what is missing is listed with the command
that computes it, and every number links to its store key and the command that produced it.
"""

from landscape.report.evidence import Evidence, cached_evidence
from landscape.report.gather import Curve, Experiment, Point, Run, StoredEntry, gather_experiment
from landscape.report.provenance import COMMANDS, entry_command, train_command
from landscape.report.render import Report, build_report, render_report, write_report

__all__ = [
    "COMMANDS",
    "Curve",
    "Evidence",
    "Experiment",
    "Point",
    "Report",
    "Run",
    "StoredEntry",
    "build_report",
    "cached_evidence",
    "entry_command",
    "gather_experiment",
    "render_report",
    "train_command",
    "write_report",
]
