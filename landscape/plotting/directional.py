"""Figures of the directional-pruning analysis (Chao et al. 2020, Fig. 3 and 6), the report.

Plotting never computes: every function takes results (metrics rows, projection results,
the :func:`landscape.verify.verify` report) and draws them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from landscape.plotting._style import new_figure, save_figure

__all__ = ["plot_projection", "plot_report", "plot_training"]


def plot_training(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Test accuracy and weight sparsity against epoch, one line per run (Chao et al. 2020, Fig. 3).

    Args:
        runs: label -> metric rows (``RunDir.read_metrics()``).
    """
    fig, axes = new_figure(2)
    for label, rows in runs.items():
        epochs = [r["epoch"] for r in rows]
        axes[0, 0].plot(epochs, [100 * r["test_acc"] for r in rows], marker=".", label=label)
        axes[0, 1].plot(epochs, [100 * r["sparsity"]["global"] for r in rows], marker=".",
                        label=label)
    axes[0, 0].set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy")
    axes[0, 1].set(xlabel="epoch", ylabel="exact zeros (%)", title="sparsity")
    axes[0, 1].legend(fontsize=7)
    return fig


def plot_projection(projections: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Share of ``w_gRDA - w_SGD`` in the top-k eigenspace per epoch (Chao et al. 2020, Fig. 6).

    Args:
        projections: label (e.g. ``"mu=0.51"``) -> a
            :func:`landscape.experiment.projection.projection_over_epochs` result. The random
            baseline (and the SGD-seeds baseline, when present) of the first is drawn dashed.
    """
    fig, axes = new_figure(1, width=5.0)
    ax = axes[0, 0]
    first = None
    for label, p in projections.items():
        first = first or p
        ax.plot(p["epochs"], p["share"], marker="o", label=label)
    if first is not None:
        ax.axhline(first["random_expected"], color="gray", ls="--",
                   label=f"random direction (k/P = {first['random_expected']:.1e})")
        if first.get("baseline_share"):
            ax.plot(first["epochs"], first["baseline_share"], color="black", ls=":",
                    label="SGD vs SGD (other seed)")
        ax.set_title(f"share of w_gRDA - w_SGD in top-{first['top_k']} eigenspace")
    ax.set(xlabel="epoch", ylabel="||V_k^T delta||^2 / ||delta||^2", yscale="log")
    ax.legend(fontsize=7)
    return fig


def plot_report(report: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write the figures of a :func:`landscape.verify.verify` report into ``folder``.

    ``projection.png`` (the shares per epoch with their baselines) and
    ``connectivity_and_curvature.png``: the train loss along the fitted curve and the
    straight line from SGD (t = 0) to gRDA (t = 1), with the SGD-vs-SGD control dashed when
    the report has one, and the top eigenvalues at both minima.
    """
    folder = Path(folder)
    paths = [save_figure(plot_projection({"gRDA": report["projection"]}),
                         folder / "projection.png")]
    c = report["connectivity"]
    fig, axes = new_figure(2)
    ax = axes[0, 0]
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
    ax.set(xlabel="t (0: SGD, 1: gRDA or the other SGD seed)", ylabel="train loss (nats)",
           title="connectivity (barriers in nats)")
    ax.legend(fontsize=7)
    k = report["curvature"]
    idx = range(1, len(k["sgd_eigenvalues"]) + 1)
    axes[0, 1].plot(idx, k["sgd_eigenvalues"], "o-", label="SGD")
    axes[0, 1].plot(idx, k["grda_eigenvalues"], "s-", label="gRDA")
    axes[0, 1].set(xlabel="index", ylabel="eigenvalue", title="top Hessian eigenvalues")
    axes[0, 1].legend(fontsize=7)
    paths.append(save_figure(fig, folder / "connectivity_and_curvature.png"))
    return paths
