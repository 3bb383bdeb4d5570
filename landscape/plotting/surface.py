"""Loss-surface figures (Li et al. 2018; Yao et al. 2020), drawn from arrays, never computed.

Every function takes one ``surface`` mapping: the grid axes ``x`` (and ``y``), the values
(``train_loss``, ``train_error``, ``test_loss``, ``test_error``, any subset; ``[NX]`` on a
line, ``[NX, NY]`` on a plane, indexed ``[i, j]`` with ``i`` along ``x``; NaN where not
computed), and what the axes are: ``axis_labels``, the named ``marks`` (``name -> [x, y]``:
minima, checkpoints) and an optional trajectory ``path`` (``[E, 2]``) with ``path_labels``,
as :func:`landscape.surface.surface_layout` returns them. Errors are fractions.

Contours use log-spaced levels (:func:`landscape.plotting.curves.log_levels`: most lines sit
near the minimum, as in Garipov et al. 2018 and Li et al. 2018).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure

from landscape.plotting._style import new_figure, save_figure
from landscape.plotting.curves import log_levels

__all__ = ["FIELD_LABELS", "plot_surface_3d", "plot_surface_contours", "plot_surface_line"]

FIELD_LABELS = {
    "train_loss": "train loss",
    "test_loss": "test loss",
    "train_error": "train error (fraction)",
    "test_error": "test error (fraction)",
}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_METHODS = {
    "random": "random directions",
    "eigen": "Hessian eigenvectors",
    "pca": "trajectory PCA plane",
    "points": "through the given points",
    "minima": "minima plane (δ and the top eigenvector)",
}


def _title(what: str, surface: Mapping[str, Any], subject: str | None) -> str:
    method = _METHODS.get(str(surface.get("method")), surface.get("method"))
    title = f"{what}: {subject}" if subject else what
    return f"{title}\n{method}" if method else title


def _axis_label(surface: Mapping[str, Any], i: int) -> str:
    labels = list(surface.get("axis_labels") or [])
    return labels[i] if i < len(labels) else f"direction {i + 1}"


def _marks(ax: Any, surface: Mapping[str, Any], *, line: bool = False) -> None:
    """The named points (and the trajectory) on ``ax``, each labelled in the legend."""
    path = surface.get("path")
    if path is not None and not line:
        p = np.asarray(path, dtype=np.float64)
        names = list(surface.get("path_labels") or [])
        span = f" ({names[0]} → {names[-1]})" if names else ""
        ax.plot(p[:, 0], p[:, 1], "k.-", lw=1.0, ms=4, label=f"trajectory{span}", zorder=4)
    for k, (name, where) in enumerate(dict(surface.get("marks") or {}).items()):
        w = np.asarray(where, dtype=np.float64).ravel()
        if line:
            ax.axvline(w[0], color="0.25", ls=(":", "--", "-.")[k % 3], lw=1.2, label=name)
        else:
            ax.scatter([w[0]], [w[1]], marker=_MARKERS[k % len(_MARKERS)], s=45, c="k",
                       edgecolors="w", zorder=5, label=name)


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_surface_line(surface: Mapping[str, Any], *, subject: str | None = None,
                      path: str | Path | None = None) -> Figure:
    """1D surface: loss and error (train and test) against the coordinate ``x``.

    Args:
        surface: axes, values and labels (module docstring); values shaped ``[NX]``.
        subject: names the model / point, added to the titles.
        path: where to save the figure (optional).

    """
    fig, axes = new_figure(2)
    x = np.asarray(surface["x"], dtype=np.float64)
    for ax, kind, name in ((axes[0, 0], "loss", "loss"),
                           (axes[0, 1], "error", "error (fraction)")):
        for split, color in (("train", "C0"), ("test", "C3")):
            key = f"{split}_{kind}"
            if key in surface:
                ax.plot(x, np.asarray(surface[key], dtype=np.float64), color=color, marker=".",
                        label=split)
        _marks(ax, surface, line=True)
        ax.set(xlabel=_axis_label(surface, 0), ylabel=name,
               title=_title(name.split(" ")[0], surface, subject))
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    return _finish(fig, path)


def plot_surface_contours(surface: Mapping[str, Any], field: str = "train_loss", *,
                          subject: str | None = None, n_levels: int = 10,
                          cmap: str = "viridis", equal_aspect: bool = False,
                          path: str | Path | None = None) -> Figure:
    """2D surface: filled contours and contour lines on log-spaced levels, marks and path.

    Args:
        surface: axes, values and labels (module docstring); values shaped ``[NX, NY]``.
        field: the value drawn (``train_loss`` ...).
        subject: names the model / point, added to the title.
        n_levels: number of log-spaced level intervals.
        cmap: matplotlib colormap.
        equal_aspect: draw both axes to the same scale (for orthonormal directions, or the
            minima plane, whose axes share the unit ``||delta||``).
        path: where to save the figure (optional).

    """
    fig, axes = new_figure(1, width=5.2, height=4.4)
    ax = axes[0, 0]
    x, y = np.asarray(surface["x"], np.float64), np.asarray(surface["y"], np.float64)
    z = np.asarray(surface[field], dtype=np.float64).T  # stored [x, y]; contour wants [y, x]
    levels = log_levels(z, n=n_levels)
    import matplotlib.pyplot as plt

    norm = BoundaryNorm(levels, plt.get_cmap(cmap).N, extend="max")
    filled = ax.contourf(x, y, z, levels=levels, cmap=cmap, norm=norm, alpha=0.75,
                         extend="max")
    ax.contour(x, y, z, levels=levels, colors="k", linewidths=0.6, alpha=0.6)
    _marks(ax, surface)
    ax.set(xlabel=_axis_label(surface, 0), ylabel=_axis_label(surface, 1),
           title=_title(FIELD_LABELS.get(field, field), surface, subject))
    ax.title.set_fontsize(10)
    if equal_aspect:
        ax.set_aspect("equal", adjustable="box")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    bar = fig.colorbar(filled, ax=ax, format="%.3g")
    bar.set_label(FIELD_LABELS.get(field, field))
    return _finish(fig, path)


def plot_surface_3d(surface: Mapping[str, Any], field: str = "train_loss", *,
                    subject: str | None = None, cmap: str = "viridis",
                    path: str | Path | None = None) -> Figure:
    """2D surface as a 3D plot of ``field`` over the plane, marks at their values.

    Args:
        surface: axes, values and labels (module docstring); values shaped ``[NX, NY]``.
        field: the value drawn.
        subject: names the model / point, added to the title.
        cmap: matplotlib colormap.
        path: where to save the figure (optional).

    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6.0, 4.8), constrained_layout=True)
    ax = fig.add_subplot(projection="3d")
    x, y = np.asarray(surface["x"], np.float64), np.asarray(surface["y"], np.float64)
    z = np.asarray(surface[field], dtype=np.float64)
    xx, yy = np.meshgrid(x, y, indexing="ij")
    drawn = ax.plot_surface(xx, yy, np.ma.masked_invalid(z), cmap=cmap, linewidth=0,
                            antialiased=True, alpha=0.9)
    for k, (name, where) in enumerate(dict(surface.get("marks") or {}).items()):
        w = np.asarray(where, dtype=np.float64).ravel()
        i, j = int(np.abs(x - w[0]).argmin()), int(np.abs(y - w[1]).argmin())
        ax.scatter([w[0]], [w[1]], [z[i, j]], marker=_MARKERS[k % len(_MARKERS)], c="k", s=40,
                   label=f"{name} (at the nearest grid value)", depthshade=False)
    label = FIELD_LABELS.get(field, field)
    ax.set_xlabel(_axis_label(surface, 0), fontsize=7, labelpad=8)
    ax.set_ylabel(_axis_label(surface, 1), fontsize=7, labelpad=8)
    ax.set_zlabel(label, fontsize=7)
    ax.set_title(_title(label, surface, subject), fontsize=10)
    ax.tick_params(labelsize=7)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    bar = fig.colorbar(drawn, ax=ax, shrink=0.6, format="%.3g")
    bar.set_label(label)
    return _finish(fig, path)
