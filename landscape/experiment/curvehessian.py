"""Curvature along a fitted curve: top-k eigenvalues and trace at every t, resumable.

Is the valley that joins two minima equally flat all the way (Garipov et al. 2018; Chao et
al. 2020)? At ``points`` equally spaced ``t`` of a fitted curve ``phi(t)`` and of the straight
line ``(1 - t) w_0 + t w_1`` between its ends (``t = 0`` is the curve's start model, ``t = 1``
its end):

1. the BatchNorm statistics of ``phi(t)`` are recomputed exactly, as curve evaluation does
   (:func:`landscape.evaluation.recalibrate_bn`, one pass over the training data);
2. the Hessian of the mean training loss at ``phi(t)`` (eval mode, those statistics) gives
   its top-k eigenpairs by Lanczos, started from the eigenvectors of the neighbouring ``t``
   computed before it and one random vector
   (:func:`landscape.experiment.sharpness.warm_start`; same residual tolerance: the same
   answer to it), and Hutchinson's trace (probes seeded alike at every ``t``).

The values go to a store partial (``curves.hessian``, grid ``[path, t]`` with path 0 the curve
and 1 the line) as each ``t`` is done: an interrupted computation resumes with only the
missing ``t``. Under ``torchrun`` the pending ``t`` are dealt round-robin over the ranks
(each rank evaluates whole data sets, warm-starting from its own previous ``t``), rank 0
writes them after each round. The line shares the curve's endpoints, computed once.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from landscape.curvature import HessianOperator, hutchinson, lanczos
from landscape.evaluation import evaluate_loss_error, recalibrate_bn
from landscape.experiment._curverun import LoadedCurve
from landscape.experiment.cached import Analysis, cached_grid
from landscape.experiment.curves import curve_inputs
from landscape.experiment.sharpness import warm_start

__all__ = ["CURVE_HESSIAN", "curvature_along", "curve_hessian_partial", "curve_jobs",
           "point_curvature", "pruning_curvature"]

CURVE_HESSIAN = Analysis("curves.hessian", 1)
"""Top-k Hessian eigenvalues and trace along a curve and its line (grid ``[path, t]``)."""
PATHS = ("curve", "line")
_SCALARS = ("trace", "trace_stderr", "loss", "num_products", "seconds")

Job = tuple[int, int]  # (path, t index)


def point_curvature(
    model: nn.Module,
    params: dict[str, Tensor],
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    k: int,
    tol: float,
    trace_probes: int,
    seed: int = 0,
    start: Tensor | None = None,
    work: nn.Module | None = None,
    check: bool = True,
) -> tuple[dict[str, Any], Tensor]:
    """Top-k eigenvalues and trace of the Hessian at ``params`` with its own BatchNorm statistics.

    Args:
        model: a network of the right architecture (its tensors are not changed).
        params: the point, ``name -> tensor`` of every trainable parameter.
        batches: the training data (the BatchNorm pass and the loss).
        loss_fn: ``(outputs, targets) -> mean loss over the batch``.
        k: eigenpairs.
        tol: relative Ritz residual tolerance.
        trace_probes: Hutchinson probes (0: no trace).
        seed: seed of a cold Lanczos start and of the probes.
        start: a warm start ``[P, s]`` (or ``[s, P]``), e.g. a neighbouring point's
            eigenvectors.
        work: a scratch copy of ``model`` to load the point's statistics into (made when
            absent; pass one to reuse it).
        check: run the operator's determinism probe (two gradient passes; once per model
            and data is enough).

    Returns:
        ``(values, eigenvectors [k, P])``; ``values`` holds ``eigenvalues``, ``residuals``,
        ``converged`` (``[k]`` each), ``trace``, ``trace_stderr`` (NaN without probes),
        ``loss`` (the mean training loss, as ``landscape curve eval`` measures it:
        :func:`landscape.evaluation.evaluate_loss_error`), ``num_products`` and ``seconds``.

    """
    began = time.perf_counter()
    net = work if work is not None else copy.deepcopy(model)
    with torch.no_grad():
        for name, value in recalibrate_bn(model, params, batches).items():
            net.get_buffer(name).copy_(value)
    op = HessianOperator(net, batches, point=params, loss_fn=loss_fn, check_deterministic=check)
    res = lanczos(op, k, tol=tol, seed=seed, start=start)
    loss, _ = evaluate_loss_error(net, params, batches, loss_fn=loss_fn)
    values: dict[str, Any] = {
        "eigenvalues": res.eigenvalues.double().cpu().numpy(),
        "residuals": res.residuals.double().cpu().numpy(),
        "converged": res.converged.cpu().numpy(),
        "trace": np.nan, "trace_stderr": np.nan, "loss": float(loss),
    }
    if trace_probes:
        tr = hutchinson(op, int(trace_probes), block_size=min(int(trace_probes), 10), seed=seed)
        values["trace"], values["trace_stderr"] = tr.value, tr.stderr
    values["num_products"] = int(op.num_products)
    values["seconds"] = time.perf_counter() - began
    return values, res.eigenvectors.T.contiguous()


def curve_jobs(points: int, *, line: bool) -> list[Job]:
    """The ``(path, t index)`` to compute, in warm-start order.

    The curve from ``t = 0`` to 1, then the line back from its second-to-last point (its
    endpoints are the curve's).

    >>> curve_jobs(4, line=True)
    [(0, 0), (0, 1), (0, 2), (0, 3), (1, 2), (1, 1)]
    """
    jobs = [(0, i) for i in range(points)]
    return jobs + ([(1, i) for i in range(points - 2, 0, -1)] if line else [])


def _targets(job: Job, points: int, line: bool) -> list[Job]:
    """Grid cells a job's values fill (a curve endpoint is the line's endpoint too)."""
    path, i = job
    return [job, (1, i)] if line and path == 0 and i in (0, points - 1) else [job]


def _params(loaded: LoadedCurve, *, points: int, k: int, tol: float, trace_probes: int,
            seed: int, line: bool) -> dict[str, Any]:
    loss = loaded.start.loss_name if loaded.start is not None else "cross_entropy"
    return {"degree": loaded.curve.degree, "kind": loaded.curve.kind, "points": int(points),
            "k": int(k), "which": "LA", "tol": float(tol), "trace_probes": int(trace_probes),
            "seed": int(seed), "line": bool(line), "params": None, "loss": loss,
            "mode": "eval", "bn": "recalibrate"}


def _train(loaded: LoadedCurve, train: Any) -> tuple[Any, dict[str, Any]]:
    """The training batches and their identity: given (an EvalSet), or the curve's own."""
    if train is None:
        if "train" not in loaded.data:
            raise ValueError("this curve was loaded without its training data: pass train= "
                             "(an EvalSet) or load it with splits=('train',)")
        return loaded.data["train"], loaded.data_spec["train"]
    if not hasattr(train, "spec"):
        raise ValueError("train must be an EvalSet (its spec() is part of the store key)")
    return train, train.spec()


