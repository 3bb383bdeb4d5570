"""Mode-connectivity figures like Chao et al. 2020, Fig. 5 (drawn from results, never computed).

Top: contours over the plane through the bends of train loss and of test error, with
log-spaced levels (Garipov et al. 2018's recipe: levels ``min + exp(log_alpha + k * gamma)``,
so the low-loss valley gets most of the contours), the bends and the curve drawn on top.
Bottom: loss and error along ``t`` for the curve and the straight line. Errors arrive as
fractions and are drawn in percent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import BoundaryNorm

from landscape.plotting._style import new_figure, save_figure

__all__ = ["log_levels", "plot_along", "plot_plane", "plot_plane_panel"]


def log_levels(values: Any, *, n: int = 7, log_alpha: float = -5.0) -> np.ndarray:
    """Contour levels ``min + exp(log_alpha + k * gamma)``, ``k = 0..n``, first = min, last = max.

    ``gamma = (log(max - min) - log_alpha) / n``: levels crowd near the minimum.

    >>> lv = log_levels([0.0, 1.0], n=5)
    >>> float(lv[0]), float(lv[-1]), bool(np.all(np.diff(lv) > 0))
    (0.0, 1.0, True)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values to draw contours of")
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 0:
        return np.array([lo, lo + 1e-12])
    gamma = (np.log(hi - lo) - log_alpha) / n
    levels = lo + np.exp(log_alpha + gamma * np.arange(n + 1))
    levels[0], levels[-1] = lo, hi
    return np.unique(levels)


def plot_plane_panel(ax: Any, plane: Mapping[str, Any], field: str, *, title: str | None = None,
                     n_levels: int = 7, cmap: str = "jet_r") -> Any:
    """Draw one field of a plane result on ``ax``; returns the filled contour set.

    Coordinates are distances in weight space (``alpha * dx``, ``beta * dy``), so the plane is
    drawn to scale; the bends are black dots and the curve a dashed line. An ``*_error``
    field (a fraction) is drawn in percent.
    """
    x = np.asarray(plane["alpha"]) * plane["dx"]
    y = np.asarray(plane["beta"]) * plane["dy"]
    z = np.asarray(plane[field], dtype=np.float64).T  # stored [alpha, beta]; contour wants [y, x]
    if field.endswith("_error"):
        z = 100.0 * z
    levels = log_levels(z, n=n_levels)
    import matplotlib.pyplot as plt

    norm = BoundaryNorm(levels, plt.get_cmap(cmap).N, extend="max")
    filled = ax.contourf(x, y, z, levels=levels, cmap=cmap, norm=norm, alpha=0.6, extend="max")
    ax.contour(x, y, z, levels=levels, cmap=cmap, norm=norm, linewidths=1.5)
    curve = np.asarray(plane["curve"])
    ax.plot(curve[:, 0] * plane["dx"], curve[:, 1] * plane["dy"], "k--", lw=1.5)
    bends = np.asarray(plane["bends"])
    ax.scatter(bends[:, 0] * plane["dx"], bends[:, 1] * plane["dy"], c="k", s=30, zorder=5)
    ax.set_title(title or field.replace("_", " "))
    ax.set_aspect("equal", adjustable="box")
    ax.figure.colorbar(filled, ax=ax, format="%.3g")
    return filled


def plot_plane(plane: Mapping[str, Any], path: str | Path | None = None):
    """Chao et al. 2020, Fig. 5 top: train loss and test error over the plane; the figure."""
    fig, axes = new_figure(2, 1, width=4.6, height=4.0)
    plot_plane_panel(axes[0, 0], plane, "train_loss", title="train loss")
    plot_plane_panel(axes[0, 1], plane, "test_error", title="test error (%)")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_along(along: Mapping[str, Any], path: str | Path | None = None):
    """Chao et al. 2020, Fig. 5 bottom: loss and error (percent) along ``t``, curve and line."""
    fig, axes = new_figure(2, 1)
    t = np.asarray(along["t"])
    styles = {"curve": "-", "line": "--"}
    for part, style in styles.items():
        if part not in along:
            continue
        r = along[part]
        axes[0, 0].plot(t, r["train_loss"], style, color="C0", label=f"{part}: train")
        if "test_loss" in r:
            axes[0, 0].plot(t, r["test_loss"], style, color="C3", label=f"{part}: test")
        axes[0, 1].plot(t, 100.0 * np.asarray(r["train_error"]), style, color="C0",
                        label=f"{part}: train")
        if "test_error" in r:
            axes[0, 1].plot(t, 100.0 * np.asarray(r["test_error"]), style, color="C3",
                            label=f"{part}: test")
    for ax, name in zip(axes[0], ("loss", "error (%)")):
        ax.set_xlabel("t")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    if path is not None:
        save_figure(fig, path)
    return fig
