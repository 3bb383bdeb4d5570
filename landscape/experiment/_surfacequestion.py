"""The store question of a loss surface: its axes, fields and key parameters (nothing runs).

Private plumbing of :mod:`landscape.experiment.surface` (see its docstring for the key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape.experiment._surfacebasis import SurfaceBasis
from landscape.experiment.subject import Subject
from landscape.surface import cross_entropy, surface_axes, surface_fields
from landscape.surface._options import check_options

__all__ = ["GridQuestion", "grid_question", "loss_fn_of", "surface_fields"]


def loss_fn_of(subject: Subject) -> Any:
    """The core's cross-entropy (the same function, faster on CPU) or the subject's loss."""
    return cross_entropy if subject.loss_name == "cross_entropy" else subject.loss_fn


def _question(subject: Subject, basis: SurfaceBasis, shape: tuple[int, ...],
              ranges: Sequence[float], *, bn: str, fields: Sequence[str], strategy: str,
              share_input_layer: bool | str, max_batch: int | str | None,
              channels_last: bool | str) -> dict[str, Any]:
    splits = sorted({f.split("_")[0] for f in fields})
    return {
        "directions": basis.definition, "grid": list(shape),
        "ranges": [float(r) for r in ranges], "bn": bn, "loss": subject.loss_name,
        "fields": list(fields), "dtype": str(subject.dtype).removeprefix("torch."),
        "batch_size": {s: getattr(subject.split(s), "batch_size", None) for s in splits},
        "strategy": strategy, "share_input_layer": share_input_layer,
        "max_batch": max_batch if max_batch in (None, "auto") else int(max_batch),
        "channels_last": channels_last,
    }


@dataclass(frozen=True)
class GridQuestion:
    axes: tuple[np.ndarray, ...]
    fields: tuple[str, ...]
    params: dict[str, Any]
    data: dict[str, Any]


def grid_question(subject: Subject, basis: SurfaceBasis, grid: int | Sequence[int],
          ranges: Sequence[float] | None, *, bn: str, test: bool, errors: bool, strategy: str,
          share_input_layer: bool | str, max_batch: int | str | None,
          channels_last: bool | str) -> GridQuestion:
    """The axes, fields and store question of a surface (checked, nothing evaluated)."""
    check_options(bn=bn, strategy=strategy, share_input_layer=share_input_layer,
                  max_batch=max_batch, channels_last=channels_last, flags=True)
    sizes = (grid,) if isinstance(grid, int | np.integer) else tuple(grid)
    if len(sizes) != basis.ndim:
        raise ValueError(
            f"the {basis.definition.get('method')} directions span {basis.ndim} axis/axes but "
            f"--grid gives {len(sizes)} size(s): give {'NX' if basis.ndim == 1 else 'NX NY'}")
    axes = surface_axes(tuple(int(n) for n in sizes), basis.ranges if ranges is None
                        else ranges)
    shape = tuple(len(a) for a in axes)
    bounds = [float(v) for a in axes for v in (a[0], a[-1])]
    fields = surface_fields(test=test, errors=errors)
    splits = ("train", "test") if test else ("train",)
    params = _question(subject, basis, shape, bounds, bn=bn, fields=fields, strategy=strategy,
                       share_input_layer=share_input_layer, max_batch=max_batch,
                       channels_last=channels_last)
    return GridQuestion(axes, fields, params, {s: subject.data_spec[s] for s in splits})
