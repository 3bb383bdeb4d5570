"""The checkpoint file: atomic save, safe and verified load, the in-memory :class:`Checkpoint`."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from landscape import __version__
from landscape._digest import (
    identity_digest,
    payload_digests,
    plain,
    rest_digest,
    state_digest,
)
from landscape._io import atomic_path
from landscape._types import ParamDict
from landscape.checkpoint._format import (
    DIGEST_CACHE,
    DIGESTED_SINCE,
    FORMAT,
    FORMAT_VERSION,
    REQUIRED,
    CheckpointError,
    file_key,
    load_weights_only,
)
from landscape.checkpoint.header import model_digest
from landscape.params import IncompatibleParameters
from landscape.params import check_comparable as _check_params

__all__ = ["Checkpoint", "check_comparable", "load_checkpoint", "load_into", "save_checkpoint"]


@dataclass
class Checkpoint:
    """The content of a checkpoint file.

    Attributes:
        model_name: registry name, for :func:`landscape.models.create_model`.
        model_kwargs: the keyword arguments that rebuild the model (``num_classes``,
            ``input_shape`` and model options).
        state_dict: the model's ``state_dict()`` (parameters and buffers).
        param_names: names of the trainable parameters, in ``named_parameters()`` order.
        epoch: completed epochs (0 is the initialisation).
        step: optimizer steps taken.
        config: the run configuration.
        metrics: the metrics of this epoch.
        optimizer_state: ``optimizer.state_dict()`` or ``None``.
        extra: other plain values and tensors (RNG states, pruning masks ...).
        path: where it was loaded from.

    """

    model_name: str
    model_kwargs: dict[str, Any]
    state_dict: dict[str, Tensor]
    param_names: list[str]
    epoch: int = 0
    step: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    optimizer_state: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def build_model(self, device: str | torch.device | None = None) -> nn.Module:
        """Rebuild the model with :func:`create_model` and load this state into it."""
        from landscape.models import create_model

        model = create_model(self.model_name, **self.model_kwargs)
        load_into(model, self.state_dict, what=str(self.path or "checkpoint"))
        return model.to(device) if device is not None else model

    def parameters(self) -> ParamDict:
        """Return the trainable parameters as an ordered ``name -> tensor`` dict."""
        return {n: self.state_dict[n] for n in self.param_names}

    def buffers(self) -> ParamDict:
        """Return the non-parameter entries of the state (BatchNorm statistics ...)."""
        names = set(self.param_names)
        return {n: t for n, t in self.state_dict.items() if n not in names}

    def digest(self) -> str:
        """Content digest of the model: architecture (name, options) and state.

        Optimizer state, metrics and config do not enter it, so checkpoints of equal models
        share cached analyses; two architectures with identical tensors (an MLP with ReLU and
        one with tanh at the same initialisation) do not.
        """
        return model_digest(self.model_name, self.model_kwargs, self.state_dict)

    def describe(self) -> str:
        """One line: model, epoch, step, number of parameters."""
        n = sum(self.state_dict[p].numel() for p in self.param_names)
        return f"{self.model_name} epoch {self.epoch} step {self.step}, {n:,} parameters"



def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: Mapping[str, Any],
    epoch: int,
    step: int = 0,
    config: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically, with the digests of its content, and return its path.

    Args:
        path: destination file (``RUN/epoch_0001.pt`` by convention).
        model: the model whose ``state_dict`` is saved.
        model_name: registry name of the model.
        model_kwargs: arguments that rebuild it with ``create_model``.
        epoch: completed epochs.
        step: optimizer steps taken.
        config: the run configuration.
        metrics: metrics of this epoch.
        optimizer: its ``state_dict`` is saved when given.
        extra: further plain values / tensors (must be loadable with ``weights_only=True``).

    """
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model": {"name": model_name, "kwargs": plain(dict(model_kwargs))},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "param_names": [n for n, _ in model.named_parameters()],
        "epoch": int(epoch),
        "step": int(step),
        "config": plain(dict(config or {})),
        "metrics": plain(dict(metrics or {})),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra or {}),
    }
    payload["digests"] = payload_digests(payload)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint safely (``weights_only=True``) and verify its digests.

    Raises:
        CheckpointError: the file is missing, would need full unpickling (unsafe: it is
            refused and nothing in it runs), is corrupt or truncated, its content differs from
            the digests stored in it ("checksum mismatch"), or it is not a landscape
            checkpoint of a format version this library reads.

    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"{path} is a directory; pass a checkpoint file such as {path}/epoch_0001.pt "
            "(`landscape info RUN` lists a run's checkpoints)"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: check the path")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (not the zip container torch.save writes): it "
            "is corrupt, truncated or another kind of file; checkpoints are written by "
            "`landscape train` or landscape.checkpoint.save_checkpoint"
        )
    key = file_key(path)  # the file version read, taken before reading
    payload = load_weights_only(
        path, map_location,
        fix="Re-save the weights as plain tensors (a state_dict) from a trusted session.",
        damaged=lambda detail: CheckpointError(
            f"{path} is corrupt or truncated ({detail}); an interrupted write never replaces a "
            "good checkpoint here, so use the previous epoch's file"))
    _check_format(path, payload)
    state = _verify(path, payload)
    if key is not None and key == file_key(path):  # not replaced meanwhile: memoise identity
        DIGEST_CACHE[key] = identity_digest(payload["model"]["name"], payload["model"]["kwargs"],
                                             state)
    return Checkpoint(
        model_name=payload["model"]["name"],
        model_kwargs=dict(payload["model"]["kwargs"]),
        state_dict=dict(payload["state_dict"]),
        param_names=list(payload["param_names"]),
        epoch=int(payload["epoch"]),
        step=int(payload["step"]),
        config=dict(payload.get("config") or {}),
        metrics=dict(payload.get("metrics") or {}),
        optimizer_state=payload.get("optimizer"),
        extra=dict(payload.get("extra") or {}),
        path=path,
    )




