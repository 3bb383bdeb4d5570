"""What a checkpoint says about itself without its tensors: its header and its identity.

Cheap reads for the experiment layer: the pickle is read with its tensors memory-mapped, and
the answers are memoised per file version. A computation that needs the tensors loads the file
with :func:`landscape.checkpoint.load_checkpoint`, which verifies them.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from landscape._digest import identity_digest, state_digest, stored_identity
from landscape.checkpoint._format import (
    DIGEST_CACHE,
    DIGESTED_SINCE,
    FORMAT,
    FORMAT_VERSION,
    REQUIRED,
    file_key,
    memoised_header,
)

__all__ = [
    "CheckpointHeader",
    "checkpoint_digest",
    "checkpoint_header",
    "is_landscape_checkpoint",
    "model_digest",
]


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



def model_digest(
    model_name: str, model_kwargs: Mapping[str, Any], tensors: Mapping[str, Tensor]
) -> str:
    """SHA-256 of a model's identity: registry name, canonical options and :func:`state_digest`.

    >>> import torch
    >>> w = {"w": torch.ones(2)}
    >>> model_digest("mlp", {"activation": "relu"}, w) != model_digest("mlp", {"activation":
    ...     "tanh"}, w)
    True
    """
    return identity_digest(model_name, model_kwargs, state_digest(tensors))



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
    header = memoised_header(path)
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
    h = memoised_header(path) if path.is_file() else None
    if not h or h.get("format") != FORMAT:
        return None
    version, model = h.get("format_version"), h.get("model")
    if (not isinstance(version, int) or version > FORMAT_VERSION
            or any(k not in h for k in REQUIRED if k != "state_dict")
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
    key = file_key(path)
    if key is not None and key in DIGEST_CACHE:
        return DIGEST_CACHE[key]
    digest = (stored_identity(memoised_header(path), fmt=FORMAT, since=DIGESTED_SINCE)
              if key is not None else None)
    if digest is None:  # no stored digest: load (which memoises the identity of what it read)
        from landscape import checkpoint  # the package, where tests may replace the loader

        ckpt = checkpoint.load_checkpoint(path)
        cached = DIGEST_CACHE.get(key) if key is not None else None
        return cached or ckpt.digest()
    if key == file_key(path):  # not replaced while it was read
        DIGEST_CACHE[key] = digest
    return digest

