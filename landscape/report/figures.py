"""Interactive figures as plain Plotly JSON (drawn in the page by the embedded plotly.js).

The report builds the ``{"data": [...], "layout": {...}}`` of each interactive figure
directly (no Python plotting library at build time), with non-finite numbers as ``null``
(gaps), and embeds plotly.js once (:func:`plotly_js`, the copy the ``plotly`` package ships),
so the page works offline. Every interactive figure has a static image or a table behind it
for a reader without JavaScript.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["clean", "line_figure", "plotly_js", "surface_figure"]

_FONT = {"family": "system-ui, sans-serif", "size": 12}


def clean(values: Any) -> Any:
    """Arrays and numbers as JSON-able lists, non-finite values as ``None``.

    >>> clean(np.array([1.0, np.nan, 2.5]))
    [1.0, None, 2.5]
    """
    if isinstance(values, np.ndarray):
        return clean(values.tolist())
    if isinstance(values, list | tuple):
        return [clean(v) for v in values]
    if isinstance(values, np.generic):
        return clean(values.item())
    if isinstance(values, float) and not math.isfinite(values):
        return None
    return values


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "font": _FONT,
            "margin": {"l": 60, "r": 20, "t": 60, "b": 50}, "hovermode": "closest",
            "legend": {"orientation": "h", "y": -0.25}, "height": 420, **extra}


def line_figure(series: Sequence[dict[str, Any]], *, title: str, x_title: str, y_title: str,
                log_y: bool = False) -> dict[str, Any]:
    """Lines with markers and hover values: ``series`` of ``{"x", "y", "name"}`` (+ style)."""
    data = []
    for s in series:
        trace = {"type": "scatter", "mode": s.get("mode", "lines+markers"), "name": s["name"],
                 "x": clean(s["x"]), "y": clean(s["y"]),
                 "hovertemplate": f"{s['name']}<br>{x_title}: %{{x}}<br>{y_title}: "
                                  "%{y:.5g}<extra></extra>"}
        for key in ("line", "marker"):
            if key in s:
                trace[key] = s[key]
        data.append(trace)
    layout = _layout(title, xaxis={"title": {"text": x_title}},
                     yaxis={"title": {"text": y_title}, **({"type": "log"} if log_y else {})})
    return {"data": data, "layout": layout}


def surface_figure(x: Any, y: Any, z: Any, *, title: str, x_title: str, y_title: str,
                   z_title: str, marks: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """A rotatable 3D surface ``z[y, x]`` with named 3D marks (points or a path) on it."""
    data: list[dict[str, Any]] = [{
        "type": "surface", "x": clean(x), "y": clean(y), "z": clean(z), "colorscale": "Viridis",
        "colorbar": {"title": {"text": z_title}}, "name": z_title,
        "hovertemplate": f"{x_title}: %{{x:.3g}}<br>{y_title}: %{{y:.3g}}<br>{z_title}: "
                         "%{z:.5g}<extra></extra>"}]
    for m in marks:
        data.append({"type": "scatter3d", "mode": m.get("mode", "markers"), "name": m["name"],
                     "x": clean(m["x"]), "y": clean(m["y"]), "z": clean(m["z"]),
                     "marker": {"size": 5, "color": m.get("color", "black"),
                                "symbol": m.get("symbol", "circle")},
                     "line": {"color": m.get("color", "black"), "width": 5}})
    scene = {"xaxis": {"title": {"text": x_title}}, "yaxis": {"title": {"text": y_title}},
             "zaxis": {"title": {"text": z_title}}}
    return {"data": data, "layout": _layout(title, scene=scene, height=520)}


def plotly_js() -> str:
    """The plotly.js bundle the ``plotly`` package ships (embedded once in the page).

    Raises:
        RuntimeError: the ``plotly`` package is not installed (a runtime dependency).

    """
    spec = importlib.util.find_spec("plotly")  # located, not imported
    try:
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("plotly")
        folder = Path(next(iter(spec.submodule_search_locations)))
        return (folder / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RuntimeError("the report embeds plotly.js from the 'plotly' package: install it "
                           "with `pip install plotly` (a dependency of landscape)") from exc
