"""What the run directories and the result store hold for one experiment (read only).

An *experiment* is the folder one ``landscape train --out DIR`` wrote: sibling run
directories, the fitted curves between them (``curve_A__B``) and the result store beside them
(``DIR/store``). :func:`gather_experiment` reads the runs' ``config.json`` and
``metrics.jsonl``, the checkpoints' stored content digests
(:func:`landscape.checkpoint.checkpoint_digest`, no tensor is read), the curves' recorded
endpoints, and the store's listing (:meth:`landscape.store.Store.entries`: analysis name,
parameters and the content digest of every input). Each store entry is matched to the
checkpoints it was computed from by those digests, so an entry answers "which run, which
epoch" without any computation; entries of other experiments in a shared store are left out.
Nothing is computed and nothing is written: the store is opened read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from landscape.checkpoint import checkpoint_digest
from landscape.experiment.runs import find_runs, is_curve_dir, is_store_dir
from landscape.rundir import RunDir
from landscape.store import Entry, EntrySummary, Store

__all__ = ["Curve", "Experiment", "Point", "Run", "StoredEntry", "gather_experiment"]


_LARGE = ("hessian.topk", "features.pass", "surface.grid")  # fields read one by one


@dataclass(frozen=True, eq=False)  # one object per run: compared by identity
class Run:
    """One training run of the experiment.

    Attributes:
        path: the run directory (as reached from the experiment path given).
        config: its ``config.json``.
        metrics: its ``metrics.jsonl`` rows, by epoch.
        digests: epoch -> content digest of that epoch's checkpoint.
    """

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    digests: dict[int, str]

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The run directory's name (its label everywhere in the report)."""
        return self.path.name

    @property
    def anchor(self) -> str:
        """The HTML id of the run's row."""
        return "run-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)

    @property
    def optimizer(self) -> str | None:
        """The optimizer (``None`` for a run trained with a sparsifier: neither role)."""
        return None if self.config.get("prune") else self.config.get("optimizer")

    @property
    def seed(self) -> Any:
        """The training seed."""
        return self.config.get("seed")

    @property
    def final_epoch(self) -> int | None:
        """The last epoch with a checkpoint and a metrics row."""
        rows = {int(r["epoch"]) for r in self.metrics}
        done = [e for e in self.digests if e in rows and e > 0]
        return max(done) if done else None

    @property
    def final(self) -> dict[str, Any] | None:
        """The metrics row of the final epoch."""
        e = self.final_epoch
        return next((r for r in self.metrics if int(r["epoch"]) == e), None)

    @property
    def finished(self) -> bool:
        """Whether the run reached its configured epochs."""
        return self.final_epoch is not None and self.final_epoch == self.config.get("epochs")


@dataclass(frozen=True)
class Point:
    """A checkpoint of the experiment: a run at an epoch."""

    run: Run
    epoch: int

    def __str__(self) -> str:
        return f"{self.run.name} epoch {self.epoch}"


@dataclass(frozen=True)
class Curve:
    """A fitted curve between two checkpoints of the experiment (``landscape curve fit``)."""

    path: Path
    config: dict[str, Any]
    start: Point | None
    end: Point | None
    complete: bool

    @property
    def name(self) -> str:
        """The curve directory's name."""
        return self.path.name


@dataclass
class StoredEntry:
    """A store entry (or partial result) computed from checkpoints of this experiment.

    Attributes:
        summary: the store's listing line (key, analysis name, params, input digests ...).
        roles: input role -> the checkpoint it is (``None`` for an input that is no
            checkpoint of the experiment, e.g. a curve's middle control points).
        curve: for ``curves.*`` entries, the fitted curve with these endpoints.
        store: the store it is in.
    """

    summary: EntrySummary
    roles: dict[str, Point | None]
    curve: Curve | None
    store: Store

    @property
    def key(self) -> str:
        """The entry's full store key."""
        return self.summary.key

    @property
    def name(self) -> str:
        """The analysis name (``hessian.topk`` ...)."""
        return str(self.summary.name)

    @property
    def params(self) -> dict[str, Any]:
        """The analysis parameters (part of the key)."""
        return dict(self.summary.params)

    @property
    def anchor(self) -> str:
        """The HTML id of the entry's row in the page's provenance table."""
        return "entry-" + self.key[:16]

    @property
    def complete(self) -> bool:
        """A finished entry (not a partial result)."""
        return self.summary.status == "ok"

    @cached_property
    def entry(self) -> Entry:
        """The stored entry, checked by the store (read lazily, field by field)."""
        found = self.store.get(self.key)
        if found is None:
            raise FileNotFoundError(
                f"entry {self.key[:12]} ({self.name}) in {self.store.root} is gone or fails "
                "its checksums: `landscape cache verify --store "
                f"{self.store.root}` says which, and rerunning its command recomputes it")
        return found

    @cached_property
    def values(self) -> dict[str, Any]:
        """Every field of the entry, read once (for entries without large arrays)."""
        return self.entry.read_all()

    def read(self, name: str) -> Any:
        """One field of the entry (``group/field`` for a field in a group)."""
        if "values" in self.__dict__ or self.name not in _LARGE:
            node: Any = self.values
            for part in name.split("/"):
                node = node[part]
            return node
        return self.entry.read(name)


