"""Plumbing shared by :class:`~landscape.store.Store` and :class:`~landscape.store.Partial`.

One object per store directory: its paths and locks, the writability check and the marker
(run only before a write), the lookup that verifies an entry before serving it and moves a
corrupt one aside, the refusal of questions a newer schema answered, and the atomic writing
of an entry with its checksum manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py

from landscape import __version__
from landscape._io import atomic_path
from landscape.store._checksum import MANIFEST_ATTR, check_schema, describe, manifest
from landscape.store._h5 import write_tree
from landscape.store._layout import Layout, describe_root, move_aside, not_a_store, now, report_once
from landscape.store._locks import flocked
from landscape.store._plog import identify_log
from landscape.store.entry import FORMAT_ATTR, FORMAT_VERSION, Entry, identify, inspect
from landscape.store.errors import CorruptEntryError, StoreError, StoreVersionError
from landscape.store.keys import canonical_json, question_key

__all__ = ["LIBVER", "Backend"]

# HDF5 file-format bounds: 1.8 objects (checksummed metadata, attributes of any size, which
# the manifest of a large entry needs), nothing newer than 1.10, so HDF5 >= 1.10 reads them.
LIBVER = ("v108", "v110")


# Entries this process has verified, by file version (path, device, inode, size, modification
# and status-change times) and check: an entry file is never changed once written (a rewrite
# is a new file, with a new inode and times), so an entry looked up again in the same process
# (the same eigenpairs asked by several analyses) is not read again to be checked; its chunks
# are still checked by HDF5 (fletcher32) whenever they are read.
_VERIFIED: dict[tuple[Any, ...], dict[str, Any]] = {}
_VERIFIED_MAX = 4096


class Backend:
    """The files of one store directory and the operations on them.

    Args:
        root: the store directory.
        readonly: never write (a lookup that finds a corrupt entry leaves it in place).
        verify_bytes: chunked datasets up to this size are read (and so checked) at lookup.
        write: keyword arguments of :func:`landscape.store._h5.write_tree`.

    """

    def __init__(self, root: Path, *, readonly: bool, verify_bytes: int,
                 write: dict[str, Any]) -> None:
        self.layout = Layout(root)
        self.root = root
        self.readonly = readonly
        self.verify_bytes = verify_bytes
        self.write = write
        self._ready = False

    # ------------------------------------------------------------------ before a write
    def check_writable(self, why: str = "") -> None:
        """Raise ``PermissionError`` unless entries can be written under the root.

        ``why`` ("holds no answer for X") is added to the message.
        """
        because = f" and {why}" if why else ""
        if self.readonly:
            raise PermissionError(
                f"the store {self.root} was opened read-only{because}: open it writable, or "
                "pass a writable --store PATH"
            )
        probe = self.root
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            raise PermissionError(
                f"cannot create the store {self.root}: {probe} is a file, not a directory"
                f"{because}; pass another --store"
            )
        ok = os.access(probe, os.W_OK | os.X_OK)
        if ok and probe == self.root:
            try:  # the real test (os.access says yes to root on a read-only mount only sometimes)
                with tempfile.TemporaryFile(dir=self.root, prefix=".probe."):
                    pass
            except OSError:
                ok = False
        if not ok:
            raise PermissionError(
                f"the store {self.root} is not writable ({probe} refuses new files){because}: "
                "make it writable, or pass a writable --store PATH"
            )

    def prepare_write(self, why: str = "") -> None:
        """Check writability, create the root and mark it as a store (or adopt it).

        An unmarked directory is marked when it is new or holds nothing but store files,
        or when it holds at least one entry or partial log positively identified as this
        store's (a store written before markers existed); any other directory is refused.

        Raises:
            PermissionError: not writable.
            NotAStoreError: a directory holding other things and no store entries.
            StoreVersionError: a store of a newer layout.

        """
        self.check_writable(why)
        if self._ready:
            return
        kind = describe_root(self.root)
        if kind == "other" and not self.has_own():
            raise not_a_store(self.root, self.layout.foreign(), "written")
        self.root.mkdir(parents=True, exist_ok=True)
        if kind != "store":
            self.layout.write_marker()
        self.layout.check_marker_version()
        self._ready = True

    def has_own(self) -> bool:
        """Whether the root holds an entry or partial log positively identified as ours."""
        if any(identify(p) is not None for p in self.root.glob("*.h5")):
            return True
        return any(identify_log(p) is not None for p in (self.root / ".partial").glob("*.plog"))

    @contextlib.contextmanager
    def lock(self, key: str, *, blocking: bool = True) -> Iterator[bool]:
        """Hold the key's lock (see :func:`landscape.store._locks.flocked`)."""
        with flocked(self.layout.lock(key), blocking=blocking) as got:
            yield got

    # ------------------------------------------------------------------ lookup
    def lookup(self, key: str, *, schema: Mapping[str, Any] | None = None, cached: bool = True,
               locked: bool = False) -> tuple[Entry | None, str | None]:
        """The verified entry of ``key`` and ``None``, or ``None`` and why there is none.

        A corrupt entry (a failed checksum, a missing field, a schema it contradicts) is
        moved aside and reported once; the reason is returned so a caller that cannot
        recompute can say so.

        Raises:
            StoreVersionError: the entry was written by a newer store format.

        """
        path = self.layout.entry(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None, None
        version = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                   self.verify_bytes, repr(schema))
        meta = _VERIFIED.get(version)
        if meta is None:
            try:
                meta = inspect(path, check="full", schema=schema, limit=self.verify_bytes)
            except FileNotFoundError:  # moved aside by another process meanwhile
                return None, None
            except CorruptEntryError as exc:
                return None, self.corrupt(path, key, (st.st_dev, st.st_ino), str(exc),
                                          locked=locked)
            if len(_VERIFIED) >= _VERIFIED_MAX:
                _VERIFIED.clear()
            _VERIFIED[version] = meta
        return Entry(path, cached=cached, meta=meta), None

    def corrupt(self, path: Path, key: str, ident: tuple[int, int], reason: str, *,
                locked: bool) -> str:
        """Move a corrupt entry aside (if the store is writable), report it once; the reason."""
        name = (identify(path) or {}).get("analysis")
        what = f"entry {key[:12]}" + (f" ({name})" if name else "") + f" in {self.root}"
        reason = reason.removeprefix(f"{path.name}: ")
        if self.readonly:
            where = "left in place: the store was opened read-only"
        else:
            try:
                dest = move_aside(self.layout, path, key, ident, locked=locked)
                where = (f"moved to {dest}; it will be recomputed" if dest
                         else "another process is handling it")
            except OSError as exc:
                where = f"left in place: the store is not writable ({exc.strerror})"
        report_once(ident, f"{what} is corrupt ({reason}); {where}")
        return reason

    def refuse_newer(self, name: str, params: Any, inputs: Any, dataset: Any,
                     version: int) -> None:
        """Raise if a newer schema version of the analysis answered this question.

        Raises:
            StoreVersionError: naming the newer entry and how to remove it.

        """
        qdir = self.layout.versions(question_key(name, params, inputs, dataset))
        try:
            marks = os.listdir(qdir)
        except (FileNotFoundError, NotADirectoryError):
            return
        for mark in sorted((m for m in marks if m.isdigit()), key=int, reverse=True):
            if int(mark) <= version:
                break
            try:
                newer = (qdir / mark).read_text().strip()
                lib = (identify(self.layout.entry(newer)) or {})["library_version"]
            except (OSError, KeyError, ValueError):  # removed or unreadable: it answers nothing
                continue
            raise StoreVersionError(
                f"{name} for these parameters and inputs is stored as entry {newer[:12]} "
                f"written by schema version {mark} (landscape {lib}); this code reads "
                f"version {version}: upgrade landscape, use another --store, or remove it "
                f"with `landscape cache rm {newer[:12]}`"
            )

    # ------------------------------------------------------------------ writing
    def write_entry(self, key: str, question: dict[str, Any], values: Mapping[str, Any], *,
                    compute_seconds: float, schema: Mapping[str, Any] | None = None) -> None:
        """Write an entry atomically, with its manifest (the caller holds the key's lock).

        Raises:
            TypeError: ``values`` is not a dict the store can hold.
            StoreError: ``values`` contradict ``schema`` (nothing is written).

        """
        if not isinstance(values, Mapping):
            raise TypeError(
                f"compute() for {question['name']} returned {type(values).__name__}: it must "
                "return a dict of name -> array/number/str/dict"
            )
        created, created_unix = now()
        attrs = {
            FORMAT_ATTR: FORMAT_VERSION,
            "key": key,
            "analysis": question["name"],
            "schema_version": int(question["version"]),
            "params": canonical_json(question["params"]),
            "inputs": canonical_json(dict(question["inputs"] or {}), where="inputs"),
            "dataset": canonical_json(question["dataset"], where="dataset"),
            "library_version": __version__,
            "created": created,
            "created_unix": created_unix,
            "compute_seconds": float(compute_seconds),
            "host": socket.gethostname(),
        }
        with atomic_path(self.layout.entry(key)) as tmp, \
                h5py.File(tmp, "w", locking=False, libver=LIBVER) as f:
            f.attrs.update(attrs)
            write_tree(f, values, where=f"result of {question['name']}", **self.write)
            problem = check_schema(describe(f), schema or {})
            if problem:
                raise StoreError(
                    f"compute() for {question['name']} returned a result that does not match "
                    f"what the caller expects: {problem}; nothing was stored"
                )
            f.attrs[MANIFEST_ATTR] = json.dumps(manifest(f), sort_keys=True,
                                                separators=(",", ":"))
        qkey = question_key(question["name"], question["params"], question["inputs"],
                            question["dataset"])
        with contextlib.suppress(OSError):  # only a hint for older readers; never fatal
            qdir = self.layout.versions(qkey)
            qdir.mkdir(parents=True, exist_ok=True)
            (qdir / str(int(question["version"]))).write_text(key)
