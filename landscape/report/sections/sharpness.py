"""Sharpness over training and along curves, from the cached entries.

``hessian.trace``, ``hessian.gradient`` and ``curves.hessian``: the Hessian trace
(Hutchinson 1989) and the gradient's share in the top-k eigenspace (Gur-Ari et al. 2018) per
epoch, and the top eigenvalue and trace along a fitted curve and its straight line (Garipov
et al. 2018). Interactive (hover values), the numbers below each figure.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from landscape.report.blocks import Content, Figure, Missing, Section, Table
from landscape.report.context import Context, fmt
from landscape.report.figures import line_figure
from landscape.report.gather import Experiment, Run, StoredEntry
from landscape.report.provenance import COMMANDS, join, store_flag
from landscape.report.sections import register


def _per_epoch(exp: Experiment, name: str) -> dict[Run, dict[int, StoredEntry]]:
    out: dict[Run, dict[int, StoredEntry]] = {}
    for e in sorted(exp.find(name), key=lambda e: e.summary.created_unix):
        point = e.roles.get("checkpoint")
        if point is not None:
            out.setdefault(point.run, {})[point.epoch] = e
    return out


def _k_at(exp: Experiment, e: StoredEntry) -> int:
    """The top-k of the checkpoint's eigenpairs (for the sharpness command's --top-k)."""
    point = e.roles.get("checkpoint")
    ks = [int(t.params["k"]) for t in exp.find("hessian.topk", checkpoint=point)]
    return Counter(ks).most_common(1)[0][0] if ks else 10


def _sharpness_command(exp: Experiment, e: StoredEntry) -> str:
    point = e.roles.get("checkpoint")
    if point is None:
        raise LookupError("not a checkpoint of this experiment")
    k = int(e.params["k"]) if e.name == "hessian.gradient" else _k_at(exp, e)
    traces = [e] if e.name == "hessian.trace" else exp.find("hessian.trace", checkpoint=point)
    probes = ["--trace-probes", str(traces[0].params["probes"] if traces else 0)]
    seed = ["--seed", str(e.params["seed"])] if e.params.get("seed", 0) else []
    return join("landscape", "sharpness", point.run.path, "--at-epochs", point.epoch,
                "--top-k", k, *probes, *seed, *store_flag(exp))


def _curve_command(exp: Experiment, e: StoredEntry) -> str:
    if e.curve is None:
        raise LookupError("no fitted curve of this experiment joins these checkpoints")
    p = e.params
    return join("landscape", "curve", "hessian", e.curve.path, "--points", p["points"],
                "--top-k", p["k"], "--trace-probes", p["trace_probes"],
                *(["--no-line"] if not p.get("line", True) else []), *store_flag(exp))


COMMANDS.setdefault("hessian.trace", _sharpness_command)
COMMANDS.setdefault("hessian.gradient", _sharpness_command)
COMMANDS.setdefault("curves.hessian", _curve_command)


def _over_epochs(ctx: Context, name: str, field: str, title: str, y: str, *, log_y: bool,
                 caption: str) -> Figure | None:
    groups = {r: by for r, by in _per_epoch(ctx.exp, name).items() if len(by) >= 2}
    if not groups:
        return None
    series, rows = [], []
    for run, by in groups.items():
        epochs = sorted(by)
        values = [float(by[e].read(field)) for e in epochs]
        series.append({"x": epochs, "y": values, "name": run.name})
        rows += [[run.name, str(e), ctx.cite(by[e], fmt(v))] for e, v in zip(epochs, values)]
    return Figure(caption=caption, plotly=line_figure(series, title=title, x_title="epoch",
                                                       y_title=y, log_y=log_y),
                  alt=title, data=Table(["run", "epoch", y], rows))


def _along(ctx: Context, e: StoredEntry) -> Figure:
    a = e.roles["start"].run.name if e.roles.get("start") else "A"
    b = e.roles["end"].run.name if e.roles.get("end") else "B"
    ev = np.asarray(e.read("eigenvalues"), dtype=float)  # [path, t, k]
    trace = np.asarray(e.read("trace"), dtype=float)  # [path, t]
    t = np.linspace(0.0, 1.0, ev.shape[1])
    names = ("Bezier curve", "straight line")
    series = [{"x": t, "y": ev[i, :, 0], "name": f"λ1, {names[i]}",
               "line": {"dash": "solid" if i == 0 else "dash"}} for i in range(ev.shape[0])]
    rows = [[names[i], f"{t[j]:.3g}", ctx.cite(e, fmt(ev[i, j, 0])),
             ctx.cite(e, fmt(trace[i, j]))] for i in range(ev.shape[0]) for j in range(len(t))]
    title = f"Top Hessian eigenvalue from {a} (t = 0) to {b} (t = 1) (Garipov et al. 2018)"
    return Figure(
        caption=f"The largest Hessian eigenvalue λ1 of the training loss along the fitted "
                f"curve (solid) and the straight line (dashed) from {a} to {b}, BatchNorm "
                "statistics recomputed at every t (Lanczos; Ghorbani et al. 2019): is the "
                "valley equally flat all the way? Hover for values; the trace is in the table.",
        plotly=line_figure(series, title=title, x_title="t", y_title="λ1"), alt=title,
        data=Table(["path", "t", "λ1", "trace"], rows), sources=[(e.anchor, e.key[:12])])


def build(ctx: Context) -> Content | None:
    """Trace and gradient share per epoch, curvature along curves, and what is missing."""
    blocks: list[Any] = []
    trace = _over_epochs(
        ctx, "hessian.trace", "trace", "Hessian trace per epoch (Hutchinson 1989)", "trace",
        log_y=False, caption="Trace of the training-loss Hessian at every checkpoint by "
        "Hutchinson's estimator (Hutchinson 1989): the total curvature, beside λ1 in the "
        "previous section. Hover for values; the numbers are below.")
    share = _over_epochs(
        ctx, "hessian.gradient", "share", "Gradient share in the top-k eigenspace per epoch "
        "(Gur-Ari et al. 2018)", "share", log_y=True, caption="Share of the full-batch "
        "gradient in the span of the top-k Hessian eigenvectors at every checkpoint: gradient "
        "descent happens in a tiny subspace (Gur-Ari et al. 2018). Hover for values.")
    blocks += [f for f in (trace, share) if f is not None]
    blocks += [_along(ctx, e) for e in ctx.exp.find("curves.hessian")
               if e.roles.get("start") and e.roles.get("end")]
    missing = []
    traced = _per_epoch(ctx.exp, "hessian.trace")
    tops = _per_epoch(ctx.exp, "hessian.topk")
    for run in ctx.exp.runs:  # without the top-k over epochs the curvature section asks it
        if (run.final_epoch and len(traced.get(run, {})) < 2
                and len([e for e in tops.get(run, {}) if e > 0]) >= 2):
            k = _k_at(ctx.exp, next(iter(tops[run].values())))
            missing.append(Missing(f"trace and gradient share of {run.name} over epochs",
                                   join("landscape", "sharpness", run.path, "--top-k", k,
                                        *store_flag(ctx.exp))))
    along = {(e.roles.get("start"), e.roles.get("end")) for e in ctx.exp.find("curves.hessian")}
    for curve in ctx.exp.curves:
        if curve.complete and curve.start and curve.end and (curve.start, curve.end) not in along:
            missing.append(Missing(f"curvature along {curve.name}",
                                   join("landscape", "curve", "hessian", curve.path,
                                        *store_flag(ctx.exp))))
    if not blocks and not missing:
        return None
    return Content(blocks=blocks, missing=missing)


SECTION = register(Section("sharpness", "Sharpness over training and along curves", build))
