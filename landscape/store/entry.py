"""A stored result: one immutable HDF5 file ``<key>.h5`` read lazily.

Provenance lives in the root group's attributes (``analysis``, ``schema_version``, ``params``,
``inputs``, ``dataset`` as JSON strings, ``library_version``, ``created``, ``compute_seconds``
..., and the checksum manifest, see :mod:`landscape.store._checksum`); the results are the
root's datasets and groups, so ``h5py.File(path)["eigenvalues"][:]`` works without this
library. An :class:`Entry` opens the file only for the access asked for:
``entry["eigenvalues"]`` reads that one array, ``entry.read("eigenvectors", 3)`` one row.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py

from landscape.store._checksum import MANIFEST_ATTR, short_reason, verify
from landscape.store._h5 import read_node
from landscape.store._layout import ENTRY_RE, Layout, move_aside, report_once
from landscape.store.errors import (
    CorruptEntryError,
    StoreError,
    StoreVersionError,
    StoreWarning,
)
from landscape.store.keys import entry_key

__all__ = [
    "FORMAT_ATTR",
    "FORMAT_VERSION",
    "CorruptEntryError",
    "Entry",
    "StoreError",
    "StoreVersionError",
    "StoreWarning",
    "identify",
    "inspect",
    "read_meta",
]

FORMAT_ATTR = "landscape_store_format"
FORMAT_VERSION = 2  # 2: every dataset checksummed (manifest); 1: chunked datasets only
_JSON_ATTRS = ("params", "inputs", "dataset")


def _open(path: Path) -> h5py.File:
    # Entries are immutable once visible (written elsewhere, then renamed into place), so
    # readers need no HDF5 file lock; skipping it also keeps NFS and read-only mounts working.
    return h5py.File(path, "r", locking=False)


def _plain(value: Any) -> Any:
    value = value.decode() if isinstance(value, bytes) else value
    return value.item() if hasattr(value, "item") else value


def _meta(f: h5py.File, path: Path) -> dict[str, Any]:
    attrs = f.attrs  # one attribute manager, not one per name
    meta = {k: _plain(attrs[k]) for k in attrs}
    if FORMAT_ATTR not in meta:
        raise CorruptEntryError(f"{path.name} has no {FORMAT_ATTR!r} attribute: not a store entry")
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
        if fmt >= 2:
            meta[MANIFEST_ATTR] = json.loads(meta[MANIFEST_ATTR])
        key = entry_key(meta["analysis"], meta["params"], meta["inputs"], meta["dataset"],
                        meta["schema_version"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CorruptEntryError):
            raise
        raise CorruptEntryError(f"{path.name} has unreadable provenance ({exc!r})") from exc
    if key != meta["key"]:
        raise CorruptEntryError(
            f"{path.name}: its analysis, parameters, inputs and dataset make key {key[:12]}, "
            "not its own (damaged or planted provenance)"
        )
    return meta


def read_meta(path: str | Path) -> dict[str, Any]:
    """Read and check an entry file's provenance attributes (no dataset is read).

    Raises:
        CorruptEntryError: not an HDF5 file, truncated, not a store entry, or provenance
            that does not give the entry's key.
        StoreVersionError: written by a newer store format.
        FileNotFoundError: no such file.

    """
    return inspect(path, check="meta")


def inspect(path: str | Path, *, check: str = "full", schema: Mapping[str, Any] | None = None,
            limit: int | None = None) -> dict[str, Any]:
    """Read the provenance and verify the entry (see :func:`landscape.store._checksum.verify`).

    Args:
        path: the entry file.
        check: ``"meta"`` (provenance only), ``"checksums"`` (also the manifest, the
            schema and the SHA-256 of every unchunked dataset; no chunk is read) or
            ``"full"`` (also every chunked dataset of at most ``limit`` bytes, which HDF5
            checks against its fletcher32 checksums).
        schema: parsed schema the entry must satisfy (``None``: none).
        limit: bytes (``None``: no limit).

    Raises:
        CorruptEntryError: the entry is damaged or contradicts ``schema``.
        StoreVersionError: written by a newer store format.
        FileNotFoundError: no such file.

    """
    if check not in ("meta", "checksums", "full"):
        raise ValueError(f"check must be 'meta', 'checksums' or 'full', got {check!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no store entry at {path}")
    try:
        with _open(path) as f:
            meta = _meta(f, path)
            if check != "meta":
                try:
                    verify(f, meta.get(MANIFEST_ATTR), schema or {}, limit=limit,
                           chunked=check == "full")
                except CorruptEntryError as exc:
                    raise CorruptEntryError(f"{path.name}: {exc}") from exc
    except OSError as exc:
        raise CorruptEntryError(f"{path.name} is not a readable HDF5 file ({exc})") from exc
    return meta


def identify(path: str | Path) -> dict[str, Any] | None:
    """The raw attributes of a file positively identified as a store entry, else ``None``.

    Identified: named ``<64 hex digits>.h5``, an HDF5 file with the store-format attribute,
    and a ``key`` attribute equal to its name. Nothing else is ever removed by the store.
    """
    path = Path(path)
    if not ENTRY_RE.match(path.name):
        return None
    try:
        with _open(path) as f:
            raw = f.attrs
            attrs = {k: _plain(raw[k]) for k in raw if k != MANIFEST_ATTR}
    except OSError:
        return None
    if FORMAT_ATTR not in attrs or attrs.get("key") != path.stem:
        return None
    return attrs


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
        st = self.path.stat()
        self._ident = (st.st_dev, st.st_ino)
        meta = read_meta(self.path) if meta is None else meta
        self.key: str = meta["key"]
        self.name: str = meta["analysis"]
        self.version: int = meta["schema_version"]
        self.attrs: dict[str, Any] = {
            **{k: v for k, v in meta.items() if k != MANIFEST_ATTR},
            "version": meta["schema_version"],
        }
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
            CorruptEntryError: a chunk fails its checksum (bit rot on disk): the entry is
                moved aside, and the next run recomputes it.

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
                failure = exc
        self._damaged(name, failure)

    def _damaged(self, name: str, exc: OSError) -> None:
        layout = Layout(self.path.parent)
        try:
            dest = move_aside(layout, self.path, self.key, self._ident, locked=False)
            where = f"moved to {dest}" if dest else "left in place (another process holds it)"
            fix = "rerun the command to recompute it"
        except OSError as err:
            where = f"not moved aside ({err.strerror}: the store is read-only)"
            fix = (f"ask its owner to run `landscape cache verify --store {layout.root} "
                   "--move-aside`, or use a writable --store")
        reason = short_reason(exc)
        message = (f"entry {self.key[:12]} ({self.name}) in {layout.root} is corrupt "
                   f"(field {name!r}: {reason}); {where}")
        report_once(self._ident, message)
        raise CorruptEntryError(f"{message}: {fix}") from exc

    def __getitem__(self, name: str) -> Any:
        return self.read(name)

    def read_all(self) -> dict[str, Any]:
        """Read every result into memory, nested dicts for groups."""
        return {k: self.read(k) for k in self.keys()}

    @property
    def size(self) -> int:
        """Size of the file in bytes."""
        return self.path.stat().st_size
