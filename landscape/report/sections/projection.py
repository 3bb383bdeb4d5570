"""Projection shares with their baselines (Chao et al. 2020, Sec. 4.3 and Fig. 6).

The share of ``w_gRDA(e) - w_SGD(e)`` in the top-k Hessian eigenspace at ``w_SGD(e)``, per
epoch, read from ``projection.epoch`` entries, beside a random direction (``k/P``) and the
difference of two SGD runs from different seeds.
"""

from __future__ import annotations

from typing import Any

from landscape.report.blocks import Content, Figure, Missing, Section, Table
from landscape.report.context import Context, fmt
from landscape.report.figures import line_figure
from landscape.report.provenance import join, store_flag
from landscape.report.sections import register

_CITE = "Chao et al. 2020, Fig. 6"


def build(ctx: Context) -> Content | None:
    """One figure per SGD run (all its gRDA partners), the numbers per epoch, the gaps."""
    from landscape.plotting import plot_projection

    exp = ctx.exp
    blocks: list[Any] = []
    missing = []
    by_sgd: dict[str, list[Any]] = {}
    for sgd, grda, base in exp.pairs():
        ev = ctx.evidence(sgd, grda, base)
        if "projection" not in ev.report:
            k = 10
            out = join("landscape", "project", sgd.path, grda.path, "--top-k", k,
                       *(["--baseline-run", str(base.path)] if base else []), *store_flag(exp))
            missing.append(Missing(f"projection of {grda.name} - {sgd.name} on the top-k "
                                   "eigenspace per epoch", out))
            continue
        by_sgd.setdefault(sgd.name, []).append(ev)
    for sgd_name, evs in by_sgd.items():
        projections = {ev.grda.name: ev.report["projection"] for ev in evs}
        first = evs[0].report["projection"]
        series = [{"x": p["epochs"], "y": p["share"], "name": name}
                  for name, p in projections.items()]
        series.append({"x": first["epochs"], "y": [first["random_expected"]] *
                       len(first["epochs"]), "name": "random direction (k/P)",
                       "mode": "lines", "line": {"dash": "dash", "color": "gray"}})
        if first.get("baseline_share"):
            series.append({"x": first["epochs"], "y": first["baseline_share"],
                           "name": "SGD vs SGD (other seed)",
                           "line": {"dash": "dot", "color": "black"}})
        rows = []
        for ev in evs:
            p = ev.report["projection"]
            for i, (epoch, entry) in enumerate(zip(p["epochs"], ev.sources["projection"])):
                base = p["baseline_share"][i] if p["baseline_share"] else None
                rows.append([ev.grda.name, str(epoch), ctx.cite(entry, fmt(p["share"][i])),
                             ctx.cite(entry, fmt(p["random_share"][i])),
                             fmt(p["random_expected"]),
                             ctx.cite(entry, fmt(base)) if base is not None else "-"])
        k = first["top_k"]
        title = f"Share of w_gRDA - w_{sgd_name} in the top-{k} eigenspace ({_CITE})"
        blocks.append(Figure(
            caption=f"Share ||V_k^T δ||² / ||δ||² of δ = w_gRDA(e) - w_SGD(e) in the span of the "
                    f"top-{k} Hessian eigenvectors at w_SGD(e), per epoch ({_CITE}), beside "
                    f"the expected share of a random direction (k/P = "
                    f"{first['random_expected']:.2e}, P = {first['num_parameters']:,}) and, "
                    "dotted, the share of the difference of two SGD runs from different "
                    "seeds. Low means the gRDA run left SGD along flat directions. Hover for "
                    "values.",
            png=ctx.static(plot_projection, projections),
            plotly=line_figure(series, title=title, x_title="epoch", y_title="share",
                               log_y=True),
            alt=title,
            data=Table(["gRDA run", "epoch", "share", "random (measured)", "k/P",
                        "SGD vs SGD"], rows)))
    if not blocks and not missing:
        return None
    return Content(blocks=blocks, missing=missing)


SECTION = register(Section("projection", "Projection on the sharp directions", build))
