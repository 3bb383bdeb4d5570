"""Matplotlib figures drawn from cached results (plotting never computes)."""

from landscape.plotting._style import new_figure, save_figure

__all__ = ["new_figure", "save_figure"]
