"""Build the page: gather, run every registered section, render the Jinja2 template.

The page is one self-contained HTML file: static figures as base64 PNG, interactive ones as
Plotly JSON drawn by plotly.js embedded once, the stylesheet inline; it loads nothing from
the network and reads fine with JavaScript off (each interactive figure keeps its static
image and its numbers). Jinja2 autoescapes every value, so a run named ``<script>`` shows as
text.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscape import __version__
from landscape._io import atomic_path
from landscape.report.context import Context
from landscape.report.gather import Experiment, gather_experiment
from landscape.report.sections import Content, Figure, Missing, sections
from landscape.verify import Thresholds

__all__ = ["Report", "build_report", "render_report", "write_report"]


@dataclass
class Report:
    """A built report: the HTML and what went into it.

    Attributes:
        html: the page.
        experiment: the gathered experiment.
        missing: every missing analysis with its command (also listed on the page).
        entries: the store keys the page cites.
        seconds: time to build it.
    """

    html: str
    experiment: Experiment
    missing: list[tuple[str, Missing]] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("landscape.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pretty"] = lambda v: json.dumps(v, sort_keys=True, default=str)
    return env


def _meta(exp: Experiment) -> dict[str, Any]:
    import torch

    devices = sorted({str(r.config.get("device", "?")) for r in exp.runs})
    return {
        "library_version": __version__, "torch_version": torch.__version__,
        "python_version": platform.python_version(), "platform": platform.platform(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "train_devices": ", ".join(devices),
    }


def _provenance(ctx: Context) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(ctx.used, key=lambda k: (ctx.used[k].name, k)):
        e = ctx.used[key]
        attrs = e.entry.attrs
        rows.append({
            "anchor": e.anchor, "key": e.key, "name": e.name, "params": e.params,
            "inputs": {r: (str(p) if p else e.summary.inputs[r][:12])
                       for r, p in e.roles.items()},
            "created": e.summary.created, "library_version": attrs.get("library_version", "?"),
            "host": attrs.get("host", "?"),
            "seconds": attrs.get("compute_seconds"), "command": ctx.command(e),
        })
    return rows


def render_report(exp: Experiment, *, thresholds: Thresholds | None = None,
                  title: str | None = None, workers: int | None = None) -> Report:
    """Build every section of ``exp`` into the page (reads the store; computes nothing).

    ``workers``: processes drawing the static figures (default: one per core, or
    ``$LANDSCAPE_REPORT_WORKERS``).
    """
    began = time.perf_counter()
    ctx = Context(exp=exp, thresholds=thresholds or Thresholds())
    built: list[dict[str, Any]] = []
    missing: list[tuple[str, Missing]] = []
    figures: list[dict[str, Any]] = []
    for section in sections():
        content = section.build(ctx)
        if content is None:
            continue
        for block in content.blocks:
            if isinstance(block, Figure):
                block.html_id = f"figure-{len(figures) + 1}"
                figures.append({"id": block.html_id, "section": section.id})
                block.alt = block.alt or block.caption
        built.append({"id": section.id, "title": section.title, "content": content})
        missing += [(section.title, m) for m in content.missing]
    ctx.draw_static(workers)
    env = _environment()
    interactive = any(isinstance(b, Figure) and b.plotly for s in built
                      for b in s["content"].blocks)
    from landscape.report.figures import plotly_js

    html = env.get_template("report.html.j2").render(
        title=title or f"landscape report: {exp.root.resolve().name}", exp=exp,
        meta=_meta(exp), sections=built, missing=missing, provenance=_provenance(ctx),
        plotly_js=plotly_js() if interactive else None, is_figure=lambda b: isinstance(
            b, Figure), is_content=lambda b: isinstance(b, Content))
    return Report(html=html, experiment=exp, missing=missing, entries=sorted(ctx.used),
                  seconds=time.perf_counter() - began)


def build_report(experiment: str | Path, *, store: str | Path | None = None,
                 thresholds: Thresholds | None = None, title: str | None = None,
                 workers: int | None = None) -> Report:
    """Gather the experiment in ``experiment`` (and its store) and build its page."""
    began = time.perf_counter()
    report = render_report(gather_experiment(experiment, store=store), thresholds=thresholds,
                           title=title, workers=workers)
    report.seconds = time.perf_counter() - began
    return report


def write_report(report: Report, path: str | Path) -> Path:
    """Write the page atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(report.html, encoding="utf-8")
    return path
