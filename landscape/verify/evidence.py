"""Gathering the evidence of directional pruning: runs, connectivity, projection, curvature.

Every number comes from the result store (computed when missing); a curve is fitted when no
fitted curve is found. Everything that can be refused (a run in the wrong role, runs of
different experiments, unfinished runs, a stale curve) is refused before any computation.

Units: accuracies, errors and sparsities are fractions; losses and barriers are in nats.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from landscape.checkpoint import checkpoint_digest
from landscape.data import EvalSet, dataset_from_config
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.curvehessian import curvature_along
from landscape.experiment.curves import (
    CurveFitConfig,
    LoadedCurve,
    along_cached,
    fit_curve_run,
    load_curve,
)
from landscape.experiment.projection import projection_over_epochs
from landscape.experiment.runs import check_roles, check_same_experiment, final_epoch
from landscape.experiment.sharpness import topk_overlap
from landscape.experiment.subject import DataOptions, at_checkpoint, resolve_subject
from landscape.rundir import RunDir
from landscape.store import Store
from landscape.verify.judgement import Thresholds, judge

__all__ = ["CURVE_HESSIAN", "connectivity", "curvature_on_curve", "default_curve_dir",
           "verify"]

CURVE_HESSIAN = {"points": 11, "k": 2, "tol": 1e-3, "trace_probes": 0}
"""The curvature along the curve that verify reports (``landscape curve hessian DIR --points
11 --top-k 2 --trace-probes 0`` asks the same question)."""


def default_curve_dir(start_run: str | Path, end_run: str | Path) -> Path:
    """Where verify keeps a fitted curve: ``<parent>/curve_<start>__<end>``, beside the runs.

    Beside the runs, the curve's default store (``landscape curve eval``/``plane`` without
    ``--store``) is the runs' store, so those commands answer from what verify computed.

    >>> default_curve_dir("runs/sgd", "runs/grda").as_posix()
    'runs/curve_sgd__grda'
    """
    start_run, end_run = Path(start_run), Path(end_run)
    return start_run.parent / f"curve_{start_run.name}__{end_run.name}"


def _final(run: Path, *, allow_unfinished: bool) -> tuple[int, Path, dict[str, Any]]:
    """``(epoch, checkpoint, metrics)`` of a run's final epoch (see :func:`final_epoch`)."""
    f = final_epoch(run, allow_unfinished=allow_unfinished)
    return f.epoch, f.checkpoint, f.metrics


@dataclass(frozen=True)
class _CurvePlan:
    """A curve between two checkpoints: where it is, and whether it is already fitted."""

    start: Path
    end: Path
    folder: Path
    given: bool
    complete: bool


def _plan_curve(start: Path, end: Path, folder: Path, *, given: bool) -> _CurvePlan:
    """Check the curve in ``folder`` (before any computation): given ones must be complete.

    A curve passed with ``--curve`` is used with whatever settings it was fitted with; the
    default location is reused once its fit is complete, and fitted (or resumed) otherwise.
    Either way its endpoints must be these two checkpoints.

    Raises:
        FileNotFoundError: a given folder is not a fitted curve.
        ValueError: a given curve is unfinished, or a complete curve joins other checkpoints.
    """
    run = RunDir(folder)
    if given and not run.exists():
        raise FileNotFoundError(
            f"{folder} is not a fitted curve (no config.json): fit one with `landscape curve "
            "fit A B --out DIR`, or omit --curve to let verify fit it"
        )
    complete = run.exists() and run.last_epoch() == run.read_config().get("epochs")
    if given and not complete:
        raise ValueError(
            f"the curve in {folder} is unfinished (epoch {run.last_epoch()} of "
            f"{run.read_config().get('epochs')}): finish it with `landscape curve fit ... "
            "--resume`"
        )
    if complete:
        ends = run.read_config()["endpoints"]
        if (ends["start"]["digest"], ends["end"]["digest"]) != (
            checkpoint_digest(start), checkpoint_digest(end)
        ):
            fix = ("pass a curve between them" if given else
                   f"remove {folder} and verify fits a new one")
            raise ValueError(
                f"the curve in {folder} joins {ends['start']['path']} and "
                f"{ends['end']['path']} as they were when it was fitted, not the final "
                f"checkpoints {start} and {end} as they are now: {fix}"
            )
    return _CurvePlan(start=start, end=end, folder=folder, given=given, complete=complete)


def _curve(plan: _CurvePlan, *, dataset: Any, fit: CurveFitConfig, device: torch.device,
           progress: bool) -> LoadedCurve:
    """The planned curve: loaded when complete, else fitted (or its fit resumed)."""
    if plan.complete:
        return load_curve(plan.folder, device=device)
    return fit_curve_run(plan.start, plan.end, plan.folder, dataset=dataset, config=fit,
                         device=device, resume=RunDir(plan.folder).exists(),
                         progress=progress)


