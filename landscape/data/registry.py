"""Dataset registry: ``get_dataset(name, **options)`` and ``list_datasets()`` (timm style)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape.data._base import Dataset

__all__ = [
    "DatasetEntry",
    "config_dataset",
    "dataset_entry",
    "dataset_from_config",
    "get_dataset",
    "list_datasets",
    "register_dataset",
]


Sources = Callable[..., list[Path] | None]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: its builder and a one-line description.

    Attributes:
        name: registry name.
        build: ``fn(**options) -> Dataset``.
        description: one line for listings.
        sources: ``fn(**options) -> [files]``: every file the builder reads for these
            options (``None`` when it cannot say, e.g. a file is missing). With it, the
            dataset's identity is kept between processes (:mod:`landscape.data.identity`);
            without it (``synthetic``, a dataset of your own) it is computed each time.

    """

    name: str
    build: Callable[..., Dataset]
    description: str
    sources: Sources | None = None


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(name: str, description: str, *, sources: Sources | None = None
                     ) -> Callable[[Callable[..., Dataset]], Callable]:
    """Decorator registering a builder ``fn(**options) -> Dataset`` under ``name``.

    ``sources(**options)`` lists the files the builder reads (see :class:`DatasetEntry`).
    """

    def wrap(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        if name in _REGISTRY:
            raise ValueError(f"dataset {name!r} is registered twice")
        _REGISTRY[name] = DatasetEntry(name, fn, description, sources)
        return fn

    return wrap


def dataset_entry(name: str) -> DatasetEntry:
    """The registry entry of ``name``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).

    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(list_datasets())}")
    return entry


def list_datasets() -> list[str]:
    """Return the registered dataset names, sorted.

    >>> {"mnist5k", "synthetic", "cifar10"} <= set(list_datasets())
    True
    """
    return sorted(_REGISTRY)


def get_dataset(name: str, **options: Any) -> Dataset:
    """Build the dataset ``name`` with the given options.

    Args:
        name: one of :func:`list_datasets`.
        **options: builder options, e.g. ``root`` and ``download`` for the torchvision sets,
            ``input_shape``/``num_classes``/``num_train`` for ``synthetic``.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or bad option.
        FileNotFoundError: a file-backed dataset whose files are missing (the message names
            the files expected and where).

    """
    entry = dataset_entry(name)
    try:
        return entry.build(**options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ValueError(f"dataset {name!r}: {exc}") from exc
        raise


def config_dataset(
    config: dict[str, Any],
    *,
    name: str | None = None,
    options: dict[str, Any] | None = None,
    root: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The registry name and options of a run's dataset, without building it.

    What :func:`dataset_from_config` builds, with the same arguments.

    Raises:
        ValueError: the configuration records no dataset and none is given.

    >>> config_dataset({"dataset": "synthetic", "dataset_args": {"num_train": 8}})
    ('synthetic', {'num_train': 8})
    >>> config_dataset({"dataset": "synthetic", "dataset_args": {"num_train": 8}},
    ...                name="mnist5k")
    ('mnist5k', {})
    """
    recorded = config.get("dataset")
    chosen = name or recorded
    if not isinstance(chosen, str) or not chosen:
        raise ValueError(
            "the checkpoint does not record its dataset: pass --dataset NAME (and --data-root)"
        )
    inherit = chosen == recorded
    opts = dict(config.get("dataset_args") or {}) if inherit else {}
    opts.update(options or {})
    data_root = root or (config.get("data_root") if inherit else None)
    if data_root is not None:
        opts["root"] = data_root
    return chosen, opts


def dataset_from_config(
    config: dict[str, Any],
    *,
    name: str | None = None,
    options: dict[str, Any] | None = None,
    root: str | None = None,
) -> Dataset:
    """The dataset a run was trained on, as its ``config.json`` records it.

    Args:
        config: a run configuration (``dataset``, ``dataset_args``, ``data_root``).
        name: another dataset to use instead (then the run's options are not inherited).
        options: options that override (or, with ``name``, replace) the recorded ones.
        root: data root overriding the recorded ``data_root``.

    Raises:
        ValueError: the configuration records no dataset and none is given.
    """
    chosen, opts = config_dataset(config, name=name, options=options, root=root)
    return get_dataset(chosen, **opts)
