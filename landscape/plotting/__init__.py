"""Matplotlib figures drawn from cached results (plotting never computes)."""

from landscape.plotting._style import new_figure, save_figure
from landscape.plotting.features import (
    plot_sparsity_table,
    plot_specialisation,
    plot_universality,
    plot_weight_norms,
)

__all__ = [
    "new_figure",
    "plot_sparsity_table",
    "plot_specialisation",
    "plot_universality",
    "plot_weight_norms",
    "save_figure",
]
