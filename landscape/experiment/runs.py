"""Runs and experiments on disk: which runs there are, and whether they can be compared.

An *experiment directory* (the ``--out`` of ``landscape train``) holds run directories side by
side, next to the result store (``store/``, marked by its ``.landscape-store`` file) and the
fitted curves between runs (``curve_A__B``, whose ``config.json`` records ``endpoints``).
:func:`find_runs` lists the runs and skips the other two. The checks here read only
``config.json`` and ``metrics.jsonl``, so they refuse a wrong comparison before anything is
computed:

* :func:`check_roles`: the SGD run is an SGD run and each gRDA run a gRDA run (the analyses
  label their arguments by position);
* :func:`check_same_experiment`: two runs share model, data and minibatch sequence (and the
  seed, for ``w_gRDA(e) - w_SGD(e)``, Chao et al. 2020, Sec. 4.3);
* :func:`common_epochs` and :func:`final_epoch`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landscape.rundir import RunDir
from landscape.store._layout import MARKER

__all__ = [
    "FinalEpoch",
    "check_roles",
    "check_same_experiment",
    "common_epochs",
    "final_epoch",
    "find_runs",
    "is_curve_dir",
    "is_store_dir",
]

def is_store_dir(path: str | Path) -> bool:
    """Whether ``path`` is a result store.

    It holds the store's marker file, or it is a folder named ``store`` that is not a run (a
    store from before the marker existed).
    """
    path = Path(path)
    return (path / MARKER).is_file() or (
        path.name == "store" and path.is_dir() and not RunDir(path).exists())


def is_curve_dir(path: str | Path) -> bool:
    """Whether ``path`` is a fitted curve (its ``config.json`` records ``endpoints``)."""
    run = RunDir(path)
    if not run.exists():
        return False
    try:
        return "endpoints" in run.read_config()
    except ValueError:
        return False


def _is_run(path: Path) -> bool:
    return RunDir(path).exists() and not is_curve_dir(path)


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories named by ``paths``: runs themselves, or folders holding runs (2 deep).

    Result stores and fitted curves are skipped, named or found (so ``runs/*`` works on an
    experiment directory that holds a store and curves beside its runs).

    Raises:
        FileNotFoundError: a path does not exist, or a folder that is neither a run, a store
            nor a curve holds no run.

    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: pass run directories or their "
                                    "parent (the --out of `landscape train`)")
        if is_store_dir(path) or is_curve_dir(path):
            continue
        if RunDir(path).exists():
            found.append(path)
            continue
        runs = sorted({c.parent for pattern in ("*/config.json", "*/*/config.json")
                       for c in path.glob(pattern) if _is_run(c.parent)})
        if not runs:
            raise FileNotFoundError(f"{path} holds no run directory (no config.json in it or "
                                    "in its subfolders)")
        found.extend(runs)
    return list(dict.fromkeys(found))


def common_epochs(*runs: str | Path) -> list[int]:
    """Epochs with a checkpoint in every run, ascending.

    Raises:
        FileNotFoundError: a path is not a run directory.

    """
    sets = []
    for run in runs:
        rd = RunDir(run)
        rd.read_config()  # raises a clear error for a non-run
        sets.append(set(rd.epochs()))
    return sorted(set.intersection(*sets)) if sets else []


# What two runs must share for w_gRDA(e) - w_SGD(e) to mean anything: the same model, data
# and minibatch sequence (Chao et al. 2020, Sec. 4.3, compare the two optimizers from one
# initialisation on one sequence of minibatches). The baseline run differs in the seed only.
_SHARED = ("model", "model_kwargs", "dataset_spec", "batch_size", "augment", "drop_last")


def check_same_experiment(reference: str | Path, other: str | Path, *, same_seed: bool) -> None:
    """Raise unless ``other`` was trained like ``reference`` (model, data, minibatches, seed).

    Raises:
        ValueError: naming the first differing setting and both values.

    """
    a, b = RunDir(reference).read_config(), RunDir(other).read_config()
    keys = _SHARED + (("seed",) if same_seed else ())
    for key in keys:
        if a.get(key) != b.get(key):
            why = ("the same initialisation and minibatches" if same_seed else
                   "the same model and data (only the seed differs)")
            raise ValueError(
                f"runs {reference} and {other} differ in {key!r} ({a.get(key)!r} vs "
                f"{b.get(key)!r}); comparing their weights needs {why}"
            )
    if not same_seed and a.get("seed") == b.get("seed"):
        raise ValueError(
            f"the baseline run {other} has the same seed ({a.get('seed')}) as {reference}: "
            "the SGD-vs-SGD baseline needs a run from another seed"
        )


def _optimizer(run: Path) -> tuple[str | None, str | None]:
    """``(optimizer, sparsifier)`` a run was trained with, as its ``config.json`` records."""
    config = RunDir(run).read_config()
    return config.get("optimizer"), config.get("prune")


def _trained_with(optimizer: str | None, prune: str | None) -> str:
    if optimizer is None:
        return "no optimizer (its config.json records none: is it a training run?)"
    return repr(optimizer) + (f" and the {prune!r} sparsifier" if prune else "")


def check_roles(
    sgd_run: str | Path,
    grda_runs: Sequence[str | Path],
    *,
    baseline_run: str | Path | None = None,
) -> None:
    """Raise unless ``sgd_run`` (and ``baseline_run``) are SGD runs and every ``grda_runs`` gRDA.

    The analyses label their arguments by position (``w_gRDA - w_SGD``, the verdict's "sgd"
    and "grda"), so swapped arguments would be reported under each other's names. Each run's
    optimizer is read from its ``config.json``; a run trained with a sparsifier (magnitude
    pruning, sparse momentum) is neither plain SGD nor plain gRDA.

    Raises:
        ValueError: naming the first and the offending run with their optimizers.
        FileNotFoundError: a path is not a run directory.

    """
    sgd_run = Path(sgd_run)
    sgd = _optimizer(sgd_run)
    others = [(Path(r), "gRDA", "grda", "GRDA_RUN") for r in grda_runs]
    if baseline_run is not None:
        others.append((Path(baseline_run), "SGD", "sgd", "--baseline-run"))
    found = [(Path(r), _optimizer(Path(r))) for r, *_ in others]
    if sgd != ("sgd", None):
        swapped = any(opt == ("sgd", None) for _, opt in found[: len(grda_runs)])
        fix = ("swap them: the SGD run comes first (SGD_RUN GRDA_RUN)" if swapped and
               sgd == ("grda", None) else "pass a run trained with --optimizer sgd first")
        second = (f" and {found[0][0]} with {_trained_with(*found[0][1])}" if found else "")
        raise ValueError(
            f"SGD_RUN must be a plain SGD run: {sgd_run} was trained with "
            f"{_trained_with(*sgd)}{second}; {fix}"
        )
    for (path, role, name, flag), (_, opt) in zip(others, found):
        if opt != (name, None):
            raise ValueError(
                f"{flag} must be a plain {role} run: {path} was trained with "
                f"{_trained_with(*opt)} (SGD_RUN {sgd_run} with {_trained_with(*sgd)}); "
                f"pass a run trained with --optimizer {name}"
            )


@dataclass(frozen=True)
class FinalEpoch:
    """A run's final epoch.

    Attributes:
        epoch: the last checkpointed epoch.
        checkpoint: its checkpoint file.
        metrics: its row of ``metrics.jsonl``.

    """

    epoch: int
    checkpoint: Path
    metrics: dict[str, Any]


def final_epoch(run: str | Path, *, allow_unfinished: bool = False) -> FinalEpoch:
    """The final epoch of a run, with its checkpoint and metrics.

    Raises:
        FileNotFoundError: not a run directory.
        ValueError: the run has no trained epoch, lacks the metrics of its last checkpoint,
            or stopped before its configured epochs (a diverged or interrupted run) and
            ``allow_unfinished`` is false.

    """
    rd = RunDir(run)
    config = rd.read_config()
    last = rd.last_epoch()
    if last is None or last == 0:
        raise ValueError(f"run {run} has no trained epoch yet: train it first")
    planned = config.get("epochs")
    if not allow_unfinished and isinstance(planned, int) and last != planned:
        raise ValueError(
            f"run {run} stopped at epoch {last} of {planned} (interrupted or diverged): finish "
            "it with `landscape train ... --resume`, or pass --allow-unfinished to judge its "
            "last checkpoint"
        )
    metrics = {int(r["epoch"]): r for r in rd.read_metrics()}
    if last not in metrics:
        raise ValueError(f"run {run} has no metrics for its last epoch {last}")
    return FinalEpoch(last, rd.checkpoint_path(last), metrics[last])
