"""Extension point for sparsifiers that run inside the trainer (pruning baselines).

A sparsifier is any object with the :class:`Sparsifier` methods. The trainer calls

1. ``bind(model, optimizer, steps_per_epoch, epochs)`` once, after building the optimizer and
   before the initial checkpoint ``epoch_0000.pt`` is written (so an initial mask shows in it);
2. ``load_state_dict(state)`` when resuming, with what ``state_dict()`` returned, stored in the
   checkpoint's ``extra["sparsifier"]`` (plain values and tensors only: it is loaded with
   ``weights_only=True``);
3. ``after_step(step)`` right after every optimizer step (``step`` counts steps from 1 over the
   whole run); masks are applied to the weights here;
4. ``on_epoch_end(epoch)`` after the last step of 0-based epoch ``epoch``, before evaluation
   and the checkpoint.

Packages register builders with :func:`register_sparsifier`; ``TrainConfig(prune=NAME,
prune_args={...})`` selects one. A builder that takes a ``seed`` (random masks, random pruning)
and is given none in ``prune_args`` gets ``derive_seed(run seed, "prune")`` from the trainer, so
runs with different seeds prune differently and a run stays determined by its config. Modules
listed in ``PLUGIN_MODULES`` (``landscape.pruning``) are imported on first lookup so that their
registrations are visible.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

__all__ = [
    "PLUGIN_MODULES",
    "Sparsifier",
    "SparsifierEntry",
    "create_sparsifier",
    "list_sparsifiers",
    "register_sparsifier",
]

PLUGIN_MODULES: tuple[str, ...] = ("landscape.pruning",)


@runtime_checkable
class Sparsifier(Protocol):
    """What the trainer calls on a sparsifier (see the module docstring for the order)."""

    def bind(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, steps_per_epoch: int,
        epochs: int,
    ) -> None:
        """Attach to the model and optimizer of a run."""

    def after_step(self, step: int) -> None:
        """Called right after optimizer step ``step`` (1-based, global)."""

    def on_epoch_end(self, epoch: int) -> None:
        """Called after the last step of 0-based epoch ``epoch``."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (masks, schedule position ...)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


@dataclass(frozen=True)
class SparsifierEntry:
    """A registered sparsifier: ``build(**prune_args) -> Sparsifier`` and a description."""

    name: str
    build: Callable[..., Sparsifier]
    description: str


_REGISTRY: dict[str, SparsifierEntry] = {}
_plugins_loaded = False


def register_sparsifier(
    name: str, description: str
) -> Callable[[Callable[..., Sparsifier]], Callable[..., Sparsifier]]:
    """Decorator registering a sparsifier builder (a class or a function) under ``name``.

    Raises:
        ValueError: ``name`` is already registered.

    """

    def wrap(build: Callable[..., Sparsifier]) -> Callable[..., Sparsifier]:
        if name in _REGISTRY:
            raise ValueError(f"sparsifier {name!r} is registered twice")
        _REGISTRY[name] = SparsifierEntry(name, build, description)
        return build

    return wrap


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:   # the plugin exists but is broken: say so
                raise


def _takes_seed(build: Callable[..., Sparsifier]) -> bool:
    try:
        return "seed" in inspect.signature(build).parameters
    except (TypeError, ValueError):   # no introspectable signature (a builtin): pass no seed
        return False


def list_sparsifiers() -> list[str]:
    """Return the registered sparsifier names, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def create_sparsifier(name: str, *, default_seed: int | None = None, **kwargs: Any
                      ) -> Sparsifier:
    """Build the sparsifier ``name`` with its options.

    Args:
        name: a registered name (:func:`list_sparsifiers`).
        default_seed: passed as ``seed`` when the builder takes a ``seed`` and ``kwargs`` has
            none (an explicit ``seed`` wins); the trainer passes ``derive_seed(seed, "prune")``.
        **kwargs: the sparsifier's options (``prune_args``).

    Raises:
        ValueError: unknown name (the message lists the registered ones), or the builder
            rejected an option.

    """
    _load_plugins()
    entry = _REGISTRY.get(name)
    if entry is None:
        known = ", ".join(sorted(_REGISTRY)) or "none registered"
        raise ValueError(f"unknown sparsifier {name!r} (--prune); choose one of: {known}")
    if default_seed is not None and "seed" not in kwargs and _takes_seed(entry.build):
        kwargs["seed"] = default_seed
    try:
        sparsifier = entry.build(**kwargs)
    except TypeError as exc:
        raise ValueError(f"sparsifier {name!r}: {exc}") from exc
    if not isinstance(sparsifier, Sparsifier):
        raise TypeError(
            f"sparsifier {name!r} built a {type(sparsifier).__name__}, which lacks the "
            "Sparsifier methods (bind, after_step, on_epoch_end, state_dict, load_state_dict)"
        )
    return sparsifier
