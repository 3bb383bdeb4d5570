"""Fitting a curve between two subjects into a resumable run directory (the epoch runner).

The public entry point is :func:`landscape.experiment.curves.fit_curve_run`; the run
directory's layout and records are described in :mod:`landscape.experiment._curverun`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from landscape import __version__
from landscape.checkpoint import load_checkpoint, save_checkpoint
from landscape.curves import Curve, curve_step
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
    resolve_endpoint,
)
from landscape.experiment.subject import Subject
from landscape.optim import EpochRunner, EpochStats, create_schedule
from landscape.params import check_comparable
from landscape.rundir import RunDir

__all__ = ["fit_curve_run"]


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
