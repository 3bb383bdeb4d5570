"""A registry dataset's identity, ``Dataset.spec()``, without building the dataset again.

A cached analysis is keyed by the identity of its data: :meth:`Dataset.spec`, whose
``digest`` is a SHA-256 over the dataset's arrays. Exact, but it needs the arrays: reading
and decoding the files (CIFAR-10: 180 MB) on every command that only asks the store. So the
identity is kept as a small JSON record in the user cache directory
(:func:`landscape.data.cache_dir`, ``identity/``), and served again only while everything the
arrays are made from is unchanged:

* the registry name and the options;
* every file the builder reads, as its registration lists them (``sources``), by resolved
  path, size, modification and status-change times (nanoseconds) and inode: rewriting a file
  changes its status-change time, whatever its modification time says;
* the code that turns them into arrays: the SHA-256 of this package's source files and of
  :mod:`landscape.seeding`, and the torch and numpy versions (a split is drawn from torch's
  generator).

A dataset whose registration lists no sources (``synthetic``, ``imagefolder``, a dataset of
your own), or whose files cannot all be found, is built and hashed every time, as is any
dataset whose record is missing, unreadable or stale. The record only saves time: when in
doubt, the identity is computed. Evaluation sets built later from the dataset check it again
(:class:`landscape.data.EvalSet` computes the spec it stores under), so a record can never
make a computed result land under another dataset's key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape._io import atomic_path
from landscape.data._base import Dataset
from landscape.data._cache import cache_dir
from landscape.data.registry import dataset_entry, get_dataset

__all__ = ["DatasetIdentity", "dataset_identity", "record_identity"]

RECORD_VERSION = 1


@dataclass(frozen=True)
class DatasetIdentity:
    """What a cached analysis needs to know about a registry dataset.

    Attributes:
        spec: :meth:`Dataset.spec` (name, options, content digest, split sizes).
        num_classes: number of classes.
        input_shape: shape of one sample.
        dataset: the dataset, when it was built to learn its identity (use it rather than
            building it again); ``None`` when the identity came from a record.

    """

    spec: dict[str, Any]
    num_classes: int
    input_shape: tuple[int, ...]
    dataset: Dataset | None = None

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetIdentity:
        """The identity of a built dataset (hashes its arrays once)."""
        return cls(dataset.spec(), int(dataset.num_classes), tuple(dataset.input_shape), dataset)


_CODE: list[str] = []  # the code digest, computed once per process
_MEMO: dict[str, DatasetIdentity] = {}  # fingerprint -> identity, for this process


def _code_digest() -> str | None:
    """SHA-256 of the source files that turn a dataset's files into arrays."""
    if not _CODE:
        from landscape import seeding

        here = Path(__file__).parent
        files = [*sorted(here.glob("*.py")), Path(seeding.__file__)]
        h = hashlib.sha256()
        try:
            for f in files:
                h.update(f"{f.name}:".encode())
                h.update(f.read_bytes())
        except OSError:  # no source files (a frozen install): no record is trusted
            _CODE.append("")
        else:
            _CODE.append(h.hexdigest())
    return _CODE[0] or None


def _file_state(path: Path) -> list[Any]:
    st = os.stat(path)
    return [str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _canonical(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True, default=str, separators=(",", ":"))


def fingerprint(name: str, options: dict[str, Any]) -> str | None:
    """SHA-256 of everything the dataset's arrays are made from, or ``None`` if unknown.

    ``None``: the registration lists no sources, a source is missing, the options are not
    the builder's, or the code cannot be read. Then the identity must be computed.
    """
    import numpy
    import torch

    entry = dataset_entry(name)
    code = _code_digest()
    if entry.sources is None or code is None:
        return None
    try:
        sources = entry.sources(**options)
        files = [_file_state(Path(p)) for p in sources] if sources is not None else None
    except (TypeError, ValueError, OSError):  # bad options or files: the build says what
        return None
    if files is None:
        return None
    text = json.dumps({"name": name, "options": _canonical(options), "files": files,
                       "code": code, "torch": torch.__version__, "numpy": numpy.__version__},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _record_path(name: str, options: dict[str, Any]) -> Path:
    tag = hashlib.sha256(_canonical(options).encode()).hexdigest()[:16]
    return cache_dir() / "identity" / f"{name}-{tag}.json"


def _read(path: Path, fp: str, name: str) -> DatasetIdentity | None:
    """The record's identity if it is for this fingerprint and well formed, else ``None``."""
    try:
        record = json.loads(path.read_text())
        spec = record["spec"]
        ok = (record["version"] == RECORD_VERSION and record["fingerprint"] == fp
              and spec["name"] == name and isinstance(spec["digest"], str)
              and len(spec["digest"]) == 64 and isinstance(spec["options"], dict)
              and all(isinstance(spec[k], int) for k in ("num_train", "num_test")))
        if not ok:
            return None
        return DatasetIdentity(dict(spec), int(record["num_classes"]),
                               tuple(int(s) for s in record["input_shape"]))
    except (OSError, ValueError, KeyError, TypeError):  # absent, damaged or another shape
        return None


def _write(path: Path, fp: str, ident: DatasetIdentity) -> None:
    record = {"version": RECORD_VERSION, "fingerprint": fp, "spec": ident.spec,
              "num_classes": ident.num_classes, "input_shape": list(ident.input_shape)}
    with contextlib.suppress(OSError), atomic_path(path) as tmp:  # unwritable: no record
        tmp.write_text(json.dumps(record, sort_keys=True, default=str))


def record_identity(name: str, options: dict[str, Any], dataset: Dataset) -> DatasetIdentity:
    """The identity of a dataset just built by ``get_dataset(name, **options)``, recorded.

    Replaces a stale record (the caller found that the recorded identity is not the
    dataset's): later processes read the identity computed here.
    """
    ident = DatasetIdentity.of(dataset)
    fp = fingerprint(name, options)
    if fp is not None:
        _write(_record_path(name, options), fp, ident)
        _MEMO[fp] = DatasetIdentity(ident.spec, ident.num_classes, ident.input_shape)
    return ident


def dataset_identity(name: str, **options: Any) -> DatasetIdentity:
    """The identity of ``get_dataset(name, **options)``: from its record, or by building it.

    Args:
        name: a registry dataset.
        **options: its options (as for :func:`landscape.data.get_dataset`).

    Returns:
        The identity; ``identity.dataset`` is the dataset when it had to be built.

    Raises:
        ValueError, FileNotFoundError: as :func:`landscape.data.get_dataset` (an unknown
            name, bad options, missing files).

    >>> ident = dataset_identity("synthetic", num_train=10)  # no sources: always built
    >>> ident.spec == ident.dataset.spec() and ident.num_classes
    3
    """
    fp = fingerprint(name, options)
    if fp is not None:
        known = _MEMO.get(fp) or _read(_record_path(name, options), fp, name)
        if known is not None:
            _MEMO[fp] = known
            return known
    return record_identity(name, options, get_dataset(name, **options))
