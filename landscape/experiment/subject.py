"""The subject of an analysis: one network at one parameter point, its data, loss and identity.

Every analysis command works on a :class:`Subject`, whatever the user named:

* a landscape checkpoint (``RUN/epoch_0008.pt``) or a run directory (its last epoch, or
  ``epoch=``): the model is rebuilt from the checkpoint's record, the data default to the run's;
* a plain ``state_dict`` (``.pt``/``.pth``) or a ``.safetensors`` file of the user's own
  network, with the model named by ``model=``: a registry name, ``torchvision:NAME``, or
  ``PATH.py:FACTORY`` (that file's code runs, as it must to build the user's model);

and evaluation data from the dataset registry (``dataset=``, ``imagefolder`` with
``data_root=`` included) or from ``data_file="PATH.py:FACTORY"`` (the user's batches).

The subject's ``digest`` identifies the model's definition together with its tensors (for a
landscape checkpoint the digest stored in it, :func:`landscape.checkpoint.checkpoint_digest`;
for a foreign file :func:`landscape.weights.foreign_digest`), so two different models never
share a cache entry, and ``data_spec`` identifies each split's data. ``source`` and
``data_source`` are JSON records from which :func:`resolve_subject` rebuilds the same subject
(a fitted curve records its endpoints this way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape.checkpoint import Checkpoint, is_landscape_checkpoint
from landscape.data import Dataset, EvalSet, dataset_from_config, get_dataset
from landscape.rundir import resolve_checkpoint

__all__ = [
    "DataOptions",
    "ModelOptions",
    "Subject",
    "at_checkpoint",
    "resolve_subject",
    "split_label",
]

Batches = Iterable[tuple[Tensor, Tensor]]
LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"cross_entropy": F.cross_entropy}


@dataclass(frozen=True)
class ModelOptions:
    """Which model a plain weights file holds (ignored for landscape checkpoints).

    Attributes:
        spec: a registry name, ``"torchvision:NAME"`` or ``"PATH.py:FACTORY"``.
        options: keyword options of the model (``num_classes``, ``widths`` ...).

    """

    spec: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


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


class _Cast:
    """Re-iterable view of user batches moved to a device and floating dtype."""

    def __init__(self, batches: Batches, device: torch.device, dtype: torch.dtype) -> None:
        self.batches, self.device, self.dtype = batches, device, dtype

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in self.batches:
            x = x.to(self.device, self.dtype) if x.is_floating_point() else x.to(self.device)
            yield x, y.to(self.device)


@dataclass
class Subject:
    """One network at one parameter point, with its evaluation data, loss and identity.

    Attributes:
        model: the network on the analysis device, holding the point's parameters.
        data: split (``"train"``, ``"test"``) -> re-iterable evaluation batches.
        data_spec: split -> JSON-able identity of that split's data (for store keys).
        digest: content identity of the model's definition and tensors.
        label: how to name the subject in messages and figures.
        path: the file it was read from.
        source: JSON record of where the subject came from (``resolve_subject(source=...)``).
        data_source: JSON record of the data (rebuilds them).
        loss_name: the loss's name, part of every key (``"cross_entropy"``).
        checkpoint: the landscape checkpoint, when the subject is one.
        dataset: the registry dataset, when the data come from the registry.
        num_classes: number of classes of the data, when known.

    """

    model: nn.Module
    data: dict[str, Batches]
    data_spec: dict[str, dict[str, Any]]
    digest: str
    label: str
    path: Path | None = None
    source: dict[str, Any] = field(default_factory=dict)
    data_source: dict[str, Any] = field(default_factory=dict)
    loss_name: str = "cross_entropy"
    checkpoint: Checkpoint | None = None
    dataset: Dataset | None = None
    num_classes: int | None = None

    @property
    def loss_fn(self) -> Callable[[Tensor, Tensor], Tensor]:
        """``(logits, targets) -> mean loss over the batch``."""
        return LOSSES[self.loss_name]

    @property
    def point(self) -> dict[str, Tensor]:
        """The parameter point: ``name -> tensor`` of the trainable parameters."""
        return {n: p.detach() for n, p in self.model.named_parameters()}

    @property
    def device(self) -> torch.device:
        """Where the model lives."""
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' floating dtype."""
        return next(self.model.parameters()).dtype

    def split(self, which: str) -> Batches:
        """The batches of one split.

        Raises:
            ValueError: the subject was resolved without that split.

        """
        if which not in self.data:
            raise ValueError(
                f"{self.label} was resolved with the split(s) {sorted(self.data)}, not "
                f"{which!r}: ask resolve_subject for splits=({which!r},)"
            )
        return self.data[which]

    def inputs(self, role: str = "checkpoint") -> dict[str, str]:
        """``{role: digest}``: the subject as an input of a store key."""
        return {role: self.digest}


