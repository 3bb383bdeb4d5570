"""Figures of cached curvature results (drawing only: the numbers come from the store).

* :func:`plot_topk`: the top-k Hessian eigenvalues from Lanczos (Ghorbani et al. 2019; Yao
  et al. 2020), unconverged pairs hatched;
* :func:`plot_topk_epochs`: the top-k eigenvalues of a run's checkpoints against epoch;
* :func:`plot_density`: the stochastic Lanczos quadrature density (Ghorbani et al. 2019) on a
  log scale; densities below the drawing floor are left out, not drawn as a flat line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.patches import Patch

from landscape.plotting._style import legend_right, new_figure

__all__ = ["plot_density", "plot_topk", "plot_topk_epochs"]


def plot_topk(result: Mapping[str, Any], *, title: str = ""):
    """Bar chart of the top-k eigenvalues; unconverged pairs are drawn hatched.

    Args:
        result: a ``hessian.topk`` entry (``eigenvalues``, ``converged``).
        title: figure title (the citation is appended).

    Returns:
        The matplotlib figure.

    """
    values = np.asarray(result["eigenvalues"], dtype=float)
    converged = np.asarray(result["converged"], dtype=bool)
    fig, axes = new_figure(width=5.0)
    ax = axes[0, 0]
    bars = ax.bar(np.arange(1, len(values) + 1), values, color="tab:blue")
    for bar, ok in zip(bars, converged):
        if not ok:
            bar.set_hatch("//")
            bar.set_alpha(0.5)
    if not converged.all():
        legend_right(ax, handles=[Patch(color="tab:blue", label="converged"),
                                  Patch(facecolor="tab:blue", alpha=0.5, hatch="//",
                                        label="not converged")])
    ax.set_xlabel("index i")
    ax.set_ylabel(r"eigenvalue $\lambda_i$")
    ax.set_title((title or f"top-{len(values)} Hessian eigenvalues")
                 + "\n(Lanczos; Ghorbani et al. 2019)", fontsize=10)
    return fig


def plot_topk_epochs(epochs: Sequence[int], eigenvalues: Sequence[Sequence[float]], *,
                     title: str = ""):
    """The top-k eigenvalues of a run's checkpoints against epoch (one line per index).

    Args:
        epochs: the epochs, ascending.
        eigenvalues: ``[E, k]`` eigenvalues, largest first.
        title: figure title (the citation is appended).
    """
    ev = np.asarray(eigenvalues, dtype=float)
    fig, axes = new_figure(width=5.4)
    ax = axes[0, 0]
    for i in range(ev.shape[1]):
        ax.plot(epochs, ev[:, i], marker="o" if i == 0 else ".", lw=1.6 if i == 0 else 0.8,
                color="C0" if i == 0 else "C7", label=r"$\lambda_1$ (sharpness)" if i == 0
                else (rf"$\lambda_2 \ldots \lambda_{{{ev.shape[1]}}}$" if i == 1 else None))
    ax.set_xlabel("epoch")
    ax.set_ylabel(r"Hessian eigenvalue $\lambda_i$")
    ax.set_title((title or f"top-{ev.shape[1]} Hessian eigenvalues per epoch")
                 + "\n(Lanczos; Ghorbani et al. 2019)", fontsize=10)
    ax.grid(alpha=0.3)
    legend_right(ax)
    return fig


def plot_density(result: Mapping[str, Any], *, title: str = "", floor: float = 1e-10):
    """Spectral density on a log scale; densities below ``floor`` are not drawn.

    The Gaussian-broadened density falls to ~0 between Ritz values; on a log axis those
    stretches would sit on the floor and look like data, so they are left blank (the title
    says so).

    Args:
        result: a ``hessian.spectrum`` entry (``grid``, ``density``, ``sigma``).
        title: figure title (the method, floor and citation are appended).
        floor: smallest density drawn.

    Returns:
        The matplotlib figure.

    """
    grid = np.asarray(result["grid"], dtype=float)
    density = np.asarray(result["density"], dtype=float)
    shown = np.where(density >= floor, density, np.nan)
    fig, axes = new_figure(width=5.4)
    ax = axes[0, 0]
    ax.semilogy(grid, shown, color="tab:blue")
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_ylabel("spectral density (SLQ)")
    ax.set_title((title or "Hessian spectral density")
                 + f"\nsigma={float(result['sigma']):.2g}; below {floor:.0e} not drawn "
                   "(SLQ, Ghorbani et al. 2019)", fontsize=10)
    ax.grid(alpha=0.3)
    return fig
