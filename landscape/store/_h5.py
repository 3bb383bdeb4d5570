"""Plumbing: write a result dict as an HDF5 tree and read it back with the same Python types.

Arrays become datasets (large ones chunked, shuffled, compressed and checksummed with the
standard ``gzip`` and ``fletcher32`` filters every HDF5 build has, so ``h5py`` and ``h5ls``
read them without this library); a nested dict becomes a group. Python scalars, strings,
lists and ``None`` are datasets too, tagged with a ``landscape_kind`` attribute so they come
back as what went in.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

__all__ = ["KIND_ATTR", "chunk_shape", "read_node", "to_numpy", "write_tree"]

KIND_ATTR = "landscape_kind"
_STR = h5py.string_dtype("utf-8")


def chunk_shape(shape: tuple[int, ...], itemsize: int, target_bytes: int) -> tuple[int, ...]:
    """Chunks of about ``target_bytes`` that are contiguous in C order (rows stay whole).

    Reading one eigenvector (one row of a ``(k, P)`` array) then touches only its own chunks.

    >>> chunk_shape((10, 15_000_000), 4, 1 << 20)
    (1, 258621)
    >>> chunk_shape((21, 21), 8, 1 << 20)
    (21, 21)
    """
    remaining = max(1, target_bytes // max(1, itemsize))
    chunks: list[int] = []
    for n in reversed(shape):
        c = max(1, min(n, remaining))
        c = -(-n // -(-n // c)) if n else c  # split the axis evenly: no mostly-empty edge chunk
        chunks.append(c)
        remaining = max(1, remaining // c)
    return tuple(reversed(chunks))


def to_numpy(value: Any, *, where: str) -> np.ndarray:
    """Convert an array-like result (numpy array, torch tensor, list) to a numpy array.

    Raises:
        TypeError: a dtype HDF5 cannot hold portably (bfloat16, object, ragged lists).

    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.dtype == torch.bfloat16:
            raise TypeError(
                f"{where} is a bfloat16 tensor, which numpy and HDF5 cannot hold: "
                "convert it with .float() first"
            )
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except ValueError:  # numpy refuses ragged nested lists
        arr = np.empty(0, object)
    if arr.dtype.kind == "O":
        raise TypeError(
            f"{where} holds Python objects (a ragged or mixed list?): store numbers, strings "
            "or bools of one shape, or a dict of such arrays"
        )
    return arr


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise TypeError(
            f"{where} has a field named {name!r}: names must be non-empty strings without '/' "
            "(use a nested dict for a group)"
        )
    return name


def write_tree(
    group: h5py.Group,
    values: Mapping[str, Any],
    *,
    compression: str | None,
    level: int,
    compress_above: int,
    chunk_bytes: int,
    where: str = "result",
) -> None:
    """Write ``values`` into ``group`` (recursively for nested dicts).

    Raises:
        TypeError: a value of a type the store cannot hold, or a bad field name.

    """
    if not isinstance(values, Mapping):
        raise TypeError(
            f"{where} must be a dict of name -> array/number/str/dict, "
            f"got {type(values).__name__}"
        )
    for name, value in values.items():
        _check_name(name, where)
        path = f"{where}[{name!r}]"
        if isinstance(value, Mapping):
            write_tree(group.create_group(name), value, compression=compression, level=level,
                       compress_above=compress_above, chunk_bytes=chunk_bytes, where=path)
            continue
        if value is None:
            ds = group.create_dataset(name, data=h5py.Empty("f8"))
            ds.attrs[KIND_ATTR] = "none"
            continue
        if isinstance(value, str):
            ds = group.create_dataset(name, data=value, dtype=_STR)
            ds.attrs[KIND_ATTR] = "scalar"
            continue
        if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
            arr = np.asarray(value)
            if isinstance(value, int) and not isinstance(value, bool) and arr.dtype.kind == "O":
                raise TypeError(f"{path} = {value} does not fit in 64 bits: store it as a str")
            ds = group.create_dataset(name, data=arr)
            ds.attrs[KIND_ATTR] = "scalar"
            continue
        kind = "list" if isinstance(value, list | tuple) else None
        arr = to_numpy(value, where=path)
        if arr.dtype.kind == "U":
            ds = group.create_dataset(name, data=arr.astype(object), dtype=_STR)
        elif compression and arr.ndim > 0 and arr.nbytes >= compress_above:
            ds = group.create_dataset(
                name, data=arr, chunks=chunk_shape(arr.shape, arr.itemsize, chunk_bytes),
                compression=compression, compression_opts=level if compression == "gzip" else None,
                shuffle=True, fletcher32=True,
            )
        elif arr.ndim > 0 and arr.nbytes >= compress_above:
            # uncompressed but still chunked + checksummed, so bit rot is caught on read
            ds = group.create_dataset(
                name, data=arr, chunks=chunk_shape(arr.shape, arr.itemsize, chunk_bytes),
                fletcher32=True,
            )
        else:
            ds = group.create_dataset(name, data=arr)
        if kind:
            ds.attrs[KIND_ATTR] = kind


def read_node(node: h5py.Group | h5py.Dataset, sel: Any = ()) -> Any:
    """Read a group (as a dict) or a dataset (as what was written) from an open file."""
    if isinstance(node, h5py.Group):
        return {k: read_node(node[k]) for k in node}
    kind = node.attrs.get(KIND_ATTR)
    if isinstance(kind, bytes):
        kind = kind.decode()
    if kind == "none":
        return None
    is_str = h5py.check_string_dtype(node.dtype) is not None
    data = node.asstr()[sel] if is_str else node[sel]
    if kind == "scalar":
        return data.item() if isinstance(data, np.generic | np.ndarray) else data
    if kind == "list":
        return np.asarray(data).tolist()
    if is_str:
        return np.asarray(data).astype(str)
    return np.asarray(data) if not isinstance(data, np.ndarray) else data
