"""Plumbing: the manifest that checksums every dataset of an entry, and schema checks.

Every entry (store format 2) carries a root attribute ``landscape_manifest``: JSON mapping
each dataset's path (``"eigenvalues"``, ``"curve/barrier"``) to its shape, dtype, kind and
checksum. Chunked datasets (the large ones) are checksummed by HDF5's own ``fletcher32``
filter, per chunk, verified by HDF5 whenever a chunk is read; every other dataset carries the
SHA-256 of its bytes (C order, stored dtype; strings as JSON text). An entry is corrupt when
a dataset is missing or unexpected, its shape, dtype, kind or filter differs from the
manifest, a checksum fails, or its fields contradict what the caller expects (a *schema*).

A schema maps a field path to ``(shape, kinds)``: ``shape`` a tuple with ``None`` for a free
dimension (or ``None`` for any shape), ``kinds`` numpy kind characters that are accepted
(``"f"`` float, ``"iu"`` integer, ``"b"`` bool, ``"c"`` complex, ``"U"`` string). For example
``{"eigenvalues": ((5,), "f"), "eigenvectors": ((5, None), "f")}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from landscape.store._h5 import KIND_ATTR
from landscape.store.errors import CorruptEntryError

__all__ = ["MANIFEST_ATTR", "Schema", "check_schema", "describe", "digest", "manifest",
           "parse_schema", "short_reason", "verify"]

MANIFEST_ATTR = "landscape_manifest"
Schema = Mapping[str, tuple[tuple[int | None, ...] | None, str]]
_KINDS = frozenset("biufcU")


def _kind_of(ds: h5py.Dataset) -> str:
    return "U" if h5py.check_string_dtype(ds.dtype) is not None else ds.dtype.kind


def _record(ds: h5py.Dataset) -> dict[str, Any]:
    kind = ds.attrs.get(KIND_ATTR)
    return {
        "shape": None if ds.shape is None else list(ds.shape),
        "dtype": "str" if _kind_of(ds) == "U" else ds.dtype.str,
        "kind": kind.decode() if isinstance(kind, bytes) else kind,
        "fletcher32": bool(ds.fletcher32),
    }


def describe(f: h5py.Group) -> dict[str, dict[str, Any]]:
    """Path -> shape, dtype, kind and filter of every dataset under ``f`` (no data read)."""
    out: dict[str, dict[str, Any]] = {}

    def visit(name: str, node: Any) -> None:
        if isinstance(node, h5py.Dataset):
            out[name] = _record(node)

    f.visititems(visit)
    return out


def digest(ds: h5py.Dataset) -> str:
    """SHA-256 of a dataset's values (C order, stored dtype; strings as JSON text)."""
    if ds.shape is None:
        data = b""
    elif _kind_of(ds) == "U":
        value = ds.asstr()[()]
        data = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value,
                          ensure_ascii=False).encode()
    else:
        data = np.ascontiguousarray(ds[()]).tobytes()
    return hashlib.sha256(data).hexdigest()


def manifest(f: h5py.File) -> dict[str, dict[str, Any]]:
    """The manifest of a freshly written entry (reads back its unchunked datasets)."""
    out = describe(f)
    for path, rec in out.items():
        if not rec["fletcher32"]:
            rec["sha256"] = digest(f[path])
    return out


def parse_schema(schema: Schema | None) -> dict[str, tuple[tuple[int | None, ...] | None, str]]:
    """Check a schema's form; return it as plain tuples.

    Raises:
        TypeError: a schema that is not ``{field: (shape, kinds)}``.

    """
    if schema is None:
        return {}
    if not isinstance(schema, Mapping):
        raise TypeError(
            f"schema must be a dict field -> (shape, kinds), e.g. {{'eigenvalues': ((5,), 'f')}},"
            f" got {type(schema).__name__}"
        )
    out = {}
    for name, spec in schema.items():
        try:
            shape, kinds = spec
            if shape is not None:
                shape = tuple(None if n is None else int(n) for n in shape)
        except (TypeError, ValueError):
            raise TypeError(
                f"schema field {name!r} must be (shape, kinds) with shape a tuple of ints or "
                f"None (a free dimension), like ((5, None), 'f'); got {spec!r}"
            ) from None
        if not isinstance(kinds, str) or not kinds or set(kinds) - _KINDS:
            raise TypeError(
                f"schema field {name!r}: kinds must be numpy kind letters from 'biufcU' "
                f"(e.g. 'f' float, 'iu' integer, 'b' bool), got {kinds!r}"
            )
        out[str(name)] = (shape, kinds)
    return out


