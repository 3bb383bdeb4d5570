"""Curves and planes: loss along the fitted Bezier curve and the line, and over the plane.

Garipov et al. 2018's mode connectivity as Chao et al. 2020 (Fig. 5) use it: ``curves.along``
entries give the loss and error along the curve and the straight line (the barriers the
verdict judges); ``curves.plane`` entries the values over the plane through the curve's
control points, drawn as a rotatable surface (and contours for a reader without JavaScript).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landscape.report._plane import plane_geometry
from landscape.report.blocks import Content, Figure, Missing, Section, Table, Text
from landscape.report.context import Context, fmt
from landscape.report.figures import surface_figure
from landscape.report.gather import Point, StoredEntry
from landscape.report.provenance import join, store_flag
from landscape.report.sections import register

_CITE = "Garipov et al. 2018; Chao et al. 2020, Fig. 5"


def _names(e: StoredEntry) -> tuple[str, str]:
    return (e.roles["start"].run.name if e.roles.get("start") else "A",
            e.roles["end"].run.name if e.roles.get("end") else "B")


def _alongs(ctx: Context, entries: list[StoredEntry]) -> list[Figure]:
    """One figure per start point: every curve from it, with the barriers per curve."""
    from landscape.plotting.curves import plot_along_compare

    by_start: dict[str, list[StoredEntry]] = {}
    for e in entries:
        by_start.setdefault(str(e.roles["start"]), []).append(e)
    figures = []
    for start, group in by_start.items():
        a = _names(group[0])[0]
        alongs = {_names(e)[1]: e.values for e in group}
        rows = [[_names(e)[1], part, ctx.cite(e, fmt(float(e.read(f"{part}/barrier")))),
                 ctx.cite(e, fmt(float(np.max(e.read(f"{part}/train_loss"))))),
                 ctx.cite(e, fmt(100 * float(np.max(e.read(f"{part}/test_error"))), ".2f"))]
                for e in group for part in ("curve", "line")]
        ends = ", ".join(alongs)
        figures.append(Figure(
            caption=f"Train loss (left) and test error (right) along the fitted quadratic "
                    f"Bezier curve (solid) and the straight line (dashed) from {a} (t = 0, "
                    f"{start}) to each of {ends} (t = 1), as in {_CITE}. The barrier is the "
                    "highest train loss on the path above the higher endpoint.",
            png=ctx.static(plot_along_compare, alongs, start=a),
            alt=f"loss along t from {a}",
            data=Table(["to", "path", "barrier (nats)", "max train loss",
                        "max test error (%)"], rows),
            sources=[(e.anchor, e.key[:12]) for e in group]))
    return figures


def _plane(ctx: Context, e: StoredEntry) -> Figure | Text:
    from landscape.plotting import plot_plane

    a, b = _names(e)
    geometry = plane_geometry(e)
    if geometry is None:
        return Text(f"The plane {e.key[:12]} between {a} and {b} was computed for curve "
                    "parameters that are no longer the curve's last checkpoint (refitted "
                    f"since): `{ctx.command(e)}` computes the current one.")
    values = {f: np.asarray(e.values[f], dtype=float) for f in ("train_loss", "test_error")}
    plane = {**geometry, **values}
    dx, dy = float(geometry["dx"]), float(geometry["dy"])
    x, y = np.asarray(geometry["alpha"]) * dx, np.asarray(geometry["beta"]) * dy
    z = values["train_loss"].T  # stored [alpha, beta]; the surface wants [y, x]
    bends = np.asarray(geometry["bends"]) * [dx, dy]
    curve = np.asarray(geometry["curve"]) * [dx, dy]

    def height(points: np.ndarray) -> np.ndarray:  # nearest grid value: a mark on the surface
        i = np.abs(x[None, :] - points[:, :1]).argmin(axis=1)
        j = np.abs(y[None, :] - points[:, 1:]).argmin(axis=1)
        return z[j, i]

    marks = [{"name": f"{a} (t = 0)", "x": bends[:1, 0], "y": bends[:1, 1],
              "z": height(bends[:1]), "symbol": "circle"},
             {"name": "bend", "x": bends[1:-1, 0], "y": bends[1:-1, 1],
              "z": height(bends[1:-1]), "symbol": "square"},
             {"name": f"{b} (t = 1)", "x": bends[-1:, 0], "y": bends[-1:, 1],
              "z": height(bends[-1:]), "symbol": "diamond"},
             {"name": "fitted curve (projected)", "x": curve[:, 0], "y": curve[:, 1],
              "z": height(curve), "mode": "lines", "color": "white"}]
    title = f"Train loss over the plane through {a}, the bend and {b} ({_CITE})"
    rows = [["grid", ctx.cite(e, f"{len(x)} x {len(y)}")],
            ["min train loss", ctx.cite(e, fmt(float(np.nanmin(values["train_loss"]))))],
            ["min test error (%)",
             ctx.cite(e, fmt(100 * float(np.nanmin(values["test_error"])), ".2f"))],
            ["chord length |w_end - w_start|", fmt(dx)],
            ["bend's distance from the chord", fmt(dy)]]
    return Figure(
        caption=f"Train loss over the plane through {a} (t = 0), the curve's bend and {b} "
                f"(t = 1), axes in weight-space distance, as in {_CITE}; the dashed/white "
                "line is the fitted curve, its marks placed at the nearest grid value. Drag "
                "to rotate. The static contours (train loss and test error) show the same "
                "grid.",
        png=ctx.static(plot_plane, plane, names=(a, b)),
        plotly=surface_figure(x, y, z, title=title, x_title=f"along {a} → {b}",
                              y_title="towards the bend", z_title="train loss", marks=marks),
        alt=title, data=Table(["quantity", "value"], rows), sources=[(e.anchor, e.key[:12])])


def _missing(ctx: Context) -> list[Missing]:
    exp, out = ctx.exp, []
    known = exp.find("curves.plane")  # a missing plane is asked like the cached ones
    grid = ["--grid", str(known[0].params["grid"])] if known else []
    if known and known[0].params.get("margin", 0.2) != 0.2:
        grid += ["--margin", f"{known[0].params['margin']:g}"]
    pairs = {(s, g) for s, g, _ in exp.pairs()} | {(s, b) for s, _, b in exp.pairs() if b}
    for start, end in sorted(pairs, key=lambda p: (p[0].name, p[1].name)):
        if start.final_epoch is None or start.final_epoch != end.final_epoch:
            continue
        a, b = Point(start, start.final_epoch), Point(end, end.final_epoch)
        curve = exp.curve_between(a, b)
        if curve is None:
            out.append(Missing(f"fitted curve and loss along it, {start.name} to {end.name}",
                               join("landscape", "verify", start.path, end.path,
                                    *store_flag(exp)) if end.optimizer == "grda" else
                               join("landscape", "curve", "fit", start.path, end.path, "--out",
                                    exp.root / f"curve_{start.name}__{end.name}")))
            continue
        if not exp.find("curves.along", start=a, end=b):
            along = exp.find("curves.along")
            points = ["--points", str(along[0].params["points"])] if along else []
            out.append(Missing(f"loss along the curve {curve.name}",
                               join("landscape", "curve", "eval", curve.path, *points,
                                    *store_flag(exp))))
        planes = exp.find("curves.plane", start=a, end=b)
        if not planes and end.optimizer == "grda":
            partial = [p for p in exp.partial("curves.plane") if p.roles.get("start") == a
                       and p.roles.get("end") == b]
            done = f" ({partial[0].summary.done} points done)" if partial else ""
            out.append(Missing(f"plane through {curve.name}{done}",
                               join("landscape", "curve", "plane", curve.path, *grid,
                                    *store_flag(exp))))
    return out


def build(ctx: Context) -> Content:
    """Every cached along-curve result and plane of the experiment, and what is missing."""
    blocks: list[Any] = _alongs(ctx, [e for e in ctx.exp.find("curves.along")
                                      if e.roles.get("start") and e.roles.get("end")])
    for e in ctx.exp.find("curves.plane"):
        if e.roles.get("start") and e.roles.get("end"):
            blocks.append(_plane(ctx, e))
    return Content(blocks=blocks, missing=_missing(ctx))


SECTION = register(Section("connectivity", "Curves and planes (mode connectivity)", build))
