"""Loss surfaces around the minima (Li et al. 2018; Chao et al. 2020), when the store has them.

Reads ``surface.grid`` entries (``landscape surface``): a filter-normalised random plane at a
checkpoint, or the ``minima`` plane through SGD's and gRDA's minima and the top Hessian
eigenvector at SGD. Planes are drawn as rotatable 3D surfaces with their marks (and log-level
contours for a reader without JavaScript); the axes follow from the entry's grid and ranges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landscape.report.blocks import Content, Figure, Missing, Section, Table
from landscape.report.context import Context, fmt
from landscape.report.figures import surface_figure
from landscape.report.gather import StoredEntry
from landscape.report.provenance import COMMANDS, join, store_flag
from landscape.report.sections import register

_CITE = {"random": "Li et al. 2018", "minima": "Chao et al. 2020; Li et al. 2018",
         "eigen": "Yao et al. 2020", "pca": "Li et al. 2018", "points": "Garipov et al. 2018"}
_AXES = {"random": ("filter-normalised random direction 1", "random direction 2"),
         "minima": ("along w_gRDA - w_SGD (units of its length)",
                    "top Hessian eigenvector at SGD (same units)"),
         "eigen": ("Hessian eigenvector 1", "Hessian eigenvector 2")}


def _method(e: StoredEntry) -> str:
    return str(e.params.get("directions", {}).get("method", "?"))


def _layout(e: StoredEntry) -> dict[str, Any]:
    """Axes (from the grid and ranges), labels and marks of a surface entry (no computation)."""
    from landscape.surface import surface_axes

    p, method = e.params, _method(e)
    axes = surface_axes(p["grid"] if len(p["grid"]) > 1 else p["grid"][0], p["ranges"])
    out: dict[str, Any] = {"x": axes[0], "method": method,
                           "axis_labels": list(_AXES.get(method, ("direction 1", "direction 2")))}
    if len(axes) > 1:
        out["y"] = axes[1]
    if method == "minima":
        labels = p["directions"].get("labels", ["SGD", "gRDA"])
        out["marks"] = {labels[0]: [0.0, 0.0], labels[1]: [1.0, 0.0]}
    elif "checkpoint" in e.roles:
        out["marks"] = {str(e.roles["checkpoint"]): [0.0, 0.0][: len(axes)]}
    return out


def _plane(ctx: Context, e: StoredEntry) -> Figure:
    from landscape.plotting import plot_surface_contours

    method = _method(e)
    layout = _layout(e)
    values = {f: np.asarray(e.values[f], dtype=float) for f in e.params["fields"]}
    surface = {**layout, **values}
    x, y = layout["x"], layout["y"]
    z = values["train_loss"].T  # stored [x, y]; the surface wants [y, x]
    marks = []
    for name, (mx, my) in layout.get("marks", {}).items():
        i, j = int(np.abs(x - mx).argmin()), int(np.abs(y - my).argmin())
        marks.append({"name": name, "x": [mx], "y": [my], "z": [z[j, i]]})
    where = ", ".join(f"{r}: {p}" for r, p in e.roles.items() if p)
    title = f"Train loss over the {method} plane at {where} ({_CITE.get(method, '')})"
    rows = [[f.replace("_", " "), ctx.cite(e, fmt(float(np.nanmin(v)) * (100 if "error" in f
                                                                       else 1), ".4g")),
             ctx.cite(e, fmt(float(np.nanmax(v)) * (100 if "error" in f else 1), ".4g"))]
            for f, v in values.items()]
    return Figure(
        caption=f"Loss surface ({method} directions) around {where}: train loss over "
                f"{len(x)} x {len(y)} points, as in {_CITE.get(method, 'Li et al. 2018')}. "
                "Drag to rotate; the static contours use log-spaced levels. Errors in %.",
        png=ctx.static(plot_surface_contours, surface, subject=where),
        plotly=surface_figure(x, y, z, title=title, x_title=layout["axis_labels"][0],
                              y_title=layout["axis_labels"][1], z_title="train loss",
                              marks=marks),
        alt=title, data=Table(["field", "min", "max"], rows),
        sources=[(e.anchor, e.key[:12])])


def _command(exp: Any, e: StoredEntry) -> str:
    """``landscape surface`` with the entry's directions, grid and ranges."""
    p, d, method = e.params, e.params.get("directions", {}), _method(e)
    if method == "random" and e.roles.get("checkpoint") is not None:
        point = e.roles["checkpoint"]
        extra = ([] if d.get("seed", 0) == 0 else ["--seed", str(d["seed"])])
        extra += [] if d.get("norm", "filter") == "filter" else ["--norm", str(d["norm"])]
        extra += ["--include-bn-bias"] if d.get("include_bn_bias") else []
    elif method == "minima" and e.roles.get("sgd") and e.roles.get("grda"):
        point, grda = e.roles["sgd"], e.roles["grda"]
        extra = ["--grda", str(grda.run.path / f"epoch_{grda.epoch:04d}.pt"), "--top-k",
                 str(d.get("top_k", 10))]
    else:
        raise LookupError(f"no command rebuilt for {method} surfaces")
    grid = ["--grid", *map(str, p["grid"]), "--range", *(f"{v:g}" for v in p["ranges"])]
    flags = (["--bn", p["bn"]] if p.get("bn", "keep") != "keep" else []) + (
        [] if any(f.startswith("test") for f in p.get("fields", [])) else ["--no-test"])
    return join("landscape", "surface", point.run.path, "--epoch", point.epoch,
                "--directions", method, *extra, *grid, *flags, *store_flag(exp))


COMMANDS.setdefault("surface.grid", _command)


def build(ctx: Context) -> Content | None:
    """Every cached plane of the experiment; the pruning planes that are missing."""
    entries = [e for e in ctx.exp.find("surface.grid") if len(e.params.get("grid", [])) == 2]
    blocks: list[Any] = [_plane(ctx, e) for e in entries]
    missing = []
    for sgd, grda, _ in ctx.exp.pairs():
        final = sgd.final_epoch
        if final is None or final != grda.final_epoch:
            continue
        have = {_method(e) for e in entries
                if any(p is not None and p.run is sgd for p in e.roles.values())}
        if "random" not in have and not any(m.what.startswith(f"random plane at {sgd.name}")
                                            for m in missing):
            missing.append(Missing(f"random plane at {sgd.name} epoch {final} (Li et al. 2018)",
                                   join("landscape", "surface", sgd.path, "--directions",
                                        "random", *store_flag(ctx.exp))))
        minima = [e for e in entries if _method(e) == "minima"
                  and e.roles.get("grda") is not None and e.roles["grda"].run is grda]
        if not minima:
            missing.append(Missing(f"minima plane of {sgd.name} and {grda.name}",
                                   join("landscape", "surface", sgd.path, "--directions",
                                        "minima", "--grda", grda.path, *store_flag(ctx.exp))))
    if not blocks and not missing:
        return None
    return Content(blocks=blocks, missing=missing)


SECTION = register(Section("surfaces", "Loss surfaces", build))
