"""Matplotlib figures drawn from cached results (plotting never computes)."""

from landscape.plotting._style import new_figure, save_figure
from landscape.plotting.curvature import plot_density, plot_topk
from landscape.plotting.curves import log_levels, plot_along, plot_plane, plot_plane_panel
from landscape.plotting.directional import plot_projection, plot_report, plot_training
from landscape.plotting.features import (
    plot_sparsity_table,
    plot_specialisation,
    plot_universality,
    plot_weight_norms,
)
from landscape.plotting.surface import plot_surface_3d, plot_surface_contours, plot_surface_line
from landscape.plotting.tradeoff import plot_tradeoff

__all__ = [
    "log_levels",
    "new_figure",
    "plot_along",
    "plot_density",
    "plot_plane",
    "plot_plane_panel",
    "plot_projection",
    "plot_report",
    "plot_sparsity_table",
    "plot_specialisation",
    "plot_surface_3d",
    "plot_surface_contours",
    "plot_surface_line",
    "plot_topk",
    "plot_tradeoff",
    "plot_training",
    "plot_universality",
    "plot_weight_norms",
    "save_figure",
]
