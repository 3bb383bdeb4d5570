"""Figure plumbing shared by the plotting modules: a headless backend, atomic saving, legends.

Every figure of the suite explains itself: a title that names what is plotted and the paper
it follows (author, year), every axis and colour bar labelled, and legends outside the data
(:func:`legend_below` and :func:`legend_right` put them outside the axes, where constrained
layout makes room for them).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from landscape._io import atomic_path

__all__ = ["figure_png", "legend_below", "legend_right", "new_figure", "save_figure"]


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.4):
    """Return ``(fig, axes)`` with a consistent size per panel."""
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
        constrained_layout=True,
    )
    return fig, axes


def _entries(axes: Sequence[Any]) -> tuple[list[Any], list[str]]:
    """Handles and labels of every axes, each label once (first one wins)."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label and not label.startswith("_") and label not in seen:
                seen[label] = handle
    return list(seen.values()), list(seen)


def legend_below(fig: Figure, axes: Sequence[Any] | None = None, *, ncols: int | None = None,
                 fontsize: float = 8) -> Any:
    """One legend for the whole figure, below the panels (outside every axes).

    Collects the labelled artists of ``axes`` (default: all), each label once; returns the
    legend, or ``None`` when nothing is labelled.
    """
    handles, labels = _entries(list(axes) if axes is not None else fig.axes)
    if not handles:
        return None
    n = ncols or min(len(labels), 3)
    return fig.legend(handles, labels, loc="outside lower center", ncols=n, fontsize=fontsize,
                      frameon=False)


def legend_right(ax: Any, *, fontsize: float = 8, **kwargs: Any) -> Any:
    """The legend of ``ax`` to its right, outside the data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                     fontsize=fontsize, frameon=False, **kwargs)


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` atomically to ``path`` (format from the suffix) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for embedding in a page); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    return buf.getvalue()
