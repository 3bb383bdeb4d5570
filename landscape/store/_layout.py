"""Plumbing: the store's files on disk, its marker, and moving damaged files aside.

::

    STORE/.landscape-store          the marker: this directory is a store (JSON, layout format)
    STORE/<key>.h5                  a complete entry (key = 64 hex digits)
    STORE/.<key>.h5.XXXX.tmp        an entry being written
    STORE/.partial/<key>.plog       a partial result filling in point by point
    STORE/.locks/<key>.lock         one lock file per key
    STORE/.versions/<q>/<v>         schema versions written for question q
    STORE/.corrupt/<key>.<time>.<id>.h5|.plog   damaged files, moved aside (never deleted)

Only files whose names follow these patterns are ever the store's; anything else in the
directory belongs to someone else and is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from landscape import __version__
from landscape._io import fsync_dir
from landscape.store._locks import flocked
from landscape.store.errors import NotAStoreError, StoreVersionError, report

__all__ = [
    "ASIDE_RE", "ENTRY_RE", "LAYOUT_VERSION", "LOG_RE", "MARKER", "TMP_RE", "Layout",
    "check_key", "create_once", "describe_root", "move_aside", "not_a_store", "now",
    "report_once",
]

MARKER = ".landscape-store"
LAYOUT_VERSION = 1
KEY_RE = re.compile(r"^[0-9a-f]{64}$")
ENTRY_RE = re.compile(r"^([0-9a-f]{64})\.h5$")
LOG_RE = re.compile(r"^([0-9a-f]{64})\.plog$")
TMP_RE = re.compile(r"^\.([0-9a-f]{64})\.h5\..*\.tmp$")
ASIDE_RE = re.compile(r"^([0-9a-f]{64})\.\d{8}T\d{6}Z\.[0-9a-f]{8}\.(h5|plog)$")
_OWN_DIRS = frozenset({".partial", ".locks", ".versions", ".corrupt"})
_OWN_TMP = re.compile(r"^\.(landscape-store|[0-9a-f]{64}\.h5)\..*\.tmp$")
_reported: set[tuple[Any, ...]] = set()


def now() -> tuple[str, float]:
    """The time as ISO 8601 UTC text (seconds) and as Unix seconds."""
    t = time.time()
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds"), t


def check_key(key: str) -> str:
    """Return ``key`` if it is 64 hex digits, else raise ``ValueError``."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ValueError(f"a store key is 64 hex digits (from store.key(...)), got {key!r}")
    return key


def report_once(ident: Any, message: str) -> None:
    """:func:`report` ``message`` unless this process reported ``ident`` already."""
    if ident not in _reported:
        _reported.add(ident)
        report(message)


def create_once(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists; atomic, durable, umask honoured.

    The bytes are written to a temporary file beside it, fsynced, then hard-linked to
    ``path`` (a link never replaces an existing file), so a reader sees all or nothing.
    Returns whether this call created it.
    """
    tmp = path.with_name(f".{path.name.lstrip('.')}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:  # mode 0o666 less the umask, like any file
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@dataclass(frozen=True)
class Layout:
    """The paths of one store directory."""

    root: Path

    def entry(self, key: str) -> Path:
        """The entry file of ``key``."""
        return self.root / f"{key}.h5"

    def log(self, key: str) -> Path:
        """The partial-result log of ``key``."""
        return self.root / ".partial" / f"{key}.plog"

    def lock(self, key: str) -> Path:
        """The lock file of ``key``."""
        return self.root / ".locks" / f"{key}.lock"

    def versions(self, question: str) -> Path:
        """The directory of schema-version hints of a question."""
        return self.root / ".versions" / question

    @property
    def corrupt(self) -> Path:
        """Where damaged files are moved."""
        return self.root / ".corrupt"

    @property
    def marker(self) -> Path:
        """The marker file."""
        return self.root / MARKER

    # ------------------------------------------------------------------ the marker
    def read_marker(self) -> dict[str, Any] | None:
        """The marker's content, or ``None`` when there is none.

        Raises:
            NotAStoreError: a marker that is not ours (unreadable JSON, another format).

        """
        try:
            text = self.marker.read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            info = json.loads(text)
            if info.get("format") != "landscape-store":
                raise ValueError(info.get("format"))
            int(info["format_version"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise NotAStoreError(
                f"{self.marker} is not a landscape store marker ({exc!r}): if {self.root} is "
                f"a store, replace it by moving it away (the next write recreates it)"
            ) from None
        return info

    def write_marker(self) -> None:
        """Create the marker unless it exists (several processes may race: one wins)."""
        created, _ = now()
        body = {"format": "landscape-store", "format_version": LAYOUT_VERSION,
                "library_version": __version__, "created": created}
        create_once(self.marker, (json.dumps(body, sort_keys=True) + "\n").encode())

    def check_marker_version(self) -> None:
        """Raise if the marker says a newer layout than this code writes."""
        info = self.read_marker()
        if info is not None and int(info["format_version"]) > LAYOUT_VERSION:
            raise StoreVersionError(
                f"the store {self.root} has layout format {info['format_version']} (landscape "
                f"{info.get('library_version', '?')}); this library writes format "
                f"{LAYOUT_VERSION}: upgrade landscape, or pass another --store"
            )

    def foreign(self) -> list[Path]:
        """Visible and hidden names in the root that the store does not own."""
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            self.root / n for n in names
            if n != MARKER and n not in _OWN_DIRS and not ENTRY_RE.match(n)
            and not _OWN_TMP.match(n)
        )

    def is_blank(self) -> bool:
        """Whether the root holds nothing but the store's own names."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return True
        return all(n == MARKER or n in _OWN_DIRS or _OWN_TMP.match(n) for n in names)


def move_aside(layout: Layout, path: Path, key: str, ident: tuple[int, int] | None, *,
               locked: bool) -> Path | None:
    """Move a damaged store file into ``.corrupt/``; returns where, or ``None`` if it is gone.

    ``ident`` (device, inode) is the file found damaged: if ``path`` is another file by now
    (moved and recomputed by another process), it is left alone. Unless the caller holds
    the key's lock (``locked``), the move takes it without waiting; if another process holds
    it, nothing is moved (``None``) and the next lookup sees the file again.

    Raises:
        OSError: the store is not writable.

    """
    with contextlib.ExitStack() as stack:
        if not locked and not stack.enter_context(flocked(layout.lock(key), blocking=False)):
            return None
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if ident is not None and (st.st_dev, st.st_ino) != ident:
            return None
        layout.corrupt.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        dest = layout.corrupt / f"{key}.{stamp}.{secrets.token_hex(4)}{path.suffix}"
        os.rename(path, dest)
        fsync_dir(path.parent)
        fsync_dir(dest.parent)
        return dest
    return None  # pragma: no cover (the with block always returns)


def describe_root(root: Path) -> str:
    """``"missing"``, ``"file"``, ``"store"`` (marked), ``"blank"`` or ``"other"``."""
    if not root.exists():
        return "missing"
    if not root.is_dir():
        return "file"
    if (root / MARKER).exists():
        return "store"
    return "blank" if Layout(root).is_blank() else "other"


def not_a_store(root: Path, foreign: list[Path], action: str) -> NotAStoreError:
    """The error for a directory that is not a store (naming a few of its files)."""
    some = ", ".join(p.name for p in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
    holds = f"it holds {some} and" if foreign else "it has"
    return NotAStoreError(
        f"{root} is not a landscape store: {holds} no {MARKER} marker and no store entries, "
        f"so nothing was {action}; check --store (a store is the directory analyses write "
        f"their results to, 'store' beside the run directories by default)"
    )