def curve_hessian_partial(store: Any, loaded: LoadedCurve, train: Any = None, *,
                          points: int = 21, k: int = 5, tol: float = 1e-3,
                          trace_probes: int = 20, seed: int = 0, line: bool = True) -> Any:
    """The store partial holding (or that will hold) the curvature along ``loaded``.

    Raises:
        ValueError: ``points < 2`` or ``k < 1``.

    """
    if int(points) != points or points < 2:
        raise ValueError(f"points must be an integer >= 2 (values of t), got {points!r}")
    if int(k) != k or k < 1:
        raise ValueError(f"k (eigenpairs per point) must be an integer >= 1, got {k!r}")
    grid = (2 if line else 1, int(points))
    fields = {"eigenvalues": ((*grid, int(k)), "float64"), "residuals": ((*grid, int(k)),
                                                                       "float64"),
              "converged": ((*grid, int(k)), "bool"),
              **{f: (grid, "int64" if f == "num_products" else "float64") for f in _SCALARS}}
    params = _params(loaded, points=points, k=k, tol=tol, trace_probes=trace_probes,
                     seed=seed, line=line)
    _, spec = _train(loaded, train)
    return cached_grid(store, CURVE_HESSIAN, params, inputs=curve_inputs(loaded),
                       data={"train": spec}, fields=fields, grid=grid)


