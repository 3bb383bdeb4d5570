"""Figures of the directional-pruning analysis (Chao et al. 2020, Fig. 3 and 6), the report.

Plotting never computes: every function takes results (metrics rows, projection results,
the :func:`landscape.verify.verify` report) and draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from landscape.plotting._style import legend_below, new_figure

__all__ = ["plot_connectivity_curvature", "plot_projection", "plot_report", "plot_training"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINES = ("-", "--", ":", "-.")


def _zoom(ax: Any, values: Sequence[float], *, pad: float = 0.15, floor: float = 0.5) -> None:
    """Fit the y-range to ``values`` (at least ``floor`` wide) so small gaps can be seen."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        return
    lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, floor)
    mid = (lo + hi) / 2
    ax.set_ylim(mid - span / 2 - pad * span, mid + span / 2 + pad * span)


def plot_training(runs: Mapping[str, Sequence[Mapping[str, Any]]], *,
                  title: str | None = None) -> Figure:
    """Test accuracy and weight sparsity against epoch, one line per run (Chao et al. 2020, Fig. 3).

    The accuracy axis is fitted to the trained epochs (epoch 0, the initialisation at chance,
    is left out when there are later epochs), so a gap of one point shows; every run has its
    own marker and line style (runs with equal values, e.g. two SGD runs at zero sparsity,
    stay visible), and the legend names each run with its final accuracy and sparsity.

    Args:
        runs: label -> metric rows (``RunDir.read_metrics()``).
        title: the figure title (default: what is plotted and the paper).
    """
    fig, axes = new_figure(2, height=3.6)
    accs: list[float] = []
    for i, (label, rows) in enumerate(runs.items()):
        trained = [r for r in rows if r["epoch"] > 0] or list(rows)
        epochs = [r["epoch"] for r in trained]
        acc = [100 * r["test_acc"] for r in trained]
        zeros = [100 * r["sparsity"]["global"] for r in trained]
        accs += acc
        final = (f"{label}: {acc[-1]:.2f}% acc, {zeros[-1]:.1f}% zeros" if trained else label)
        style = dict(marker=_MARKERS[i % len(_MARKERS)], ls=_LINES[(i // 2) % len(_LINES)],
                     color=f"C{i % 10}", mfc="none" if i % 2 else None, ms=6 + (i % 2) * 2)
        axes[0, 0].plot(epochs, acc, label=final, **style)
        axes[0, 1].plot(epochs, zeros, **style)
    _zoom(axes[0, 0], accs)
    axes[0, 0].set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    axes[0, 1].set(xlabel="epoch", ylabel="exact zeros among the weights (%)",
                   title="sparsity")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
    fig.suptitle(title or "Test accuracy and sparsity per epoch (Chao et al. 2020, Fig. 3)",
                 fontsize=10)
    legend_below(fig, [axes[0, 0]], ncols=2)
    return fig


def plot_projection(projections: Mapping[str, Mapping[str, Any]], *,
                    title: str | None = None) -> Figure:
    """Share of ``w_gRDA - w_SGD`` in the top-k eigenspace per epoch (Chao et al. 2020, Fig. 6).

    When the results hold them, a second panel draws the gradient share, the overlap of
    consecutive eigenspaces and that of the SGD and gRDA minima (Gur-Ari et al. 2018).

    Args:
        projections: label (e.g. ``"mu=0.51"``) -> a
            :func:`landscape.experiment.projection.projection_over_epochs` result. The random
            baseline (and the SGD-seeds baseline, when present) of the first is drawn dashed.
        title: the figure title (default: what is plotted and the paper).
    """
    subspaces = any("gradient_share" in p for p in projections.values())
    fig, axes = new_figure(2 if subspaces else 1, width=5.6, height=4.0)
    ax = axes[0, 0]
    if subspaces:
        from landscape.plotting.sharpness import subspace_panel

        subspace_panel(axes[0, 1], projections)
        fig.suptitle("The sharp subspace of SGD and the gRDA minima (Chao et al. 2020; "
                     "Gur-Ari et al. 2018)", fontsize=11)
    first = None
    for i, (label, p) in enumerate(projections.items()):
        first = first or p
        ax.plot(p["epochs"], p["share"], marker=_MARKERS[i % len(_MARKERS)], label=label)
    k = "k"
    if first is not None:
        k = first["top_k"]
        ax.axhline(first["random_expected"], color="gray", ls="--",
                   label=f"random direction (k/P = {first['random_expected']:.1e})")
        if first.get("baseline_share"):
            ax.plot(first["epochs"], first["baseline_share"], color="black", ls=":",
                    marker=".", label="SGD vs SGD (other seed)")
    ax.set(xlabel="epoch", ylabel=r"share $\|V_k^T\delta\|^2 / \|\delta\|^2$", yscale="log")
    ax.set_title(title or f"Share of w_gRDA - w_SGD in the top-{k} Hessian eigenspace\n"
                          "at w_SGD per epoch (Chao et al. 2020, Fig. 6)", fontsize=10)
    ax.grid(alpha=0.3)
    legend_below(fig, ncols=2)
    return fig


def _connectivity(ax: Any, report: Mapping[str, Any]) -> None:
    c = report["connectivity"]
    ax.plot(c["t"], c["curve_train_loss"], color="C0",
            label=f"SGD-gRDA curve (barrier {c['curve_barrier']:.3g})")
    ax.plot(c["t"], c["line_train_loss"], color="C1",
            label=f"SGD-gRDA line (barrier {c['line_barrier']:.3g})")
    control = report.get("control")
    if control:
        ax.plot(control["t"], control["curve_train_loss"], color="C0", ls="--",
                label=f"SGD-SGD curve, control ({control['curve_barrier']:.3g})")
        ax.plot(control["t"], control["line_train_loss"], color="C1", ls="--",
                label=f"SGD-SGD line, control ({control['line_barrier']:.3g})")
    ax.set(xlabel="t (0: SGD, 1: gRDA or the other SGD seed)", ylabel="train loss (nats)")
    ax.set_title("connectivity (barriers in nats)\nGaripov et al. 2018", fontsize=10)


def plot_connectivity_curvature(report: Mapping[str, Any]) -> Figure:
    """The train loss along the curve and the line, and the top eigenvalues at both minima.

    Args:
        report: a :func:`landscape.verify.verify` report (``connectivity``, ``curvature``).
    """
    fig, axes = new_figure(2, height=3.8)
    _connectivity(axes[0, 0], report)
    k = report["curvature"]
    idx = range(1, len(k["sgd_eigenvalues"]) + 1)
    axes[0, 1].plot(idx, k["sgd_eigenvalues"], "o-", label="eigenvalues at SGD")
    axes[0, 1].plot(idx, k["grda_eigenvalues"], "s--", mfc="none", label="eigenvalues at gRDA")
    axes[0, 1].set(xlabel="index i", ylabel=r"Hessian eigenvalue $\lambda_i$")
    axes[0, 1].set_title("top Hessian eigenvalues (Lanczos)", fontsize=10)
    fig.suptitle("Directional pruning: connectivity and curvature of SGD and gRDA "
                 "(Chao et al. 2020)", fontsize=10)
    legend_below(fig, ncols=3)
    return fig


def plot_report(report: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write the figures of a :func:`landscape.verify.verify` report into ``folder``.

    ``projection.png`` (the shares per epoch with their baselines) and
    ``connectivity_and_curvature.png``: the train loss along the fitted curve and the
    straight line from SGD (t = 0) to gRDA (t = 1), with the SGD-vs-SGD control dashed when
    the report has one, and the top eigenvalues at both minima. A figure whose numbers did
    not change is not drawn again (:func:`landscape.plotting._cache.save_plot`).
    """
    from landscape.plotting._cache import save_plot

    folder = Path(folder)
    return [save_plot(folder / "projection.png", plot_projection,
                      {"gRDA": report["projection"]}),
            save_plot(folder / "connectivity_and_curvature.png", plot_connectivity_curvature,
                      report)]
