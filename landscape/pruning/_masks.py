"""Mask plumbing shared by the sparsifiers: which tensors are prunable, exact selection, state.

Masks are boolean tensors, ``True`` = active (kept). Selection is exact and deterministic:
candidates are ranked with a *stable* sort, so ties (e.g. many weights that are exactly zero)
are broken by position and the number of weights pruned or grown is exactly the one asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _NormBase

__all__ = [
    "MOMENTUM_KEYS",
    "apply_masks",
    "count_active",
    "grow_highest",
    "load_masks",
    "mask_density",
    "masks_state",
    "prunable_parameters",
    "prune_lowest",
    "random_masks",
    "zero_masked_state",
]

# Per-weight optimizer state that acts as momentum: SGD/RMSprop buffer, Adam's first moment.
MOMENTUM_KEYS: tuple[str, ...] = ("momentum_buffer", "exp_avg")


def prunable_parameters(model: nn.Module, *, dense_first_last: bool = False
                        ) -> dict[str, nn.Parameter]:
    """The weights a sparsifier may mask: trainable tensors of dimension >= 2, in model order.

    Biases and normalisation parameters (BatchNorm, LayerNorm, GroupNorm ...) are never
    included (Dettmers & Zettlemoyer 2019, Sec. 3.3: "we keep biases and batch normalization
    weights dense").

    Args:
        model: the network.
        dense_first_last: also keep the first and the last of these tensors dense (Dettmers &
            Zettlemoyer 2019 keep the first convolution and the last linear layer dense for WRN).

    Raises:
        ValueError: the model has no prunable tensor (left).

    """
    norm_params = {id(p) for m in model.modules()
                   if isinstance(m, _NormBase | nn.LayerNorm | nn.GroupNorm)
                   for p in m.parameters(recurse=False)}
    params = {n: p for n, p in model.named_parameters()
              if p.requires_grad and p.dim() >= 2 and id(p) not in norm_params}
    if dense_first_last:
        names = list(params)
        params = {n: params[n] for n in names[1:-1]}
    if not params:
        hint = (" with dense_first_last=True (it needs at least three weight tensors)"
                if dense_first_last else "")
        raise ValueError(
            f"{type(model).__name__} has no prunable weight tensor (dim >= 2){hint}: "
            "sparsifiers mask linear/conv weights only"
        )
    return params


def random_masks(params: Mapping[str, Tensor], density: float,
                 generator: torch.Generator) -> dict[str, Tensor]:
    """Per tensor, exactly ``round(density * numel)`` active entries chosen uniformly at random."""
    masks = {}
    for name, p in params.items():
        n = p.numel()
        keep = round(density * n)
        order = torch.randperm(n, generator=generator)
        flat = torch.zeros(n, dtype=torch.bool)
        flat[order[:keep]] = True
        masks[name] = flat.view_as(p).to(p.device)
    return masks


@torch.no_grad()
def apply_masks(params: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> None:
    """Set every inactive weight to exactly ``+0.0`` (in place)."""
    for name, p in params.items():
        p.masked_fill_(~masks[name], 0.0)


@torch.no_grad()
def zero_masked_state(optimizer: torch.optim.Optimizer, params: Mapping[str, Tensor],
                      masks: Mapping[str, Tensor], *, keys: tuple[str, ...] = MOMENTUM_KEYS
                      ) -> None:
    """Zero the optimizer's momentum (``keys``) of the inactive weights, in place."""
    for name, p in params.items():
        state = optimizer.state.get(p)
        if not state:
            continue
        for key in keys:
            buf = state.get(key)
            if isinstance(buf, Tensor) and buf.shape == p.shape:
                buf.masked_fill_(~masks[name], 0.0)


def count_active(masks: Mapping[str, Tensor]) -> int:
    """Number of active entries over all masks (int64 count)."""
    return sum(int(m.sum(dtype=torch.int64)) for m in masks.values())


def mask_density(masks: Mapping[str, Tensor]) -> float:
    """Active fraction over all masks.

    >>> mask_density({"a": torch.tensor([True, False]), "b": torch.ones(2, dtype=torch.bool)})
    0.75
    """
    total = sum(m.numel() for m in masks.values())
    return count_active(masks) / total if total else 1.0


def prune_lowest(score: Tensor, active: Tensor, k: int) -> Tensor:
    """Deactivate the ``k`` active entries with the lowest ``score`` (stable: ties by position).

    Args:
        score: any shape; e.g. ``|w|`` (magnitude) or uniform noise (random pruning).
        active: boolean, same shape.
        k: how many to deactivate; ``0 <= k <= active.sum()``.

    Returns:
        The new boolean mask (a new tensor).

    >>> prune_lowest(torch.tensor([3.0, 1.0, 2.0, 0.5]),
    ...              torch.tensor([True, True, True, False]), 1).tolist()
    [True, False, True, False]
    """
    idx = active.flatten().nonzero().squeeze(1)
    if not 0 <= k <= idx.numel():
        raise ValueError(f"cannot prune {k} of {idx.numel()} active weights")
    order = torch.argsort(score.flatten()[idx], stable=True)
    out = active.clone().flatten()
    out[idx[order[:k]]] = False
    return out.view_as(active)


def grow_highest(score: Tensor, active: Tensor, k: int) -> Tensor:
    """Activate the ``k`` inactive entries with the highest ``score`` (stable: ties by position).

    >>> grow_highest(torch.tensor([3.0, 1.0, 2.0, 0.5]),
    ...              torch.tensor([True, False, False, False]), 1).tolist()
    [True, False, True, False]
    """
    idx = (~active).flatten().nonzero().squeeze(1)
    if not 0 <= k <= idx.numel():
        raise ValueError(f"cannot grow {k} weights: only {idx.numel()} are inactive")
    order = torch.argsort(score.flatten()[idx], descending=True, stable=True)
    out = active.clone().flatten()
    out[idx[order[:k]]] = True
    return out.view_as(active)


def masks_state(masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Copies of the masks on the CPU, for a checkpoint's ``extra`` (``weights_only`` safe)."""
    return {name: m.detach().to("cpu", copy=True) for name, m in masks.items()}


def load_masks(state: Mapping[str, Any], params: Mapping[str, Tensor], *,
               what: str) -> dict[str, Tensor]:
    """Masks from :func:`masks_state` output, checked against ``params`` and moved to them.

    Raises:
        ValueError: names, shapes or dtype do not match the bound model.

    """
    if set(state) != set(params):
        raise ValueError(
            f"{what}: the saved masks cover {sorted(state)}, the model's prunable weights are "
            f"{sorted(params)}; resume with the run's own model and prune options"
        )
    out = {}
    for name, p in params.items():
        m = state[name]
        if not isinstance(m, Tensor) or m.dtype != torch.bool or m.shape != p.shape:
            got = (f"{m.dtype} {tuple(m.shape)}" if isinstance(m, Tensor)
                   else type(m).__name__)
            raise ValueError(
                f"{what}: mask {name!r} should be a bool tensor of shape {tuple(p.shape)}, "
                f"got {got}"
            )
        out[name] = m.to(p.device, copy=True)
    return out
