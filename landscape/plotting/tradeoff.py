"""Sparsity-accuracy trade-off figure (Chao et al. 2020, Fig. 4 left; Gale et al. 2019, Fig. 1).

Test accuracy against sparsity, one series per method, drawn as markers joined in order of
sparsity (gRDA's unjoined); dense reference runs (no sparsifier, not gRDA) as dotted horizontal
lines. Draws what :func:`landscape.pruning.tradeoff_points` read; computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from landscape.plotting._style import legend_right, new_figure, save_figure

__all__ = ["plot_tradeoff"]

# gRDA as unjoined red crosses (its points differ in c, mu and lr), as in Chao et al. 2020, Fig. 4.
_STYLE = {
    "grda": ("C3", "x", "none"),
    "magnitude": ("C0", "o", "-"),
    "sparse-momentum": ("C2", "s", "-"),
    "random": ("C7", "v", "-"),
}
_SPARSE = tuple(_STYLE)


def _as_dict(point: Any) -> Mapping[str, Any]:
    return point if isinstance(point, Mapping) else point.to_dict()


def plot_tradeoff(points: Sequence[Any], path: str | Path | None = None, *,
                  title: str | None = None):
    """Draw test accuracy (%) against sparsity (%) per method; returns the figure.

    Args:
        points: :class:`~landscape.pruning.TradeoffPoint` s or their ``to_dict()`` (keys
            ``method``, ``sparsity``, ``test_acc``).
        path: where to save it (format from the suffix); ``None`` only returns it.
        title: figure title (default: what is plotted and the papers).

    Raises:
        ValueError: no points.

    """
    rows = [_as_dict(p) for p in points]
    if not rows:
        raise ValueError("no runs to plot: pass finished run directories")
    fig, axes = new_figure(1, 1, width=6.6, height=4.0)
    ax = axes[0, 0]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    extra = 0
    for method in methods:
        group = sorted((r for r in rows if r["method"] == method), key=lambda r: r["sparsity"])
        x = [100 * r["sparsity"] for r in group]
        y = [100 * r["test_acc"] for r in group]
        if method in _STYLE:
            color, marker, ls = _STYLE[method]
            ax.plot(x, y, marker=marker, color=color, ls=ls, lw=1, ms=7, label=method)
        else:
            color = f"C{4 + extra}"
            extra += 1
            best = max(y)
            ax.axhline(best, color=color, ls=":", lw=1.2, label=f"{method} (dense)")
            ax.plot(x, y, marker="*", color=color, ls="none", ms=8)
    ax.set_xlabel("sparsity (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    legend_right(ax)
    ax.set_title(title or "Test accuracy against sparsity per method\n"
                          "(Chao et al. 2020, Fig. 4; Gale et al. 2019, Fig. 1)", fontsize=10)
    if path is not None:
        save_figure(fig, path)
    return fig