def split_label(path: Path, epoch: int | None) -> str:
    """``runs/sgd epoch 8`` for a run's checkpoint, else the file's path."""
    return f"{path.parent} epoch {epoch}" if epoch is not None else str(path)


def _registry_data(opts: DataOptions, config: Mapping[str, Any] | None, splits: Sequence[str],
                   what: str) -> tuple[Dataset, dict[str, Batches], dict[str, Any], dict]:
    if config is not None and opts.dataset is None:
        dataset = dataset_from_config(dict(config), options=dict(opts.options), root=opts.root)
    elif opts.dataset is not None:
        options = dict(opts.options)
        if opts.root is not None:
            options["root"] = opts.root
        dataset = get_dataset(opts.dataset, **options)
    else:
        raise ValueError(
            f"{what} records no data: name them with --dataset NAME (registry, or imagefolder "
            "with --data-root DIR) or --data-file PATH.py:FACTORY"
        )
    data, spec = {}, {}
    for which in splits:
        ev = EvalSet(dataset, which, batch_size=opts.batch_size, device=opts.device,
                     dtype=opts.dtype, subset=opts.subset)
        data[which], spec[which] = ev, ev.spec()
    source = {"kind": "registry", "name": dataset.name, "options": dict(dataset.options),
              "root": opts.root if opts.dataset is not None or config is None
              else (opts.root or (config or {}).get("data_root"))}
    return dataset, data, spec, source


def _file_data(opts: DataOptions, splits: Sequence[str]) -> tuple[dict, dict, dict]:
    from landscape.data import load_data_file

    if opts.subset is not None:
        raise ValueError("--subset selects samples of a registry dataset; a --data-file "
                         "decides its own samples: return fewer batches from the factory")
    df = load_data_file(opts.data_file, **dict(opts.file_options))
    device = torch.device(opts.device)
    data, spec = {}, {}
    for which in splits:
        data[which] = _Cast(df.split(which), device, opts.dtype)
        spec[which] = {"data_file": df.definition, "digest": df.digests[which],
                       "split": which, "single": df.single,
                       "num_samples": df.num_samples[which],
                       "dtype": str(opts.dtype).removeprefix("torch.")}
    source = {"kind": "file", "spec": opts.data_file, "options": dict(opts.file_options),
              "definition": df.definition}
    return data, spec, source


def _resolve_data(opts: DataOptions, config: Mapping[str, Any] | None, splits: Sequence[str],
                  what: str) -> tuple[Dataset | None, dict, dict, dict]:
    if opts.data_file is not None:
        if opts.dataset is not None:
            raise ValueError("give either --dataset or --data-file, not both")
        data, spec, source = _file_data(opts, splits)
        return None, data, spec, source
    return _registry_data(opts, config, splits, what)


def _landscape(path: Path, model: ModelOptions, opts: DataOptions, splits: Sequence[str]
               ) -> Subject:
    from landscape.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, map_location="cpu")
    if model.spec is not None:
        raise ValueError(
            f"{path} is a landscape checkpoint: it records its model ({ckpt.model_name}); "
            "drop --model/--model-file"
        )
    net = ckpt.build_model(opts.device).to(dtype=opts.dtype)
    dataset, data, spec, data_source = _resolve_data(opts, ckpt.config or None, splits,
                                                     f"checkpoint {path}")
    return Subject(
        model=net, data=data, data_spec=spec, digest=ckpt.digest(),
        label=split_label(path, ckpt.epoch if path.name.startswith("epoch_") else None),
        path=path, source={"kind": "checkpoint", "path": str(path.resolve())},
        data_source=data_source, checkpoint=ckpt, dataset=dataset,
        num_classes=dataset.num_classes if dataset is not None else None,
    )


