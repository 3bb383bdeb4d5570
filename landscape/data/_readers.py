"""Readers for the on-disk formats torchvision downloads: MNIST idx files, CIFAR pickles.

The CIFAR batches are Python pickles. They are read with a restricted unpickler that only
rebuilds plain containers and numpy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

__all__ = ["read_cifar_batch", "read_idx"]

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path) -> Tensor:
    """Read an idx file (``*-idx3-ubyte`` or ``*-idx1-ubyte``, optionally ``.gz``).

    Raises:
        ValueError: the file is not a well-formed idx file.

    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {data[:4]!r})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: header promises shape {shape} "
            f"({expected} bytes) but {len(data) - header} bytes follow"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return torch.from_numpy(array.astype(array.dtype.newbyteorder("="), copy=True))


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the globals a CIFAR batch needs (numpy arrays)."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: a CIFAR batch holds only arrays and "
            "lists, so this file is not a genuine CIFAR batch"
        )


def read_cifar_batch(path: Path, label_key: str) -> tuple[Tensor, Tensor]:
    """Read one CIFAR python batch: ``data`` ``[N, 3072]`` uint8 and the ``label_key`` list.

    Returns:
        ``(images [N, 3, 32, 32] uint8, labels [N] int64)``.

    Raises:
        ValueError: the file is not a readable CIFAR batch.

    """
    try:
        with open(path, "rb") as f:
            entry = _SafeUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a readable CIFAR batch: {exc}") from exc
    if not isinstance(entry, dict) or "data" not in entry or label_key not in entry:
        raise ValueError(f"{path} is not a CIFAR batch: expected keys 'data' and {label_key!r}")
    data = np.asarray(entry["data"], dtype=np.uint8)
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    labels = torch.as_tensor(np.asarray(entry[label_key]), dtype=torch.int64)
    return images, labels
