"""Type aliases shared across the package."""

from __future__ import annotations

from torch import Tensor

ParamDict = dict[str, Tensor]
"""Parameters (or buffers) addressed by name, in ``model.named_parameters()`` order."""

__all__ = ["ParamDict"]
