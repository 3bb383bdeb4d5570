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

A subject is resolved lazily, so that a question the result store answers reads neither the
weights nor the data: ``digest``, ``data_spec``, ``label`` and ``num_classes`` are known at
once (a landscape checkpoint's stored digest and header, read without its tensors; the
data's recorded identity, :func:`landscape.data.dataset_identity`), while ``model``,
``checkpoint``, ``dataset`` and the data's tensors are made on first use, inside a
computation. Making the model loads the checkpoint with
:func:`landscape.checkpoint.load_checkpoint`, which verifies every tensor against the stored
digests: a damaged file is refused before any computation reads it (its stored digest is the
identity of its intended content, so a cached answer stays right for it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointHeader,
    check_comparable,
    checkpoint_digest,
    checkpoint_header,
    is_landscape_checkpoint,
    load_checkpoint,
)
from landscape.data import Dataset
from landscape.experiment._subjectdata import Batches, DataOptions, Once, resolve_data
from landscape.rundir import resolve_checkpoint

__all__ = [
    "DataOptions",
    "ModelOptions",
    "Subject",
    "at_checkpoint",
    "resolve_subject",
    "split_label",
]

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


class Subject:
    """One network at one parameter point, with its evaluation data, loss and identity.

    Pass ``model`` (and ``checkpoint``, ``dataset``) to hold them, or ``make_model`` (and
    ``make_checkpoint``, ``make_dataset``) to make them on first use (see the module's
    docstring): :func:`resolve_subject` does the latter.

    Attributes:
        model: the network on the analysis device, holding the point's parameters (made on
            first use).
        data: split (``"train"``, ``"test"``) -> re-iterable evaluation batches (registry
            data: :class:`landscape.data.DeferredEvalSet`, made when first iterated).
        data_spec: split -> JSON-able identity of that split's data (for store keys).
        digest: content identity of the model's definition and tensors.
        label: how to name the subject in messages and figures.
        path: the file it was read from.
        source: JSON record of where the subject came from (``resolve_subject(source=...)``).
        data_source: JSON record of the data (rebuilds them).
        loss_name: the loss's name, part of every key (``"cross_entropy"``).
        checkpoint: the landscape checkpoint, verified (loaded on first use), when the
            subject is one; else ``None``.
        dataset: the registry dataset (built on first use), when the data come from the
            registry; else ``None``.
        num_classes: number of classes of the data, when known.

    >>> s = Subject(make_model=lambda: nn.Linear(2, 1), data={}, data_spec={}, digest="ab",
    ...             label="net")
    >>> s.built, s.inputs(), s.model.out_features, s.built
    (False, {'checkpoint': 'ab'}, 1, True)
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        data: dict[str, Batches] | None = None,
        data_spec: dict[str, dict[str, Any]] | None = None,
        digest: str = "",
        label: str = "",
        path: Path | None = None,
        source: dict[str, Any] | None = None,
        data_source: dict[str, Any] | None = None,
        loss_name: str = "cross_entropy",
        checkpoint: Checkpoint | None = None,
        dataset: Dataset | None = None,
        num_classes: int | None = None,
        *,
        make_model: Callable[[], nn.Module] | None = None,
        make_checkpoint: Callable[[], Checkpoint] | None = None,
        make_dataset: Callable[[], Dataset] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if model is None and make_model is None:
            raise TypeError("a Subject needs its model, or make_model to make it on first use")
        self.data: dict[str, Batches] = dict(data or {})
        self.data_spec: dict[str, dict[str, Any]] = dict(data_spec or {})
        self.digest, self.label, self.path = digest, label, path
        self.source, self.data_source = dict(source or {}), dict(data_source or {})
        self.loss_name, self.num_classes = loss_name, num_classes
        self._held: dict[str, Any] = {"model": model, "checkpoint": checkpoint,
                                      "dataset": dataset}
        self._makers: dict[str, Callable[[], Any] | None] = {
            "model": make_model, "checkpoint": make_checkpoint, "dataset": make_dataset}
        self._device = torch.device(device) if device is not None else None
        self._dtype = dtype
        self._checks: list[Callable[[nn.Module], None]] = []

    def _get(self, what: str) -> Any:
        if self._held[what] is None and self._makers[what] is not None:
            made = self._makers[what]()  # type: ignore[misc]
            if what == "model":
                for check in self._checks:
                    check(made)
            self._held[what], self._makers[what] = made, None
        return self._held[what]

    @property
    def model(self) -> nn.Module:
        """The network (made on first use: the checkpoint is loaded and verified)."""
        return self._get("model")

    @property
    def checkpoint(self) -> Checkpoint | None:
        """The verified landscape checkpoint (loaded on first use), or ``None``."""
        return self._get("checkpoint")

    @property
    def dataset(self) -> Dataset | None:
        """The registry dataset (built on first use), or ``None``."""
        return self._get("dataset")

    @property
    def built(self) -> bool:
        """Whether the model has been made (a cached answer never makes it)."""
        return self._held["model"] is not None

    def check_model(self, check: Callable[[nn.Module], None]) -> None:
        """Run ``check(model)`` when the model is made (now, if it is already).

        For requirements that only a computation has (``--top-k`` below the number of
        parameters): a question the store answers needs no model and skips them.
        """
        if self.built:
            check(self.model)
        else:
            self._checks.append(check)

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
        """Where the model lives (or will live)."""
        if self.built or self._device is None:
            return next(self.model.parameters()).device
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' floating dtype (or what it will be)."""
        if self.built or self._dtype is None:
            return next(self.model.parameters()).dtype
        return self._dtype

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

    def __repr__(self) -> str:
        return f"Subject({self.label!r}, digest={self.digest[:12]}, built={self.built})"


def split_label(path: Path, epoch: int | None) -> str:
    """``runs/sgd epoch 8`` for a run's checkpoint, else the file's path."""
    return f"{path.parent} epoch {epoch}" if epoch is not None else str(path)


def _label(path: Path, epoch: int) -> str:
    return split_label(path, epoch if path.name.startswith("epoch_") else None)


def _verified(path: Path, digest: str) -> Checkpoint:
    """The checkpoint, loaded and verified, and still the one whose identity was used."""
    ckpt = load_checkpoint(path, map_location="cpu")  # refuses damage, memoises its identity
    if checkpoint_digest(path) != digest:
        raise CheckpointError(
            f"{path} changed after it was resolved (its content digest is no longer the one "
            "the question was asked with): run the command again"
        )
    return ckpt


def _landscape(path: Path, model: ModelOptions, opts: DataOptions, splits: Sequence[str]
               ) -> Subject:
    header = checkpoint_header(path)
    if header is None:  # unreadable, damaged or of another version: the load says which
        loaded = load_checkpoint(path, map_location="cpu")
        header = CheckpointHeader(path, loaded.model_name, loaded.model_kwargs, loaded.epoch,
                                  loaded.step, loaded.config, loaded.param_names)
    if model.spec is not None:
        raise ValueError(
            f"{path} is a landscape checkpoint: it records its model ({header.model_name}); "
            "drop --model/--model-file"
        )
    digest = checkpoint_digest(path)
    data = resolve_data(opts, header.config or None, splits, f"checkpoint {path}")
    ckpt = Once(lambda: _verified(path, digest))
    return Subject(
        data=data.batches, data_spec=data.spec, digest=digest,
        label=_label(path, header.epoch), path=path,
        source={"kind": "checkpoint", "path": str(path.resolve())},
        data_source=data.source, num_classes=data.num_classes,
        make_model=lambda: ckpt().build_model(opts.device).to(dtype=opts.dtype),
        make_checkpoint=ckpt, make_dataset=data.dataset, device=opts.device, dtype=opts.dtype,
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
    data = resolve_data(opts, None, splits, f"weights file {path}")
    options = dict(model.options)
    if parse_model_spec(model.spec).kind == "registry" and data.num_classes is not None:
        options.setdefault("num_classes", data.num_classes)
        options.setdefault("input_shape", list(data.input_shape or ()))
    net, definition = build_model(model.spec, **options)
    load_weights(net, weights.state, what=str(path))
    net = net.to(device=opts.device, dtype=opts.dtype)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return Subject(
        model=net, data=data.batches, data_spec=data.spec,
        digest=foreign_digest(definition, state), label=str(path), path=path,
        source={"kind": "weights", "path": str(path.resolve()), "model": model.spec,
                "options": dict(model.options), "definition": definition},
        data_source=data.source, num_classes=data.num_classes, make_dataset=data.dataset,
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

    A landscape checkpoint's subject is lazy (see the module's docstring): its digest and
    data identity are read at once, its model and data are made on first use. A plain
    weights file is read at once (its identity is that of the model it builds).

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
        landscape.checkpoint.CheckpointError: an unreadable or unsafe file; a damaged file
            or one that does not fit its model when the model is made (the message names
            the first mismatching key and both shapes).

    """
    model = model or ModelOptions()
    data = data or DataOptions()
    path = resolve_checkpoint(target, epoch)
    if is_landscape_checkpoint(path):
        return _landscape(path, model, data, splits)
    return _foreign(path, model, data, splits)


def at_checkpoint(subject: Subject, path: str | Path) -> Subject:
    """The same data and loss at another landscape checkpoint of the same model.

    For sequences of checkpoints (the epochs of a run): the data are not resolved again, and
    the checkpoint is read only when its model is first used.

    Raises:
        landscape.checkpoint.CheckpointError: an unreadable checkpoint; when its model is
            made, a damaged one or one of another model (the first mismatching parameter and
            both shapes).

    """
    path = Path(path)
    digest = checkpoint_digest(path)  # unreadable: refused here
    header = checkpoint_header(path) or load_checkpoint(path)  # no header: the load says why
    ckpt = Once(lambda: _verified(path, digest))

    def make_model() -> nn.Module:
        net = ckpt().build_model(subject.device).to(dtype=subject.dtype)
        check_comparable(dict(subject.model.named_parameters()), dict(net.named_parameters()),
                         names=(subject.label, str(path)))
        return net

    return Subject(
        data=subject.data, data_spec=subject.data_spec, digest=digest,
        label=_label(path, header.epoch), path=path,
        source={"kind": "checkpoint", "path": str(path.resolve())},
        data_source=subject.data_source, loss_name=subject.loss_name,
        num_classes=subject.num_classes, make_model=make_model, make_checkpoint=ckpt,
        make_dataset=lambda: subject.dataset, device=subject._device, dtype=subject._dtype,
    )
