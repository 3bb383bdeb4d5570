"""Plumbing: the append-only log of a partial result, ``STORE/.partial/<key>.plog``.

::

    header   b"LSPLOG01" | u32 length | u32 crc32 | JSON (question, grid, fields)
    record   b"LPT1" | u32 length | u32 crc32 | int64 index[ndim] | f64 time | field bytes...

All integers little-endian. A record whose length or CRC does not check (a writer killed
mid-append) ends the valid part of the log.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from landscape.store._layout import LOG_RE
from landscape.store.errors import StoreError

__all__ = ["Fields", "encode_header", "encode_record", "identify_log", "parse_fields",
           "read_header", "records"]

Fields = dict[str, tuple[tuple[int, ...], np.dtype]]
_MAGIC = b"LSPLOG01"
_HEAD = struct.Struct("<8sII")
_REC = struct.Struct("<4sII")
_REC_MAGIC = b"LPT1"


def parse_fields(
    fields: Mapping[str, tuple[tuple[int, ...], Any]], grid: tuple[int, ...] | None
) -> tuple[tuple[int, ...], Fields]:
    """Check ``fields`` (name -> (full shape, dtype)); return the grid and per-point fields.

    Raises:
        TypeError: malformed fields, or no grid shape common to them.

    """
    if not isinstance(fields, Mapping) or not fields:
        raise TypeError(
            "fields must be a non-empty dict name -> (shape, dtype), e.g. "
            "{'train_loss': ((21, 21), 'float64')}"
        )
    shapes: Fields = {}
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
        grid = ()
        for dims in zip(*(s for s, _ in shapes.values())):
            if len(set(dims)) != 1:
                break
            grid = (*grid, dims[0])
    grid = tuple(int(n) for n in grid)
    if not grid:
        raise TypeError(f"fields {dict(fields)} share no leading grid shape: pass grid=(...)")
    point: Fields = {}
    for name, (shape, dtype) in shapes.items():
        if shape[: len(grid)] != grid:
            raise TypeError(f"field {name!r} has shape {shape}, which does not start with {grid}")
        point[name] = (shape[len(grid):], dtype)
    return grid, point


def encode_header(header: dict[str, Any]) -> bytes:
    """The header bytes of a new log."""
    body = json.dumps(header, sort_keys=True).encode()
    return _HEAD.pack(_MAGIC, len(body), zlib.crc32(body)) + body


def read_header(data: bytes, path: Path) -> tuple[dict[str, Any], int]:
    """The header of a log (its first bytes) and where the records start.

    Raises:
        StoreError: not a partial-result log.

    """
    if len(data) < _HEAD.size:
        raise StoreError(f"{path.name} is not a partial-result log (too short)")
    magic, length, crc = _HEAD.unpack_from(data)
    body = data[_HEAD.size: _HEAD.size + length]
    if magic != _MAGIC or len(body) != length or zlib.crc32(body) != crc:
        raise StoreError(f"{path.name} is not a partial-result log (bad header)")
    try:
        header = json.loads(body)
    except ValueError as exc:
        raise StoreError(f"{path.name} is not a partial-result log ({exc})") from None
    return header, _HEAD.size + length


def identify_log(path: Path) -> dict[str, Any] | None:
    """The header of a file positively identified as a partial log of its key, else ``None``.

    Identified: named ``<64 hex digits>.plog``, a valid header, and a ``key`` equal to the name.
    """
    if not LOG_RE.match(path.name):
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
        header, _ = read_header(head, path)
    except (OSError, StoreError):
        return None
    return header if isinstance(header, dict) and header.get("key") == path.stem else None


def encode_record(grid: tuple[int, ...], point: Fields, index: tuple[int, ...],
                  arrays: dict[str, np.ndarray]) -> bytes:
    """One record: the index, the time, and each field's bytes (already checked)."""
    parts = [np.asarray(index, "<i8").tobytes(), np.asarray([time.time()], "<f8").tobytes()]
    parts += [np.ascontiguousarray(arrays[name], dtype).tobytes() for name, (_, dtype)
              in point.items()]
    body = b"".join(parts)
    return _REC.pack(_REC_MAGIC, len(body), zlib.crc32(body)) + body


def records(data: bytes, offset: int, grid: tuple[int, ...],
            point: Fields) -> Iterator[tuple[tuple[int, ...], float, dict[str, np.ndarray]]]:
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
        if length < 8 * ndim + 8:
            break
        index = tuple(int(i) for i in np.frombuffer(body, "<i8", ndim))
        stamp = float(np.frombuffer(body, "<f8", 1, 8 * ndim)[0])
        pos, values = 8 * ndim + 8, {}
        for name, (shape, dtype) in point.items():
            n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if pos + n > length:
                break
            values[name] = np.frombuffer(body, dtype, n // dtype.itemsize, pos).reshape(shape)
            pos += n
        if pos != length or any(not 0 <= i < g for i, g in zip(index, grid)):
            break
        yield index, stamp, values
        offset = start + length
    return offset
