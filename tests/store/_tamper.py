"""Helpers for the tests that damage store files on purpose (bit flips, planted files)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


class Compute:
    """A ``compute`` callable that counts its calls."""

    def __init__(self, value: dict) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> dict:
        self.calls += 1
        return self.value


def top(k: int, p: int = 6) -> dict:
    """A small ``hessian.topk``-like result for ``k`` eigenpairs."""
    rng = np.random.default_rng(k)
    return {
        "eigenvalues": 15.4 / np.arange(1, k + 1),
        "eigenvectors": rng.standard_normal((k, p)),
        "residuals": np.full(k, 1e-5),
        "converged": np.ones(k, bool),
        "num_products": 60,
    }


def topk_schema(k: int) -> dict:
    """What a caller asking for ``k`` eigenpairs expects."""
    return {"eigenvalues": ((k,), "f"), "eigenvectors": ((k, None), "f"),
            "residuals": ((k,), "f"), "converged": ((k,), "b")}


def flip_bit(path: Path, offset: int, bit: int = 0) -> None:
    """Flip one bit of the file at byte ``offset``, in place."""
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def data_offset(path: Path, field: str, chunk: int = 0) -> int:
    """File offset of the raw data of ``field`` (of chunk ``chunk`` when it is chunked)."""
    with h5py.File(path, "r") as f:
        ds = f[field]
        if ds.chunks is None:
            return int(ds.id.get_offset())
        info = ds.id.get_chunk_info(chunk)
        return int(info.byte_offset) + int(info.size) // 2


def flip_in(path: Path, field: str, *, byte: int = 0, bit: int = 0, chunk: int = 0) -> None:
    """Flip one bit inside the stored data of ``field``."""
    flip_bit(path, data_offset(path, field, chunk) + byte, bit)


def forge(path: Path, field: str, value: np.ndarray) -> None:
    """Replace ``field`` and re-seal the manifest: damage only a caller's schema can see."""
    import json

    from landscape.store._checksum import MANIFEST_ATTR, manifest

    with h5py.File(path, "r+") as f:
        del f[field]
        f[field] = value
        f.attrs[MANIFEST_ATTR] = json.dumps(manifest(f))