def _check_format(path: Path, payload: Any) -> None:
    """Refuse a payload that is not a landscape checkpoint of a version this library reads."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = list(payload)[:5] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a landscape checkpoint (found {keys}); checkpoints are written by "
            "`landscape train` or landscape.checkpoint.save_checkpoint"
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, written by landscape "
            f"{payload.get('library_version')}; this is landscape {__version__}, which reads "
            f"up to version {FORMAT_VERSION}: upgrade landscape"
        )
    model = payload.get("model")
    missing = [k for k in REQUIRED if k not in payload]
    if not missing and not (isinstance(model, dict) and {"name", "kwargs"} <= set(model)):
        missing = ["model.name", "model.kwargs"]
    if missing:
        raise CheckpointError(
            f"{path} is damaged: the landscape checkpoint lacks {missing}; "
            f"{_previous(path)}"
        )


def _previous(path: Path) -> str:
    """Say which checkpoint to use instead of a damaged ``path`` (the previous epoch's)."""
    match = re.fullmatch(r"epoch_(\d{4,})\.pt", path.name)
    if match is None:
        return "use the previous epoch's checkpoint"
    epoch = int(match.group(1))
    if epoch == 0:
        return "it is the run's initialisation: start the run again with the same seed"
    previous = path.with_name(f"epoch_{epoch - 1:04d}.pt")
    return (f"use the previous epoch's checkpoint, {previous}; to resume training from it, "
            f"first move {path.name} out of the run directory")


def _verify(path: Path, payload: dict[str, Any]) -> str:
    """Check the stored digests against the content; return the state digest.

    Raises:
        CheckpointError: a digest differs ("checksum mismatch"), or a file of a version that
            stores digests has none.

    """
    state = state_digest(payload["state_dict"])
    if payload["format_version"] < DIGESTED_SINCE:
        return state  # written before checkpoints carried digests: nothing to compare
    stored = payload.get("digests")
    if not (isinstance(stored, dict) and isinstance(stored.get("state"), str)
            and isinstance(stored.get("rest"), str)):
        raise CheckpointError(
            f"{path} is damaged: a checkpoint of format version {payload['format_version']} "
            f"carries the digests of its content and this one has none; {_previous(path)}"
        )
    for what, expected, actual in (
        ("model weights and buffers", stored["state"], state),
        ("optimizer state, RNG states, config or metrics", stored["rest"], rest_digest(payload)),
    ):
        if actual != expected:
            raise CheckpointError(
                f"{path}: checksum mismatch: the file was modified or damaged after it was "
                f"written (its {what} no longer match the SHA-256 digest saved with them), so "
                f"it was not loaded; {_previous(path)}"
            )
    return state


def load_into(model: nn.Module, state_dict: Mapping[str, Tensor], *, what: str = "state") -> None:
    """``model.load_state_dict(state_dict)`` with an error naming the first mismatch."""
    own = model.state_dict()
    check_comparable(own, state_dict, names=("the model", what))
    model.load_state_dict(state_dict)


def check_comparable(
    a: Mapping[str, Tensor] | Checkpoint,
    b: Mapping[str, Tensor] | Checkpoint,
    *,
    names: tuple[str, str] = ("a", "b"),
) -> None:
    """:func:`landscape.params.check_comparable` on checkpoints' parameters (or dicts).

    Raises:
        CheckpointError: naming the first mismatching entry and both shapes.

    >>> check_comparable({"w": torch.zeros(2)}, {"w": torch.ones(2)})

    """
    da = a.parameters() if isinstance(a, Checkpoint) else a
    db = b.parameters() if isinstance(b, Checkpoint) else b
    try:
        _check_params(da, db, names=names)
    except IncompatibleParameters as exc:
        raise CheckpointError(str(exc)) from None
