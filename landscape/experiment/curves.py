"""Curve runs and their cached evaluations: fit, resume, load; along the curve; the plane.

* :func:`fit_curve_run` fits a curve between two subjects (landscape checkpoints or the
  user's own weights files) into a resumable run directory (:mod:`._curverun`), on the same
  epoch runner as the trainer; :func:`load_curve` resolves the endpoints and the data again
  from the run's records and checks the endpoints' digests.
* :func:`along_cached` stores :func:`landscape.curves.evaluate_along` as one entry
  (``curves.along``); :func:`plane_cached` fills the plane grid through a partial entry
  (``curves.plane``), one durable write per grid point, so an interrupted grid resumes where
  it stopped; :func:`plane_distributed` deals the pending points over torchrun ranks.

Keys hold the content digests of both endpoints and of the middle control points, the
settings, and the identity of the training and test data. Errors are fractions (schema
version 2; version 1 entries held percent and are not served).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landscape import __version__
from landscape._digest import state_digest
from landscape.checkpoint import load_checkpoint, save_checkpoint
from landscape.curves import (
    PLANE_FIELDS,
    Curve,
    JobMap,
    curve_step,
    evaluate_along,
    grid_axis,
    plane_layout,
    run_grid,
)
from landscape.data import Dataset, TrainLoader
from landscape.experiment._curverun import (
    CURVE_RUN_KIND,
    CurveFitConfig,
    LoadedCurve,
    as_json,
    config_of,
    data_record,
    endpoint_record,
    fit_settings,
    load_curve,
    resolve_endpoint,
)
from landscape.experiment.cached import Analysis, cached, cached_grid
from landscape.experiment.subject import Subject
from landscape.optim import EpochRunner, EpochStats, create_schedule
from landscape.params import check_comparable
from landscape.rundir import RunDir

__all__ = [
    "ALONG", "PLANE", "CurveFitConfig", "GridFill", "GridRun", "LoadedCurve", "along_cached",
    "curve_inputs", "fit_curve_run", "load_curve", "plane_cached", "plane_distributed",
    "plane_partial",
]

GridRun = Callable[..., int]
"""``run(indices, sink, *, progress=False) -> points computed``: the grid of one curve."""
GridFill = Callable[..., int]
"""``fill(part, run, *, indices, progress) -> points computed`` (see :func:`plane_cached`)."""


def _along_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    n = int(params["points"])
    return ({f"{p}/{f}": ((n,), "f") for p in ("curve", "line")
             for f in ("train_loss", "test_error")} | {"t": ((n,), "f"),
                                                      "curve/barrier": ((), "f")})


ALONG = Analysis("curves.along", version=2, schema=_along_schema)
"""Loss and error along the curve and the line (v2: errors as fractions; v1 held percent)."""
PLANE = Analysis("curves.plane", version=2)
"""The plane grid's values (v2: errors as fractions; v1 held percent)."""


# ---------------------------------------------------------------------------- fitting
def _save(run: RunDir, epoch: int, step: int, curve: Curve, model: torch.nn.Module,
          config: dict[str, Any], metrics: Mapping[str, Any], optimizer: Any) -> None:
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(curve.vector(0.5), model.parameters())
    info = config["model"]
    save_checkpoint(
        run.checkpoint_path(epoch), model, model_name=info.get("name") or info.get("spec"),
        model_kwargs=info.get("kwargs") or info.get("options") or {}, epoch=epoch, step=step,
        config=config, metrics=dict(metrics), optimizer=optimizer,
        extra={"middle": torch.stack([m.detach().cpu() for m in curve.middle])},
    )


def _model_record(start: Subject) -> dict[str, Any]:
    if start.checkpoint is not None:
        return {"name": start.checkpoint.model_name, "kwargs": start.checkpoint.model_kwargs}
    return {"spec": endpoint_record(start)["source"].get("model"),
            "options": start.source.get("options") or {},
            "definition": start.source.get("definition")}


def _run_config(start: Subject, end: Subject, cfg: CurveFitConfig) -> dict[str, Any]:
    dataset = start.dataset
    return as_json({
        "type": CURVE_RUN_KIND,
        "library_version": __version__,
        "endpoints": {"start": endpoint_record(start), "end": endpoint_record(end)},
        "model": _model_record(start),
        "data_source": data_record(start),
        "dataset": ({"name": dataset.name, "options": dict(dataset.options),
                     "digest": dataset.digest()} if dataset is not None else None),
        "dtype": str(start.dtype).removeprefix("torch."),
        **config_of(cfg),
    })


