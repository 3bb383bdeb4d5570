"""Model registry: ``create_model(name, **kw)`` and ``list_models()`` (timm style)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from landscape.models._options import check_options, check_value
from landscape.seeding import derive_seed

__all__ = ["ModelEntry", "create_model", "list_models", "model_entry", "register_model"]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes:
        name: registry name.
        build: ``fn(*, num_classes, input_shape, **kw) -> nn.Module``; each option is a
            keyword-only argument whose type hint (``bool``, ``int``, ``float``, ``str``,
            ``Literal[...]``, ``Sequence[int]``, optionally ``| None``) is checked by
            :func:`create_model`.
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
        ValueError: unknown name, unknown option, a value of the wrong type (the message
            names the model, the option, the expected type and an example) or an
            impossible value.

    >>> m = create_model("mlp", widths=[5], input_shape=(1, 2, 2), num_classes=3)
    >>> m(torch.zeros(4, 1, 2, 2)).shape
    torch.Size([4, 3])

    """
    entry = model_entry(name)
    num_classes = check_value(name, "num_classes", num_classes, int, 10)
    if num_classes < 1:
        raise ValueError(f"model {name!r}: num_classes must be a positive integer, got "
                         f"{num_classes}")
    shape = check_value(name, "input_shape", input_shape, Sequence[int], (1, 28, 28))
    if min(shape) < 1:
        raise ValueError(f"model {name!r}: input_shape must hold positive sizes such as "
                         f"1,28,28, got {input_shape!r}")
    input_shape = tuple(shape)
    accepted = set(inspect.signature(entry.build).parameters)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        options = sorted(accepted - {"num_classes", "input_shape"})
        raise ValueError(
            f"model {name!r} has no option(s) {unknown}; its options are {options}"
        )
    kwargs = check_options(name, entry.build, kwargs)
    if seed is None:
        return entry.build(num_classes=num_classes, input_shape=input_shape, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return entry.build(num_classes=num_classes, input_shape=input_shape, **kwargs)