def connectivity(
    store: Any, loaded: LoadedCurve, train: EvalSet, test: EvalSet, *, points: int = 61,
    progress: bool = False,
) -> dict[str, Any]:
    """Barriers and per-``t`` values of a fitted curve and of the straight line.

    Garipov et al. 2018: ``barrier = max_t L_train(phi(t)) - max(L_train(phi(0)),
    L_train(phi(1)))``, for the curve ``phi`` and for the line between the same endpoints.

    Returns:
        ``curve_barrier``, ``line_barrier`` (nats), ``t`` and, per ``t`` and path,
        ``*_train_loss`` (nats) and ``*_test_error`` (fractions).
    """
    along = along_cached(store, loaded, train, test, points=points, progress=progress)
    out: dict[str, Any] = {"t": [float(t) for t in along["t"]]}
    for part in ("curve", "line"):
        values = along[part]
        out[f"{part}_barrier"] = float(values["barrier"])
        out[f"{part}_train_loss"] = [float(v) for v in values["train_loss"]]
        out[f"{part}_test_error"] = [float(v) for v in values["test_error"]]
    return out


def curvature_on_curve(store: Any, loaded: LoadedCurve, train: EvalSet, *,
                       progress: bool = False) -> dict[str, Any]:
    """``lambda_max`` at the points of :data:`CURVE_HESSIAN` along the curve and the line.

    BatchNorm recalibrated at every ``t`` (:func:`landscape.experiment.curvehessian.
    curvature_along`). ``*_lambda_max_max`` is the largest value along the path,
    ``ends_lambda_max`` the larger of the two minima's.
    """
    res = curvature_along(store, loaded, train, points=CURVE_HESSIAN["points"],
                          k=CURVE_HESSIAN["k"], tol=CURVE_HESSIAN["tol"],
                          trace_probes=CURVE_HESSIAN["trace_probes"], progress=progress)
    out: dict[str, Any] = {"t": [float(t) for t in res["t"]], "key": res["key"],
                           "curve_dir": str(loaded.path)}
    for part in ("curve", "line"):
        out[f"{part}_lambda_max"] = [float(v) for v in res[part]["lambda_max"]]
        out[f"{part}_lambda_max_max"] = res[part]["lambda_max_max"]
    out["ends_lambda_max"] = res["ends_lambda_max"]
    return out


def _run_summary(path: Path, ckpt: Path, m: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": str(path), "checkpoint": str(ckpt), "epoch": int(m["epoch"]),
        "test_acc": float(m["test_acc"]), "train_loss": float(m["train_loss"]),
        "train_acc": float(m["train_acc"]), "sparsity": float(m["sparsity"]["global"]),
        "group_sparsity": float(m["group_sparsity"]["global"]),
    }


