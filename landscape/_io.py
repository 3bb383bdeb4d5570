"""Atomic file writes: temporary file in the target's directory, fsync, ``os.replace``.

The temporary file is created as ``open(path, "w")`` would create it: with mode ``0o666``
filtered by the process umask (and by a default ACL of the directory, where there is one), so
a run directory or store shared by a group stays readable by it. ``tempfile.mkstemp`` would
give mode ``0o600`` whatever the umask.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
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


def _create_temporary(directory: Path, name: str) -> Path:
    """Create an empty, new file ``.NAME.<random>.tmp`` in ``directory``, honouring the umask.

    ``O_CREAT | O_EXCL`` with mode ``0o666`` lets the kernel apply the umask at creation, as for
    any ordinary file. Reading the umask instead (``os.umask`` sets it to read it) would change
    a process-wide value that other threads use in the meantime; here nothing is read or set.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file for {name} in {directory}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it over ``path``.

    A reader sees the old file or the complete new one, never a partial one; if the block
    raises (or the process dies) the temporary file is removed (or left with a ``.tmp``
    suffix that readers ignore) and ``path`` is untouched. The new file's mode is ``0o666``
    less the umask (``0o644`` under the usual umask ``0o022``), as for ``open(path, "w")``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_path(Path(d) / "x.txt") as tmp:
    ...         _ = tmp.write_text("done")
    ...     (Path(d) / "x.txt").read_text(), sorted(p.name for p in Path(d).iterdir())
    ('done', ['x.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temporary(path.parent, path.name)
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
