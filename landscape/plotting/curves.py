"""Mode-connectivity figures like Chao et al. 2020, Fig. 5 (drawn from results, never computed).

Top: contours over the plane through the curve's control points of train loss and of test
error, with log-spaced levels (Garipov et al. 2018's recipe: levels ``min + exp(log_alpha + k
* gamma)``, so the low-loss valley gets most of the contours), the endpoints, the bend and
the curve drawn on top and named in the legend. Bottom: loss and error along ``t`` (``t = 0``
the first endpoint, ``t = 1`` the second) for the curve and the straight line. Errors arrive
as fractions and are drawn in percent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import BoundaryNorm

from landscape.plotting._style import legend_below, new_figure, save_figure

__all__ = ["log_levels", "plot_along", "plot_along_compare", "plot_plane", "plot_plane_panel"]

_ENDS = ("A", "B")  # endpoint names when the caller gives none (as in `landscape curve fit A B`)
_CITE = "Garipov et al. 2018; Chao et al. 2020, Fig. 5"


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


def _marks(ax: Any, plane: Mapping[str, Any], names: Sequence[str]) -> None:
    """The curve (dashed), the endpoints and the bend(s), each named in the legend."""
    dx, dy = plane["dx"], plane["dy"]
    curve = np.asarray(plane["curve"])
    ax.plot(curve[:, 0] * dx, curve[:, 1] * dy, "k--", lw=1.5, label="fitted Bezier curve")
    bends = np.asarray(plane["bends"])
    styles = [("o", f"{names[0]} (t = 0)")] + [("s", "bend (control point)")] * (
        len(bends) - 2) + [("^", f"{names[1]} (t = 1)")]
    for (a, b), (marker, label) in zip(bends, styles):
        ax.scatter([a * dx], [b * dy], marker=marker, s=45, c="k", edgecolors="white",
                   zorder=5, label=label)


def plot_plane_panel(ax: Any, plane: Mapping[str, Any], field: str, *, title: str | None = None,
                     n_levels: int = 7, cmap: str = "jet_r",
                     names: Sequence[str] = _ENDS) -> Any:
    """Draw one field of a plane result on ``ax``; returns the filled contour set.

    Coordinates are distances in weight space (``alpha * dx`` along the chord from the first
    endpoint to the second, ``beta * dy`` towards the bend, orthogonal to it), so the plane
    is drawn to scale; the endpoints and the bend are named markers and the curve a dashed
    line. An ``*_error`` field (a fraction) is drawn in percent; the colour bar is labelled.
    """
    x = np.asarray(plane["alpha"]) * plane["dx"]
    y = np.asarray(plane["beta"]) * plane["dy"]
    z = np.asarray(plane[field], dtype=np.float64).T  # stored [alpha, beta]; contour wants [y, x]
    error = field.endswith("_error")
    if error:
        z = 100.0 * z
    levels = log_levels(z, n=n_levels)
    import matplotlib.pyplot as plt

    norm = BoundaryNorm(levels, plt.get_cmap(cmap).N, extend="max")
    filled = ax.contourf(x, y, z, levels=levels, cmap=cmap, norm=norm, alpha=0.6, extend="max")
    ax.contour(x, y, z, levels=levels, cmap=cmap, norm=norm, linewidths=1.2)
    _marks(ax, plane, names)
    what = field.replace("_", " ") + (" (%)" if error else " (nats)" if "loss" in field else "")
    ax.set_title(title or what, fontsize=10)
    ax.set_xlabel(f"along {names[0]} → {names[1]} (weight-space distance)")
    ax.set_ylabel("towards the bend (weight-space distance)")
    ax.set_aspect("equal", adjustable="box")
    bar = ax.figure.colorbar(filled, ax=ax, format="%.4g", shrink=0.9)
    bar.set_label(what)
    step = max(1, int(np.ceil((len(levels) - 1) / 5)))  # at most ~6 ticks: readable labels
    bar.set_ticks(levels[::step])
    return filled


def plot_plane(plane: Mapping[str, Any], path: str | Path | None = None, *,
               names: Sequence[str] = _ENDS, title: str | None = None):
    """Chao et al. 2020, Fig. 5 top: train loss and test error over the plane; the figure.

    Args:
        plane: a :func:`landscape.experiment.curves.plane_cached` result.
        path: where to save it; ``None`` only returns it.
        names: what the endpoints are (``t = 0``, ``t = 1``), e.g. ``("SGD", "gRDA mu=0.6")``.
        title: the figure title (default: names the endpoints and cites the papers).
    """
    fig, axes = new_figure(2, 1, width=4.8, height=4.4)
    plot_plane_panel(axes[0, 0], plane, "train_loss", n_levels=7, names=names)
    plot_plane_panel(axes[0, 1], plane, "test_error", n_levels=5, names=names)
    fig.suptitle(title or f"Plane through {names[0]}, the bend and {names[1]}: train loss and "
                          f"test error\n({_CITE})", fontsize=10)
    legend_below(fig, [axes[0, 0]], ncols=4)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_along(along: Mapping[str, Any], path: str | Path | None = None, *,
               names: Sequence[str] = _ENDS, title: str | None = None):
    """Chao et al. 2020, Fig. 5 bottom: loss and error (percent) along ``t``, curve and line.

    Args:
        along: a ``curves.along`` entry (``t``; ``curve`` and ``line`` with ``train_loss``,
            ``test_error`` ...).
        path: where to save it; ``None`` only returns it.
        names: what ``t = 0`` and ``t = 1`` are, e.g. ``("SGD", "gRDA mu=0.6")``.
        title: the figure title (default: names the endpoints and cites the papers).
    """
    fig, axes = new_figure(2, 1)
    t = np.asarray(along["t"])
    styles = {"curve": "-", "line": "--"}
    what = {"curve": "Bezier curve", "line": "straight line"}
    for part, style in styles.items():
        if part not in along:
            continue
        r = along[part]
        axes[0, 0].plot(t, r["train_loss"], style, color="C0", label=f"{what[part]}: train")
        if "test_loss" in r:
            axes[0, 0].plot(t, r["test_loss"], style, color="C3", label=f"{what[part]}: test")
        axes[0, 1].plot(t, 100.0 * np.asarray(r["train_error"]), style, color="C0",
                        label=f"{what[part]}: train")
        if "test_error" in r:
            axes[0, 1].plot(t, 100.0 * np.asarray(r["test_error"]), style, color="C3",
                            label=f"{what[part]}: test")
    for ax, name in zip(axes[0], ("loss (nats)", "error (%)")):
        ax.set_xlabel(f"t  (t = 0: {names[0]},  t = 1: {names[1]})")
        ax.set_ylabel(name)
        ax.set_title(name.split(" (")[0] + " along t", fontsize=10)
    fig.suptitle(title or f"Loss and error from {names[0]} to {names[1]}: fitted curve and "
                          f"straight line\n({_CITE})", fontsize=10)
    legend_below(fig, ncols=4)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_along_compare(alongs: Mapping[str, Mapping[str, Any]], *, start: str = "A",
                       title: str | None = None):
    """Several curves from one start: train loss and test error (%) along ``t``.

    One colour per curve (its end named in the legend), the fitted curve solid and the
    straight line dashed, as Chao et al. 2020, Fig. 5 (bottom) for several runs at once.

    Args:
        alongs: end label -> a ``curves.along`` entry (``t``, ``curve``, ``line``).
        start: what ``t = 0`` is for every curve.
        title: the figure title (default: names the start and cites the papers).
    """
    fig, axes = new_figure(2, 1, height=3.6)
    for i, (label, along) in enumerate(alongs.items()):
        t = np.asarray(along["t"])
        for part, style in (("curve", "-"), ("line", "--")):
            if part not in along:
                continue
            r = along[part]
            name = f"{label}: {'Bezier curve' if part == 'curve' else 'straight line'}"
            axes[0, 0].plot(t, r["train_loss"], style, color=f"C{i % 10}", label=name)
            if "test_error" in r:
                axes[0, 1].plot(t, 100.0 * np.asarray(r["test_error"]), style,
                                color=f"C{i % 10}", label=name)
    for ax, name in zip(axes[0], ("train loss (nats)", "test error (%)")):
        ax.set_xlabel(f"t  (t = 0: {start},  t = 1: the run named in the legend)")
        ax.set_ylabel(name)
        ax.set_title(name.split(" (")[0] + " along t", fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"Loss and error from {start} to each run: fitted curves (solid) "
                          f"and straight lines (dashed)\n({_CITE})", fontsize=10)
    legend_below(fig, [axes[0, 0]], ncols=2)
    return fig
