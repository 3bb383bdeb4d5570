"""The trainer: a :class:`TrainConfig` in, a run directory of per-epoch checkpoints out.

Contracts:

* ``RUN/epoch_0000.pt`` is the initialisation, drawn from ``(seed, "init")``; the minibatch order
  and augmentation of epoch ``e`` come from ``(seed, e)`` (:class:`landscape.data.TrainLoader`),
  and the global RNG (dropout) is re-seeded from ``(seed, "dropout", e)`` at the start of every
  epoch. The optimizer consumes no randomness, so two runs with one seed and different
  optimizers start from bit-identical weights and see the same minibatches in the same order.
* After every epoch a checkpoint (model, optimizer and sparsifier state, step) is written
  atomically, then its metrics row is appended to ``metrics.jsonl``. ``resume=True`` continues
  from the last complete checkpoint; on CPU with deterministic algorithms the result is
  bit-identical to a run that never stopped.
* A non-finite loss stops the run with :class:`TrainingDiverged`; no checkpoint is written for
  the failed epoch, so the last good one stays.

Metrics per epoch: ``epoch``, ``step``, ``lr``, ``batch_loss`` (mean minibatch loss in train
mode), ``train_loss``/``train_acc`` and ``test_loss``/``test_acc`` (full splits, eval mode,
unaugmented), ``sparsity`` (exact zeros of the trainable parameters, global and per tensor,
int64 counts), ``group_sparsity`` (units whose incoming weight vector has norm < ``group_xi``),
``wall_time`` (seconds of the epoch) and ``elapsed`` (seconds of training so far).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from landscape import __version__
from landscape.checkpoint import load_checkpoint, load_into, save_checkpoint
from landscape.data import EvalSet, TrainLoader, get_dataset
from landscape.devices import resolve_device
from landscape.distributed import DataParallel, context
from landscape.models import create_model
from landscape.optim import create_optimizer, create_schedule
from landscape.optim.runner import EpochRunner, EpochStats, LossNotFinite, Step
from landscape.rundir import RunDir
from landscape.seeding import derive_seed
from landscape.stats import group_sparsity, weight_sparsity
from landscape.train.config import RESUME_FREE, TrainConfig, run_name
from landscape.train.sparsifier import Sparsifier, create_sparsifier

__all__ = ["TrainingDiverged", "evaluate", "restore_metrics", "train"]


class TrainingDiverged(LossNotFinite):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


@torch.no_grad()
def evaluate(model: nn.Module, data: EvalSet) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) over a whole split."""
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=data.device)
    correct = torch.zeros((), dtype=torch.int64, device=data.device)
    for x, y in data:
        out = model(x)
        loss += F.cross_entropy(out, y, reduction="sum").double()
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    n = data.num_samples
    return float(loss) / n, int(correct) / n


def _diverged(name: str, loss: torch.Tensor, epoch: int, step: int, lr: float) -> NoReturn:
    raise TrainingDiverged(
        f"{name}: the training loss became non-finite ({loss.item()}) at epoch {epoch + 1} "
        f"(by step {step + 1}, lr {lr:g}); checkpoints up to epoch {epoch} are kept. Lower the "
        "learning rate (--lr), add warm-up via a schedule, or check the data"
    )