def _training_batches(start: Subject, cfg: CurveFitConfig
                      ) -> tuple[Callable[[int], Any], int | None]:
    """``epoch -> minibatches`` and their number: the registry's or the data file's."""
    if start.dataset is not None:
        loader = TrainLoader(start.dataset, batch_size=cfg.batch_size, seed=cfg.seed,
                             augment=cfg.augment, device=start.device, dtype=start.dtype)
        return loader.epoch, len(loader)
    if cfg.augment:
        raise ValueError("augment applies to registry datasets; a --data-file brings its own "
                         "batches: drop --augment")
    batches = start.split("train")
    return (lambda _epoch: batches), None


def fit_curve_run(
    start: Subject | str | Path,
    end: Subject | str | Path,
    out: str | Path,
    *,
    config: CurveFitConfig | None = None,
    resume: bool = False,
    progress: bool = False,
    dataset: Dataset | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> LoadedCurve:
    """Fit the middle control points of a curve between two subjects, into a run directory.

    Args:
        start: the first minimum (``t = 0``): a :class:`Subject` (resolved with the
            ``train`` split), or a landscape checkpoint / run directory path.
        end: the second minimum (``t = 1``), same architecture.
        out: the curve's run directory.
        config: fit settings (default :class:`CurveFitConfig`).
        resume: continue from the last checkpoint in ``out`` (which must hold the same fit).
        progress: progress bars (epochs and steps) on stderr.
        dataset: with path endpoints: the registry dataset (default: the run's).
        device: with path endpoints: where to fit (default CPU).
        dtype: with path endpoints: the dtype (default: the checkpoint's own).

    Returns:
        The fitted curve (:class:`LoadedCurve`); its ``start``/``end`` are the subjects.

    Raises:
        FileExistsError: ``out`` holds checkpoints and ``resume`` is false.
        ValueError: ``resume`` with settings that differ from those in ``out``, or
            endpoints of different architectures.

    """
    from landscape.distributed import ShardedBatches, all_reduce_, context, reduce_gradients_
    from landscape.distributed import barrier as dist_barrier
    from landscape.train import restore_metrics

    cfg = config or CurveFitConfig()
    start = resolve_endpoint(start, dataset=dataset, device=device, dtype=dtype)
    end = resolve_endpoint(end, dataset=dataset, device=device, dtype=dtype)
    ctx = context()  # torchrun: rank 0 writes, ranks fit slices of each minibatch
    is_main, progress = ctx.is_main, progress and ctx.is_main
    run = RunDir(out)
    check_comparable(start.point, end.point, names=(start.label, end.label))
    full = _run_config(start, end, cfg)
    done = run.epochs()
    dist_barrier()
    if done and not resume:
        raise FileExistsError(
            f"{run.path} already holds curve checkpoints (epochs {done[0]}..{done[-1]}): pass "
            "--resume to continue that fit, or choose another --out"
        )
    if done:
        old = run.read_config()
        was, now = fit_settings(old), fit_settings(full)
        diff = [k for k in now if was.get(k) != now[k]
                and not (k == "dtype" and was.get(k) is None)]  # runs that did not record it
        if diff:
            raise ValueError(
                f"cannot resume {run.path}: its fit differs in {diff} (e.g. {diff[0]}: "
                f"{was.get(diff[0])!r} there, {now[diff[0]]!r} now); use the same settings "
                "or another --out"
            )
        full = old
    elif is_main:
        run.write_config(full)
    curve = Curve(start.point, end.point, degree=cfg.degree, kind=cfg.kind)
    model = copy.deepcopy(start.model)  # its BatchNorm statistics move while fitting
    optimizer = torch.optim.SGD(curve.middle.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    first, step = 0, 0
    if done:
        last = load_checkpoint(run.checkpoint_path(done[-1]), map_location=start.device)
        with torch.no_grad():
            for param, value in zip(curve.middle, last.extra["middle"]):
                param.copy_(value)
        if last.optimizer_state is not None:
            optimizer.load_state_dict(last.optimizer_state)
        first, step = last.epoch, last.step
        if is_main:
            restore_metrics(run, first, last.metrics, first=1)  # no row for the chord
    elif is_main:
        _save(run, 0, 0, curve, model, full, {"epoch": 0, "step": 0}, optimizer)
    source, steps = _training_batches(start, cfg)
    current: dict[str, ShardedBatches] = {}

    def batches(epoch: int) -> ShardedBatches:
        current["b"] = ShardedBatches(source(epoch))
        return current["b"]

    def after_backward() -> None:  # data-parallel: the gradient of the global minibatch
        b = current["b"]
        reduce_gradients_(curve.middle, b.local_size / b.global_size)

    def end_epoch(stats: EpochStats) -> dict[str, Any]:
        return {"epoch": stats.epoch, "step": stats.step, "lr": stats.lr,
                "train_loss": stats.loss, "train_error": stats.error,
                "seconds": stats.seconds}

    def checkpoint(stats: EpochStats, row: Mapping[str, Any]) -> None:
        if is_main:
            _save(run, stats.epoch, stats.step, curve, model, full, row, optimizer)

    def record(stats: EpochStats, row: Mapping[str, Any]) -> None:
        if is_main:
            run.append_metrics(dict(row))
        dist_barrier()

    runner = EpochRunner(
        optimizer, create_schedule(cfg.schedule, base_lr=cfg.lr, epochs=cfg.epochs),
        epochs=cfg.epochs, seed=cfg.seed, stream="curve_dropout", device=start.device,
        model=model, progress=progress, desc="curve fit",
    )
    runner.run(curve_step(curve, model, seed=cfg.seed, loss_fn=start.loss_fn,
                          weight_decay=cfg.weight_decay),
               batches, start_epoch=first, start_step=step, steps_per_epoch=steps,
               after_backward=after_backward if ctx.distributed else None,
               end_epoch=end_epoch, checkpoint=checkpoint, record=record,
               reduce=all_reduce_ if ctx.distributed else None,
               report=lambda stats, row: (f"curve fit epoch {stats.epoch}/{cfg.epochs}: "
                                          f"train loss {stats.loss:.4f} error "
                                          f"{100 * (stats.error or 0.0):.2f}%"))
    return LoadedCurve(curve=curve, model=model, config=full, epoch=cfg.epochs, start=start,
                       end=end, path=run.path)


# ---------------------------------------------------------------------------- cached results
def curve_inputs(loaded: LoadedCurve) -> dict[str, str]:
    """Content digests of a curve: both endpoints and the stacked middle control points."""
    ends = loaded.config["endpoints"]
    middle = torch.stack([m.detach().cpu() for m in loaded.curve.middle])
    return {"start": ends["start"]["digest"], "end": ends["end"]["digest"],
            "middle": state_digest({"middle": middle})}


def _data(loaded: LoadedCurve, train: Any, test: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The evaluation data and their identity: given EvalSets, or the curve's own data."""
    if train is None and test is None:
        return loaded.data["train"], loaded.data["test"], {
            "train": loaded.data_spec["train"], "test": loaded.data_spec["test"]}
    if train is None or test is None or not all(hasattr(d, "spec") for d in (train, test)):
        raise ValueError("pass both train and test as EvalSets (their spec() is part of the "
                         "store key), or neither to use the curve's own data")
    return train, test, {"train": train.spec(), "test": test.spec()}


def _question(loaded: LoadedCurve, train: Any, test: Any) -> dict[str, Any]:
    return {"degree": loaded.curve.degree, "kind": loaded.curve.kind,
            "eval_batch_size": getattr(train, "batch_size", None),
            "test_batch_size": getattr(test, "batch_size", None)}


def along_cached(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None, *,
                 points: int = 61, progress: bool = False,
                 map_jobs: JobMap | None = None) -> Any:
    """Loss and error along the curve and the line, from the store or computed and stored.

    ``train``/``test`` default to the curve's own data. ``map_jobs`` runs the evaluations on
    a miss (see :func:`landscape.curves.evaluate_along`;
    :func:`landscape.distributed.map_round_robin` under torchrun); it is not part of the
    key: every way of running them computes the same values.

    Returns:
        The store :class:`~landscape.store.Entry` (``entry["curve"]["barrier"]`` ...; errors
        are fractions), or ``None`` on torchrun ranks other than 0.

    """
    if int(points) != points or points < 2:
        raise ValueError(f"points must be an integer >= 2 (61 by default), got {points!r}")
    train, test, data = _data(loaded, train, test)
    params = {**_question(loaded, train, test), "points": int(points)}

    def compute() -> dict[str, Any]:
        return evaluate_along(loaded.curve, loaded.model, train, test, points=points,
                              loss_fn=loaded.start.loss_fn if loaded.start else
                              torch.nn.functional.cross_entropy,
                              progress=progress, map_jobs=map_jobs)

    return cached(store, ALONG, params, compute, inputs=curve_inputs(loaded), data=data)


def plane_partial(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None, *,
                  grid: int = 21, margin: float = 0.2) -> Any:
    """The store's partial entry that holds (or will hold) the plane grid's values."""
    grid_axis(grid, margin)  # refuses a grid < 2 or a negative margin, naming them
    train, test, data = _data(loaded, train, test)
    params = {**_question(loaded, train, test), "grid": int(grid), "margin": float(margin)}
    fields = {f: ((int(grid), int(grid)), "float64") for f in PLANE_FIELDS}
    return cached_grid(store, PLANE, params, inputs=curve_inputs(loaded), data=data,
                       fields=fields)


def _fill_here(part: Any, run: GridRun, *, indices: Iterable[tuple[int, int]] | None,
               progress: bool) -> int:
    """Compute the pending points (of ``indices``) in this process, writing each at once."""
    return 0 if part.complete else run(indices, part, progress=progress)


def plane_cached(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None, *,
                 grid: int = 21, margin: float = 0.2,
                 indices: Iterable[tuple[int, int]] | None = None, curve_points: int = 61,
                 progress: bool = False, fill: GridFill = _fill_here) -> dict[str, Any] | None:
    """Fill in (or resume) the plane grid in the store; return the layout and the values.

    Args:
        store: the result store.
        loaded: the fitted curve.
        train: training data (BatchNorm pass and train metrics; default: the curve's own).
        test: test data (default: the curve's own).
        grid: points per axis.
        margin: the axes span ``[-margin, 1 + margin]``.
        indices: the grid points this process handles (default: all).
        curve_points: number of points of the curve drawn in the plane.
        progress: show a progress bar.
        fill: ``fill(part, run, indices=, progress=) -> points computed``: how the points not
            yet in the partial entry ``part`` get computed, where ``run(indices, sink,
            progress=)`` is :func:`landscape.curves.run_grid` on this curve and data.
            Default: in this process; :func:`plane_distributed` deals them over the ranks.

    Returns:
        :func:`landscape.curves.plane_layout` plus one ``[grid, grid]`` array per field of
        ``PLANE_FIELDS`` (indexed ``[alpha, beta]``; NaN where not computed yet; errors are
        fractions), ``done``, ``complete``, ``computed`` (points evaluated by this call) and
        ``key``; ``None`` on torchrun ranks other than 0.

    """
    part = plane_partial(store, loaded, train, test, grid=grid, margin=margin)
    train, test, _ = _data(loaded, train, test)
    loss_fn = loaded.start.loss_fn if loaded.start else torch.nn.functional.cross_entropy

    def run(points: Iterable[tuple[int, int]] | None, sink: Any, *, progress: bool = False
            ) -> int:
        return run_grid(loaded.curve, loaded.model, train, test, sink, grid=grid,
                        margin=margin, indices=points, loss_fn=loss_fn, progress=progress)

    computed = fill(part, run, indices=indices, progress=progress)
    if part is None:
        return None
    out = plane_layout(loaded.curve, grid=grid, margin=margin, curve_points=curve_points)
    complete = bool(part.complete)
    source = part.finalize() if complete else part
    out.update({f: np.asarray(source[f]) for f in PLANE_FIELDS})
    out.update(done=np.asarray(part.done), complete=complete, computed=computed, key=part.key)
    return out


def plane_distributed(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None,
                      **options: Any) -> dict[str, Any] | None:
    """:func:`plane_cached` with the pending points dealt round-robin over torchrun ranks.

    Every rank passes the same arguments; the store is used by rank 0 only
    (:func:`landscape.distributed.fill_round_robin`: every point has one writer and the
    values are bit-identical to a single-process grid). In one process this is
    :func:`plane_cached`.

    Returns:
        On rank 0 the dict of :func:`plane_cached` (``computed`` counts the points of all
        ranks); ``None`` on the other ranks.

    """
    from landscape.distributed import CollectiveStore, barrier, fill_round_robin

    def fill(part: Any, run: GridRun, *, indices: Any = None, progress: bool = False) -> int:
        return fill_round_robin(part, run, fields=PLANE_FIELDS, indices=indices,
                                progress=progress, desc="plane grid points")

    out = plane_cached(CollectiveStore(store), loaded, train, test, fill=fill, **options)
    barrier()
    return out
