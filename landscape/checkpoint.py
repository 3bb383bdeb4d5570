"""Checkpoints: atomic save, safe load, verified content, parameter dicts and flat vectors.

A checkpoint holds only tensors and plain Python values, so it loads with
``torch.load(..., weights_only=True)``; a file that would need full unpickling is refused and
nothing in it is executed. Writes go to a temporary file that is fsynced and renamed, so a
killed process leaves the previous checkpoint intact.

Since format version 2 a payload carries two SHA-256 digests (``digests``): ``state``, the
:func:`state_digest` of the model state, and ``rest``, that of everything else (optimizer
state, RNG states, config, metrics). ``torch.load`` checks no CRC, so without them a flipped
byte in the tensor data loads silently as a changed weight; :func:`load_checkpoint` recomputes
both and refuses a mismatch. The optimizer state is covered because resuming from a damaged
accumulator or momentum buffer corrupts every later epoch without a trace, but it stays out of
the cache identity (equal weights share analyses). :func:`checkpoint_digest` reads the stored
``state`` digest and hashes no tensor. Version 1 files (no digests) load unverified.

Parameters are addressed as a dict ``name -> tensor`` in ``model.named_parameters()`` order;
a flat vector is their concatenation in that order.
"""

from __future__ import annotations

import os
import pickle
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
    read_header,
    rest_digest,
    state_digest,
    stored_identity,
)
from landscape._io import atomic_path
from landscape._types import ParamDict
from landscape.params import IncompatibleParameters, params_to_vector, vector_to_params
from landscape.params import check_comparable as _check_params

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "CheckpointHeader",
    "check_comparable",
    "checkpoint_digest",
    "checkpoint_header",
    "is_landscape_checkpoint",
    "load_checkpoint",
    "model_digest",
    "params_to_vector",
    "save_checkpoint",
    "state_digest",
    "vector_to_params",
]

FORMAT = "landscape-checkpoint"
FORMAT_VERSION = 2
_DIGESTED_SINCE = 2  # the first version whose files must carry their digests


class CheckpointError(ValueError):
    """A checkpoint file is missing, unsafe, corrupt, of another format or incompatible."""


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


@dataclass(frozen=True)
class CheckpointHeader:
    """What a landscape checkpoint records about itself, read without its tensors.

    Attributes:
        path: the file.
        model_name: registry name of the model.
        model_kwargs: the keyword arguments that rebuild it.
        epoch: completed epochs.
        step: optimizer steps taken.
        config: the run configuration.
        param_names: names of the trainable parameters, in ``named_parameters()`` order.

    """

    path: Path
    model_name: str
    model_kwargs: dict[str, Any]
    epoch: int
    step: int
    config: dict[str, Any]
    param_names: list[str]


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


