"""Plumbing: advisory whole-file locks (``flock``) on lock files.

``flock`` locks belong to an open file description, so two threads or two processes that
each open the lock file exclude each other, and the kernel drops a dead process's lock at
once (a SIGKILLed writer never leaves a stale lock). Lock files are never deleted: deleting
one while another process waits on it would let a third lock a fresh inode beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["flocked"]


@contextlib.contextmanager
def flocked(path: Path, *, exclusive: bool = True, blocking: bool = True) -> Iterator[bool]:
    """Hold a lock on ``path`` (created if missing) for the block; yields whether it was taken.

    With ``blocking=False`` the block runs at once and gets ``False`` if another holds it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # 0o666 less the umask
    except PermissionError:  # a read-only store: an existing lock file still locks
        fd = os.open(path, os.O_RDONLY)
    try:
        op = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, op if blocking else op | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
