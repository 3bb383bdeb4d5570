"""Partial results that fill in point by point, survive SIGKILL and resume.

A long job (a 21 x 21 plane of losses) writes each grid point as soon as it is computed.
The points go to an append-only log ``STORE/.partial/<key>.plog`` (format in
:mod:`landscape.store._plog`). A record is appended under an exclusive ``flock`` on the log,
then fsynced, so a point is durable when :meth:`Partial.write` returns. Appending never
touches earlier bytes, so a writer killed mid-append leaves at most a torn last record, which
fails its length or CRC check, is ignored by readers and cut off by the next writer. Which
points are done is an explicit mask built from the records present, never a sentinel value
that a real result could take. Several processes may fill in the same grid at once.
:meth:`Partial.finalize` turns the complete grid into an ordinary entry under the key
:meth:`Store.get_or_compute` would use.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape import __version__
from landscape.store._checksum import Schema, parse_schema
from landscape.store._h5 import to_numpy
from landscape.store._layout import create_once, move_aside, now, report_once
from landscape.store._plog import encode_header, encode_record, parse_fields, read_header, records
from landscape.store.entry import Entry
from landscape.store.errors import CorruptEntryError, StoreError
from landscape.store.keys import canonical, entry_key
from landscape.store.listing import unlink_log

if TYPE_CHECKING:
    from landscape.store.store import Store

__all__ = ["Partial"]


class Partial:
    """A grid of results written point by point; crash-safe and resumable.

    Obtained from :meth:`Store.partial`. ``done`` is the mask of written points (the only
    truth: unwritten points read as NaN for float fields and 0 otherwise). Writing a point
    twice keeps the later value. Once finalized, writes are ignored and reads come from the
    entry.

    >>> import tempfile
    >>> from landscape.store import Store
    >>> store = Store(tempfile.mkdtemp())
    >>> part = store.partial("demo.grid", {"n": 2}, None, fields={"f": ((2, 3), "float64")})
    >>> for i, j in part.pending():
    ...     part.write((i, j), f=i * 10 + j)
    >>> part.complete, part.finalize()["f"].tolist()
    (True, [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
    >>> part.finalize().key == store.key("demo.grid", {"n": 2})
    True
    """

    def __init__(
        self,
        store: Store,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        *,
        dataset: Any = None,
        version: int = 1,
        fields: Mapping[str, tuple[tuple[int, ...], Any]],
        grid: tuple[int, ...] | None = None,
        schema: Schema | None = None,
    ) -> None:
        self.store = store
        self._backend = backend = store.backend
        self.key = entry_key(name, params, inputs, dataset, version)
        self.name = name
        self.grid, self._point = parse_fields(fields, grid)
        self._schema = {
            **parse_schema(schema),
            **{n: ((*self.grid, *s), d.kind) for n, (s, d) in self._point.items()},
        }
        self.question = {
            "name": name, "params": canonical(params), "inputs": dict(inputs or {}),
            "dataset": canonical(dataset, where="dataset"), "version": version,
        }
        self.path = backend.layout.log(self.key)
        self._offset = 0
        self._final: Entry | None = None
        self._done = np.zeros(self.grid, bool)
        self._values = {
            n: np.full((*self.grid, *s), np.nan if d.kind in "fc" else 0, d)
            for n, (s, d) in self._point.items()
        }
        self._first_stamp: float | None = None
        self._last_stamp: float | None = None
        entry, problem = backend.lookup(self.key, schema=self._schema)
        if entry is not None:
            self._load_final(entry)
            return
        backend.refuse_newer(name, params, inputs, dataset, version)
        backend.prepare_write(
            f"its entry {self.key[:12]} for {name} is corrupt ({problem})" if problem
            else f"holds no answer for {name} ({self.key[:12]})"
        )
        self._create()
        self._start()

    def __repr__(self) -> str:
        return f"Partial({self.name!r}, key={self.key[:12]}, done={self.count}/{self._done.size})"

    # ------------------------------------------------------------------ log plumbing
    def _create(self) -> None:
        """Create the log with its header unless it exists (atomic: write aside, ``link``)."""
        if self.path.exists():
            return
        created, created_unix = now()
        header = {
            "format": "landscape-partial", "format_version": 1, "key": self.key,
            "analysis": self.name, "schema_version": self.question["version"],
            "params": self.question["params"], "inputs": self.question["inputs"],
            "dataset": self.question["dataset"], "library_version": __version__,
            "created": created, "created_unix": created_unix, "grid": list(self.grid),
            "fields": [[n, list(s), d.str] for n, (s, d) in self._point.items()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_once(self.path, encode_header(header))

    def _start(self) -> None:
        """Read the log; one whose header is damaged is moved aside and started afresh."""
        try:
            self.refresh()
        except CorruptEntryError as exc:
            st = self.path.stat()
            where = move_aside(self._backend.layout, self.path, self.key,
                               (st.st_dev, st.st_ino), locked=False)
            report_once((st.st_dev, st.st_ino),
                        f"partial result {self.key[:12]} ({self.name}) in {self.store.root} "
                        f"is corrupt ({exc}); moved to {where}; its points are recomputed")
            self._offset = 0
            self._create()
            self.refresh()

    def _load_final(self, entry: Entry) -> None:
        for name, (_, dtype) in self._point.items():  # shapes checked by the lookup's schema
            self._values[name] = np.asarray(entry[name]).astype(dtype, copy=False)
        self._done[...] = True
        self._final = entry

    def _scan(self, fd: int) -> int:
        """Apply records appended since the last scan; return the file size."""
        size = os.fstat(fd).st_size
        if self._offset == 0:
            head = os.pread(fd, min(size, 1 << 20), 0)
            try:
                header, self._offset = read_header(head, self.path)
            except StoreError as exc:
                raise CorruptEntryError(str(exc)) from None
            mine = [[n, list(s), d.str] for n, (s, d) in self._point.items()]
            if header["grid"] != list(self.grid) or header["fields"] != mine:
                raise StoreError(
                    f"partial result {self.key[:12]} for {self.name} was started with grid "
                    f"{tuple(header['grid'])} and fields {header['fields']}, now asked for grid "
                    f"{self.grid} and fields {mine}: use the same fields, or remove it with "
                    f"`landscape cache rm {self.key[:12]}`"
                )
        if size > self._offset:
            data = os.pread(fd, size - self._offset, self._offset)
            gen = records(data, 0, self.grid, self._point)
            while True:
                try:
                    index, stamp, values = next(gen)
                except StopIteration as stop:
                    self._offset += stop.value
                    break
                self._apply(index, stamp, values)
        return size

    def _apply(self, index: tuple[int, ...], stamp: float, values: dict[str, Any]) -> None:
        for name, value in values.items():
            self._values[name][index] = value
        self._done[index] = True
        self._first_stamp = stamp if self._first_stamp is None else self._first_stamp
        self._last_stamp = stamp

    def refresh(self) -> None:
        """Pick up points written by other processes since the last look."""
        if self._final is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            entry, _ = self._backend.lookup(self.key, schema=self._schema)
            if entry is None:
                raise StoreError(
                    f"partial result {self.key[:12]} for {self.name} was removed while in use"
                ) from None
            self._load_final(entry)
            return
        try:
            self._scan(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ public API
    @property
    def done(self) -> np.ndarray:
        """Boolean mask of the grid's shape: which points are written."""
        self.refresh()
        return self._done.copy()

    @property
    def count(self) -> int:
        """Number of points written."""
        return int(self._done.sum())

    @property
    def complete(self) -> bool:
        """Whether every point is written."""
        self.refresh()
        return bool(self._done.all())

    @property
    def fields(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Field name -> (full shape, dtype)."""
        return {n: ((*self.grid, *s), d) for n, (s, d) in self._point.items()}

    def pending(self) -> list[tuple[int, ...]]:
        """Indices of the points not written yet, in C order."""
        return [tuple(int(i) for i in ix) for ix in np.argwhere(~self.done)]

    def __getitem__(self, field: str) -> np.ndarray:
        if field not in self._values:
            raise KeyError(f"partial result has no field {field!r}; it has {sorted(self._values)}")
        self.refresh()
        return self._values[field].copy()

    def _encode(self, index: Any, values: dict[str, Any]) -> tuple[tuple[int, ...], bytes]:
        idx = (index,) if isinstance(index, int | np.integer) else tuple(index)
        if len(idx) != len(self.grid) or not all(isinstance(i, int | np.integer) for i in idx):
            raise TypeError(f"index must be a tuple of {len(self.grid)} ints, got {index!r}")
        idx = tuple(int(i) + g if int(i) < 0 else int(i) for i, g in zip(idx, self.grid))
        if any(not 0 <= i < g for i, g in zip(idx, self.grid)):
            raise IndexError(f"index {index!r} is outside the grid {self.grid}")
        if set(values) != set(self._point):
            raise TypeError(
                f"write() needs exactly the fields {sorted(self._point)}; got {sorted(values)}"
            )
        arrays = {}
        for name, (shape, dtype) in self._point.items():
            arr = to_numpy(values[name], where=f"field {name!r}")
            if not np.can_cast(arr.dtype, dtype, "same_kind"):
                raise TypeError(f"field {name!r} is {dtype}; a {arr.dtype} value would be cut")
            if arr.shape != shape:
                raise ValueError(f"field {name!r} takes shape {shape} per point, got {arr.shape}")
            arrays[name] = arr
        return idx, encode_record(self.grid, self._point, idx, arrays)

    def write(self, index: Any, /, **values: Any) -> None:
        """Record one point (all fields); durable (fsynced) when it returns.

        Raises:
            IndexError: ``index`` is outside the grid.
            TypeError: missing/extra fields or a value of a lossy dtype.
            ValueError: a value of the wrong per-point shape.

        """
        idx, record = self._encode(index, values)
        if self._final is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            self.refresh()  # finalized by another process: the point is in the entry already
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:  # unlinked by finalize() while we waited
                os.close(fd)
                fd = -1
                self.refresh()
                return
            size = self._scan(fd)
            if size > self._offset:  # a torn record of a killed writer: cut it off
                os.ftruncate(fd, self._offset)
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            self._offset += len(record)
            _, stamp, vals = next(records(record, 0, self.grid, self._point))
            self._apply(idx, stamp, vals)
        finally:
            if fd >= 0:
                os.close(fd)

    def finalize(self) -> Entry:
        """Turn the complete grid into an ordinary entry (same key as ``get_or_compute``).

        Raises:
            StoreError: some points are not written yet.

        """
        self.refresh()
        if self._final is not None:
            return Entry(self._final.path, cached=True)
        missing = np.argwhere(~self._done)
        if len(missing):
            raise StoreError(
                f"{len(missing)} of {self._done.size} points of {self.name} are not written yet "
                f"(first: {tuple(int(i) for i in missing[0])}): write them (see .pending()) "
                "before finalize()"
            )
        backend, cached = self._backend, True
        with backend.lock(self.key):
            if backend.lookup(self.key, schema=self._schema, locked=True)[0] is None:
                seconds = (self._last_stamp or 0.0) - (self._first_stamp or 0.0)
                backend.write_entry(self.key, self.question, dict(self._values),
                                    compute_seconds=seconds, schema=self._schema)
                cached = False
            unlink_log(self.path)  # under its flock: no writer is mid-append
        entry = Entry(backend.layout.entry(self.key), cached=cached)
        self._load_final(entry)
        return entry
