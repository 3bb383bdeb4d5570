"""Figures of curvature over training, along a curve, and of the flatness table (drawing only).

* :func:`plot_sharpness`: ``lambda_1`` and ``lambda_k`` against epoch, one colour per run, the
  stability limit ``2 / lr`` of each SGD run dotted and the training loss on a second axis
  (Cohen et al. 2021); the trace with its standard error; the gradient's share in the top-k
  eigenspace and the overlap of consecutive eigenspaces beside their random baseline ``k/P``
  (Gur-Ari et al. 2018).
* :func:`plot_curve_hessian`: ``lambda_1 .. lambda_k`` against ``t`` along the curve and the
  line, beside the training loss along ``t``.
* :func:`plot_subspaces`: the gradient share and the consecutive-epoch overlap of
  ``landscape project``'s SGD run.
* :func:`plot_flatness`: one bar per network for each flatness measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from landscape.plotting._style import legend_below, new_figure

__all__ = ["plot_curve_hessian", "plot_flatness", "plot_sharpness", "plot_subspaces",
           "subspace_panel"]


def _values(seq: Sequence[Any]) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in seq], dtype=float)


def plot_sharpness(result: Mapping[str, Any], *, title: str = ""):
    """Sharpness over training (Cohen et al. 2021; Gur-Ari et al. 2018).

    Args:
        result: a :func:`landscape.experiment.sharpness.sharpness_over_training` result.
        title: figure title (default: what is plotted and the papers).

    """
    k = result["top_k"]
    fig, axes = new_figure(3, width=4.4, height=3.6)
    ax, tr_ax, sub_ax = axes[0]
    loss_ax = ax.twinx()
    for i, (label, r) in enumerate(result["runs"].items()):
        color, epochs = f"C{i}", r["epochs"]
        ax.plot(epochs, r["lambda_max"], "o-", color=color, label=f"{label}: lambda_1")
        if k > 1:
            ax.plot(epochs, r["lambda_k"], "s--", color=color, ms=3, lw=1,
                    label=f"{label}: lambda_{k}")
        limit = _values(r["stability_limit"])
        if np.isfinite(limit).any():
            ax.plot(epochs, limit, ":", color=color, lw=1.5,
                    label=f"{label}: stability limit 2(1+momentum)/lr")
        loss_ax.plot(epochs, r["loss"], "-", color=color, alpha=0.35, lw=3,
                     label=f"{label}: train loss (right axis)")
        trace = _values(r["trace"])
        if np.isfinite(trace).any():
            tr_ax.errorbar(epochs, trace, yerr=_values(r["trace_stderr"]), fmt="o-",
                           color=color, capsize=2, label=f"{label}: trace")
        sub_ax.plot(epochs, r["gradient_share"], "o-", color=color,
                    label=f"{label}: gradient share")
        sub_ax.plot(epochs, _values(r["overlap_previous"]), "x--", color=color,
                    label=f"{label}: overlap with previous epoch")
    for a in (ax, tr_ax, sub_ax):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="Hessian eigenvalue", title=f"top-{k} sharpness",
           yscale="symlog" if _spread(result) else "linear")
    loss_ax.set_ylabel("train loss (nats)")
    # the twin shares the epoch axis: its own x axis is laid out like the first one's (ticks
    # and label in the same places) and left transparent, so the label reads once
    loss_ax.xaxis.set_visible(True)
    loss_ax.tick_params(axis="x", colors="none")
    loss_ax.set_xlabel("epoch", color="none")
    tr_ax.set(xlabel="epoch", ylabel="tr(H) (Hutchinson, +- s.e.)", title="Hessian trace")
    rand = result.get("random_expected")
    if rand:
        sub_ax.axhline(rand, color="gray", ls="--", lw=1, label=f"random (k/P = {rand:.1e})")
    sub_ax.set(xlabel="epoch", ylabel="share / overlap", yscale="log",
               title=f"top-{k} eigenspace (Gur-Ari et al. 2018)")
    fig.suptitle(title or "Sharpness over training (Cohen et al. 2021)")
    legend_below(fig, [ax, loss_ax, tr_ax, sub_ax], ncols=3, fontsize=7)
    return fig


def _spread(result: Mapping[str, Any]) -> bool:
    """Whether lambda_1, lambda_k and the limits span more than two decades (symlog axis)."""
    vals = []
    for r in result["runs"].values():
        vals += list(r["lambda_max"]) + list(r["lambda_k"]) + [
            v for v in r["stability_limit"] if v is not None]
    v = np.abs(np.asarray(vals, dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size and v.max() / v.min() > 100)


def plot_curve_hessian(result: Mapping[str, Any], *, ends: Sequence[str] = ("A", "B"),
                       title: str = ""):
    """``lambda_1 .. lambda_k`` and the training loss against ``t`` (curve solid, line dashed).

    Args:
        result: a :func:`landscape.experiment.curvehessian.curvature_along` result.
        ends: the names of the curve's start (``t = 0``) and end (``t = 1``) models.
        title: figure title.

    """
    t = np.asarray(result["t"], dtype=float)
    fig, axes = new_figure(2, width=4.6, height=3.6)
    ax, loss_ax = axes[0]
    for name, style in (("curve", "-"), ("line", "--")):
        if name not in result:
            continue
        values = np.asarray(result[name]["eigenvalues"], dtype=float)
        for i in range(values.shape[1]):
            ax.plot(t, values[:, i], style, color=f"C{i}", marker="." if name == "curve" else "",
                    label=f"lambda_{i + 1}" if name == "curve" else None)
        loss_ax.plot(t, result[name]["loss"], style, color="k",
                     label="Bezier curve" if name == "curve" else "straight line")
    ax.plot([], [], "k-", label="Bezier curve")
    if "line" in result:
        ax.plot([], [], "k--", label="straight line")
    ax.set(xlabel="t", ylabel="Hessian eigenvalue", title=f"top-{result['k']} eigenvalues")
    loss_ax.set(xlabel="t", ylabel="train loss (nats)",
                title="train loss (BatchNorm recalibrated)")
    fig.suptitle(title or "Curvature along the connecting curve (Garipov et al. 2018)\n"
                 f"t = 0: {ends[0]}, t = 1: {ends[1]}", fontsize=10)
    legend_below(fig, [ax], ncols=min(result["k"] + 2, 6), fontsize=7)
    return fig


def subspace_panel(ax: Any, projections: Mapping[str, Mapping[str, Any]]) -> None:
    """Draw the gradient share, consecutive overlaps and minima overlaps into ``ax``.

    The caller places the legend (outside the data, e.g. ``legend_below``).

    Args:
        ax: the axes.
        projections: label -> a ``projection_over_epochs`` result; they share the SGD run,
            so the gradient share and the consecutive overlaps are the first one's; each
            gRDA run adds the overlap of its minimum's eigenspace with SGD's (a star).

    """
    first = next(iter(projections.values()))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    epochs = first["epochs"]
    ax.plot(epochs, first["gradient_share"], "ko-", label="gradient share at w_SGD(e)")
    ax.plot(epochs, _values(first["overlap_previous"]), "kx--",
            label="overlap with the previous epoch's eigenspace")
    ax.axhline(first["random_expected"], color="gray", ls="--",
               label=f"random (k/P = {first['random_expected']:.1e})")
    for i, (label, p) in enumerate(projections.items()):
        minima = p.get("minima")
        if minima:
            ax.scatter([minima["epoch"]], [minima["overlap"]], marker="*", s=90,
                       color=f"C{i}", zorder=5, label=f"{label}: overlap with SGD's minimum")
    ax.set(xlabel="epoch", ylabel="share / overlap", yscale="log")
    ax.set_title(f"Gradient share and overlaps of the top-{first['top_k']} eigenspace\n"
                 "of SGD (Gur-Ari et al. 2018)", fontsize=10)


def plot_subspaces(projections: Mapping[str, Mapping[str, Any]]):
    """The :func:`subspace_panel` alone in a figure, its legend below."""
    fig, axes = new_figure(1, width=5.2)
    subspace_panel(axes[0, 0], projections)
    legend_below(fig, ncols=2, fontsize=7)
    return fig


_MEASURES = (("lambda_max", "lambda_max", "largest Hessian eigenvalue"),
             ("trace", "trace", "tr(H), Hutchinson 1989"),
             ("epsilon_sharpness", "epsilon-sharpness", "100 (max L - L) / (1 + L)"),
             ("direction_increase", "random directions", "mean loss increase (nats)"))


def plot_flatness(rows: Sequence[Mapping[str, Any]], *, title: str = ""):
    """One panel per flatness measure, one bar per network (Keskar et al. 2017; Li et al. 2018).

    Args:
        rows: :func:`landscape.experiment.flatness.flatness_table` rows.
        title: figure title.

    """
    fig, axes = new_figure(len(_MEASURES), width=3.2, height=3.4)
    x = np.arange(len(rows))
    first = rows[0] if rows else {}
    xlabels = {"epsilon_sharpness": f"network (eps = {first.get('epsilon', 0):g}, "
                                    f"{first.get('steps', 0)} steps)",
               "direction_increase": f"network (d = {first.get('distance', 0):g})"}
    for ax, (key, name, ylabel) in zip(axes[0], _MEASURES):
        for i, r in enumerate(rows):
            ax.bar([i], [r[key]], color=f"C{i}", label=f"{i + 1}: {r['label']}")
        ax.set_xticks(x, [str(i + 1) for i in range(len(rows))])
        ax.set(xlabel=xlabels.get(key, "network"), ylabel=ylabel, title=name)
    fig.suptitle(title or "Flatness of each network (Keskar et al. 2017; Li et al. 2018)")
    legend_below(fig, [axes[0][0]], ncols=1, fontsize=7)
    return fig
