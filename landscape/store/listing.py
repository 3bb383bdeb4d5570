"""Listing, verifying and removing what a store holds (``landscape cache ls | rm | verify``).

Only files positively identified as the store's are listed as entries or ever removed: an
entry is ``<64 hex digits>.h5`` carrying the store-format attribute and a ``key`` attribute
equal to its name; a partial log is ``.partial/<64 hex digits>.plog`` whose header names the
same key. Key prefixes match these keys, never file names. Other files in the directory are
someone else's and are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape.store._layout import (
    ASIDE_RE,
    ENTRY_RE,
    LOG_RE,
    TMP_RE,
    check_key,
    describe_root,
    move_aside,
    not_a_store,
)
from landscape.store._locks import flocked
from landscape.store._plog import identify_log, parse_fields, read_header, records
from landscape.store.entry import FORMAT_ATTR, identify, inspect
from landscape.store.errors import CorruptEntryError, NotAStoreError, StoreError, StoreVersionError
from landscape.store.keys import canonical

if TYPE_CHECKING:
    from landscape.store._backend import Backend

__all__ = [
    "EntrySummary",
    "entries",
    "move_aside_if_damaged",
    "moved_aside",
    "remove",
    "remove_summarised",
    "require_store",
    "resolve",
    "stale_temporaries",
    "summarise_log",
    "unlink_log",
]


@dataclass(frozen=True)
class EntrySummary:
    """One line of ``store.entries()`` / ``landscape cache ls`` (also readable as a dict).

    ``status`` is ``"ok"``, ``"partial"`` (filling in; ``done`` says how far) or ``"corrupt"``
    / ``"newer-format"`` (skipped by readers; ``error`` says why). ``identified`` says whether
    the file is positively the store's (only those are ever removed); ``format`` is the store
    format of an entry (1: written before every dataset was checksummed).
    """

    key: str
    name: str | None
    inputs: dict[str, str]
    size: int
    created: str
    created_unix: float
    status: str = "ok"
    version: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    done: str | None = None
    error: str | None = None
    path: str = ""
    format: int | None = None
    identified: bool = True

    def __getitem__(self, item: str) -> Any:
        return getattr(self, item)

    @property
    def age_days(self) -> float:
        """Days since the entry was created."""
        return (time.time() - self.created_unix) / 86400.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (with ``age_days``)."""
        return {**asdict(self), "age_days": self.age_days}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def summarise_entry(path: Path, *, check: str = "meta", limit: int | None = None) -> EntrySummary:
    """Summary of an entry file after the checks ``check`` (see :func:`inspect`)."""
    st = path.stat()
    try:
        meta = inspect(path, check=check, limit=limit)
    except (CorruptEntryError, StoreVersionError) as exc:
        attrs = identify(path) or {}
        made = float(attrs.get("created_unix", st.st_mtime))
        try:
            inputs = dict(json.loads(attrs["inputs"]))
            version = int(attrs["schema_version"])
        except (KeyError, TypeError, ValueError):
            inputs, version = {}, None
        return EntrySummary(
            key=path.stem, name=attrs.get("analysis"), inputs=inputs, size=st.st_size,
            created=_iso(made), created_unix=made, version=version,
            status="newer-format" if isinstance(exc, StoreVersionError) else "corrupt",
            error=str(exc).removeprefix(f"{path.name}: "), path=str(path),
            format=attrs.get(FORMAT_ATTR), identified=bool(attrs),
        )
    return EntrySummary(
        key=meta["key"], name=meta["analysis"], inputs=dict(meta["inputs"]),
        size=st.st_size, created=meta["created"],
        created_unix=float(meta.get("created_unix", st.st_mtime)),
        version=meta["schema_version"], params=canonical(meta["params"]), path=str(path),
        format=int(meta[FORMAT_ATTR]),
    )


def summarise_log(path: Path) -> EntrySummary:
    """Summary line of a partial log (never raises)."""
    st = path.stat()
    identified = identify_log(path) is not None
    try:
        with open(path, "rb") as f:
            data = f.read()
        header, offset = read_header(data, path)
        grid, point = parse_fields(
            {n: ((*header["grid"], *s), d) for n, s, d in header["fields"]}, tuple(header["grid"])
        )
        done = np.zeros(grid, bool)
        for index, _, _ in records(data, offset, grid, point):
            done[index] = True
    except (OSError, StoreError, ValueError, KeyError, TypeError) as exc:
        return EntrySummary(key=path.stem, name=None, inputs={}, size=st.st_size,
                            created=_iso(st.st_mtime), created_unix=st.st_mtime,
                            status="corrupt", error=f"partial log: {exc}", path=str(path),
                            identified=identified)
    return EntrySummary(
        key=header["key"], name=header["analysis"], inputs=dict(header["inputs"] or {}),
        size=st.st_size, created=header["created"], created_unix=header["created_unix"],
        status="partial", version=header["schema_version"], params=header["params"],
        done=f"{int(done.sum())}/{done.size}", path=str(path), identified=identified,
    )


