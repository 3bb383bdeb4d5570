"""Model registry: ``create_model(name, **kw)`` and ``list_models()`` (timm style)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from landscape.seeding import derive_seed

__all__ = ["ModelEntry", "create_model", "list_models", "model_entry", "register_model"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes:
        name: registry name.
        build: ``fn(*, num_classes, input_shape, **kw) -> nn.Module``.
        description: one line for ``--help`` and the README.
        test_kwargs: small settings that keep registry-wide tests fast (e.g. a narrow WRN).

    """

    name: str
    build: Callable[..., nn.Module]
    description: str
    test_kwargs: dict[str, Any]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, description: str, *, test_kwargs: dict[str, Any] | None = None
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model builder under ``name``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, fn, description, dict(test_kwargs or {}))
        return fn

    return wrap


def list_models() -> list[str]:
    """Return the registered model names, sorted.

    >>> {"mlp", "lenet5", "vgg16_bn", "wrn", "resnet50"} <= set(list_models())
    True
    """
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    """Return the registry entry of ``name`` (unknown names list the valid ones)."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return entry


def create_model(
    name: str,
    *,
    num_classes: int = 10,
    input_shape: tuple[int, ...] | list[int] = (1, 28, 28),
    seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: one of :func:`list_models`.
        num_classes: number of output logits.
        input_shape: shape of one input sample, e.g. ``(3, 32, 32)``.
        seed: when given, the initialisation is drawn from a generator derived from
            ``(seed, "init")`` without touching the global RNG stream, so two runs with one
            seed start from bit-identical weights whatever else they do.
        **kwargs: model options (``widths``, ``batchnorm``, ``depth``, ``width`` ...).

    Raises:
        ValueError: unknown name, unknown option or impossible value.

    >>> m = create_model("mlp", widths=[5], input_shape=(1, 2, 2), num_classes=3)
    >>> m(torch.zeros(4, 1, 2, 2)).shape
    torch.Size([4, 3])

    """
    entry = model_entry(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes}")
    input_shape = tuple(int(s) for s in input_shape)
    accepted = set(inspect.signature(entry.build).parameters)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        options = sorted(accepted - {"num_classes", "input_shape"})
        raise ValueError(
            f"model {name!r} has no option(s) {unknown}; its options are {options}"
        )
    if seed is None:
        return entry.build(num_classes=num_classes, input_shape=input_shape, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return entry.build(num_classes=num_classes, input_shape=input_shape, **kwargs)
