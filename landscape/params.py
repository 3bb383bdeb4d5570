"""Parameters addressed by name: flat vectors and the check that two sets are comparable.

Analyses address a network's parameters as a dict ``name -> tensor`` in
``model.named_parameters()`` order; a flat vector is their concatenation in that order. Two
sets of parameters are comparable (a difference, a curve or a plane between them means
something) only when their names and shapes agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

from landscape._types import ParamDict

__all__ = ["IncompatibleParameters", "check_comparable", "params_to_vector", "vector_to_params"]


class IncompatibleParameters(ValueError):
    """Two parameter sets differ in names or shapes: they belong to different models."""


def check_comparable(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], *, names: tuple[str, str] = ("a", "b")
) -> None:
    """Raise if two parameter (or state) dicts differ in names or shapes.

    Args:
        a: ``name -> tensor``.
        b: the same for the other side.
        names: how to call the two sides in the message.

    Raises:
        IncompatibleParameters: naming the first mismatching entry, e.g. "b has parameter
            'fc.weight' of shape (10, 300), a has (10, 100): the two use different models".

    >>> check_comparable({"w": torch.zeros(2)}, {"w": torch.ones(2)})
    >>> try:
    ...     check_comparable({"w": torch.zeros(2)}, {"w": torch.ones(3)}, names=("SGD", "gRDA"))
    ... except IncompatibleParameters as exc:
    ...     print(exc)
    gRDA has parameter 'w' of shape (3,), SGD has (2,): the two use different models
    """
    na, nb = names
    for name in a:
        if name not in b:
            raise IncompatibleParameters(
                f"{na} has parameter {name!r} but {nb} does not: the two use different models"
            )
        if tuple(a[name].shape) != tuple(b[name].shape):
            raise IncompatibleParameters(
                f"{nb} has parameter {name!r} of shape {tuple(b[name].shape)}, {na} has "
                f"{tuple(a[name].shape)}: the two use different models"
            )
    for name in b:
        if name not in a:
            raise IncompatibleParameters(
                f"{nb} has parameter {name!r} but {na} does not: the two use different models"
            )


def params_to_vector(params: Mapping[str, Tensor] | Iterable[Tensor]) -> Tensor:
    """Concatenate tensors (dict values in order) into one flat vector.

    >>> params_to_vector({"a": torch.ones(2, 2), "b": torch.zeros(1)}).tolist()
    [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    tensors = list(params.values()) if isinstance(params, Mapping) else list(params)
    return torch.cat([t.reshape(-1) for t in tensors])


def vector_to_params(vector: Tensor, like: Mapping[str, Tensor]) -> ParamDict:
    """Split a flat vector into a dict shaped like ``like`` (views of ``vector``).

    Raises:
        ValueError: the vector's length differs from the total size of ``like``.

    >>> vector_to_params(torch.arange(3.0), {"a": torch.zeros(2), "b": torch.zeros(1)})["b"]
    tensor([2.])
    """
    total = sum(t.numel() for t in like.values())
    if vector.dim() != 1 or vector.numel() != total:
        raise ValueError(
            f"expected a flat vector of {total} entries to match the parameters, got shape "
            f"{tuple(vector.shape)}"
        )
    out: ParamDict = {}
    offset = 0
    for name, t in like.items():
        out[name] = vector[offset : offset + t.numel()].view_as(t)
        offset += t.numel()
    return out
