"""Projection of ``w_gRDA(e) - w_SGD(e)`` on the top-k Hessian eigenspace, epoch by epoch.

Chao et al. 2020 (Sec. 4.3, eq. 13, Fig. 6): for each epoch ``e`` two runs share (same seed,
same minibatches, different optimizers), take the top-k eigenvectors ``V_k`` (orthonormal
columns) of the full training-loss Hessian at ``w_SGD(e)`` (cached ``hessian.topk`` entries)
and report the share of ``delta = w_gRDA(e) - w_SGD(e)`` in their span::

    share = ||V_k^T delta||^2 / ||delta||^2      (ratio = sqrt(share))

(:func:`landscape.stats.project`). Two baselines let a reader judge "low": the share of
isotropic random directions (``k / P`` in expectation, ``P`` parameters) and, when a second
SGD run from another seed is given, the share of ``w_SGD'(e) - w_SGD(e)``. Each epoch is one
cached ``projection.epoch`` entry, keyed by the checkpoints' digests (roles ``sgd``, ``grda``,
``baseline``) and the Hessian's data.

Beside it, how the sharp subspace itself behaves (Gur-Ari et al. 2018): the share of the
full-batch gradient at ``w_SGD(e)`` in that eigenspace (a cached ``hessian.gradient`` entry),
the overlap ``||V_{e'}^T V_e||_F^2 / k`` with the eigenspace of the previous analysed epoch
``e'`` and, with ``minima``, the principal angles and overlap between the top-k eigenspaces at
``w_SGD`` and ``w_gRDA`` of the last analysed epoch (random baseline ``k / P`` for both).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from landscape.checkpoint import Checkpoint, check_comparable, checkpoint_digest, load_checkpoint
from landscape.experiment.cached import Analysis, cached
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.runs import check_roles, check_same_experiment, common_epochs
from landscape.experiment.sharpness import gradient_share, topk_overlap
from landscape.experiment.subject import DataOptions, Subject, at_checkpoint, resolve_subject
from landscape.params import params_to_vector
from landscape.rundir import RunDir
from landscape.stats import project, random_direction_shares
from landscape.store import Store

__all__ = ["PROJECTION", "projection_over_epochs"]

PROJECTION = Analysis("projection.epoch", version=3)  # 2: random baseline drawn in chunks on
# the device; 3: converged count


def _analysis(top_k: int, baseline: bool) -> Analysis:
    schema = {"per_vector": ((top_k,), "f"), "eigenvalues": ((top_k,), "f"),
              "share": ((), "f"), "ratio": ((), "f"),
              **({"baseline_share": ((), "f")} if baseline else {})}
    return Analysis(PROJECTION.name, PROJECTION.version, schema=lambda _: schema)


def _delta(a: Checkpoint, b: Path, names: tuple[str, str]) -> torch.Tensor:
    """``w_b - w_a`` in float64, after checking the two are the same model."""
    cb = load_checkpoint(b)
    check_comparable(a, cb, names=names)
    return params_to_vector(cb.parameters()).double() - params_to_vector(a.parameters()).double()


def _epoch(store: Store, subject: Subject, *, epoch: int, ckpts: dict[str, Path],
           top_k: int, tol: float, random_probes: int, progress: bool) -> dict[str, Any]:
    """One epoch's projection (the eigenpairs come from the cached ``hessian.topk``)."""
    device = subject.device
    sgd = load_checkpoint(ckpts["sgd"])
    delta = _delta(sgd, ckpts["grda"], ("SGD", "gRDA")).to(device)  # checks shapes first
    top = hessian_topk(store, at_checkpoint(subject, ckpts["sgd"]), k=top_k, tol=tol,
                       progress=progress)
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
    if "baseline" in ckpts:
        delta = _delta(sgd, ckpts["baseline"], ("SGD", "SGD baseline")).to(device)
        out["baseline_share"] = project(vectors, delta).share
    return out


