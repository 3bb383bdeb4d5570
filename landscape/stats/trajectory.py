"""Projection of ``w_gRDA(e) - w_SGD(e)`` on the top-k Hessian eigenspace, epoch by epoch.

Seed 004 Sec. 4.3 (eq. 13), DESIGN 4.6: for each epoch ``e`` two runs share (same seed, same
minibatches, different optimizers), take the top-k eigenvectors ``V_k`` of the full
training-loss Hessian at ``w_SGD(e)`` (cached ``hessian.topk`` entries) and report the share
of ``delta = w_gRDA(e) - w_SGD(e)`` in their span (:func:`landscape.stats.projection.project`).

Two baselines let a reader judge "low": the share of isotropic random directions (``k / P``
in expectation) and, when a second SGD run from another seed is given, the share of
``w_SGD'(e) - w_SGD(e)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

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


# What two runs must share for w_gRDA(e) - w_SGD(e) to mean anything (DESIGN 3.1): the same
# model, data and minibatch sequence. The baseline run differs in the seed only.
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
                f"{b.get(key)!r}); comparing their weights needs {why} (DESIGN 3.1)"
            )
    if not same_seed and a.get("seed") == b.get("seed"):
        raise ValueError(
            f"the baseline run {other} has the same seed ({a.get('seed')}) as {reference}: "
            "the SGD-vs-SGD baseline needs a run from another seed"
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
        progress: show progress on stderr.

    Returns:
        ``{"epochs", "ratio", "share", "per_vector" [E, k], "delta_norm", "eigenvalues"
        [E, k], "random_share", "random_expected", "baseline_share" (or None),
        "converged" (eigenpairs within tolerance, per epoch), "num_parameters", "top_k"}``.

    Raises:
        ValueError: no common epoch, or a requested epoch missing from a run.
    """
    sgd_run, grda_run = Path(sgd_run), Path(grda_run)
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
    for epoch in epochs:
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
        entry = store.get_or_compute(PROJECTION_NAME, params, inputs, compute,
                                     dataset=data.spec(), version=VERSION)
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