def entries(backend: Backend, *, check: str = "meta",
            limit: int | None = None) -> list[EntrySummary]:
    """Every entry and partial result of the store, oldest first (files named like ours)."""
    root = backend.root
    if not root.is_dir():
        return []
    out = [summarise_entry(p, check=check, limit=limit) for p in sorted(root.glob("*.h5"))
           if ENTRY_RE.match(p.name)]
    out += [summarise_log(p) for p in sorted((root / ".partial").glob("*.plog"))
            if LOG_RE.match(p.name)]
    return sorted(out, key=lambda s: s.created_unix)


def require_store(backend: Backend, action: str) -> str:
    """``"store"`` for a marked store, ``"legacy"`` for an unmarked one with entries; else raise.

    Raises:
        FileNotFoundError: there is no such directory.
        NotAStoreError: a file, or a directory holding no store (naming ``action``).

    """
    root = backend.root
    kind = describe_root(root)
    if kind == "missing":
        raise FileNotFoundError(
            f"there is no store at {root} (no such directory), so nothing was {action}: check "
            "--store (analyses write to a 'store' directory beside the run directories)"
        )
    if kind == "file":
        raise NotAStoreError(f"{root} is a file, not a store directory: check --store")
    if kind == "store":
        backend.layout.read_marker()  # a marker that is not ours is refused
        return "store"
    if backend.has_own():
        return "legacy"
    raise not_a_store(root, backend.layout.foreign(), action)


def resolve(backend: Backend, prefix: str) -> str:
    """The full key of the one identified entry or partial whose key starts with ``prefix``.

    Raises:
        KeyError: no entry, or several, match.

    """
    if not isinstance(prefix, str) or not re.fullmatch(r"[0-9a-f]{4,64}", prefix):
        raise KeyError(f"expected a key or a prefix of at least 4 hex digits, got {prefix!r}")
    root = backend.root
    keys = {p.stem for p in root.glob(f"{prefix}*.h5")
            if (identify(p) or {}).get("key", "").startswith(prefix)}
    keys |= {p.stem for p in (root / ".partial").glob(f"{prefix}*.plog")
             if (identify_log(p) or {}).get("key", "").startswith(prefix)}
    if len(keys) != 1:
        what = "no entry" if not keys else f"{len(keys)} entries ({', '.join(sorted(keys))})"
        raise KeyError(f"{what} in {root} match {prefix!r}: see `landscape cache ls`")
    return keys.pop()


def unlink_log(path: Path) -> bool:
    """Delete a partial log once no writer is mid-append (its ``flock``); returns whether it was."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            return True
        return False
    finally:
        os.close(fd)


def _remove_file(path: Path) -> bool:
    """Delete an entry or partial log if it is positively identified as the store's."""
    if path.suffix == ".plog":
        return identify_log(path) is not None and unlink_log(path)
    if identify(path) is None:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def remove(backend: Backend, key: str) -> bool:
    """Delete the identified entry and partial log of ``key``; returns whether any existed."""
    check_key(key)
    removed = _remove_file(backend.layout.entry(key))
    return _remove_file(backend.layout.log(key)) or removed


def remove_summarised(backend: Backend, summary: EntrySummary) -> bool:
    """Delete the file a summary lists, if it is the store's (identified again first)."""
    path = Path(summary.path)
    if path.parent not in (backend.root, backend.root / ".partial"):
        return False
    return _remove_file(path)


def move_aside_if_damaged(backend: Backend, path: Path) -> Path | None:
    """Check an entry or log again and move it into ``.corrupt/`` if it is still damaged."""
    st = path.stat()
    if path.suffix == ".plog":
        if summarise_log(path).status != "corrupt":
            return None
    else:
        try:
            inspect(path, check="full")
            return None
        except StoreVersionError:
            return None
        except CorruptEntryError:
            pass
    return move_aside(backend.layout, path, path.stem, (st.st_dev, st.st_ino), locked=False)


def moved_aside(backend: Backend) -> list[Path]:
    """The files the store moved into ``.corrupt/``."""
    where = backend.layout.corrupt
    return sorted(p for p in where.glob("*") if ASIDE_RE.match(p.name)) if where.is_dir() else []


def stale_temporaries(backend: Backend) -> list[Path]:
    """Temporary entry files left by killed writers (no process holds their key's lock)."""
    out: list[Path] = []
    if not backend.root.is_dir():
        return out
    for path in backend.root.glob(".*.tmp"):
        m = TMP_RE.match(path.name)
        if m is None:
            continue
        try:
            with flocked(backend.layout.lock(m.group(1)), blocking=False) as free:
                if free and path.exists():
                    out.append(path)
        except OSError:  # a read-only store: no lock to take, so nothing to call stale
            continue
    return out