def projection_over_epochs(
    store: Store,
    sgd_run: str | Path,
    grda_run: str | Path,
    *,
    data: DataOptions | None = None,
    top_k: int = 10,
    epochs: Sequence[int] | None = None,
    baseline_run: str | Path | None = None,
    random_probes: int = 64,
    tol: float = 1e-3,
    minima: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Share of ``w_gRDA(e) - w_SGD(e)`` in the top-k eigenspace at ``w_SGD(e)`` per epoch.

    Args:
        store: the result store (eigenpairs and shares are cached there).
        sgd_run: the SGD run directory.
        grda_run: the gRDA run directory (same seed: same initialisation and minibatches).
        data: the Hessian's data and where to compute (default: the runs' full training
            split, batches of 1000, on the CPU).
        top_k: number of leading eigenvectors.
        epochs: epochs to analyse (default: every epoch both runs have, except 0, where the
            two coincide).
        baseline_run: a second SGD run from another seed, for the SGD-vs-SGD baseline.
        random_probes: random directions for the random baseline.
        tol: relative Ritz residual tolerance of the eigenpairs.
        minima: also the top-k eigenpairs at ``w_gRDA`` of the last epoch, and the angles
            and overlap of the two eigenspaces there.
        progress: show progress on stderr (epochs, and the Lanczos iterations inside).

    Returns:
        ``{"epochs", "ratio", "share", "per_vector" [E, k], "delta_norm", "eigenvalues"
        [E, k], "random_share", "random_expected", "baseline_share" (or None),
        "converged" (eigenpairs within tolerance, per epoch), "num_parameters", "top_k",
        "gradient_share", "overlap_previous" (None at the first epoch), "minima" ({"epoch",
        "overlap", "angles", "random_expected"}, or None)}``.

    Raises:
        ValueError: a run trained with another optimizer than its role says (see
            :func:`~landscape.experiment.runs.check_roles`), runs of different experiments,
            no common epoch, or a requested epoch missing from a run; all before anything is
            computed.

    """
    sgd_run, grda_run = Path(sgd_run), Path(grda_run)
    baseline = Path(baseline_run) if baseline_run is not None else None
    check_roles(sgd_run, [grda_run], baseline_run=baseline)
    runs = {"sgd": sgd_run, "grda": grda_run, **({"baseline": baseline} if baseline else {})}
    available = common_epochs(*runs.values())
    if epochs is None:
        epochs = [e for e in available if e > 0]
    missing = sorted(set(epochs) - set(available))
    if missing or not epochs:
        raise ValueError(
            f"epochs {missing or '(none)'} are not checkpointed in every run "
            f"({', '.join(str(r) for r in runs.values())}); common epochs: {available}"
        )
    check_same_experiment(sgd_run, grda_run, same_seed=True)
    if baseline is not None:
        check_same_experiment(sgd_run, baseline, same_seed=False)
    opts = data or DataOptions()
    subject = resolve_subject(sgd_run, epoch=epochs[0], data=opts, splits=("train",))
    spec = subject.data_spec["train"]
    analysis = _analysis(int(top_k), baseline is not None)
    params = {"top_k": int(top_k), "tol": float(tol), "random_probes": int(random_probes)}
    rows: list[dict[str, Any]] = []
    for epoch in tqdm(epochs, desc="projection epochs", disable=not progress, leave=False):
        ckpts = {role: RunDir(run).checkpoint_path(epoch) for role, run in runs.items()}

        def compute(epoch: int = epoch, ckpts: dict[str, Path] = ckpts) -> dict[str, Any]:
            return _epoch(store, subject, epoch=epoch, ckpts=ckpts, top_k=top_k, tol=tol,
                          random_probes=random_probes, progress=progress)

        entry = cached(store, analysis, params, compute, data=spec,
                       inputs={role: checkpoint_digest(c) for role, c in ckpts.items()})
        rows.append(entry.read_all() if entry is not None else compute())
    subspaces = _subspaces(store, subject, runs, epochs, top_k=top_k, tol=tol, minima=minima,
                           progress=progress)
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
            [float(r["baseline_share"]) for r in rows] if baseline is not None else None
        ),
        "num_parameters": num_params,
        "top_k": int(top_k),
        **subspaces,
    }


def _subspaces(store: Store, subject: Subject, runs: dict[str, Path], epochs: Sequence[int],
               *, top_k: int, tol: float, minima: bool, progress: bool) -> dict[str, Any]:
    """Gradient shares and eigenspace overlaps from the cached eigenpairs (module docstring)."""
    shares, overlaps, previous = [], [], None
    for epoch in epochs:
        here = at_checkpoint(subject, RunDir(runs["sgd"]).checkpoint_path(epoch))
        top = hessian_topk(store, here, k=top_k, tol=tol, progress=progress)
        shares.append(float(gradient_share(store, here, top, k=top_k, tol=tol)["share"]))
        overlaps.append(topk_overlap(previous, top, store=store)["overlap"]
                        if previous is not None else None)
        previous = top
    out: dict[str, Any] = {"gradient_share": shares, "overlap_previous": overlaps,
                           "minima": None}
    if minima:
        last = epochs[-1]
        other = at_checkpoint(subject, RunDir(runs["grda"]).checkpoint_path(last))
        grda = hessian_topk(store, other, k=top_k, tol=tol, progress=progress)
        out["minima"] = {"epoch": int(last), **topk_overlap(previous, grda, store=store)}
    return out
