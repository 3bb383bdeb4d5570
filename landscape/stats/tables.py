"""The per-layer table of inactive features (Mehta et al. 2019, Tables 1-2).

:func:`sparsity_rows` gives the rows as fractions (for JSON and figures);
:func:`format_sparsity_table` prints them in percent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["format_sparsity_table", "sparsity_rows"]


def _mean(e: Mapping[str, Any], key: str) -> float:
    return float(np.mean(e[key])) if key in e else float("nan")


def sparsity_rows(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-layer rows of the table, plus a final ``total`` row.

    Each row: ``layer``, ``features``, ``dead_activation_fraction`` (inactive by
    activation), ``dead_scale_fraction`` (inactive by |gamma|; NaN without BatchNorm),
    ``zero_weights_fraction`` (zero incoming weight vectors; NaN without a weight layer) and
    ``mean_universality_pct`` (the mean universality, a percentage of samples by Mehta et
    al. 2019's definition).

    Args:
        stats: :func:`landscape.stats.layer_statistics` (or its store entry read back).

    """
    rows = []
    for name in stats["order"]:
        e = stats["layers"][name]
        rows.append({
            "layer": name,
            "features": int(e["num_features"]),
            "dead_activation_fraction": _mean(e, "dead_activation"),
            "dead_scale_fraction": _mean(e, "dead_scale"),
            "zero_weights_fraction": _mean(e, "zero_weights"),
            "mean_universality_pct": _mean(e, "universality"),
        })
    s = stats["summary"]
    rows.append({
        "layer": "total",
        "features": int(s["features"]),
        "dead_activation_fraction": float(s["dead_activation_fraction"]),
        "dead_scale_fraction": float(s["dead_scale_fraction"]),
        "zero_weights_fraction": float(s["zero_weights_fraction"]),
        "mean_universality_pct": float(np.mean(np.concatenate(
            [stats["layers"][n]["universality"] for n in stats["order"]]))),
    })
    return rows


def format_sparsity_table(stats: Mapping[str, Any]) -> str:
    """The :func:`sparsity_rows` table as aligned text in percent (``-`` where not applicable)."""

    def pct(v: float) -> str:
        return "-" if not np.isfinite(v) else f"{100 * v:.1f}"

    rows = sparsity_rows(stats)
    width = max(len("layer"), *(len(r["layer"]) for r in rows))
    head = (f"{'layer':<{width}}  {'features':>8}  {'% by act':>8}  {'% by gamma':>10}  "
            f"{'% zero w':>8}  {'mean univ. %':>12}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["layer"] == "total":
            lines.append("-" * len(head))
        lines.append(
            f"{r['layer']:<{width}}  {r['features']:>8}  "
            f"{pct(r['dead_activation_fraction']):>8}  {pct(r['dead_scale_fraction']):>10}  "
            f"{pct(r['zero_weights_fraction']):>8}  {r['mean_universality_pct']:>12.1f}"
        )
    return "\n".join(lines)
