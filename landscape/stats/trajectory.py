"""Projection of ``w_gRDA(e) - w_SGD(e)`` on the top-k Hessian eigenspace, epoch by epoch.

Chao et al. 2020 (Sec. 4.3, eq. 13, Fig. 6): for each epoch ``e`` two runs share (same seed,
same minibatches, different optimizers), take the top-k eigenvectors ``V_k`` (orthonormal
columns) of the full training-loss Hessian at ``w_SGD(e)`` (cached ``hessian.topk`` entries)
and report the share of ``delta = w_gRDA(e) - w_SGD(e)`` in their span::

    share = ||V_k^T delta||^2 / ||delta||^2      (ratio = sqrt(share))

(:func:`landscape.stats.projection.project`). Two baselines let a reader judge "low": the
share of isotropic random directions (``k / P`` in expectation, ``P`` parameters) and, when a
second SGD run from another seed is given, the share of ``w_SGD'(e) - w_SGD(e)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from landscape.checkpoint import (
    Checkpoint,
    check_comparable,
    checkpoint_digest,
    load_checkpoint,
    params_to_vector,
)
from landscape.curvature.analysis import hessian_topk
from landscape.data import EvalSet
from landscape.rundir import RunDir
from landscape.stats.projection import project, random_direction_shares

__all__ = [
    "PROJECTION_NAME",
    "check_roles",
    "check_same_experiment",
    "common_epochs",
    "projection_over_epochs",
]

PROJECTION_NAME = "projection.epoch"
VERSION = 3  # 2: random baseline drawn in chunks on the device; 3: converged count


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


def check_same_experiment(reference: Path, other: Path, *, same_seed: bool) -> None:
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


def _delta(a: Checkpoint, b: Path, names: tuple[str, str]) -> torch.Tensor:
    """``w_b - w_a`` in float64, after checking the two are the same model."""
    cb = load_checkpoint(b)
    check_comparable(a, cb, names=names)
    return params_to_vector(cb.parameters()).double() - params_to_vector(a.parameters()).double()

def _epoch_projection(
    store: Any, data: EvalSet, *, epoch: int, sgd_ckpt: Path, grda_ckpt: Path,
    inputs: dict[str, str], top_k: int, tol: float, random_probes: int, device: torch.device,
    baseline: Path | None, progress: bool,
) -> dict[str, Any]:
    """One epoch's projection (the eigenpairs come from the cached ``hessian.topk``)."""
    sgd = load_checkpoint(sgd_ckpt)
    delta = _delta(sgd, grda_ckpt, ("SGD", "gRDA")).to(device)  # checks shapes first
    model = sgd.build_model(device)
    top = hessian_topk(store, model, data, inputs={"checkpoint": inputs["sgd"]}, k=top_k,
                       tol=tol, progress=progress)
    vectors = torch.as_tensor(top["eigenvectors"]).to(device)
    proj = project(vectors, delta)
    rand = random_direction_shares(
        vectors, num=random_probes,
        generator=torch.Generator(device=vectors.device).manual_seed(epoch),
    )
    out = {
        "epoch": epoch, "ratio": proj.ratio, "share": proj.share,
        "per_vector": torch.tensor(proj.per_vector), "delta_norm": proj.delta_norm,
        "eigenvalues": torch.as_tensor(top["eigenvalues"]),
        "random_share": float(rand.mean()), "num_parameters": int(vectors.shape[1]),
        "converged": int(sum(bool(c) for c in top["converged"])),
    }
    if baseline is not None:
        delta = _delta(sgd, baseline, ("SGD", "SGD baseline")).to(device)
        out["baseline_share"] = project(vectors, delta).share
    return out


