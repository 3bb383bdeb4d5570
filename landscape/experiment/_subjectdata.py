"""A subject's evaluation data: registry datasets (made on first use) or the user's batches.

Plumbing of :mod:`landscape.experiment.subject`. A registry dataset's identity comes from
:func:`landscape.data.dataset_identity` (a record, or the dataset built once), and each
split is a :class:`landscape.data.DeferredEvalSet`: its spec (the store key's data part) is
known at once, its tensors are made when a computation first iterates it. A data file runs
the user's factory and hashes its batches at once (its identity needs them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from landscape.data import (
    Dataset,
    DeferredEvalSet,
    config_dataset,
    dataset_identity,
    get_dataset,
    load_data_file,
)
from landscape.data.identity import DatasetIdentity, record_identity

__all__ = ["Batches", "DataOptions", "Once", "ResolvedData", "resolve_data"]

Batches = Iterable[tuple[Tensor, Tensor]]


class _Cast:
    """Re-iterable view of user batches moved to a device and floating dtype."""

    def __init__(self, batches: Batches, device: torch.device, dtype: torch.dtype) -> None:
        self.batches, self.device, self.dtype = batches, device, dtype

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in self.batches:
            x = x.to(self.device, self.dtype) if x.is_floating_point() else x.to(self.device)
            yield x, y.to(self.device)


class Once:
    """``make()`` called on first use and kept: ``Once(make)()`` (a shared lazy value)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make: Callable[[], Any] | None = make
        self._value: Any = None

    def __call__(self) -> Any:
        if self._make is not None:
            self._value, self._make = self._make(), None
        return self._value


@dataclass(frozen=True)
class DataOptions:
    """Which data, and how it is evaluated.

    Attributes:
        dataset: a registry dataset name (default: the run's, for a landscape checkpoint).
        options: dataset options (they replace the run's when ``dataset`` names another).
        root: where file-backed datasets live (``imagefolder``: the image folder).
        data_file: ``"PATH.py:FACTORY"`` returning the evaluation batches (runs that file).
        file_options: keyword options of the data factory.
        batch_size: samples per evaluation batch of registry datasets (default 1000).
        subset: keep this many samples of each split of a registry dataset (fixed seed).
        device: where the model and data live.
        dtype: floating dtype of the parameters and inputs.

    """

    dataset: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    root: str | None = None
    data_file: str | None = None
    file_options: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 1000
    subset: int | None = None
    device: torch.device | str = "cpu"
    dtype: torch.dtype = torch.float32


@dataclass
class ResolvedData:
    """The data of a subject.

    Attributes:
        batches: split -> re-iterable batches (registry: deferred evaluation sets).
        spec: split -> JSON identity of that split's data.
        source: JSON record that resolves the same data again.
        num_classes: the registry dataset's number of classes (``None`` for a data file).
        dataset: returns the registry dataset (built on first call); ``None`` for a data file.

    """

    batches: dict[str, Batches]
    spec: dict[str, dict[str, Any]]
    source: dict[str, Any]
    num_classes: int | None = None
    input_shape: tuple[int, ...] | None = None
    dataset: Callable[[], Dataset] | None = None


def _checked(name: str, options: dict[str, Any], ident: DatasetIdentity) -> Dataset:
    """The dataset, built; refused when it is not the one whose identity keyed the question."""
    if ident.dataset is not None:
        return ident.dataset
    dataset = get_dataset(name, **options)
    if json.dumps(dataset.spec(), sort_keys=True, default=str) != json.dumps(
            ident.spec, sort_keys=True, default=str):
        record_identity(name, options, dataset)  # the next command reads the right one
        raise RuntimeError(
            f"dataset {name!r} is not the one whose identity was recorded (digest "
            f"{dataset.digest()[:12]}, recorded {str(ident.spec.get('digest'))[:12]}): its "
            "files changed without their sizes or times changing; the record is corrected, "
            "run the command again"
        )
    return dataset


def _registry(opts: DataOptions, config: Mapping[str, Any] | None, splits: Sequence[str],
              what: str) -> ResolvedData:
    if config is not None and opts.dataset is None:
        name, options = config_dataset(dict(config), options=dict(opts.options),
                                       root=opts.root)
    elif opts.dataset is not None:
        name, options = opts.dataset, dict(opts.options)
        if opts.root is not None:
            options["root"] = opts.root
    else:
        raise ValueError(
            f"{what} records no data: name them with --dataset NAME (registry, or imagefolder "
            "with --data-root DIR) or --data-file PATH.py:FACTORY"
        )
    ident = dataset_identity(name, **options)
    make = Once(lambda: _checked(name, options, ident))
    batches: dict[str, Batches] = {}
    spec: dict[str, dict[str, Any]] = {}
    for which in splits:
        ev = DeferredEvalSet(make, which, dataset_spec=ident.spec, batch_size=opts.batch_size,
                             device=opts.device, dtype=opts.dtype, subset=opts.subset)
        batches[which], spec[which] = ev, ev.spec()
    source = {"kind": "registry", "name": ident.spec["name"],
              "options": dict(ident.spec["options"]),
              "root": opts.root if opts.dataset is not None or config is None
              else (opts.root or (config or {}).get("data_root"))}
    return ResolvedData(batches, spec, source, ident.num_classes, ident.input_shape, make)


def _file(opts: DataOptions, splits: Sequence[str]) -> ResolvedData:
    if opts.subset is not None:
        raise ValueError("--subset selects samples of a registry dataset; a --data-file "
                         "decides its own samples: return fewer batches from the factory")
    df = load_data_file(opts.data_file, **dict(opts.file_options))
    device = torch.device(opts.device)
    batches: dict[str, Batches] = {}
    spec: dict[str, dict[str, Any]] = {}
    for which in splits:
        batches[which] = _Cast(df.split(which), device, opts.dtype)
        spec[which] = {"data_file": df.definition, "digest": df.digests[which],
                       "split": which, "single": df.single,
                       "num_samples": df.num_samples[which],
                       "dtype": str(opts.dtype).removeprefix("torch.")}
    source = {"kind": "file", "spec": opts.data_file, "options": dict(opts.file_options),
              "definition": df.definition}
    return ResolvedData(batches, spec, source)


def resolve_data(opts: DataOptions, config: Mapping[str, Any] | None, splits: Sequence[str],
                 what: str) -> ResolvedData:
    """The data of ``opts`` for ``splits``.

    ``config`` is the run configuration of a landscape checkpoint (its dataset is the
    default); ``what`` names the subject in errors.
    """
    if opts.data_file is not None:
        if opts.dataset is not None:
            raise ValueError("give either --dataset or --data-file, not both")
        return _file(opts, splits)
    return _registry(opts, config, splits, what)
