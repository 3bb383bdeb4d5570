"""The HDF5 result store: content-addressed, crash-safe, race-safe, checksummed.

One immutable HDF5 file per entry, named by its content key (:mod:`landscape.store.keys`),
in a directory marked as a store (layout in :mod:`landscape.store._layout`).

Crash safety: an entry is written to a temporary file in the store directory, closed,
fsynced and renamed to ``<key>.h5`` (``os.replace`` is atomic), so a reader sees the whole
entry or none, and a process killed at any moment leaves every earlier entry untouched.
Race safety: computing an entry holds an exclusive ``flock`` on the key's lock file and checks
for the entry again once it holds it, so of several processes asking the same question one
computes and the others wait and read its answer; different keys never contend.
Integrity: every dataset is checksummed (:mod:`landscape.store._checksum`); an entry that
fails a check at lookup is moved into ``.corrupt/``, reported once, and recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from landscape.store import listing
from landscape.store._backend import Backend
from landscape.store._checksum import Schema, parse_schema
from landscape.store._layout import check_key
from landscape.store.entry import Entry
from landscape.store.keys import entry_key
from landscape.store.listing import EntrySummary

__all__ = ["EntrySummary", "Store"]


class Store:
    """A directory of content-addressed HDF5 results.

    Opening a store touches nothing on disk: a read-only store serves the answers it holds,
    and writability is checked only before a write (before any computation is spent on a
    result that could not be saved).

    Args:
        root: the store directory (created and marked on first write).
        readonly: never write (not even to move a corrupt entry aside).
        compression: ``"gzip"`` (readable by every HDF5 build) or ``None``.
        compression_level: gzip level 1-9 (1 is several times faster than 4 for a few % size).
        compress_above: arrays of at least this many bytes are chunked + compressed.
        chunk_bytes: target chunk size in bytes.
        verify_bytes: chunked datasets up to this size are read and checked whenever an
            entry is looked up; larger ones are checked chunk by chunk as they are read.
            Arrays of this size or more are always written chunked and checksummed.

    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> calls = []
    >>> def compute():
    ...     calls.append(1)
    ...     return {"eigenvalues": [3.0, 1.0]}
    >>> a = store.get_or_compute("demo.eig", {"k": 2}, {}, compute)
    >>> b = store.get_or_compute("demo.eig", {"k": 2}, None, compute)
    >>> a.key == b.key, a.cached, b.cached, b["eigenvalues"], len(calls)
    (True, False, True, [3.0, 1.0], 1)
    """

    def __init__(
        self,
        root: str | Path,
        *,
        readonly: bool = False,
        compression: str | None = "gzip",
        compression_level: int = 1,
        compress_above: int = 1 << 20,
        chunk_bytes: int = 1 << 20,
        verify_bytes: int = 256 << 20,
    ) -> None:
        if compression not in ("gzip", None):
            raise ValueError(
                f"compression must be 'gzip' or None, got {compression!r} (other filters would "
                "make entries unreadable by a plain HDF5 install)"
            )
        if not 0 <= int(compression_level) <= 9:
            raise ValueError(f"compression_level must be in 0..9, got {compression_level}")
        if int(verify_bytes) < 1:
            raise ValueError(f"verify_bytes must be a positive number of bytes, got {verify_bytes}")
        self.root = Path(root).expanduser()
        self.readonly = bool(readonly)
        self.compression = compression
        self.compression_level = int(compression_level)
        self.compress_above = int(compress_above)
        self.chunk_bytes = int(chunk_bytes)
        self.verify_bytes = int(verify_bytes)
        self.backend = Backend(
            self.root, readonly=self.readonly, verify_bytes=self.verify_bytes,
            write={"compression": compression, "level": self.compression_level,
                   "compress_above": min(self.compress_above, self.verify_bytes),
                   "chunk_bytes": self.chunk_bytes},
        )

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def check_writable(self) -> None:
        """Raise ``PermissionError`` unless entries can be written under ``root``."""
        self.backend.check_writable()

    def path_of(self, key: str) -> Path:
        """Path of the entry file for ``key``."""
        return self.backend.layout.entry(key)

    def key(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        dataset: Any = None,
        version: int = 1,
    ) -> str:
        """Content key of a question (see :func:`landscape.store.keys.entry_key`)."""
        return entry_key(name, params, inputs, dataset, version)

    # ------------------------------------------------------------------ reading
    def get(self, key: str, *, schema: Schema | None = None) -> Entry | None:
        """The verified entry stored under ``key``, or ``None`` (a corrupt one is moved aside).

        Raises:
            StoreVersionError: the entry was written by a newer store format.

        """
        return self.backend.lookup(check_key(key), schema=parse_schema(schema))[0]

    def find(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        dataset: Any = None,
        version: int = 1,
        *,
        schema: Schema | None = None,
    ) -> Entry | None:
        """The cached, verified answer to a question, or ``None`` (nothing is computed).

        ``schema`` (see :mod:`landscape.store._checksum`) states what the answer must hold.

        Raises:
            StoreVersionError: only a newer schema version of this analysis answered it.

        """
        key = entry_key(name, params, inputs, dataset, version)
        entry, _ = self.backend.lookup(key, schema=parse_schema(schema))
        if entry is None:
            self.backend.refuse_newer(name, params, inputs, dataset, version)
        return entry

    # ------------------------------------------------------------------ writing
    def get_or_compute(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None,
        compute: Callable[[], Mapping[str, Any]],
        *,
        dataset: Any = None,
        version: int = 1,
        schema: Schema | None = None,
    ) -> Entry:
        """Return the cached answer, or call ``compute()``, store its result and return it.

        Args:
            name: analysis name, e.g. ``"hessian.topk"``.
            params: JSON-able parameters of the analysis.
            inputs: role -> content digest of each input checkpoint (``{}`` or ``None``).
            compute: zero-argument callable returning ``dict[str, value]``; a value is a numpy
                array or torch tensor (stored as a dataset, on CPU, dtype kept), a Python
                scalar/str/list/None, or a nested dict of those (an HDF5 group).
            dataset: JSON-able dataset spec (``EvalSet.spec()``) or ``None``.
            version: the analysis' schema version.
            schema: field -> ``(shape, kinds)`` the answer must hold, ``None`` in a shape for
                a free dimension, e.g. ``{"eigenvalues": ((k,), "f")}``. A stored entry that
                contradicts it is corrupt (moved aside, recomputed); a computed result that
                contradicts it is refused.

        Returns:
            The entry; ``entry.cached`` says whether ``compute`` was skipped.

        Raises:
            PermissionError: the answer is not stored and the store is not writable (raised
                before computing).
            StoreVersionError: a newer schema version already answered this question.
            StoreError: ``compute`` returned a result that contradicts ``schema``.
            TypeError: ``compute`` returned something the store cannot hold, or a bad schema.

        """
        if not callable(compute):
            raise TypeError(f"compute must be a zero-argument callable, got {compute!r}")
        spec = parse_schema(schema)
        key = entry_key(name, params, inputs, dataset, version)
        backend = self.backend
        entry, problem = backend.lookup(key, schema=spec)
        if entry is not None:
            return entry
        backend.refuse_newer(name, params, inputs, dataset, version)
        why = (f"its entry {key[:12]} for {name} is corrupt ({problem})" if problem
               else f"holds no answer for {name} ({key[:12]})")
        backend.prepare_write(why)
        with backend.lock(key):
            entry, _ = backend.lookup(key, schema=spec, locked=True)  # written meanwhile?
            if entry is not None:
                return entry
            start = time.perf_counter()
            values = compute()
            seconds = time.perf_counter() - start
            question = {"name": name, "params": params, "inputs": inputs,
                        "dataset": dataset, "version": version}
            backend.write_entry(key, question, values, compute_seconds=seconds, schema=spec)
        return Entry(self.path_of(key), cached=False)

    def partial(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        *,
        dataset: Any = None,
        version: int = 1,
        fields: Mapping[str, tuple[tuple[int, ...], Any]],
        grid: tuple[int, ...] | None = None,
        schema: Schema | None = None,
    ) -> Any:
        """Open (or start) a result that fills in point by point; see :class:`Partial`.

        The finished entry must hold ``fields`` with their shapes (and ``schema``, if given).
        """
        from landscape.store.partial import Partial

        return Partial(self, name, params, inputs, dataset=dataset, version=version,
                       fields=fields, grid=grid, schema=schema)

    # ------------------------------------------------------------------ listing and removal
    def entries(self, *, check: str = "meta") -> list[EntrySummary]:
        """Every entry and partial result in the store, oldest first; never raises.

        Only files named like the store's are listed. ``check``: ``"meta"`` (provenance
        only), ``"checksums"`` (also the manifest and every unchunked dataset's checksum) or
        ``"full"`` (every dataset); a file that fails has ``status="corrupt"`` and the reason
        in ``error``.
        """
        return listing.entries(self.backend, check=check)

    def resolve(self, prefix: str) -> str:
        """The full key of the one entry (or partial) whose key starts with ``prefix``.

        Raises:
            KeyError: no entry, or several, match (file names that are not store entries
                never match).

        """
        return listing.resolve(self.backend, prefix)

    def remove(self, key: str) -> bool:
        """Delete the entry and any partial result under ``key``; returns whether any existed.

        Only files positively identified as this key's entry or partial log are deleted.
        """
        return listing.remove(self.backend, key)

    def stale_temporaries(self) -> list[Path]:
        """Temporary files left by killed writers (no process holds their key's lock)."""
        return listing.stale_temporaries(self.backend)

    def clean(self) -> int:
        """Remove stale temporary files; returns the number of bytes freed."""
        freed = 0
        for path in self.stale_temporaries():
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            freed += size
        return freed
