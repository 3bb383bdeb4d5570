"""Figures of cached curvature results (drawing only: the numbers come from the store)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from landscape.plotting._style import new_figure

__all__ = ["plot_density", "plot_topk"]


def plot_topk(result: Mapping[str, Any], *, title: str = ""):
    """Bar chart of the top-k eigenvalues; unconverged pairs are drawn hatched.

    Args:
        result: a ``hessian.topk`` entry (``eigenvalues``, ``converged``).
        title: figure title.

    Returns:
        The matplotlib figure.

    """
    values = np.asarray(result["eigenvalues"], dtype=float)
    converged = np.asarray(result["converged"], dtype=bool)
    fig, axes = new_figure()
    ax = axes[0, 0]
    bars = ax.bar(np.arange(1, len(values) + 1), values, color="tab:blue")
    for bar, ok in zip(bars, converged):
        if not ok:
            bar.set_hatch("//")
            bar.set_alpha(0.5)
    ax.set_xlabel("index i")
    ax.set_ylabel(r"eigenvalue $\lambda_i$")
    ax.set_title(title or f"top-{len(values)} Hessian eigenvalues")
    return fig


def plot_density(result: Mapping[str, Any], *, title: str = "", floor: float = 1e-10):
    """Spectral density on a log scale (densities below ``floor`` are clipped to it).

    Args:
        result: a ``hessian.spectrum`` entry (``grid``, ``density``, ``sigma``).
        title: figure title.
        floor: smallest density drawn.

    Returns:
        The matplotlib figure.

    """
    grid = np.asarray(result["grid"], dtype=float)
    density = np.maximum(np.asarray(result["density"], dtype=float), floor)
    fig, axes = new_figure(width=5.0)
    ax = axes[0, 0]
    ax.semilogy(grid, density, color="tab:blue")
    ax.set_xlabel(r"eigenvalue $\lambda$")
    ax.set_ylabel("density (SLQ)")
    ax.set_title(title or f"Hessian spectral density, sigma={float(result['sigma']):.2g}")
    return fig
