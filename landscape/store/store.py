"""The HDF5 result store: content-addressed, crash-safe, race-safe (DESIGN 3.3).

One immutable HDF5 file per entry, named by its content key (:mod:`landscape.store.keys`)::

    STORE/<key>.h5               a complete entry (the only files a reader ever opens)
    STORE/.<key>.h5.XXXX.tmp     an entry being written (ignored by readers)
    STORE/.partial/<key>.plog    a partial result filling in point by point
    STORE/.locks/<key>.lock      one lock file per key
    STORE/.versions/<q>/<v>      schema versions written for question q (finds newer entries)

Crash safety: an entry is written to a temporary file in the store directory, closed,
fsynced and renamed to ``<key>.h5`` (``os.replace`` is atomic), so a reader sees the whole
entry or none, and a process killed at any moment leaves every earlier entry untouched.
Race safety: computing an entry holds an exclusive ``flock`` on the key's lock file and checks
for the entry again once it holds it, so of several processes asking the same question one
computes and the others wait and read its answer; different keys never contend.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py

from landscape import __version__
from landscape._io import atomic_path
from landscape.store._h5 import write_tree
from landscape.store._locks import flocked
from landscape.store.entry import (
    FORMAT_ATTR,
    FORMAT_VERSION,
    CorruptEntryError,
    Entry,
    StoreError,
    StoreVersionError,
    StoreWarning,
    read_meta,
)
from landscape.store.keys import canonical, canonical_json, entry_key, question_key

__all__ = ["EntrySummary", "Store"]

_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
_TMP_RE = re.compile(r"^\.([0-9a-f]{64})\.h5\..*\.tmp$")


def _now() -> tuple[str, float]:
    t = time.time()
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds"), t


@dataclass(frozen=True)
class EntrySummary:
    """One line of ``store.entries()`` / ``landscape cache ls`` (also readable as a dict).

    ``status`` is ``"ok"``, ``"partial"`` (filling in; ``done`` says how far) or ``"corrupt"``
    / ``"newer-format"`` (skipped by readers; ``error`` says why).
    """

    key: str
    name: str | None
    inputs: dict[str, str]
    size: int
    created: str
    created_unix: float
    status: str = "ok"
    version: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    done: str | None = None
    error: str | None = None
    path: str = ""

    def __getitem__(self, item: str) -> Any:
        return getattr(self, item)

    @property
    def age_days(self) -> float:
        """Days since the entry was created."""
        return (time.time() - self.created_unix) / 86400.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (with ``age_days``)."""
        return {**asdict(self), "age_days": self.age_days}


