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

__all__ = [
    "FIELD_LABELS",
    "export_vtk",
    "plot_surface_3d",
    "plot_surface_contours",
    "plot_surface_line",
    "write_surface_figures",
]

FIELD_LABELS = {
    "train_loss": "train loss",
    "test_loss": "test loss",
    "train_error": "train error (fraction)",
    "test_error": "test error (fraction)",
}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_METHODS = {
    "random": "random directions (Li et al. 2018)",
    "eigen": "Hessian eigenvectors (Yao et al. 2020)",
    "pca": "trajectory PCA plane (Li et al. 2018)",
    "points": "through the given points (Goodfellow et al. 2015)",
    "minima": "minima plane: δ and the top eigenvector (Chao et al. 2020)",
}
_WRAP = 52  # characters per line of an axis label


def _title(what: str, surface: Mapping[str, Any], subject: str | None) -> str:
    import textwrap

    method = _METHODS.get(str(surface.get("method")), surface.get("method"))
    title = f"{what}: {subject}" if subject else what
    lines = [title, *([str(method)] if method else [])]
    return "\n".join(part for line in lines for part in textwrap.wrap(line, _WRAP))


def _axis_label(surface: Mapping[str, Any], i: int, width: int = _WRAP) -> str:
    import textwrap

    labels = list(surface.get("axis_labels") or [])
    text = labels[i] if i < len(labels) else f"direction {i + 1}"
    return "\n".join(textwrap.wrap(text, width))


def _legend_below(fig: Figure, axes: Any, ncols: int = 2, where: str = "lower") -> None:
    """One legend for the figure, below (or above) the axes, outside the data; labels once."""
    seen: dict[str, Any] = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc=f"outside {where} center",
                   ncols=min(len(seen), ncols), fontsize=7, frameon=False)


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
        subject: names the model / point, added to the title.
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
        ax.set(xlabel=_axis_label(surface, 0), ylabel=name, title=name.split(" ")[0])
        ax.title.set_fontsize(9)
    fig.suptitle(_title("loss and error", surface, subject), fontsize=10)
    _legend_below(fig, axes)
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
    _legend_below(fig, axes)
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

    fig = plt.figure(figsize=(6.4, 5.8), constrained_layout=True)
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
                   label=f"{name} (nearest grid point)", depthshade=False, zorder=10)
    label = FIELD_LABELS.get(field, field)
    ax.set_xlabel(_axis_label(surface, 0, 36), fontsize=7, labelpad=10)
    ax.set_ylabel(_axis_label(surface, 1, 36), fontsize=7, labelpad=10)
    ax.set_zlabel(label, fontsize=7)
    fig.suptitle(_title(label, surface, subject), fontsize=10)
    ax.tick_params(labelsize=7)
    ax.set_box_aspect(None, zoom=0.85)  # room for the axis labels inside the axes' box
    _legend_below(fig, [ax], ncols=1)
    bar = fig.colorbar(drawn, ax=ax, shrink=0.6, format="%.3g")
    bar.set_label(label)
    return _finish(fig, path)


def write_surface_figures(surface: Mapping[str, Any], folder: str | Path, stem: str, *,
                          subject: str | None = None,
                          fields: tuple[str, ...] = ("train_loss", "test_error"),
                          three_d: bool = True) -> list[Path]:
    """Every figure of one surface into ``folder``, named ``{stem}_...png``; returns the paths.

    A line: loss and error against the coordinate (``{stem}_line.png``). A plane: filled
    contours with contour lines on log-spaced levels of the train loss (and the test error,
    when computed), with the marked points and the trajectory, and a 3D view of the train
    loss (``{stem}_train_loss_contours.png``, ``{stem}_test_error_contours.png``,
    ``{stem}_train_loss_3d.png``). Axes are drawn to the same scale where the directions
    share one unit and similar ranges (orthonormal eigenvectors, the minima plane).
    ``fields`` chooses the contour figures of a plane, ``three_d`` the 3D view.
    """
    from landscape.plotting._cache import save_plot

    folder = Path(folder)
    if "y" not in surface:
        return [save_plot(folder / f"{stem}_line.png", plot_surface_line, surface,
                          subject=subject)]
    same_unit = surface.get("method") in ("eigen", "minima")
    paths = [save_plot(folder / f"{stem}_{field}_contours.png", plot_surface_contours, surface,
                       field, subject=subject, equal_aspect=same_unit)
             for field in fields if field in surface]
    if three_d:
        paths.append(save_plot(folder / f"{stem}_train_loss_3d.png", plot_surface_3d, surface,
                               "train_loss", subject=subject))
    return paths


def export_vtk(surface: Mapping[str, Any], path: str | Path) -> Path:
    """Write the surface as a legacy ASCII VTK structured grid (ParaView, VisIt), atomically.

    Points ``(x, y, train loss)`` (``y = 0`` on a line), and every value field as point data.
    """
    from landscape._io import atomic_write_bytes

    x = np.asarray(surface["x"], dtype=np.float64)
    y = np.asarray(surface["y"], dtype=np.float64) if "y" in surface else np.zeros(1)
    fields = [f for f in FIELD_LABELS if f in surface]
    values = {f: np.asarray(surface[f], dtype=np.float64).reshape(len(x), len(y))
              for f in fields}
    z = values.get("train_loss", np.zeros((len(x), len(y))))
    lines = ["# vtk DataFile Version 3.0", "loss surface (x, y, train loss)", "ASCII",
             "DATASET STRUCTURED_GRID", f"DIMENSIONS {len(x)} {len(y)} 1",
             f"POINTS {len(x) * len(y)} double"]
    # VTK runs x fastest: point (i, j) is number j * NX + i
    lines += [f"{float(x[i])!r} {float(y[j])!r} {float(z[i, j])!r}" for j in range(len(y))
              for i in range(len(x))]
    lines.append(f"POINT_DATA {len(x) * len(y)}")
    for f in fields:
        lines += [f"SCALARS {f} double 1", "LOOKUP_TABLE default"]
        lines += [repr(float(values[f][i, j])) for j in range(len(y)) for i in range(len(x))]
    path = Path(path)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path