# torch's weights-only unpickler names the global it refused ("Unsupported global: GLOBAL
# os.system", "Unsupported class ..."); other unpickling errors are damage, not danger.
_UNSAFE = re.compile(r"Unsupported (global|class|operand)|not an allowed global", re.I)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
    key = _file_key(path)  # the file version read, taken before reading
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if _UNSAFE.search(str(exc)):
            raise CheckpointError(
                f"refusing to load {path}: it contains Python objects that only a full "
                "unpickling could rebuild, and unpickling can run arbitrary code. Nothing was "
                "executed. Re-save the weights as plain tensors (a state_dict) from a trusted "
                "session."
            ) from None
        raise CheckpointError(f"{path} is corrupt: {_first_line(exc)}") from None
    except Exception as exc:  # torch raises many types on damaged archives; none is ours to keep
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(exc).__name__}: {_first_line(exc)}); an "
            "interrupted write never replaces a good checkpoint here, so use the previous "
            "epoch's file"
        ) from None
    _check_format(path, payload)
    state = _verify(path, payload)
    if key is not None and key == _file_key(path):  # not replaced meanwhile: memoise identity
        _DIGEST_CACHE[key] = identity_digest(payload["model"]["name"], payload["model"]["kwargs"],
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


_REQUIRED = ("model", "state_dict", "param_names", "epoch", "step")


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
    missing = [k for k in _REQUIRED if k not in payload]
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
    if payload["format_version"] < _DIGESTED_SINCE:
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


def model_digest(
    model_name: str, model_kwargs: Mapping[str, Any], tensors: Mapping[str, Tensor]
) -> str:
    """SHA-256 of a model's identity: registry name, canonical options and :func:`state_digest`.

    >>> w = {"w": torch.ones(2)}
    >>> model_digest("mlp", {"activation": "relu"}, w) != model_digest("mlp", {"activation":
    ...     "tanh"}, w)
    True
    """
    return identity_digest(model_name, model_kwargs, state_digest(tensors))


_DIGEST_CACHE: dict[tuple[str, int, int], str] = {}


def _file_key(path: Path) -> tuple[str, int, int] | None:
    """``(resolved path, mtime_ns, size)``: a file version, or ``None`` if it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(path.resolve()), st.st_mtime_ns, st.st_size


_HEADER_CACHE: dict[tuple[str, int, int], dict[str, Any] | None] = {}


def _header(path: Path) -> dict[str, Any] | None:
    """:func:`landscape._digest.read_header`, memoised per file version."""
    key = _file_key(path)
    if key is not None and key in _HEADER_CACHE:
        return _HEADER_CACHE[key]
    header = read_header(path)
    if key is not None and key == _file_key(path):  # not replaced while it was read
        _HEADER_CACHE[key] = header
    return header


def is_landscape_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` holds a landscape checkpoint (else: foreign weights, another file).

    Cheap: the pickle is read with its tensors memory-mapped, not loaded. A ``.safetensors``
    file, or a PyTorch file whose content is not a landscape payload (a plain ``state_dict``),
    gives ``False``; a file that cannot be read at all gives ``True``, so that
    :func:`load_checkpoint` reports what is wrong with it.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9 and head[8:9] == b"{" and not zipfile.is_zipfile(path):
        return False  # safetensors: an 8-byte header length, then its JSON header
    header = _header(path)
    if header is None:  # unreadable, unsafe or damaged: let load_checkpoint say which
        return zipfile.is_zipfile(path)
    return header.get("format") == FORMAT


def checkpoint_header(path: str | Path) -> CheckpointHeader | None:
    """The record of a landscape checkpoint (model, epoch, step, config), reading no tensor.

    Memoised per file version (path, modification time, size). ``None`` for anything that
    :func:`load_checkpoint` would refuse before looking at the tensors (another format, a
    newer version, a missing entry, an unreadable pickle): load it to learn why. The header
    is not verified (the tensors are not read): a computation loads the file with
    :func:`load_checkpoint`, which refuses damage.
    """
    path = Path(path)
    h = _header(path) if path.is_file() else None
    if not h or h.get("format") != FORMAT:
        return None
    version, model = h.get("format_version"), h.get("model")
    if (not isinstance(version, int) or version > FORMAT_VERSION
            or any(k not in h for k in _REQUIRED if k != "state_dict")
            or not (isinstance(model, dict) and {"name", "kwargs"} <= set(model))):
        return None
    return CheckpointHeader(
        path=path, model_name=model["name"], model_kwargs=dict(model["kwargs"]),
        epoch=int(h["epoch"]), step=int(h["step"]), config=dict(h.get("config") or {}),
        param_names=list(h["param_names"]),
    )


def checkpoint_digest(path: str | Path) -> str:
    """:meth:`Checkpoint.digest` of a checkpoint file, the cache identity of its model.

    Read from the digest the file stores (no tensor is read or hashed), memoised per file
    version (path, modification time, size); a file without a stored digest (format
    version 1) is loaded and hashed once. The stored digest is the one the tensors were saved
    with, so a damaged file keeps the identity of its intended content: a cached answer is
    still right for it, and a computation that needs its tensors loads it with
    :func:`load_checkpoint`, which refuses the damage.

    Raises:
        CheckpointError: as :func:`load_checkpoint`, for a file without a readable digest.

    """
    path = Path(path)
    key = _file_key(path)
    if key is not None and key in _DIGEST_CACHE:
        return _DIGEST_CACHE[key]
    digest = (stored_identity(_header(path), fmt=FORMAT, since=_DIGESTED_SINCE)
              if key is not None else None)
    if digest is None:  # no stored digest: load (which memoises the identity of what it read)
        ckpt = load_checkpoint(path)
        cached = _DIGEST_CACHE.get(key) if key is not None else None
        return cached or ckpt.digest()
    if key == _file_key(path):  # not replaced while it was read
        _DIGEST_CACHE[key] = digest
    return digest


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