class Store:
    """A directory of content-addressed HDF5 results.

    Args:
        root: the store directory (created on first write).
        readonly: skip the writability check (for listing or reading a shared store).
        compression: ``"gzip"`` (readable by every HDF5 build) or ``None``.
        compression_level: gzip level 1-9 (1 is several times faster than 4 for a few % size).
        compress_above: arrays of at least this many bytes are chunked + compressed.
        chunk_bytes: target chunk size in bytes.

    Raises:
        PermissionError: ``root`` cannot be created or written (checked here, before any
            computation is spent on a result that could not be saved).

    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> calls = []
    >>> def compute():
    ...     calls.append(1)
    ...     return {"eigenvalues": [3.0, 1.0]}
    >>> a = store.get_or_compute("demo.eig", {"k": 2}, {}, compute)
    >>> b = store.get_or_compute("demo.eig", {"k": 2}, None, compute)
    >>> a.key == b.key, a.cached, b.cached, b["eigenvalues"], len(calls)
    (True, False, True, [3.0, 1.0], 1)
    """

    def __init__(
        self,
        root: str | Path,
        *,
        readonly: bool = False,
        compression: str | None = "gzip",
        compression_level: int = 1,
        compress_above: int = 1 << 20,
        chunk_bytes: int = 1 << 20,
    ) -> None:
        if compression not in ("gzip", None):
            raise ValueError(
                f"compression must be 'gzip' or None, got {compression!r} (other filters would "
                "make entries unreadable by a plain HDF5 install)"
            )
        if not 0 <= int(compression_level) <= 9:
            raise ValueError(f"compression_level must be in 0..9, got {compression_level}")
        self.root = Path(root).expanduser()
        self.readonly = readonly
        self.compression = compression
        self.compression_level = int(compression_level)
        self.compress_above = int(compress_above)
        self.chunk_bytes = int(chunk_bytes)
        if not readonly:
            self.check_writable()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ------------------------------------------------------------------ paths and checks
    def check_writable(self) -> None:
        """Raise ``PermissionError`` unless entries can be written under ``root``."""
        if self.readonly:
            raise PermissionError(f"store {self.root} was opened read-only: open it writable")
        probe = self.root
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if not probe.is_dir():
            raise PermissionError(
                f"cannot create the store {self.root}: {probe} is a file, not a directory; "
                "pass another --store"
            )
        ok = os.access(probe, os.W_OK | os.X_OK)
        if ok and probe == self.root:
            try:  # the real test (os.access says yes to root on a read-only mount only sometimes)
                with tempfile.TemporaryFile(dir=self.root, prefix=".probe."):
                    pass
            except OSError:
                ok = False
        if not ok:
            raise PermissionError(
                f"the store {self.root} is not writable ({probe} refuses new files): "
                "pass a writable --store PATH"
            )

    def path_of(self, key: str) -> Path:
        """Path of the entry file for ``key``."""
        return self.root / f"{key}.h5"

    def _partial_path(self, key: str) -> Path:
        return self.root / ".partial" / f"{key}.plog"

    @contextlib.contextmanager
    def _lock(self, key: str, *, blocking: bool = True) -> Iterator[bool]:
        with flocked(self.root / ".locks" / f"{key}.lock", blocking=blocking) as got:
            yield got

    @staticmethod
    def _check_key(key: str) -> str:
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(f"a store key is 64 hex digits (from store.key(...)), got {key!r}")
        return key

    # ------------------------------------------------------------------ keys and lookup
    def key(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        dataset: Any = None,
        version: int = 1,
    ) -> str:
        """Content key of a question (see :func:`landscape.store.keys.entry_key`)."""
        return entry_key(name, params, inputs, dataset, version)

    def _lookup(self, key: str, *, cached: bool = True) -> Entry | None:
        path = self.path_of(key)
        try:
            meta = read_meta(path)
        except FileNotFoundError:
            return None
        except CorruptEntryError as exc:
            warnings.warn(f"skipping corrupt store entry: {exc}", StoreWarning, stacklevel=3)
            return None
        return Entry(path, cached=cached, meta=meta)

    def get(self, key: str) -> Entry | None:
        """The entry stored under ``key``, or ``None`` (a corrupt one is warned about, skipped).

        Raises:
            StoreVersionError: the entry was written by a newer store format.

        """
        return self._lookup(self._check_key(key))

    def _refuse_newer(
        self, name: str, params: Any, inputs: Any, dataset: Any, version: int
    ) -> None:
        qdir = self.root / ".versions" / question_key(name, params, inputs, dataset)
        try:
            marks = os.listdir(qdir)
        except (FileNotFoundError, NotADirectoryError):
            return
        for mark in sorted((m for m in marks if m.isdigit()), key=int, reverse=True):
            if int(mark) <= version:
                break
            try:
                newer = (qdir / mark).read_text().strip()
                lib = read_meta(self.path_of(newer)).get("library_version", "?")
            except (OSError, StoreError):  # removed or unreadable: it answers nothing
                continue
            raise StoreVersionError(
                f"{name} for these parameters and inputs is stored as entry {newer[:12]} "
                f"written by schema version {mark} (landscape {lib}); this code reads "
                f"version {version}: upgrade landscape, use another --store, or remove it "
                f"with `landscape cache rm {newer[:12]}`"
            )

    def find(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        dataset: Any = None,
        version: int = 1,
    ) -> Entry | None:
        """The cached answer to a question, or ``None`` (nothing is computed).

        Raises:
            StoreVersionError: only a newer schema version of this analysis answered it.

        """
        key = entry_key(name, params, inputs, dataset, version)
        entry = self._lookup(key)
        if entry is None:
            self._refuse_newer(name, params, inputs, dataset, version)
        return entry

    # ------------------------------------------------------------------ writing
    def get_or_compute(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None,
        compute: Callable[[], Mapping[str, Any]],
        *,
        dataset: Any = None,
        version: int = 1,
    ) -> Entry:
        """Return the cached answer, or call ``compute()``, store its result and return it.

        Args:
            name: analysis name, e.g. ``"hessian.topk"``.
            params: JSON-able parameters of the analysis.
            inputs: role -> content digest of each input checkpoint (``{}`` or ``None``).
            compute: zero-argument callable returning ``dict[str, value]``; a value is a numpy
                array or torch tensor (stored as a dataset, on CPU, dtype kept), a Python
                scalar/str/list/None, or a nested dict of those (an HDF5 group).
            dataset: JSON-able dataset spec (``EvalSet.spec()``) or ``None``.
            version: the analysis' schema version.

        Returns:
            The entry; ``entry.cached`` says whether ``compute`` was skipped.

        Raises:
            PermissionError: the store is not writable (raised before computing).
            StoreVersionError: a newer schema version already answered this question.
            TypeError: ``compute`` returned something the store cannot hold.

        """
        if not callable(compute):
            raise TypeError(f"compute must be a zero-argument callable, got {compute!r}")
        key = entry_key(name, params, inputs, dataset, version)
        entry = self._lookup(key)
        if entry is not None:
            return entry
        self._refuse_newer(name, params, inputs, dataset, version)
        self.check_writable()
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock(key):
            entry = self._lookup(key)  # another process may have written it while we waited
            if entry is not None:
                return entry
            start = time.perf_counter()
            values = compute()
            seconds = time.perf_counter() - start
            question = {"name": name, "params": params, "inputs": inputs,
                        "dataset": dataset, "version": version}
            self._write_entry(key, question, values, compute_seconds=seconds)
        return Entry(self.path_of(key), cached=False)

    def _write_entry(
        self, key: str, question: dict[str, Any], values: Mapping[str, Any], *,
        compute_seconds: float,
    ) -> None:
        """Write an entry atomically (caller holds the key's lock)."""
        if not isinstance(values, Mapping):
            raise TypeError(
                f"compute() for {question['name']} returned {type(values).__name__}: it must "
                "return a dict of name -> array/number/str/dict"
            )
        created, created_unix = _now()
        attrs = {
            FORMAT_ATTR: FORMAT_VERSION,
            "key": key,
            "analysis": question["name"],
            "schema_version": int(question["version"]),
            "params": canonical_json(question["params"]),
            "inputs": canonical_json(dict(question["inputs"] or {}), where="inputs"),
            "dataset": canonical_json(question["dataset"], where="dataset"),
            "library_version": __version__,
            "created": created,
            "created_unix": created_unix,
            "compute_seconds": float(compute_seconds),
            "host": socket.gethostname(),
        }
        with atomic_path(self.path_of(key)) as tmp, h5py.File(tmp, "w", locking=False) as f:
            f.attrs.update(attrs)
            write_tree(f, values, compression=self.compression, level=self.compression_level,
                       compress_above=self.compress_above, chunk_bytes=self.chunk_bytes,
                       where=f"result of {question['name']}")
        qkey = question_key(question["name"], question["params"], question["inputs"],
                            question["dataset"])
        with contextlib.suppress(OSError):  # only a hint for older readers; never fatal
            qdir = self.root / ".versions" / qkey
            qdir.mkdir(parents=True, exist_ok=True)
            (qdir / str(int(question["version"]))).write_text(key)

    def partial(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        *,
        dataset: Any = None,
        version: int = 1,
        fields: Mapping[str, tuple[tuple[int, ...], Any]],
        grid: tuple[int, ...] | None = None,
    ) -> Any:
        """Open (or start) a result that fills in point by point; see :class:`Partial`."""
        from landscape.store.partial import Partial

        return Partial(self, name, params, inputs, dataset=dataset, version=version,
                       fields=fields, grid=grid)

    # ------------------------------------------------------------------ listing and removal
    def entries(self) -> list[EntrySummary]:
        """Every entry and partial result in the store, oldest first; never raises.

        Corrupt files are included with ``status="corrupt"`` (and a :class:`StoreWarning`).
        """
        out: list[EntrySummary] = []
        if not self.root.is_dir():
            return out
        for path in sorted(self.root.glob("*.h5")):
            out.append(self._summarise(path))
        for path in sorted((self.root / ".partial").glob("*.plog")):
            from landscape.store.partial import summarise_log

            out.append(summarise_log(path))
        bad = [s for s in out if s.status in ("corrupt", "newer-format")]
        if bad:
            warnings.warn(
                f"{len(bad)} unreadable store file(s) skipped: "
                + "; ".join(f"{s.key[:12]}: {s.error}" for s in bad[:3]),
                StoreWarning, stacklevel=2,
            )
        return sorted(out, key=lambda s: s.created_unix)

    def _summarise(self, path: Path) -> EntrySummary:
        st = path.stat()
        try:
            meta = read_meta(path)
        except (CorruptEntryError, StoreVersionError) as exc:
            status = "newer-format" if isinstance(exc, StoreVersionError) else "corrupt"
            created, _ = datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(
                timespec="seconds"), None
            return EntrySummary(
                key=path.stem, name=None, inputs={}, size=st.st_size, created=created,
                created_unix=st.st_mtime, status=status, error=str(exc), path=str(path),
            )
        return EntrySummary(
            key=meta["key"], name=meta["analysis"], inputs=dict(meta["inputs"]),
            size=st.st_size, created=meta["created"],
            created_unix=float(meta.get("created_unix", st.st_mtime)),
            version=meta["schema_version"], params=canonical(meta["params"]), path=str(path),
        )

    def resolve(self, prefix: str) -> str:
        """The full key of the one entry (or partial) whose key starts with ``prefix``.

        Raises:
            KeyError: no entry, or several, match.

        """
        if not isinstance(prefix, str) or not re.fullmatch(r"[0-9a-f]{4,64}", prefix):
            raise KeyError(f"expected a key or a prefix of at least 4 hex digits, got {prefix!r}")
        names = {p.stem for p in self.root.glob(f"{prefix}*.h5")}
        names |= {p.stem for p in (self.root / ".partial").glob(f"{prefix}*.plog")}
        if len(names) != 1:
            what = "no entry" if not names else f"{len(names)} entries ({', '.join(sorted(names))})"
            raise KeyError(f"{what} in {self.root} match {prefix!r}: see `landscape cache ls`")
        return names.pop()

    def remove(self, key: str) -> bool:
        """Delete the entry and any partial result under ``key``; returns whether any existed."""
        self._check_key(key)
        removed = False
        for path in (self.path_of(key), self._partial_path(key)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed = True
        return removed

    def stale_temporaries(self) -> list[Path]:
        """Temporary files left by killed writers (no process holds their key's lock)."""
        out = []
        if not self.root.is_dir():
            return out
        for path in self.root.glob(".*.tmp"):
            m = _TMP_RE.match(path.name)
            if m is None:
                continue
            with self._lock(m.group(1), blocking=False) as free:
                if free and path.exists():
                    out.append(path)
        return out

    def clean(self) -> int:
        """Remove stale temporary files; returns the number of bytes freed."""
        freed = 0
        for path in self.stale_temporaries():
            with contextlib.suppress(FileNotFoundError):
                size = path.stat().st_size
                path.unlink()
                freed += size
        return freed