def _foreign(path: Path, model: ModelOptions, opts: DataOptions, splits: Sequence[str]
             ) -> Subject:
    from landscape.models import build_model, parse_model_spec
    from landscape.weights import foreign_digest, load_weights, read_weights

    if model.spec is None:
        raise ValueError(
            f"{path} holds plain weights without a record of their model: name it with "
            "--model NAME (registry), --model torchvision:NAME (e.g. --model-args "
            "num_classes=10) or --model-file PATH.py:FACTORY"
        )
    weights = read_weights(path)
    dataset, data, spec, data_source = _resolve_data(opts, None, splits, f"weights file {path}")
    options = dict(model.options)
    if parse_model_spec(model.spec).kind == "registry" and dataset is not None:
        options.setdefault("num_classes", dataset.num_classes)
        options.setdefault("input_shape", list(dataset.input_shape))
    net, definition = build_model(model.spec, **options)
    load_weights(net, weights.state, what=str(path))
    net = net.to(device=opts.device, dtype=opts.dtype)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return Subject(
        model=net, data=data, data_spec=spec, digest=foreign_digest(definition, state),
        label=str(path), path=path,
        source={"kind": "weights", "path": str(path.resolve()), "model": model.spec,
                "options": dict(model.options), "definition": definition},
        data_source=data_source, dataset=dataset,
        num_classes=dataset.num_classes if dataset is not None else None,
    )


def resolve_subject(
    target: str | Path,
    *,
    epoch: int | None = None,
    model: ModelOptions | None = None,
    data: DataOptions | None = None,
    splits: Sequence[str] = ("train",),
) -> Subject:
    """Resolve what the user named into a :class:`Subject`.

    Args:
        target: a landscape checkpoint, a run directory, or a plain weights file
            (``.pt``/``.pth`` state dict, ``.safetensors``).
        epoch: with a run directory, its checkpoint of that epoch (default: the last).
        model: the model of a plain weights file (refused for landscape checkpoints, which
            record theirs).
        data: the data and how to evaluate them.
        splits: the splits the analysis evaluates.

    Returns:
        The subject, on ``data.device`` in ``data.dtype``.

    Raises:
        FileNotFoundError: the path does not exist, or the run lacks that epoch.
        ValueError: a weights file without ``model``, data that cannot be found, or
            conflicting options.
        landscape.checkpoint.CheckpointError: an unreadable, unsafe, damaged or mismatching
            file (the message names the first mismatching key and both shapes).

    """
    model = model or ModelOptions()
    data = data or DataOptions()
    path = resolve_checkpoint(target, epoch)
    if is_landscape_checkpoint(path):
        return _landscape(path, model, data, splits)
    return _foreign(path, model, data, splits)


def at_checkpoint(subject: Subject, path: str | Path) -> Subject:
    """The same data and loss at another landscape checkpoint of the same model.

    For sequences of checkpoints (the epochs of a run): the data are not loaded again.

    Raises:
        landscape.checkpoint.CheckpointError: an unreadable checkpoint, or one of another
            model (the first mismatching parameter and both shapes).

    """
    from landscape.checkpoint import check_comparable, load_checkpoint

    path = Path(path)
    ckpt = load_checkpoint(path, map_location="cpu")
    net = ckpt.build_model(subject.device).to(dtype=subject.dtype)
    check_comparable(dict(subject.model.named_parameters()), dict(net.named_parameters()),
                     names=(subject.label, str(path)))
    return replace(
        subject, model=net, digest=ckpt.digest(),
        label=split_label(path, ckpt.epoch if path.name.startswith("epoch_") else None),
        path=path, source={"kind": "checkpoint", "path": str(path.resolve())}, checkpoint=ckpt,
    )
