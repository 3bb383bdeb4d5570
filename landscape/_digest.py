"""SHA-256 digests of tensors and of plain nested values (plumbing for checkpoints).

Three digests, all hex strings:

* :func:`state_digest`: names, dtypes, shapes and bytes of a ``name -> tensor`` dict, in
  sorted name order. It is the content identity of a model state.
* :func:`identity_digest`: a model's identity, the registry name and canonical options
  (key-sorted JSON) joined with a state digest; checkpoints store the state digest, so the
  identity of a checkpoint is computed without reading its tensors.
* :func:`content_digest`: any nesting of dicts, lists, tuples, sets, tensors and plain scalars
  (an optimizer's ``state_dict``, RNG states, metrics), fed to SHA-256 in a canonical,
  type-tagged encoding: ``1``, ``1.0``, ``True`` and ``"1"`` differ, floats are fed exactly
  (``float.hex``), dict order counts (pickle preserves it), set order does not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "content_digest",
    "identity_digest",
    "payload_digests",
    "plain",
    "read_header",
    "rest_digest",
    "state_digest",
    "stored_identity",
]


def plain(value: Any) -> Any:
    """Convert tuples to lists recursively so configs survive a JSON round trip unchanged.

    >>> plain({"widths": (8, 4), 1: "a"})
    {'widths': [8, 4], '1': 'a'}
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _feed_tensor(h: Any, t: Tensor) -> None:
    t = t.detach().cpu().contiguous()
    if t.numel():  # the buffer of a uint8 view, without a copy
        h.update(t.reshape(-1).view(torch.uint8).numpy())


def state_digest(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of the tensors, in sorted name order.

    Two checkpoints with the same model state have the same digest whatever else they hold
    (optimizer state, metrics), so analyses of equal weights share cache entries.

    >>> a = {"w": torch.ones(2)}
    >>> state_digest(a) == state_digest({"w": torch.ones(2)}) != state_digest({"w": torch.zeros(2)})
    True
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        _feed_tensor(h, t)
    return h.hexdigest()


def identity_digest(model_name: str, model_kwargs: Mapping[str, Any], state: str) -> str:
    """SHA-256 of a model's identity from its name, options and :func:`state_digest` ``state``.

    >>> identity_digest("mlp", {"activation": "relu"}, "0" * 64) != identity_digest(
    ...     "mlp", {"activation": "tanh"}, "0" * 64)
    True
    """
    spec = json.dumps({"name": model_name, "kwargs": plain(dict(model_kwargs))},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{spec};{state}".encode()).hexdigest()


def _feed(h: Any, obj: Any) -> None:
    """Feed ``obj`` to ``h`` in a canonical, type-tagged, length-prefixed encoding."""
    if isinstance(obj, Tensor):
        h.update(f"T{obj.dtype}{tuple(obj.shape)};".encode())
        _feed_tensor(h, obj)
    elif isinstance(obj, Mapping):
        h.update(f"{{{len(obj)};".encode())
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
    elif isinstance(obj, list | tuple):
        h.update(f"{'[' if isinstance(obj, list) else '('}{len(obj)};".encode())
        for value in obj:
            _feed(h, value)
    elif isinstance(obj, set | frozenset):
        members = sorted(content_digest(v) for v in obj)
        h.update(f"<{len(members)};{''.join(members)}".encode())
    elif obj is None:
        h.update(b"N;")
    elif isinstance(obj, bool):
        h.update(b"?1;" if obj else b"?0;")
    elif isinstance(obj, int):
        h.update(f"i{obj};".encode())
    elif isinstance(obj, float):
        h.update(f"f{obj.hex()};".encode())
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        h.update(f"s{len(data)};".encode() + data)
    elif isinstance(obj, bytes | bytearray):
        h.update(f"b{len(obj)};".encode() + bytes(obj))
    elif isinstance(obj, torch.dtype | torch.device | complex):
        h.update(f"o{type(obj).__name__}:{obj};".encode())
    else:
        # Only the type: a repr may differ between processes (addresses, hash order), and a
        # digest that differs for equal content would refuse a good file.
        h.update(f"o{type(obj).__module__}.{type(obj).__qualname__};".encode())


def content_digest(obj: Any) -> str:
    """SHA-256 of a nesting of containers, tensors and plain scalars (canonical encoding).

    >>> content_digest({"lr": 0.1, "buf": torch.ones(2)}) == content_digest(
    ...     {"lr": 0.1, "buf": torch.ones(2)})
    True
    >>> len({content_digest(v) for v in (1, 1.0, True, "1", [1], (1,))})
    6
    """
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def rest_digest(payload: Mapping[str, Any]) -> str:
    """Digest of a checkpoint payload but its model state and its ``digests`` entry."""
    return content_digest({k: v for k, v in payload.items() if k not in ("state_dict", "digests")})


def payload_digests(payload: Mapping[str, Any]) -> dict[str, str]:
    """The ``digests`` entry of a checkpoint payload: ``state`` and ``rest``."""
    return {"algorithm": "sha256", "state": state_digest(payload["state_dict"]),
            "rest": rest_digest(payload)}


_HEX = re.compile(r"[0-9a-f]{64}")

# The entries of a checkpoint payload that hold no tensor (what a cache hit may need).
HEADER_KEYS = ("format", "format_version", "library_version", "model", "param_names", "epoch",
               "step", "config", "digests")


def read_header(path: Path) -> dict[str, Any] | None:
    """The plain entries of a dict saved by ``torch.save`` (:data:`HEADER_KEYS`), no tensor read.

    ``torch.load(..., weights_only=True, mmap=True)`` maps the tensor records instead of
    reading them, so this costs the pickle, not the size of the file. A readable payload that
    is not a dict gives ``{}``; a file that cannot be read safely (damaged, unsafe, not a zip
    archive) ``None``.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # any failure: the full load explains it
        return None
    if not isinstance(payload, dict):
        return {}
    return {k: payload[k] for k in HEADER_KEYS if k in payload}


def stored_identity(header: Mapping[str, Any] | None, *, fmt: str, since: int) -> str | None:
    """The identity of a checkpoint from the state digest its header stores (no tensor read).

    Anything unusual (another format, a version before ``since``, no digest) gives ``None``,
    and the caller loads the whole file, which reports what is wrong.

    >>> h = {"format": "f", "format_version": 2, "model": {"name": "mlp", "kwargs": {}},
    ...      "digests": {"state": "0" * 64}}
    >>> stored_identity(h, fmt="f", since=2) == identity_digest("mlp", {}, "0" * 64)
    True
    >>> stored_identity({**h, "format_version": 1}, fmt="f", since=2) is None
    True
    """
    try:
        model, stored = header["model"], header["digests"]  # type: ignore[index]
        ok = (header["format"] == fmt and isinstance(header["format_version"], int)
              and header["format_version"] >= since and isinstance(stored["state"], str)
              and _HEX.fullmatch(stored["state"]))
        return identity_digest(model["name"], model["kwargs"], stored["state"]) if ok else None
    except Exception:  # a header of another shape: the full load explains it
        return None