class _Runner:
    """Computes jobs one after the other, each warm-started from the one before."""

    def __init__(self, loaded: LoadedCurve, train: Any, *, points: int, k: int, tol: float,
                 trace_probes: int, seed: int, warm: bool) -> None:
        self.loaded, self.k, self.tol = loaded, k, tol
        self.trace_probes, self.seed, self.warm = trace_probes, seed, warm
        self.ts = np.linspace(0.0, 1.0, int(points))
        self.paths = (loaded.curve, loaded.curve.line())
        self.train = train
        self.loss_fn = (loaded.start.loss_fn if loaded.start is not None
                        else torch.nn.functional.cross_entropy)
        self.work: nn.Module | None = None  # a scratch copy, made for the first point
        self.previous: Tensor | None = None
        self.computed = 0

    def __call__(self, job: Job) -> dict[str, Any]:
        path, i = job
        if self.work is None:
            self.work = copy.deepcopy(self.loaded.model)
        with torch.no_grad():
            params = self.paths[path].point(float(self.ts[i]))
        values, vectors = point_curvature(
            self.loaded.model, params, self.train, loss_fn=self.loss_fn, k=self.k,
            tol=self.tol, trace_probes=self.trace_probes, seed=self.seed,
            start=(warm_start(self.previous, seed=self.seed)
                   if self.warm and self.previous is not None else None), work=self.work,
            check=self.computed == 0)
        self.previous = vectors
        self.computed += 1
        return values


def _fill_here(part: Any, jobs: Sequence[Job], run: _Runner, targets: Callable,
               progress: bool) -> int:
    for job in tqdm(jobs, desc="curvature along the curve", disable=not progress, leave=False):
        values = run(job)
        for cell in targets(job):
            part.write(cell, **values)
    return len(jobs)


def _fill_ranks(part: Any, jobs: Sequence[Job], run: _Runner, targets: Callable,
                progress: bool) -> int:
    """Round-robin over torchrun ranks: rounds of W jobs, rank 0 writes after each round."""
    from landscape.distributed import all_gather_objects, broadcast_object, context

    ctx = context()
    pending = broadcast_object(list(jobs) if part is not None else None)
    world = ctx.world_size
    with tqdm(total=len(pending), desc="curvature along the curve", leave=False,
              disable=not (progress and ctx.is_main)) as bar:
        for r in range(0, len(pending), world):
            share = pending[r:r + world]
            mine = tuple(share[ctx.rank]) if ctx.rank < len(share) else None
            values = run(mine) if mine is not None else None
            for job, vals in all_gather_objects((mine, values)):
                if part is not None and job is not None:
                    for cell in targets(tuple(job)):
                        part.write(cell, **vals)
            bar.update(len(share))
    return len(pending)


