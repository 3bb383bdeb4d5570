"""Atomic file writes: temporary file in the target's directory, fsync, ``os.replace``."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "fsync_dir"]


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry to disk (makes a rename durable); a no-op where unsupported."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``.

    A reader sees the old file or the complete new one, never a partial one; if the block
    raises (or the process dies) the temporary file is removed (or left with a ``.tmp``
    suffix that readers ignore) and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _write_with(path: str | Path, mode: str, write: Callable[[IO[Any]], None]) -> None:
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        write(f)
        f.flush()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    _write_with(path, "wb", lambda f: f.write(data))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically replace ``path`` with ``obj`` as indented, key-sorted JSON."""
    _write_with(path, "w", lambda f: f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n"))
