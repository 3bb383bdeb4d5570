"""Parameter dicts as vectors: checks, float64 inner products, flat <-> dict, Gram-Schmidt.

A direction is a ``name -> tensor`` dict shaped like the model's parameters; its inner
product with another is ``sum over names of <a[name], b[name]>``, accumulated in float64 (the
flat vector is the concatenation in the dict's order, as ``model.named_parameters()``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landscape._types import ParamDict
from landscape.params import check_comparable

__all__ = [
    "as_direction",
    "check_like",
    "combine",
    "dot",
    "float64",
    "norm",
    "scale",
    "subtract",
]


def check_like(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], what_a: str, what_b: str
) -> None:
    """Raise ``ValueError`` naming the first name or shape where ``a`` and ``b`` differ.

    >>> check_like({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, "SGD", "gRDA")
    Traceback (most recent call last):
    ...
    landscape.params.IncompatibleParameters: gRDA has parameter 'w' of shape (3,), SGD has (2,): the two use different models
    """  # noqa: E501
    check_comparable(a, b, names=(what_a, what_b))


def float64(params: Mapping[str, Tensor]) -> ParamDict:
    """Detached float64 copies, on the tensors' own devices."""
    return {k: v.detach().to(torch.float64, copy=True) for k, v in params.items()}


def dot(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> float:
    """``<a, b>`` over all names, in float64.

    >>> dot({"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])})
    11.0
    """
    total = 0.0
    for name, t in a.items():
        total += float(torch.dot(t.detach().double().reshape(-1),
                                 b[name].detach().double().reshape(-1)))
    return total


def norm(a: Mapping[str, Tensor]) -> float:
    """``||a||_2`` over all names, in float64."""
    return float(np.sqrt(max(dot(a, a), 0.0)))


def subtract(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> ParamDict:
    """``a - b`` in float64."""
    return {k: a[k].detach().double() - b[k].detach().double() for k in a}


def scale(a: Mapping[str, Tensor], factor: float) -> ParamDict:
    """``factor * a``."""
    return {k: v * factor for k, v in a.items()}


def combine(terms: Sequence[tuple[float, Mapping[str, Tensor]]]) -> ParamDict:
    """``sum_i c_i a_i`` in float64 (names and shapes of the first term)."""
    first = terms[0][1]
    out = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in first.items()}
    for c, a in terms:
        for k in out:
            out[k].add_(a[k].detach().double(), alpha=float(c))
    return out


def as_direction(
    vector: Any, like: Mapping[str, Tensor], names: Sequence[str] | None = None, *, what: str
) -> ParamDict:
    """A flat vector over ``names`` (default: all of ``like``) as a float64 dict over ``like``.

    Parameters not in ``names`` get zeros: a Hessian computed over a subset of the parameters
    spans only those. A mapping is taken as it is (checked against ``like``).

    Raises:
        ValueError: unknown names, or a length that is not the total size of ``names``.

    >>> like = {"a": torch.zeros(2), "b": torch.zeros(1)}
    >>> {k: v.tolist() for k, v in as_direction([5.0], like, ["b"], what="v").items()}
    {'a': [0.0, 0.0], 'b': [5.0]}
    """
    if isinstance(vector, Mapping):
        check_like(like, vector, "the parameters", what)
        return float64(vector)
    chosen = list(like) if names is None else list(names)
    unknown = [n for n in chosen if n not in like]
    if unknown:
        raise ValueError(
            f"{what} covers parameter {unknown[0]!r}, which the model does not have; the "
            f"model's parameters are {list(like)[:5]}{' ...' if len(like) > 5 else ''}"
        )
    flat = torch.as_tensor(np.asarray(vector) if not isinstance(vector, Tensor) else vector)
    flat = flat.detach().reshape(-1).double()
    total = sum(like[n].numel() for n in chosen)
    if flat.numel() != total:
        raise ValueError(
            f"{what} has {flat.numel()} entries but the {len(chosen)} parameter tensors it "
            f"covers have {total}: pass the names it was computed over"
        )
    out = {k: torch.zeros(v.shape, dtype=torch.float64, device=v.device) for k, v in like.items()}
    offset = 0
    for n in chosen:
        size = like[n].numel()
        out[n] = flat[offset:offset + size].view(like[n].shape).to(like[n].device)
        offset += size
    return out