def curvature_along(
    store: Any,
    loaded: LoadedCurve,
    train: Any = None,
    *,
    points: int = 21,
    k: int = 5,
    tol: float = 1e-3,
    trace_probes: int = 20,
    seed: int = 0,
    line: bool = True,
    warm: bool = True,
    progress: bool = False,
) -> dict[str, Any] | None:
    """Top-k eigenvalues and trace along the curve (and the line), from the store or computed.

    Args:
        store: the result store.
        loaded: the fitted curve (:func:`landscape.experiment.curves.load_curve`).
        train: the training data of the Hessian and the BatchNorm pass, an EvalSet (default:
            the curve's own).
        points: values of ``t`` (endpoints included).
        k: eigenpairs per point.
        tol: relative Ritz residual tolerance.
        trace_probes: Hutchinson probes per point (0: no trace).
        seed: seed of a cold Lanczos start and of the probes.
        line: also the straight line between the curve's ends.
        warm: start each Lanczos from the previous point's eigenvectors (not part of the
            key).
        progress: show a progress bar (rank 0).

    Returns:
        ``{"t", "curve": {...}, "line": {...} (with ``line``), "k", "points", "done",
        "complete", "computed" (points evaluated by this call, all ranks), "key",
        "ends_lambda_max" (the larger at the two minima)}``; each path holds ``eigenvalues
        [T, k]``, ``lambda_max [T]``, ``lambda_max_max`` (its largest), ``residuals``,
        ``converged``, ``trace``, ``trace_stderr``, ``loss`` (NaN where not computed);
        ``None`` on torchrun ranks other than 0.

    """
    from landscape.distributed import barrier, context

    part = curve_hessian_partial(store, loaded, train, points=points, k=k, tol=tol,
                                 trace_probes=trace_probes, seed=seed, line=line)
    jobs = curve_jobs(int(points), line=line)
    if part is not None:
        done = part.done
        jobs = [j for j in jobs if not all(done[c] for c in _targets(j, int(points), line))]
    run = _Runner(loaded, _train(loaded, train)[0], points=points, k=k, tol=tol,
                  trace_probes=trace_probes, seed=seed, warm=warm)

    def targets(job: Job) -> list[Job]:
        return _targets(job, int(points), line)

    distributed = context().distributed
    fill = _fill_ranks if distributed else _fill_here
    computed = fill(part, jobs, run, targets, progress)
    if distributed:
        barrier()
    if part is None:
        return None
    complete = bool(part.complete)
    source = part.finalize() if complete else part
    out: dict[str, Any] = {"t": np.linspace(0.0, 1.0, int(points)), "k": int(k),
                           "points": int(points), "done": np.asarray(part.done),
                           "complete": complete, "computed": computed, "key": part.key}
    arrays = {f: np.asarray(source[f]) for f in ("eigenvalues", "residuals", "converged",
                                                  *_SCALARS)}
    for row, name in enumerate(PATHS[: 2 if line else 1]):
        out[name] = {f: a[row] for f, a in arrays.items()}
        out[name]["lambda_max"] = arrays["eigenvalues"][row, :, 0]
        out[name]["lambda_max_max"] = float(np.max(out[name]["lambda_max"]))
    out["ends_lambda_max"] = float(max(out["curve"]["lambda_max"][[0, -1]]))  # the minima
    return out


def pruning_curvature(store: Any, sgd_run: Any, grda_run: Any, loaded: LoadedCurve,
                      train: Any, *, top_k: int, trace_probes: int, along: Mapping[str, Any],
                      device: Any = "cpu", progress: bool = False) -> dict[str, Any]:
    """Sharpness over training of an SGD and a gRDA run, and the curvature along their curve.

    The demo's curvature stage: :func:`landscape.experiment.sharpness.sharpness_over_training`
    on both runs (their every epoch; the eigenpairs shared with the projection and verify) and
    :func:`curvature_along` the fitted curve with the settings ``along`` (verify's, so it
    answers from verify's entry).

    Returns:
        ``{"sharpness", "along" (the :func:`curvature_along` result), "summary"}``.

    """
    from landscape.experiment.sharpness import sharpness_over_training
    from landscape.experiment.subject import DataOptions

    sharp = sharpness_over_training(store, [sgd_run, grda_run], data=DataOptions(device=device),
                                    top_k=top_k, trace_probes=trace_probes, progress=progress)
    res = curvature_along(store, loaded, train, progress=progress, **along)
    summary = {label: {"epochs": r["epochs"], "lambda_max": r["lambda_max"],
                       "stability_limit": r["stability_limit"],
                       "gradient_share": r["gradient_share"]}
               for label, r in sharp["runs"].items()}
    summary["along"] = {p: res[p]["lambda_max_max"] for p in ("curve", "line")}
    summary["along"]["ends"] = res["ends_lambda_max"]
    return {"sharpness": sharp, "along": res, "summary": summary}