@dataclass
class Experiment:
    """Everything on disk about one experiment (see :func:`gather_experiment`)."""

    root: Path
    runs: list[Run]
    curves: list[Curve]
    entries: list[StoredEntry]
    store: Store | None
    default_store: bool
    foreign: int = 0
    by_digest: dict[str, Point] = field(default_factory=dict)

    def run(self, name: str) -> Run:
        """The run named ``name``."""
        return next(r for r in self.runs if r.name == name)

    def find(self, name: str, **roles: Point | None) -> list[StoredEntry]:
        """Complete entries of analysis ``name`` whose inputs are these checkpoints."""
        return [e for e in self.entries if e.name == name and e.complete and all(
            e.roles.get(role) == point for role, point in roles.items())]

    def partial(self, name: str) -> list[StoredEntry]:
        """Unfinished (partial) results of analysis ``name``."""
        return [e for e in self.entries if e.name == name and not e.complete]

    def curve_between(self, start: Point, end: Point) -> Curve | None:
        """The fitted curve from ``start`` to ``end``, if any."""
        return next((c for c in self.curves if c.start == start and c.end == end), None)

    def sgd_runs(self) -> list[Run]:
        """Plain SGD runs, by seed."""
        return sorted((r for r in self.runs if r.optimizer == "sgd"), key=lambda r: str(r.seed))

    def pairs(self) -> list[tuple[Run, Run, Run | None]]:
        """``(sgd, grda, baseline)``: each gRDA run with the SGD run of its seed and model.

        The baseline is an SGD run of the same model and data from another seed (or None),
        as ``landscape verify --baseline-run`` takes it.
        """
        out = []
        for grda in (r for r in self.runs if r.optimizer == "grda"):
            same = [s for s in self.sgd_runs() if _comparable(s, grda)]
            sgd = next((s for s in same if s.seed == grda.seed), None)
            if sgd is None:
                continue
            baseline = next((s for s in same if s.seed != sgd.seed), None)
            out.append((sgd, grda, baseline))
        return out


_SHARED = ("model", "model_kwargs", "dataset_spec", "batch_size", "augment", "drop_last")


def _comparable(a: Run, b: Run) -> bool:
    """Same model, data and minibatches (as ``check_same_experiment`` asks), seed aside."""
    return all(a.config.get(k) == b.config.get(k) for k in _SHARED)


def _read_run(path: Path) -> Run:
    rd = RunDir(path)
    digests = {}
    for epoch in rd.epochs():
        try:
            digests[epoch] = checkpoint_digest(rd.checkpoint_path(epoch))
        except (OSError, ValueError):  # a damaged checkpoint: its entries stay unmatched
            continue
    return Run(path=path, config=rd.read_config(), metrics=rd.read_metrics(), digests=digests)


def _point(ends: dict[str, Any], role: str, by_digest: dict[str, Point]) -> Point | None:
    return by_digest.get(str((ends.get(role) or {}).get("digest")))


def _read_curves(root: Path, by_digest: dict[str, Point]) -> list[Curve]:
    curves = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and is_curve_dir(p)):
        rd = RunDir(path)
        config = rd.read_config()
        ends = config.get("endpoints", {})
        curves.append(Curve(path=path, config=config, start=_point(ends, "start", by_digest),
                            end=_point(ends, "end", by_digest),
                            complete=rd.last_epoch() == config.get("epochs")))
    return curves


def _match(summaries: Iterable[EntrySummary], by_digest: dict[str, Point],
           curves: list[Curve], store: Store) -> tuple[list[StoredEntry], int]:
    matched, foreign = [], 0
    for s in summaries:
        if s.status not in ("ok", "partial") or not s.name:
            continue
        roles = {role: by_digest.get(digest) for role, digest in s.inputs.items()}
        if not any(roles.values()):
            foreign += 1
            continue
        curve = None
        if s.name.startswith("curves.") and {"start", "end"} <= set(roles):
            curve = next((c for c in curves if c.start == roles["start"] and c.start
                          and c.end == roles["end"]), None)
        matched.append(StoredEntry(summary=s, roles=roles, curve=curve, store=store))
    return matched, foreign


def gather_experiment(root: str | Path, *, store: str | Path | None = None) -> Experiment:
    """Read what is on disk for the experiment in ``root``; computes nothing.

    Args:
        root: the experiment directory (the ``--out`` of ``landscape train``).
        store: the result store (default: ``root/store``, where every command beside the
            runs keeps its results).

    Raises:
        FileNotFoundError: ``root`` is missing or holds no run directory.
        ValueError: ``root`` is a file.

    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file: pass the experiment directory (the --out "
                                 "of `landscape train`), which holds the run directories")
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist: pass the experiment directory (the "
                                "--out of `landscape train`)")
    if RunDir(root).exists() and not is_curve_dir(root):  # one run: its siblings' store
        paths, base = [root], root.parent
    else:
        paths, base = [p for p in find_runs([root]) if p.parent == root], root
    if not paths:
        raise FileNotFoundError(f"{root} holds no run directory beside each other (runs "
                                "deeper down are separate experiments): pass the --out of "
                                "`landscape train`")
    runs = [_read_run(p) for p in paths]
    by_digest = {d: Point(run, epoch) for run in runs for epoch, d in run.digests.items()}
    curves = _read_curves(base, by_digest)
    store_path = Path(store) if store is not None else base / "store"
    opened = None
    entries: list[StoredEntry] = []
    foreign = 0
    if store_path.is_dir() and (store is not None or is_store_dir(store_path)):
        # verify_bytes: small fields are checked on lookup, large ones (eigenvectors) only
        # chunk by chunk if read, which the report never does
        opened = Store(store_path, readonly=True, verify_bytes=1 << 20)
        entries, foreign = _match(opened.entries(check="meta"), by_digest, curves, opened)
    elif store is not None:
        raise FileNotFoundError(f"there is no store at {store_path}: check --store")
    return Experiment(root=root, runs=runs, curves=curves, entries=entries, store=opened,
                      default_store=store is None or store_path == base / "store",
                      foreign=foreign, by_digest=by_digest)
