"""Figure plumbing shared by the plotting modules: a headless backend and atomic saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from landscape._io import atomic_path

__all__ = ["new_figure", "save_figure"]


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.4):
    """Return ``(fig, axes)`` with a consistent size per panel."""
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
        constrained_layout=True,
    )
    return fig, axes


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` atomically to ``path`` (format from the suffix) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
