"""Partial results that fill in point by point, survive SIGKILL and resume (DESIGN 3.3).

A long job (a 21 x 21 plane of losses, DESIGN 4.5) writes each grid point as soon as it is
computed. The points go to an append-only log ``STORE/.partial/<key>.plog``:

    header   b"LSPLOG01" | u32 length | u32 crc32 | JSON (question, grid, fields)
    record   b"LPT1" | u32 length | u32 crc32 | int64 index[ndim] | f64 time | field bytes...

A record is appended under an exclusive ``flock`` on the log, then fsynced, so a point is
durable when :meth:`Partial.write` returns. Appending never touches earlier bytes, so a writer
killed mid-append leaves at most a torn last record, which fails its length or CRC check, is
ignored by readers and cut off by the next writer. Which points are done is an explicit mask
built from the records present, never a sentinel value that a real result could take.
Several processes may fill in the same grid at once. :meth:`Partial.finalize` turns the
complete grid into an ordinary entry under the key :meth:`Store.get_or_compute` would use.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape import __version__
from landscape._io import fsync_dir
from landscape.store._h5 import to_numpy
from landscape.store.entry import Entry, StoreError
from landscape.store.keys import canonical, entry_key

if TYPE_CHECKING:
    from landscape.store.store import EntrySummary, Store

__all__ = ["Partial", "summarise_log"]

_MAGIC = b"LSPLOG01"
_HEAD = struct.Struct("<8sII")
_REC = struct.Struct("<4sII")
_REC_MAGIC = b"LPT1"


def _parse_fields(
    fields: Mapping[str, tuple[tuple[int, ...], Any]], grid: tuple[int, ...] | None
) -> tuple[tuple[int, ...], dict[str, tuple[tuple[int, ...], np.dtype]]]:
    if not isinstance(fields, Mapping) or not fields:
        raise TypeError(
            "fields must be a non-empty dict name -> (shape, dtype), e.g. "
            "{'train_loss': ((21, 21), 'float64')}"
        )
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name, spec in sorted(fields.items()):
        try:
            shape, dtype = spec
            shape = tuple(int(n) for n in shape)
            dtype = np.dtype(dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"field {name!r} must be (shape, dtype) like ((21, 21), 'float64'), got {spec!r}"
            ) from exc
        if dtype.kind not in "biufc" or any(n < 1 for n in shape):
            raise TypeError(
                f"field {name!r}: expected a numeric/bool dtype and positive sizes, "
                f"got shape {shape} dtype {dtype}"
            )
        shapes[name] = (shape, dtype.newbyteorder("<"))
    if grid is None:  # the longest shape prefix common to every field
        all_shapes = [s for s, _ in shapes.values()]
        grid = ()
        for dims in zip(*all_shapes):
            if len(set(dims)) != 1:
                break
            grid = (*grid, dims[0])
    grid = tuple(int(n) for n in grid)
    if not grid:
        raise TypeError(f"fields {dict(fields)} share no leading grid shape: pass grid=(...)")
    point: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name, (shape, dtype) in shapes.items():
        if shape[: len(grid)] != grid:
            raise TypeError(f"field {name!r} has shape {shape}, which does not start with {grid}")
        point[name] = (shape[len(grid):], dtype)
    return grid, point


def _read_header(data: bytes, path: Path) -> tuple[dict[str, Any], int]:
    if len(data) < _HEAD.size:
        raise StoreError(f"{path.name} is not a partial-result log (too short)")
    magic, length, crc = _HEAD.unpack_from(data)
    body = data[_HEAD.size: _HEAD.size + length]
    if magic != _MAGIC or len(body) != length or zlib.crc32(body) != crc:
        raise StoreError(f"{path.name} is not a partial-result log (bad header)")
    return json.loads(body), _HEAD.size + length


def summarise_log(path: Path) -> EntrySummary:
    """Summary line of a partial log for ``store.entries()`` (never raises)."""
    from landscape.store.store import EntrySummary

    st = path.stat()
    try:
        with open(path, "rb") as f:
            data = f.read()
        header, offset = _read_header(data, path)
        grid, point = _parse_fields(
            {n: ((*header["grid"], *s), d) for n, s, d in header["fields"]}, tuple(header["grid"])
        )
        done = np.zeros(grid, bool)
        for index, _, _ in _records(data, offset, grid, point):
            done[index] = True
    except (OSError, StoreError, ValueError, KeyError, TypeError) as exc:
        return EntrySummary(key=path.stem, name=None, inputs={}, size=st.st_size,
                            created="?", created_unix=st.st_mtime, status="corrupt",
                            error=f"partial log: {exc}", path=str(path))
    return EntrySummary(
        key=header["key"], name=header["analysis"], inputs=dict(header["inputs"] or {}),
        size=st.st_size, created=header["created"], created_unix=header["created_unix"],
        status="partial", version=header["schema_version"], params=header["params"],
        done=f"{int(done.sum())}/{done.size}", path=str(path),
    )


def _records(data: bytes, offset: int, grid: tuple[int, ...], point: dict[str, Any]):
    """Yield ``(index, time, values)`` of the valid records from ``offset``.

    The generator's return value (``StopIteration.value``) is the end of the last valid record.
    """
    ndim = len(grid)
    while offset + _REC.size <= len(data):
        magic, length, crc = _REC.unpack_from(data, offset)
        start = offset + _REC.size
        body = data[start: start + length]
        if magic != _REC_MAGIC or len(body) != length or zlib.crc32(body) != crc:
            break
        index = tuple(int(i) for i in np.frombuffer(body, "<i8", ndim))
        stamp = float(np.frombuffer(body, "<f8", 1, 8 * ndim)[0])
        pos, values = 8 * ndim + 8, {}
        for name, (shape, dtype) in point.items():
            n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            values[name] = np.frombuffer(body, dtype, n // dtype.itemsize, pos).reshape(shape)
            pos += n
        if pos != length or any(not 0 <= i < g for i, g in zip(index, grid)):
            break
        yield index, stamp, values
        offset = start + length
    return offset


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
    ) -> None:
        self.store = store
        self.key = entry_key(name, params, inputs, dataset, version)
        self.name = name
        self.grid, self._point = _parse_fields(fields, grid)
        self.question = {
            "name": name, "params": canonical(params), "inputs": dict(inputs or {}),
            "dataset": canonical(dataset, where="dataset"), "version": version,
        }
        self.path = store._partial_path(self.key)
        self._offset = 0
        self._final: Entry | None = None
        self._done = np.zeros(self.grid, bool)
        self._values = {
            n: np.full((*self.grid, *s), np.nan if d.kind in "fc" else 0, d)
            for n, (s, d) in self._point.items()
        }
        self._first_stamp: float | None = None
        self._last_stamp: float | None = None
        entry = store._lookup(self.key)
        if entry is not None:
            self._load_final(entry)
            return
        store._refuse_newer(name, params, inputs, dataset, version)
        store.check_writable()
        self._create()
        self.refresh()

    def __repr__(self) -> str:
        return f"Partial({self.name!r}, key={self.key[:12]}, done={self.count}/{self._done.size})"

    # ------------------------------------------------------------------ log plumbing
    def _header(self) -> dict[str, Any]:
        from landscape.store.store import _now

        created, created_unix = _now()
        return {
            "format": "landscape-partial", "format_version": 1, "key": self.key,
            "analysis": self.name, "schema_version": self.question["version"],
            "params": self.question["params"], "inputs": self.question["inputs"],
            "dataset": self.question["dataset"], "library_version": __version__,
            "created": created, "created_unix": created_unix, "grid": list(self.grid),
            "fields": [[n, list(s), d.str] for n, (s, d) in self._point.items()],
        }

    def _create(self) -> None:
        """Create the log with its header unless it exists (atomic: write aside, ``link``)."""
        if self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(self._header(), sort_keys=True).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(_HEAD.pack(_MAGIC, len(body), zlib.crc32(body)) + body)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # another process created it first
                os.link(tmp, self.path)
                fsync_dir(self.path.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def _load_final(self, entry: Entry) -> None:
        for name, (shape, dtype) in self._point.items():
            if name not in entry:
                raise StoreError(
                    f"entry {self.key[:12]} for {self.name} has no field {name!r} "
                    f"(it has {sorted(entry)}): the same question was stored with other fields"
                )
            arr = np.asarray(entry[name])
            if arr.shape != (*self.grid, *shape):
                raise StoreError(
                    f"entry {self.key[:12]} field {name!r} has shape {arr.shape}, expected "
                    f"{(*self.grid, *shape)}: the same question was stored with another grid"
                )
            self._values[name] = arr.astype(dtype, copy=False)
        self._done[...] = True
        self._final = entry

    def _scan(self, fd: int) -> int:
        """Apply records appended since the last scan; return the file size."""
        size = os.fstat(fd).st_size
        if self._offset == 0:
            head = os.pread(fd, min(size, 1 << 20), 0)
            header, self._offset = _read_header(head, self.path)
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
            gen = _records(data, 0, self.grid, self._point)
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
            entry = self.store._lookup(self.key)
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
        parts = [np.asarray(idx, "<i8").tobytes(), np.asarray([time.time()], "<f8").tobytes()]
        for name, (shape, dtype) in self._point.items():
            arr = to_numpy(values[name], where=f"field {name!r}")
            if not np.can_cast(arr.dtype, dtype, "same_kind"):
                raise TypeError(f"field {name!r} is {dtype}; a {arr.dtype} value would be cut")
            if arr.shape != shape:
                raise ValueError(f"field {name!r} takes shape {shape} per point, got {arr.shape}")
            parts.append(np.ascontiguousarray(arr, dtype).tobytes())
        body = b"".join(parts)
        return idx, _REC.pack(_REC_MAGIC, len(body), zlib.crc32(body)) + body

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
            _, stamp, vals = next(_records(record, 0, self.grid, self._point))
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
        store, cached = self.store, True
        with store._lock(self.key):
            if store._lookup(self.key) is None:
                seconds = (self._last_stamp or 0.0) - (self._first_stamp or 0.0)
                store._write_entry(self.key, self.question, dict(self._values),
                                   compute_seconds=seconds)
                cached = False
            with contextlib.suppress(FileNotFoundError):
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # no writer is mid-append when we unlink
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()
                finally:
                    os.close(fd)
        entry = Entry(store.path_of(self.key), cached=cached)
        self._load_final(entry)
        return entry
