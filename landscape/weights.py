"""Foreign weights: a plain ``state_dict`` file (``.pt``/``.pth``) or a ``.safetensors`` file.

A researcher's own trained network arrives as tensors without a record of its model. This
module reads those tensors safely, loads them into a model built by
:func:`landscape.models.build_model` (refusing a state that does not fit, with the first
mismatching entry and both shapes), and gives the pair a digest for caches.

Reading is safe: a PyTorch file is loaded with ``torch.load(..., weights_only=True)``, so a
file that would need full unpickling (a pickled ``nn.Module``, any custom class) is refused
and nothing in it runs; a ``.safetensors`` file holds only tensors by construction. Damage is
caught where the format allows it: the zip container that ``torch.save`` writes keeps a CRC
of every record, and it is checked before loading (``torch.load`` itself does not); a
safetensors header must cover the file exactly, so a truncated file is refused, but the format
has no checksum, so a flipped byte inside its tensor data cannot be detected.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from torch import Tensor, nn

from landscape.checkpoint import FORMAT, CheckpointError, state_digest
from landscape.checkpoint._format import first_line, load_weights_only

__all__ = ["WeightsFile", "foreign_digest", "load_weights", "read_weights"]

WRAPPER_KEYS = ("state_dict", "model")
"""Entries of a training checkpoint that may hold the state: ``{"state_dict": ...}`` (the
PyTorch Lightning and many training-script layouts) or ``{"model": ...}``."""


@dataclass(frozen=True)
class WeightsFile:
    """The tensors of a weights file.

    Attributes:
        path: the file.
        format: ``"torch"`` (``torch.save``) or ``"safetensors"``.
        key: ``None`` when the file is the state itself, else the wrapper entry it was read
            from (``"state_dict"`` or ``"model"``): say so to the user.
        state: ``name -> tensor``, on the CPU, in the file's order.

    """

    path: Path
    format: Literal["torch", "safetensors"]
    key: str | None
    state: dict[str, Tensor]

    def describe(self) -> str:
        """One line: what was read, e.g. ``"62 tensors from the 'state_dict' entry of w.pt"``."""
        where = f"the {self.key!r} entry of {self.path}" if self.key else str(self.path)
        return f"{len(self.state)} tensors ({self.format}) from {where}"


def _is_safetensors(path: Path) -> bool:
    """A safetensors file starts with an 8-byte little-endian header length, then ``{``."""
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 0 < int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def _damaged(path: Path, detail: str) -> CheckpointError:
    return CheckpointError(
        f"{path} is corrupt or truncated ({detail}): copy or export the weights again "
        "(torch.save(model.state_dict(), path) or safetensors.torch.save_file)"
    )


def _read_torch(path: Path) -> Any:
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is corrupt or truncated, or not a weights file: neither the zip container "
            "that torch.save writes nor a safetensors file. A file saved by PyTorch older "
            "than 1.6 must be loaded and saved again with a current PyTorch"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {first_line(exc)}") from None
    if bad is not None:
        raise _damaged(path, f"record {bad!r} fails its CRC check")
    return load_weights_only(
        path, "cpu",
        fix="A whole pickled model or a custom class cannot be loaded safely: in a session you "
            "trust, save the tensors alone: torch.save(model.state_dict(), path)",
        damaged=lambda detail: _damaged(path, detail))


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    try:
        return dict(load_file(path, device="cpu"))
    except Exception as exc:  # SafetensorError and the OS errors of a short read
        raise _damaged(path, f"{type(exc).__name__}: {first_line(exc)}") from None


def _tensor_map(obj: Any) -> bool:
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()))


def _state_of(path: Path, payload: Any) -> tuple[str | None, dict[str, Tensor]]:
    """Find the state in a loaded payload: the payload itself or one unambiguous wrapper."""
    fix = ("save the model's tensors alone: torch.save(model.state_dict(), path), or "
           "safetensors.torch.save_file(model.state_dict(), path)")
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a state_dict "
                              f"(a dict of tensors by name): {fix}")
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        raise CheckpointError(f"{path} is a landscape checkpoint, not a plain state_dict: "
                              "read it with landscape.checkpoint.load_checkpoint, which also "
                              "rebuilds its model and verifies its digests")
    if _tensor_map(payload):
        return None, dict(payload)
    if not payload:
        raise CheckpointError(f"{path} holds an empty dict: no tensors to load; {fix}")
    found = [k for k in WRAPPER_KEYS if _tensor_map(payload.get(k))]
    if len(found) == 1:
        return found[0], dict(payload[found[0]])
    if len(found) > 1:
        raise CheckpointError(
            f"{path} holds two dicts of tensors, {found[0]!r} and {found[1]!r}, and it is "
            f"ambiguous which one is the model: save the one you mean alone, e.g. "
            f"torch.save(checkpoint[{found[0]!r}], path)"
        )
    key, value = next((k, v) for k, v in payload.items() if not isinstance(v, Tensor))
    raise CheckpointError(
        f"{path} is not a plain state_dict: its entry {key!r} is a {type(value).__name__}, "
        f"not a tensor, and it has no {' or '.join(repr(k) for k in WRAPPER_KEYS)} entry "
        f"holding the tensors: {fix}"
    )


def read_weights(path: str | Path) -> WeightsFile:
    """Read the tensors of a ``state_dict`` file (``torch.save``) or a ``.safetensors`` file.

    The format is recognised from the content (a ``.safetensors`` suffix, or the
    safetensors header, selects safetensors; anything else is read as a PyTorch file). A
    PyTorch file may be the state itself or a training checkpoint that wraps it, as
    ``{"state_dict": state, ...}`` or ``{"model": state, ...}``: the wrapper is accepted only
    when exactly one of those entries is a dict of tensors, and :attr:`WeightsFile.key` says
    which one was read.

    Raises:
        CheckpointError: the file is missing or a directory; would need full unpickling
            (refused, nothing runs); is corrupt or truncated; holds something other than
            tensors by name (the message names the first non-tensor entry); wraps two
            candidate states; or is a landscape checkpoint (use ``load_checkpoint``).

    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory: pass a weights file (.pt, .pth or "
                              ".safetensors)")
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist: check the path")
    if path.suffix == ".safetensors" or _is_safetensors(path):
        return WeightsFile(path, "safetensors", None, _read_safetensors(path))
    key, state = _state_of(path, _read_torch(path))
    return WeightsFile(path, "torch", key, state)


def _mismatches(
    own: Mapping[str, Tensor], state: Mapping[str, Tensor], what: str
) -> list[str]:
    """Every mismatch, model entries first (in the model's order), then the file's extras."""
    out = []
    for name, t in own.items():
        if name not in state:
            out.append(f"{what} has no entry {name!r} (shape {tuple(t.shape)} in the model)")
        elif tuple(state[name].shape) != tuple(t.shape):
            out.append(f"entry {name!r} has shape {tuple(state[name].shape)} in {what} and "
                       f"{tuple(t.shape)} in the model")
    out += [f"{what} has an entry {name!r} (shape {tuple(t.shape)}) that the model does not"
            for name, t in state.items() if name not in own]
    return out


def load_weights(model: nn.Module, state: Mapping[str, Tensor], *, what: str) -> None:
    """Load ``state`` into ``model`` (all entries, parameters and buffers), or refuse it.

    Unlike :func:`landscape.checkpoint.load_into`, which compares two checkpoints'
    parameters, this names what a user needs to fix a foreign file: the first mismatching
    entry with both shapes (or the one shape a missing or extra entry has), how many more
    there are, and the ``module.`` prefix of a ``DataParallel`` wrapper when that is the
    cause. Values are copied into the model's own tensors, so they take its dtype and device.

    Args:
        model: the model, e.g. from :func:`landscape.models.build_model`.
        state: ``name -> tensor``, e.g. :attr:`WeightsFile.state`.
        what: how to call the state in messages (the file's path).

    Raises:
        CheckpointError: a missing entry, an unexpected entry or a shape mismatch.

    """
    own = model.state_dict()
    problems = _mismatches(own, state, what)
    if not problems:
        model.load_state_dict(state)
        return
    stripped = {k.removeprefix("module."): v for k, v in state.items()}
    if all(k.startswith("module.") for k in state) and not _mismatches(own, stripped, what):
        fix = ("its names carry the 'module.' prefix of a DataParallel or "
               "DistributedDataParallel wrapper: save model.module.state_dict() instead")
    else:
        fix = ("it was saved from another model or with other options: check the model and "
               "its options (num_classes, widths, ...)")
    more = f" (and {len(problems) - 1} more mismatches)" if len(problems) > 1 else ""
    raise CheckpointError(f"{what} does not fit the model: {problems[0]}{more}; {fix}")


def foreign_digest(definition: Mapping[str, Any], state: Mapping[str, Tensor]) -> str:
    """SHA-256 of a model's definition and its tensors: the cache identity of foreign weights.

    The definition (from :func:`landscape.models.build_model`: registry name and options,
    torchvision name, options and version, or file path, file hash, factory and options) is
    hashed as key-sorted JSON together with :func:`landscape.checkpoint.state_digest` of the
    tensors, so two different models holding equal tensors never share a cache entry. Pass
    the tensors the analysis uses (``model.state_dict()`` after :func:`load_weights`, in the
    dtype of the analysis).

    Raises:
        TypeError: the definition is not JSON-able.

    >>> import torch
    >>> w = {"w": torch.ones(2)}
    >>> foreign_digest({"kind": "registry", "name": "a"}, w) != foreign_digest(
    ...     {"kind": "registry", "name": "b"}, w)
    True
    """
    try:
        spec = json.dumps(definition, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a model definition must be plain JSON values: {exc}") from exc
    return hashlib.sha256(f"foreign;{spec};{state_digest(state)}".encode()).hexdigest()