def _resolved_config(cfg: TrainConfig, dataset: Any, model: nn.Module,
                     model_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        **cfg.to_dict(),
        "library_version": __version__,
        "run_name": run_name(cfg),
        "model_kwargs": model_kwargs,
        "dataset_spec": dataset.spec(),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


def _check_same_run(saved: dict[str, Any], cfg: TrainConfig, path: Path) -> None:
    now = cfg.to_dict()
    for key, value in now.items():
        if key in RESUME_FREE:
            continue
        if key in saved and saved[key] != value:
            raise ValueError(
                f"cannot resume {path}: it was trained with {key}={saved[key]!r}, this config "
                f"has {key}={value!r}; use the run's own settings or another output directory"
            )


def _metrics(model: nn.Module, evals: dict[str, EvalSet], *, epoch: int, step: int, lr: float,
             batch_loss: float | None, wall_time: float, elapsed: float,
             xi: float, evaluator: Callable[..., tuple[float, float]] = evaluate,
             ) -> dict[str, Any]:
    row: dict[str, Any] = {"epoch": epoch, "step": step, "lr": lr, "batch_loss": batch_loss}
    for split, data in evals.items():
        row[f"{split}_loss"], row[f"{split}_acc"] = evaluator(model, data)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    row["sparsity"] = weight_sparsity(params)
    row["group_sparsity"] = group_sparsity(model, xi=xi)
    row["wall_time"] = wall_time
    row["elapsed"] = elapsed
    return row


def restore_metrics(run: RunDir, last: int, last_metrics: dict[str, Any], *,
                    first: int = 0) -> None:
    """Make ``metrics.jsonl`` hold one row per checkpointed epoch ``first .. last``.

    Rows past ``last`` (an epoch whose checkpoint was never written) are dropped; rows the file
    lacks (killed between checkpoint and metrics, or the file deleted) are taken from the
    checkpoints, each of which holds its epoch's metrics. A resume of any run written epoch
    by epoch (checkpoint, then metrics: :class:`landscape.optim.EpochRunner`) calls this.
    """
    rows = {int(r["epoch"]): r for r in run.read_metrics() if int(r.get("epoch", -1)) <= last}
    for epoch in run.epochs():
        if first <= epoch <= last and epoch not in rows:
            rows[epoch] = (last_metrics if epoch == last
                           else load_checkpoint(run.checkpoint_path(epoch)).metrics)
    run.write_metrics([rows[e] for e in sorted(rows)])


def _summary(name: str, row: dict[str, Any], epochs: int) -> str:
    return (f"{name} epoch {row['epoch']}/{epochs}: lr {row['lr']:.4g} train loss "
            f"{row['train_loss']:.4f} acc {row['train_acc']:.4f} | test loss "
            f"{row['test_loss']:.4f} acc {row['test_acc']:.4f} | sparsity "
            f"{row['sparsity']['global']:.4f} group {row['group_sparsity']['global']:.4f} | "
            f"{row['wall_time']:.1f}s")


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, int], None] | None = None,
) -> RunDir:
    """Train a network as ``cfg`` says, checkpointing every epoch into ``out_dir``.

    Args:
        cfg: the run configuration.
        out_dir: the run directory itself (``config.json``, ``metrics.jsonl``,
            ``epoch_NNNN.pt``); the CLI uses ``OUT/<run_name(cfg)>``.
        resume: continue from the last complete checkpoint in ``out_dir`` (a fresh start when
            there is none). Without it, a directory that already holds checkpoints is refused.
        progress: show tqdm progress and a line per epoch on stderr.
        on_step: called as ``on_step(epoch, step)`` after every optimizer step (and after the
            sparsifier's ``after_step``); for tests and monitoring.

    Returns:
        The :class:`~landscape.rundir.RunDir`.

    Raises:
        ValueError: an invalid setting, or ``resume`` with a config that differs from the
            run's own.
        FileExistsError: ``out_dir`` holds checkpoints and ``resume`` is false.
        TrainingDiverged: the loss became NaN or infinite (the last good checkpoint is kept).

    """
    run = RunDir(out_dir)
    context()  # under torchrun: join the process group first (NCCL binds this rank's GPU)
    device = resolve_device(cfg.device)
    if cfg.deterministic and device.type == "cuda":
        # cuBLAS reads this when its first handle is created: before any CUDA matmul.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    dtype = getattr(torch, cfg.dtype)
    options = dict(cfg.dataset_args)
    if cfg.data_root is not None:
        options["root"] = cfg.data_root
    dataset = get_dataset(cfg.dataset, **options)
    model_kwargs = {"num_classes": dataset.num_classes, "input_shape": list(dataset.input_shape),
                    **cfg.model_args}
    model = create_model(cfg.model, seed=cfg.seed, **model_kwargs).to(device=device, dtype=dtype)
    schedule = create_schedule(cfg.schedule, base_lr=cfg.lr, epochs=max(cfg.epochs, 1),
                               **cfg.schedule_args)
    optimizer = create_optimizer(
        cfg.optimizer, [p for p in model.parameters() if p.requires_grad], lr=schedule(0),
        l2=cfg.l2, weight_decay=cfg.weight_decay, **cfg.optimizer_args,
    )
    loader = TrainLoader(dataset, batch_size=cfg.batch_size, seed=cfg.seed, augment=cfg.augment,
                         drop_last=cfg.drop_last, device=device, dtype=dtype)
    # torchrun: rank slices of each global minibatch, sharded evaluation, rank 0 writes
    par = DataParallel(model)
    is_main, progress = par.is_main, progress and par.is_main
    evals = {split: par.shard(EvalSet(dataset, split, batch_size=cfg.eval_batch_size,
                                      device=device, dtype=dtype)) for split in ("train", "test")}
    sparsifier: Sparsifier | None = None
    if cfg.prune:
        sparsifier = create_sparsifier(cfg.prune, default_seed=derive_seed(cfg.seed, "prune"),
                                       **cfg.prune_args)
        sparsifier.bind(model, optimizer, len(loader), cfg.epochs)
    config = _resolved_config(cfg, dataset, model, model_kwargs)
    if isinstance(getattr(sparsifier, "seed", None), int):
        config["prune_seed"] = sparsifier.seed   # the seed it used, derived or given
    name = run.path.name
    save = dict(model_name=cfg.model, model_kwargs=model_kwargs, config=config)

    def checkpoint(epoch: int, step: int, row: dict[str, Any]) -> None:
        if not is_main:
            return
        extra = {"sparsifier": sparsifier.state_dict()} if sparsifier is not None else {}
        save_checkpoint(run.checkpoint_path(epoch), model, epoch=epoch, step=step, metrics=row,
                        optimizer=optimizer, extra=extra, **save)

    last = run.last_epoch()
    par.barrier()  # every rank has looked before rank 0 writes
    if last is not None and not resume:
        raise FileExistsError(
            f"{run.path} already holds a run (checkpoints up to epoch {last}); pass "
            "resume=True (--resume) to continue it, or choose another output directory"
        )
    if last is not None:
        saved = run.read_config()
        _check_same_run(saved, cfg, run.path)
        if saved.get("prune_seed", config.get("prune_seed")) != config.get("prune_seed"):
            raise ValueError(
                f"cannot resume {run.path}: its sparsifier drew from seed {saved['prune_seed']}, "
                f"this library derives {config.get('prune_seed')} from the same config; finish "
                f"it with the version that started it ({saved.get('library_version')}) or start "
                "a new run"
            )
        ckpt = load_checkpoint(run.checkpoint_path(last))
        load_into(model, ckpt.state_dict, what=str(ckpt.path))
        if ckpt.optimizer_state is not None:
            optimizer.load_state_dict(ckpt.optimizer_state)
        if sparsifier is not None and "sparsifier" in ckpt.extra:
            sparsifier.load_state_dict(ckpt.extra["sparsifier"])
        start, step = last, ckpt.step
        elapsed = float(ckpt.metrics.get("elapsed") or 0.0)
        if is_main:
            restore_metrics(run, last, ckpt.metrics)
    else:
        if is_main:
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_config(config)
        start, step, elapsed = 0, 0, 0.0
        row = _metrics(model, evals, epoch=0, step=0, lr=schedule(0), batch_loss=None,
                       wall_time=0.0, elapsed=0.0, xi=cfg.group_xi,
                       evaluator=par.evaluator(evaluate))
        checkpoint(0, 0, row)
        if is_main:
            run.write_metrics([row])
        par.barrier()
    if progress and start < cfg.epochs:
        tqdm.write(f"{name}: epochs {start + 1}..{cfg.epochs} -> {run.path}", file=sys.stderr)

    runner = EpochRunner(
        optimizer, schedule, epochs=max(cfg.epochs, 1), seed=cfg.seed, stream="dropout",
        device=device, model=model, deterministic=cfg.deterministic, progress=progress,
        desc=name, diverged=lambda loss, e, s, lr: _diverged(name, loss, e, s, lr),
    )
    clock = {"elapsed": elapsed}

    def step_fn(epoch: int, k: int, x: torch.Tensor, y: torch.Tensor) -> Step:
        loss, objective, size = par.loss(x, y)
        return Step(loss, objective, size)

    def after_step(epoch: int, count: int) -> None:
        if sparsifier is not None:
            sparsifier.after_step(count)
        if on_step is not None:
            on_step(epoch, count)

    def end_epoch(stats: EpochStats) -> dict[str, Any]:
        if sparsifier is not None:
            sparsifier.on_epoch_end(stats.epoch - 1)
        clock["elapsed"] += stats.seconds
        row = _metrics(model, evals, epoch=stats.epoch, step=stats.step, lr=stats.lr,
                       batch_loss=stats.loss, wall_time=stats.seconds,
                       elapsed=clock["elapsed"], xi=cfg.group_xi,
                       evaluator=par.evaluator(evaluate))
        if not math.isfinite(row["train_loss"]):
            raise TrainingDiverged(
                f"{name}: the full training loss is {row['train_loss']} after epoch "
                f"{stats.epoch}; checkpoints up to epoch {stats.epoch - 1} are kept. Lower "
                "the learning rate (--lr)"
            )
        return row

    def record(stats: EpochStats, row: Mapping[str, Any]) -> None:
        if is_main:
            run.append_metrics(dict(row))
        par.barrier()

    if start < cfg.epochs:
        runner.run(step_fn, lambda e: par.batches(loader.epoch(e)), start_epoch=start,
                   start_step=step, steps_per_epoch=len(loader), after_step=after_step,
                   end_epoch=end_epoch,
                   checkpoint=lambda stats, row: checkpoint(stats.epoch, stats.step, dict(row)),
                   record=record, report=lambda stats, row: _summary(name, row, cfg.epochs))
    return run
