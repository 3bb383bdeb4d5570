"""The checkpoint format: its name and version, its error, and a memo per file version.

Headers and identities are memoised per file version ``(resolved path, mtime_ns, size)``, so
asking twice about an unchanged file reads it once, and a replaced file is read again.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from landscape._digest import read_header

FORMAT = "landscape-checkpoint"
FORMAT_VERSION = 2
DIGESTED_SINCE = 2  # the first version whose files must carry their digests


class CheckpointError(ValueError):
    """A checkpoint file is missing, unsafe, corrupt, of another format or incompatible."""


# torch's weights-only unpickler names the global it refused ("Unsupported global: GLOBAL
# os.system", "Unsupported class ..."); other unpickling errors are damage, not danger.
UNSAFE_PICKLE = re.compile(r"Unsupported (global|class|operand)|not an allowed global", re.I)
"""What ``torch.load(..., weights_only=True)`` says when a file needs full unpickling."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_weights_only(path: Path, map_location: str | torch.device, *, fix: str,
                      damaged: Callable[[str], Exception]) -> Any:
    """``torch.load(path, weights_only=True)``: nothing in the file is executed.

    A file that needs full unpickling is refused with ``fix`` (what to do instead); any other
    failure is the file's damage, raised as ``damaged(detail)``.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if UNSAFE_PICKLE.search(str(exc)):
            raise CheckpointError(
                f"refusing to load {path}: it contains Python objects that only a full "
                f"unpickling could rebuild, and unpickling can run arbitrary code. Nothing was "
                f"executed. {fix}"
            ) from None
        raise damaged(first_line(exc)) from None
    except Exception as exc:  # torch raises many types on damaged archives; none is ours to keep
        raise damaged(f"{type(exc).__name__}: {first_line(exc)}") from None


REQUIRED = ("model", "state_dict", "param_names", "epoch", "step")

DIGEST_CACHE: dict[tuple[str, int, int], str] = {}


def file_key(path: Path) -> tuple[str, int, int] | None:
    """``(resolved path, mtime_ns, size)``: a file version, or ``None`` if it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(path.resolve()), st.st_mtime_ns, st.st_size


HEADER_CACHE: dict[tuple[str, int, int], dict[str, Any] | None] = {}


def memoised_header(path: Path) -> dict[str, Any] | None:
    """:func:`landscape._digest.read_header`, memoised per file version."""
    key = file_key(path)
    if key is not None and key in HEADER_CACHE:
        return HEADER_CACHE[key]
    header = read_header(path)
    if key is not None and key == file_key(path):  # not replaced while it was read
        HEADER_CACHE[key] = header
    return header



def clear_memos() -> None:
    """Forget every memoised header and identity (as in a fresh process)."""
    DIGEST_CACHE.clear()
    HEADER_CACHE.clear()
