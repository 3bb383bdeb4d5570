"""Figures of feature statistics, drawn from cached arrays (plotting never computes).

The histogram functions take the statistics dict of :func:`landscape.stats.layer_statistics`
(or the same dict read back from the result store), or a mapping ``label -> such dict`` to
compare runs (e.g. ``{"adam": ..., "sgd": ...}``) side by side; the table takes the rows of
:func:`landscape.stats.sparsity_rows` (fractions), or ``label -> rows``.

* :func:`plot_sparsity_table`: Mehta et al. 2019, Tables 1-2 style, % features inactive per
  layer by activation and by BatchNorm scale;
* :func:`plot_universality`: Mehta et al. 2019, Fig. 3, per-layer histograms of feature
  universality;
* :func:`plot_specialisation`: Dettmers & Zettlemoyer 2019, Fig. 3, per-layer histograms of
  class specialisation;
* :func:`plot_weight_norms`: Yaguchi et al. 2018, Fig. 5, per-layer histograms of the L2
  norms of the units' incoming weight vectors, on a log axis (bimodal under Adam + L2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from landscape.plotting._style import legend_below, new_figure

__all__ = [
    "plot_sparsity_table",
    "plot_specialisation",
    "plot_universality",
    "plot_weight_norms",
]


def _runs(stats: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    if "layers" in stats and "order" in stats:
        return {"": stats}
    if not stats or not all(isinstance(v, Mapping) and "layers" in v for v in stats.values()):
        raise ValueError(
            "expected feature statistics (a dict with 'layers' and 'order', from "
            "landscape.stats.layer_statistics or a store entry) or a dict label -> statistics"
        )
    return dict(stats)


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return cols, math.ceil(n / cols)


def _occupied(edges: np.ndarray, counts: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """The x-range of the bins that hold anything (over every run), or ``None``."""
    filled = np.flatnonzero(np.sum([np.asarray(c) > 0 for c in counts], axis=0))
    if filled.size == 0:
        return None
    return float(edges[filled[0]]), float(edges[filled[-1] + 1])


def _layer_hist_figure(
    stats: Mapping[str, Any], key: str, edges_key: str, xlabel: str, *,
    layers: list[str] | None, title: str, log_x: bool = False,
) -> Figure:
    runs = _runs(stats)
    first = next(iter(runs.values()))
    names = [n for n in (layers or list(first["order"])) if key in first["layers"][n]]
    if not names:
        raise ValueError(f"no layer of these statistics has {key!r} (nothing to draw)")
    cols, rows = _grid(len(names))
    fig, axes = new_figure(cols, rows, width=max(3.4, 5.6 / cols), height=2.9)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    width_share = 1.0 / len(runs)
    for i, name in enumerate(names):
        ax = axes.flat[i]
        counts = []
        for r, (label, st) in enumerate(runs.items()):
            edges = np.asarray(st["edges"][edges_key], dtype=float)
            c = np.asarray(st["layers"][name][key], dtype=float)
            counts.append(c)
            total = c.sum()
            frac = c / total if total else c
            if log_x:
                ax.stairs(frac, edges, label=label or None, color=f"C{r}")
            else:
                w = np.diff(edges) * width_share
                ax.bar(edges[:-1] + r * w, frac, width=w, align="edge", label=label or None,
                       color=f"C{r}")
        if log_x:
            ax.set_xscale("log")
            span = _occupied(edges, counts)
            if span is not None:  # the norms occupy a few decades of the fixed bins
                lo, hi = span
                widen = max(1.5, np.sqrt(10.0 * lo / hi))  # at least one decade shown
                ax.set_xlim(lo / widen, hi * widen)
                ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"layer {name}", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fraction of features")
    fig.suptitle(title, fontsize=10)
    if len(runs) > 1:
        legend_below(fig, ncols=min(len(runs), 4))
    return fig


def plot_universality(stats: Mapping[str, Any], *, layers: list[str] | None = None) -> Figure:
    """Per-layer histograms of universality (%), Mehta et al. 2019, Fig. 3 (dead ones at 0%)."""
    return _layer_hist_figure(stats, "universality_hist", "universality", "universality (%)",
                              layers=layers, title="Feature universality per layer: share of "
                              "classes a feature fires for\n(Mehta et al. 2019, Fig. 3)")


def plot_specialisation(stats: Mapping[str, Any], *, layers: list[str] | None = None) -> Figure:
    """Per-layer histograms of class specialisation (Dettmers & Zettlemoyer 2019, Fig. 3).

    Features silent on every sample have none and are left out.
    """
    return _layer_hist_figure(stats, "specialisation_hist", "specialisation",
                              "class specialisation", layers=layers,
                              title="Class specialisation of the features per layer"
                              "\n(Dettmers & Zettlemoyer 2019, Fig. 3)")


def plot_weight_norms(stats: Mapping[str, Any], *, layers: list[str] | None = None) -> Figure:
    """Per-layer histograms of incoming weight-vector norms on a log axis.

    Yaguchi et al. 2018, Fig. 5.
    """
    return _layer_hist_figure(stats, "norm_hist", "norm", "L2 norm of incoming weights",
                              layers=layers, log_x=True,
                              title="Norms of the units' incoming weight vectors per "
                              "layer\n(Yaguchi et al. 2018, Fig. 5)")


def _tables(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]]
            ) -> dict[str, Sequence[Mapping[str, Any]]]:
    if isinstance(rows, Mapping):
        tables = dict(rows)
    elif isinstance(rows, Sequence) and not isinstance(rows, str):
        tables = {"": rows}
    else:
        tables = {}
    keys = ("layer", "dead_activation_fraction", "dead_scale_fraction")
    if not tables or not all(
        isinstance(t, Sequence) and t and all(isinstance(r, Mapping) and set(keys) <= set(r)
                                              for r in t) for t in tables.values()):
        raise ValueError(
            "expected the rows of landscape.stats.sparsity_rows (dicts with 'layer', "
            "'dead_activation_fraction', 'dead_scale_fraction'), or a dict label -> rows"
        )
    return tables


def plot_sparsity_table(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Mapping[str, Any]]],
) -> Figure:
    """Mehta et al. 2019, Tables 1-2 style: % inactive features per layer, by activation/gamma.

    Args:
        rows: the rows of :func:`landscape.stats.sparsity_rows` (fractions), or a dict
            ``label -> rows``; with several runs, each contributes a pair of columns.

    Raises:
        ValueError: anything else.

    """
    tables = _tables(rows)
    layers = [r["layer"] for r in next(iter(tables.values()))]

    def pct(v: float) -> str:
        return "-" if not np.isfinite(v) else f"{100 * v:.0f}"

    header = ["layer"]
    for label in tables:
        prefix = f"{label}: " if label else ""
        header += [f"{prefix}% by act", f"{prefix}% by $\\gamma$"]
    cells = []
    for i, layer in enumerate(layers):
        row = [layer]
        for table in tables.values():
            row += [pct(table[i]["dead_activation_fraction"]),
                    pct(table[i]["dead_scale_fraction"])]
        cells.append(row)
    fig, axes = new_figure(1, 1, width=1.6 * len(header) + 1.0, height=0.3 * len(cells) + 1.2)
    ax = axes[0, 0]
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    ax.set_title("Inactive features per layer, % (Mehta et al. 2019, Tables 1-2)", fontsize=9)
    return fig
