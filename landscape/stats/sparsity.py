"""Weight sparsity and group (per-unit) sparsity, as fractions.

* Weight sparsity: the fraction of entries that are exactly zero, globally and per tensor.
  Counts are int64: a float32 accumulator cannot count past 2**24.
* Group sparsity (Yaguchi et al. 2018, Sec. II-B): a unit of a linear layer (a row of its
  weight) or a channel of a conv layer (a slice ``weight[c]``) is zero when the L2 norm of
  its incoming weight vector is below ``xi`` (default 1e-6). The norms' histogram is bimodal
  under Adam + L2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["group_sparsity", "unit_weight_norms", "weight_sparsity", "zero_count"]


def zero_count(t: Tensor) -> int:
    """Number of exact zeros in ``t``, counted in int64.

    >>> zero_count(torch.tensor([0.0, 1.0, -0.0]))
    2
    """
    return int((t == 0).sum(dtype=torch.int64))


def weight_sparsity(params: Mapping[str, Tensor]) -> dict[str, Any]:
    """Fraction of exact zeros, globally and per tensor.

    Args:
        params: ``name -> tensor`` (e.g. ``dict(model.named_parameters())``).

    Returns:
        ``{"global": float, "zeros": int, "total": int, "per_layer": {name: float}}``.

    >>> weight_sparsity({"a": torch.tensor([0.0, 1.0]), "b": torch.zeros(2)})["global"]
    0.75
    """
    per_layer: dict[str, float] = {}
    zeros = total = 0
    for name, t in params.items():
        z, n = zero_count(t.detach()), t.numel()
        zeros += z
        total += n
        per_layer[name] = z / n if n else 0.0
    return {
        "global": zeros / total if total else 0.0,
        "zeros": zeros,
        "total": total,
        "per_layer": per_layer,
    }


def _unit_layers(model: nn.Module, exclude_last: bool) -> list[tuple[str, nn.Module]]:
    layers = [
        (name, m) for name, m in model.named_modules()
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)
    ]
    if exclude_last and layers:
        layers = layers[:-1]
    return layers


def unit_weight_norms(model: nn.Module, *, exclude_last: bool = True) -> dict[str, Tensor]:
    """L2 norm of each unit's (channel's) incoming weight vector, per layer.

    Args:
        model: the network.
        exclude_last: skip the last linear/conv layer (its units are the class logits).

    Returns:
        ``layer name -> [out_features]`` norms (float64, on the CPU).
    """
    return {
        name: m.weight.detach().flatten(1).double().norm(dim=1).cpu()
        for name, m in _unit_layers(model, exclude_last)
    }


def group_sparsity(
    model: nn.Module, *, xi: float = 1e-6, exclude_last: bool = True
) -> dict[str, Any]:
    """Fraction of units whose incoming weight vector has L2 norm below ``xi``.

    Returns:
        ``{"global": float, "zero_units": int, "units": int, "per_layer": {name: float}}``.

    >>> m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     m[0].weight[0] = 0.0
    >>> group_sparsity(m)["global"]
    0.5
    """
    if xi <= 0:
        raise ValueError(f"xi must be positive, got {xi}")
    norms = unit_weight_norms(model, exclude_last=exclude_last)
    per_layer = {name: float((n < xi).double().mean()) for name, n in norms.items()}
    zero = sum(int((n < xi).sum()) for n in norms.values())
    units = sum(n.numel() for n in norms.values())
    return {
        "global": zero / units if units else 0.0,
        "zero_units": zero,
        "units": units,
        "per_layer": per_layer,
    }