def projection_over_epochs(
    store: Any,
    sgd_run: str | Path,
    grda_run: str | Path,
    data: EvalSet,
    *,
    top_k: int = 10,
    epochs: Sequence[int] | None = None,
    baseline_run: str | Path | None = None,
    random_probes: int = 64,
    tol: float = 1e-3,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Share of ``w_gRDA(e) - w_SGD(e)`` in the top-k eigenspace at ``w_SGD(e)`` per epoch.

    Args:
        store: a :class:`landscape.store.Store` (eigenpairs and shares are cached there).
        sgd_run: the SGD run directory.
        grda_run: the gRDA run directory (same seed: same initialisation and minibatches).
        data: the evaluation set of the Hessian (the full training split by default).
        top_k: number of leading eigenvectors.
        epochs: epochs to analyse (default: every epoch both runs have, except 0, where the
            two coincide).
        baseline_run: a second SGD run from another seed, for the SGD-vs-SGD baseline.
        random_probes: random directions for the random baseline.
        tol: relative Ritz residual tolerance of the eigenpairs.
        device: where the Hessian is computed (default: the evaluation set's device).
        progress: show progress on stderr (epochs, and the Lanczos iterations inside).

    Returns:
        ``{"epochs", "ratio", "share", "per_vector" [E, k], "delta_norm", "eigenvalues"
        [E, k], "random_share", "random_expected", "baseline_share" (or None),
        "converged" (eigenpairs within tolerance, per epoch), "num_parameters", "top_k"}``.

    Raises:
        ValueError: a run trained with another optimizer than its role says (see
            :func:`check_roles`), runs of different experiments, no common epoch, or a
            requested epoch missing from a run; all before anything is computed.
    """
    sgd_run, grda_run = Path(sgd_run), Path(grda_run)
    check_roles(sgd_run, [grda_run], baseline_run=baseline_run)
    runs = [sgd_run, grda_run] + ([Path(baseline_run)] if baseline_run is not None else [])
    available = common_epochs(*runs)
    if epochs is None:
        epochs = [e for e in available if e > 0]
    missing = sorted(set(epochs) - set(available))
    if missing or not epochs:
        raise ValueError(
            f"epochs {missing or '(none)'} are not checkpointed in every run "
            f"({', '.join(str(r) for r in runs)}); common epochs: {available}"
        )
    check_same_experiment(sgd_run, grda_run, same_seed=True)
    if baseline_run is not None:
        check_same_experiment(sgd_run, Path(baseline_run), same_seed=False)
    device = torch.device(device) if device is not None else data.device
    rows: list[dict[str, Any]] = []
    for epoch in tqdm(epochs, desc="projection epochs", disable=not progress, leave=False):
        sgd_ckpt = RunDir(sgd_run).checkpoint_path(epoch)
        grda_ckpt = RunDir(grda_run).checkpoint_path(epoch)
        inputs = {"sgd": checkpoint_digest(sgd_ckpt), "grda": checkpoint_digest(grda_ckpt)}
        if baseline_run is not None:
            inputs["baseline"] = checkpoint_digest(RunDir(baseline_run).checkpoint_path(epoch))
        params = {"top_k": int(top_k), "tol": float(tol), "random_probes": int(random_probes)}

        compute = functools.partial(
            _epoch_projection, store, data, epoch=epoch, sgd_ckpt=sgd_ckpt, grda_ckpt=grda_ckpt,
            inputs=inputs, top_k=top_k, tol=tol, random_probes=random_probes, device=device,
            baseline=RunDir(baseline_run).checkpoint_path(epoch) if baseline_run else None,
            progress=progress,
        )
        entry = store.get_or_compute(
            PROJECTION_NAME, params, inputs, compute, dataset=data.spec(), version=VERSION,
            schema={"per_vector": ((top_k,), "f"), "eigenvalues": ((top_k,), "f"),
                    "share": ((), "f"), "ratio": ((), "f"),
                    **({"baseline_share": ((), "f")} if baseline_run is not None else {})})
        rows.append(entry.read_all())
    num_params = int(rows[0]["num_parameters"])
    return {
        "epochs": [int(r["epoch"]) for r in rows],
        "ratio": [float(r["ratio"]) for r in rows],
        "share": [float(r["share"]) for r in rows],
        "per_vector": [list(map(float, r["per_vector"])) for r in rows],
        "delta_norm": [float(r["delta_norm"]) for r in rows],
        "eigenvalues": [list(map(float, r["eigenvalues"])) for r in rows],
        "random_share": [float(r["random_share"]) for r in rows],
        "converged": [int(r["converged"]) for r in rows],
        "random_expected": top_k / num_params,
        "baseline_share": (
            [float(r["baseline_share"]) for r in rows] if baseline_run is not None else None
        ),
        "num_parameters": num_params,
        "top_k": int(top_k),
    }