def _shape(rec: dict[str, Any]) -> tuple[int, ...] | None:
    return None if rec["shape"] is None else tuple(rec["shape"])


def check_schema(records: Mapping[str, dict[str, Any]],
                 schema: Mapping[str, tuple[tuple[int | None, ...] | None, str]]) -> str | None:
    """Why the datasets ``records`` (from :func:`describe`) contradict ``schema``, or ``None``."""
    for name, (shape, kinds) in schema.items():
        rec = records.get(name)
        want = "" if shape is None else f" of shape {tuple('*' if n is None else n for n in shape)}"
        if rec is None:
            return f"field {name!r}{want} is missing"
        have = _shape(rec)
        if shape is not None and (
            have is None or len(have) != len(shape)
            or any(w is not None and w != h for w, h in zip(shape, have))
        ):
            return (f"field {name!r} has shape {have}, expected "
                    f"{tuple('*' if n is None else n for n in shape)}")
        kind = "U" if rec["dtype"] == "str" else np.dtype(rec["dtype"]).kind
        if kind not in kinds:
            return f"field {name!r} has dtype {rec['dtype']}, expected kind {kinds!r}"
    return None


def _compare(found: dict[str, dict[str, Any]], listed: dict[str, dict[str, Any]]) -> str | None:
    missing, extra = sorted(set(listed) - set(found)), sorted(set(found) - set(listed))
    if missing:
        return f"field {missing[0]!r} is missing"
    if extra:
        return f"unexpected field {extra[0]!r} (not in the entry's manifest)"
    for path, rec in sorted(found.items()):
        want = listed[path]
        for what in ("shape", "dtype", "kind", "fletcher32"):
            if rec[what] != want.get(what):
                return f"field {path!r} has {what} {rec[what]}, its manifest says {want.get(what)}"
    return None


def verify(
    f: h5py.File,
    listed: dict[str, dict[str, Any]] | None,
    schema: Mapping[str, tuple[tuple[int | None, ...] | None, str]],
    *,
    limit: int | None,
    chunked: bool = True,
) -> None:
    """Check an open entry against its manifest ``listed`` and the caller's ``schema``.

    Args:
        f: the entry, open for reading.
        listed: its manifest, or ``None`` for an entry of store format 1 (written before
            manifests: only its chunked datasets carry checksums).
        schema: parsed schema (``{}``: none).
        limit: read chunked datasets of at most this many bytes (``None``: all); every
            unchunked dataset is read and its SHA-256 compared.
        chunked: read chunked datasets at all (HDF5 checks their ``fletcher32`` as it reads).

    Raises:
        CorruptEntryError: the reason, naming the field.

    """
    found = describe(f)
    problem = _compare(found, listed) if listed is not None else None
    problem = problem or check_schema(found, schema)
    if problem:
        raise CorruptEntryError(problem)
    for path, rec in found.items():
        ds = f[path]
        try:
            if not rec["fletcher32"]:
                if listed is not None and digest(ds) != listed[path].get("sha256"):
                    raise CorruptEntryError(f"field {path!r}: SHA-256 checksum mismatch")
            elif chunked and (limit is None or ds.size * ds.dtype.itemsize <= limit):
                for sel in ds.iter_chunks():
                    ds[sel]
        except OSError as exc:  # a failed fletcher32 or decompression, an unreadable block
            raise CorruptEntryError(f"field {path!r}: {short_reason(exc)}") from exc


def short_reason(exc: BaseException) -> str:
    """What an HDF5 read error means for an entry, in a few words."""
    text = " ".join(str(exc).split())
    if "filter returned failure" in text or "checksum" in text.lower():
        return "a chunk failed its fletcher32 checksum or decompression"
    return f"unreadable: {text[:160]}"
