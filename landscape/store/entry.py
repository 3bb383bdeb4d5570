"""A stored result: one immutable HDF5 file ``<key>.h5`` read lazily (DESIGN 3.3).

Provenance lives in the root group's attributes (``analysis``, ``schema_version``, ``params``,
``inputs``, ``dataset`` as JSON strings, ``library_version``, ``created``, ``compute_seconds``
...); the results are the root's datasets and groups, so ``h5py.File(path)["eigenvalues"][:]``
works without this library. An :class:`Entry` opens the file only for the access asked for:
``entry["eigenvalues"]`` reads that one array, ``entry.read("eigenvectors", 3)`` one row.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py

from landscape.store._h5 import read_node

__all__ = [
    "FORMAT_ATTR",
    "FORMAT_VERSION",
    "CorruptEntryError",
    "Entry",
    "StoreError",
    "StoreVersionError",
    "StoreWarning",
    "read_meta",
]

FORMAT_ATTR = "landscape_store_format"
FORMAT_VERSION = 1
_JSON_ATTRS = ("params", "inputs", "dataset")


class StoreError(ValueError):
    """The store cannot answer as asked (a version conflict, a corrupt entry, bad fields)."""


class CorruptEntryError(StoreError):
    """An entry file that is not a complete, readable store entry."""


class StoreVersionError(StoreError):
    """An entry written by a newer store format or analysis schema than this code reads."""


class StoreWarning(UserWarning):
    """A problem the store worked around (a corrupt entry skipped or recomputed)."""


def _open(path: Path) -> h5py.File:
    # Entries are immutable once visible (written elsewhere, then renamed into place), so
    # readers need no HDF5 file lock; skipping it also keeps NFS and read-only mounts working.
    return h5py.File(path, "r", locking=False)


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read and check an entry file's provenance attributes.

    Raises:
        CorruptEntryError: not an HDF5 file, truncated, or not a store entry.
        StoreVersionError: written by a newer store format.
        FileNotFoundError: no such file.

    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no store entry at {path}")
    try:
        with _open(path) as f:
            raw = {k: f.attrs[k] for k in f.attrs}
    except OSError as exc:
        raise CorruptEntryError(f"{path.name} is not a readable HDF5 file ({exc})") from exc
    if FORMAT_ATTR not in raw:
        raise CorruptEntryError(f"{path.name} has no {FORMAT_ATTR!r} attribute: not a store entry")
    meta: dict[str, Any] = {}
    for k, v in raw.items():
        v = v.decode() if isinstance(v, bytes) else v
        meta[k] = v.item() if hasattr(v, "item") else v
    fmt = int(meta[FORMAT_ATTR])
    if fmt > FORMAT_VERSION:
        raise StoreVersionError(
            f"{path.name} was written by landscape {meta.get('library_version', '?')} in store "
            f"format {fmt}; this library reads formats <= {FORMAT_VERSION}: upgrade landscape"
        )
    try:
        for k in _JSON_ATTRS:
            meta[k] = json.loads(meta[k])
        meta["schema_version"] = int(meta["schema_version"])
        if meta["key"] != path.name.removesuffix(".h5"):
            raise CorruptEntryError(f"{path.name} holds entry {meta['key']}: it was renamed")
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CorruptEntryError):
            raise
        raise CorruptEntryError(f"{path.name} has unreadable provenance ({exc!r})") from exc
    return meta


class Entry(Mapping[str, Any]):
    """One stored result, read lazily; a read-only mapping from field name to value.

    Attributes:
        key: the content key (64 hex digits).
        cached: ``True`` if the answer came from the store, ``False`` if just computed.
        attrs: provenance: ``analysis``, ``params``, ``inputs``, ``dataset``, ``version``,
            ``library_version``, ``created`` (ISO 8601, UTC), ``compute_seconds`` ...
        path: the HDF5 file.

    >>> import tempfile
    >>> from landscape.store import Store
    >>> e = Store(tempfile.mkdtemp()).get_or_compute(
    ...     "demo.square", {"x": 3}, None, lambda: {"y": 9, "v": [1.0, 2.0]})
    >>> e["y"], e["v"], e.cached, e.attrs["params"], sorted(e)
    (9, [1.0, 2.0], False, {'x': 3}, ['v', 'y'])
    """

    def __init__(self, path: str | Path, *, cached: bool, meta: dict[str, Any] | None = None):
        self.path = Path(path)
        self.cached = bool(cached)
        meta = read_meta(self.path) if meta is None else meta
        self.key: str = meta["key"]
        self.name: str = meta["analysis"]
        self.version: int = meta["schema_version"]
        self.attrs: dict[str, Any] = {**meta, "version": meta["schema_version"]}
        self._names: list[str] | None = None

    def __repr__(self) -> str:
        return f"Entry({self.name!r}, key={self.key[:12]}, cached={self.cached})"

    @contextlib.contextmanager
    def open(self) -> Iterator[h5py.File]:
        """Open the file read-only for lazy slicing: ``with e.open() as f: f["v"][:, 3]``."""
        try:
            f = _open(self.path)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"entry {self.key} was removed from the store after it was opened"
            ) from exc
        try:
            yield f
        finally:
            f.close()

    def keys(self) -> list[str]:  # type: ignore[override]
        """Names of the top-level results (datasets and groups)."""
        if self._names is None:
            with self.open() as f:
                self._names = list(f.keys())
        return list(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.keys()

    def read(self, name: str, sel: Any = ()) -> Any:
        """Read one result, or a selection of it, without loading the rest.

        ``sel`` is any h5py index (``3``, ``(slice(None), 0)``); ``name`` may be a
        ``group/field`` path.

        Raises:
            KeyError: no such result (the message lists the ones there are).

        """
        with self.open() as f:
            if name not in f:
                raise KeyError(
                    f"entry {self.key[:12]} ({self.name}) has no result {name!r}; "
                    f"it has {sorted(f.keys())}"
                )
            node = f[name]
            if isinstance(node, h5py.Group) and sel != ():
                raise TypeError(f"{name!r} is a group: select inside it with 'group/field'")
            try:
                return read_node(node, sel)
            except OSError as exc:  # a failed checksum or decompression: bit rot on disk
                raise CorruptEntryError(
                    f"entry {self.key[:12]} ({self.name}) has a corrupt {name!r} ({exc}): "
                    f"remove it with `landscape cache rm {self.key[:12]}` and recompute"
                ) from exc

    def __getitem__(self, name: str) -> Any:
        return self.read(name)

    def read_all(self) -> dict[str, Any]:
        """Read every result into memory, nested dicts for groups."""
        return {k: self.read(k) for k in self.keys()}

    @property
    def size(self) -> int:
        """Size of the file in bytes."""
        return self.path.stat().st_size