def verify(
    store: Store,
    sgd_run: str | Path,
    grda_run: str | Path,
    *,
    curve_dir: str | Path | None = None,
    baseline_run: str | Path | None = None,
    control: bool = True,
    top_k: int = 10,
    fit: CurveFitConfig | None = None,
    points: int = 61,
    subset: int | None = None,
    projection_epochs: list[int] | None = None,
    thresholds: Thresholds | None = None,
    allow_unfinished: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Gather the evidence for directional pruning and judge it.

    Args:
        store: the result store (everything expensive is cached there).
        sgd_run: the SGD run directory.
        grda_run: the gRDA run directory (same seed).
        curve_dir: a fitted curve between the two final checkpoints (default:
            :func:`default_curve_dir`; fitted there when absent).
        baseline_run: a second SGD run from another seed: the SGD-vs-SGD projection baseline
            and, with ``control``, the connectivity control.
        control: with a baseline run, also fit (same settings) and evaluate the curve and the
            line between the two SGD runs: two minima the straight line is expected not to
            join, showing that the instrument sees a barrier where there is one.
        top_k: eigenpairs for the projections and the curvature comparison.
        fit: curve-fitting settings when a curve must be fitted.
        points: points along the curves.
        subset: use this many training samples for the Hessian (default: all).
        projection_epochs: epochs of the projection (default: all shared epochs but 0).
        thresholds: verdict thresholds.
        allow_unfinished: judge runs that stopped before their configured epochs.
        device: where to compute.
        progress: progress bars on stderr.

    Returns:
        The report: ``runs`` (``sgd``, ``grda`` and ``baseline`` when given),
        ``connectivity``, ``control`` (the SGD-vs-SGD connectivity, or ``None``),
        ``projection``, ``curvature`` (the top-k eigenvalues at both minima, the overlap
        ``||V_SGD^T V_gRDA||_F^2 / k`` of their eigenspaces with its principal angles and
        random baseline ``k / P`` (Gur-Ari et al. 2018), and ``along_curve``: ``lambda_max``
        at the points of :data:`CURVE_HESSIAN` along the curve and the line), ``final_epoch``,
        ``verdict``. Accuracies, errors and sparsities are fractions.

    Raises:
        ValueError: a first run that is not SGD, a second that is not gRDA or a baseline
            that is not SGD; runs of different experiments, unfinished runs, final epochs
            that differ, or a curve that does not join the final checkpoints. All of these
            are checked before anything is computed.
    """
    sgd_run, grda_run = Path(sgd_run), Path(grda_run)
    baseline = Path(baseline_run) if baseline_run is not None else None
    check_roles(sgd_run, [grda_run], baseline_run=baseline)
    check_same_experiment(sgd_run, grda_run, same_seed=True)
    if baseline is not None:
        check_same_experiment(sgd_run, baseline, same_seed=False)
    device = torch.device(device)
    thresholds = thresholds or Thresholds()
    fit = fit or CurveFitConfig()
    final, sgd_ckpt, sgd_m = _final(sgd_run, allow_unfinished=allow_unfinished)
    finals = {"gRDA": _final(grda_run, allow_unfinished=allow_unfinished)}
    if baseline is not None:
        finals["baseline"] = _final(baseline, allow_unfinished=allow_unfinished)
    for role, (epoch, _, _) in finals.items():
        if epoch != final:
            raise ValueError(
                f"the {role} run ends at epoch {epoch} and the SGD run at epoch {final}: "
                "compare runs trained for the same number of epochs"
            )
    grda_ckpt, grda_m = finals["gRDA"][1:]
    if projection_epochs is not None and final not in projection_epochs:
        projection_epochs = [*projection_epochs, final]  # the verdict is taken at the end
    given = curve_dir is not None
    plans = {"connectivity": _plan_curve(
        sgd_ckpt, grda_ckpt,
        Path(curve_dir) if given else default_curve_dir(sgd_run, grda_run), given=given)}
    if baseline is not None and control:
        plans["control"] = _plan_curve(sgd_ckpt, finals["baseline"][1],
                                       default_curve_dir(sgd_run, baseline), given=False)

    config = RunDir(sgd_run).read_config()
    dataset = dataset_from_config(config)
    batch = int(config.get("eval_batch_size", 1000))
    train = EvalSet(dataset, "train", batch_size=batch, device=device)
    test = EvalSet(dataset, "test", batch_size=batch, device=device)

    paths: dict[str, Any] = {"control": None}
    curved: dict[str, LoadedCurve] = {}
    for role, plan in plans.items():
        loaded = curved[role] = _curve(plan, dataset=dataset, fit=fit, device=device,
                                       progress=progress)
        paths[role] = {"curve_dir": str(plan.folder),
                       **connectivity(store, loaded, train, test, points=points,
                                      progress=progress)}

    hess_data = DataOptions(batch_size=batch, subset=subset, device=device)
    proj = projection_over_epochs(
        store, sgd_run, grda_run, top_k=top_k, epochs=projection_epochs, baseline_run=baseline,
        data=hess_data, progress=progress)
    eig, converged, tops = {}, {}, {}
    subject = resolve_subject(sgd_ckpt, data=hess_data)
    for role, ckpt in (("sgd", sgd_ckpt), ("grda", grda_ckpt)):
        top = tops[role] = hessian_topk(store, at_checkpoint(subject, ckpt), k=top_k,
                                        progress=progress)
        eig[role] = [float(v) for v in top["eigenvalues"]]
        converged[role] = int(sum(bool(c) for c in top["converged"]))
    minima = topk_overlap(tops["sgd"], tops["grda"], store=store)

    runs = {"sgd": _run_summary(sgd_run, sgd_ckpt, sgd_m),
            "grda": _run_summary(grda_run, grda_ckpt, grda_m)}
    if baseline is not None:
        runs["baseline"] = _run_summary(baseline, *finals["baseline"][1:])
    evidence = {
        "runs": runs,
        "connectivity": paths["connectivity"],
        "control": paths["control"],
        "projection": proj,
        "curvature": {"top_k": top_k, "sgd_eigenvalues": eig["sgd"],
                      "grda_eigenvalues": eig["grda"], "sgd_converged": converged["sgd"],
                      "grda_converged": converged["grda"],
                      "minima_overlap": minima["overlap"], "minima_angles": minima["angles"],
                      "overlap_random": minima["random_expected"],
                      "along_curve": curvature_on_curve(store, curved["connectivity"], train,
                                                        progress=progress)},
        "final_epoch": final,
    }
    evidence["verdict"] = judge(evidence, thresholds)
    return evidence
