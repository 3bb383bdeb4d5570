"""Fitting a curve of low loss between two minima, checkpointed and resumable (DESIGN 4.4).

Garipov et al. (2018, Sec. 3.2) and seed 004 (Appendix C.3): the middle control points
minimise ``E_{t ~ U(0, 1)} L(phi(t))``, estimated with one ``t`` per minibatch:

    t ~ U(0, 1),   loss = CE(f(x; phi(t)), y) + 0.5 * wd * ||phi(t)||^2

minimised by SGD with momentum under the seed 004 / Garipov schedule (base lr for 50% of the
epochs, linear to 1% by 90%, then 1%). The endpoints are buffers and never change.

The run directory follows DESIGN 3.2: ``config.json`` names the two endpoint checkpoints (path
and content digest) and the fit settings; ``epoch_NNNN.pt`` (``epoch_0000.pt`` is the chord
initialisation) holds the middle control points in ``extra["middle"]`` (a ``[K-1, P]``
tensor), the optimizer state, and as model state the curve's midpoint ``phi(1/2)`` so that
``landscape info`` and ``load_checkpoint`` work on it. Minibatch order and the values of ``t``
depend only on ``(seed, epoch)``, so a resumed fit is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from landscape import __version__
from landscape.checkpoint import (
    CheckpointError,
    check_comparable,
    load_checkpoint,
    save_checkpoint,
)
from landscape.curves.bezier import CURVE_KINDS, Curve, curve_forward
from landscape.data import Dataset, TrainLoader, get_dataset
from landscape.rundir import RunDir, resolve_checkpoint
from landscape.seeding import derive_seed, generator

__all__ = ["CurveFitConfig", "LoadedCurve", "curve_epoch", "fit_curve", "load_curve"]

CURVE_RUN_KIND = "curve"


@dataclass(frozen=True)
class CurveFitConfig:
    """Settings of a curve fit (seed 004 Table 3: lr 0.1, momentum 0.9, no weight decay).

    >>> CurveFitConfig(epochs=4).degree
    2
    """

    degree: int = 2
    kind: str = "bezier"
    epochs: int = 10
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    seed: int = 0
    schedule: str = "garipov"
    augment: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CURVE_KINDS:
            raise ValueError(f"kind must be one of {CURVE_KINDS}, got {self.kind!r}")
        checks = [
            ("degree", self.degree, int, 1), ("epochs", self.epochs, int, 1),
            ("batch_size", self.batch_size, int, 1),
        ]
        for name, value, typ, low in checks:
            if not isinstance(value, typ) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.degree < 2:
            raise ValueError(
                f"degree must be >= 2 to have a middle control point to fit, got {self.degree}"
            )
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or (name == "lr" and value == 0):
                what = "positive" if name == "lr" else "non-negative"
                raise ValueError(f"{name} must be a {what} number, got {value!r}")


@dataclass
class LoadedCurve:
    """A curve run loaded back: the curve, a model to evaluate it with, and its settings."""

    curve: Curve
    model: nn.Module
    config: dict[str, Any]
    epoch: int

    def dataset(self, **overrides: Any) -> Dataset:
        """Rebuild the dataset the curve was fitted on."""
        spec = self.config["dataset"]
        return get_dataset(spec["name"], **{**spec.get("options", {}), **overrides})


def curve_epoch(
    curve: Curve,
    model: nn.Module,
    batches: Any,
    optimizer: torch.optim.Optimizer,
    ts: Tensor,
    *,
    weight_decay: float = 0.0,
    progress: Any = None,
    after_backward: Callable[[], None] | None = None,
) -> dict[str, float]:
    """One epoch of curve fitting: one ``t`` per minibatch, one SGD step per minibatch.

    Args:
        curve: the curve (its middle points are what ``optimizer`` updates).
        model: the network, in training mode (BatchNorm uses batch statistics).
        batches: iterable of ``(x, y)`` minibatches.
        optimizer: an optimizer over ``curve.middle``.
        ts: one ``t`` per minibatch.
        weight_decay: ``wd`` of the ``0.5 * wd * ||phi(t)||^2`` term.
        progress: a tqdm bar to advance per minibatch (optional).
        after_backward: called between ``backward()`` and ``step()`` (data-parallel fitting
            all-reduces the gradients there, :mod:`landscape.distributed`).

    Returns:
        ``train_loss`` (mean cross-entropy over minibatches, weighted by their size) and
        ``train_error`` (percent) at the sampled ``t``.

    """
    times = ts.tolist() if isinstance(ts, Tensor) else [float(t) for t in ts]
    loss_sum: Tensor | float = 0.0
    wrong: Tensor | int = 0
    n = 0
    for k, (x, y) in enumerate(batches):
        params = curve.point(times[k])  # per tensor, no flat phi(t) (see Curve.point)
        out = curve_forward(model, params, x)
        loss = F.cross_entropy(out, y)
        total = loss
        if weight_decay:
            total = loss + 0.5 * weight_decay * sum(p.square().sum() for p in params.values())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if after_backward is not None:
            after_backward()
        optimizer.step()
        with torch.no_grad():  # summed on the device: no synchronisation per step
            size = int(y.shape[0])
            loss_sum = loss_sum + loss.detach().double() * size
            wrong = wrong + (out.argmax(1) != y).sum()
            n += size
        if progress is not None:
            progress.update(1)
    return {"train_loss": float(loss_sum) / max(n, 1),
            "train_error": 100.0 * int(wrong) / max(n, 1)}


def _endpoint(path: str | Path) -> tuple[Any, dict[str, Any]]:
    ckpt = load_checkpoint(path)
    return ckpt, {"path": str(Path(path).resolve()), "digest": ckpt.digest(),
                  "model": ckpt.model_name, "epoch": ckpt.epoch}


def _matches(info: dict[str, Any], ckpt: Any) -> bool:
    """Whether ``ckpt`` is the recorded endpoint ``info`` (by content digest)."""
    return info.get("digest") == ckpt.digest()


def _build(config: dict[str, Any], device: torch.device | str) -> tuple[Curve, nn.Module]:
    """Endpoints from their checkpoints (digests checked), model of the same architecture."""
    ends = []
    for role in ("start", "end"):
        info = config["endpoints"][role]
        ckpt, now = _endpoint(info["path"])
        if not _matches(info, ckpt):
            raise CheckpointError(
                f"endpoint {role} {info['path']} has changed since the curve was fitted (digest "
                f"{now['digest'][:12]}, recorded {info['digest'][:12]}): restore the original "
                "checkpoint or fit a new curve"
            )
        ends.append(ckpt)
    a, b = ends
    check_comparable(a, b, names=("start", "end"))
    pa = a.parameters()
    dtype = next(iter(pa.values())).dtype
    curve = Curve(pa, b.parameters(), degree=config["degree"], kind=config["kind"])
    model = a.build_model().to(device=device, dtype=dtype)
    return curve.to(device), model


def _save(run: RunDir, epoch: int, step: int, curve: Curve, model: nn.Module,
          config: dict[str, Any], metrics: dict[str, Any], optimizer: Any) -> None:
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(curve.vector(0.5), model.parameters())
    save_checkpoint(
        run.checkpoint_path(epoch), model, model_name=config["model"]["name"],
        model_kwargs=config["model"]["kwargs"], epoch=epoch, step=step, config=config,
        metrics=metrics, optimizer=optimizer,
        extra={"middle": torch.stack([m.detach().cpu() for m in curve.middle])},
    )


def load_curve(
    run_dir: str | Path, *, epoch: int | None = None, device: str | torch.device = "cpu"
) -> LoadedCurve:
    """Load a fitted curve from its run directory (the last epoch by default).

    Raises:
        FileNotFoundError: not a curve run, or no checkpoint of that epoch.
        landscape.checkpoint.CheckpointError: an endpoint checkpoint changed or is unreadable.

    """
    run = RunDir(run_dir)
    config = run.read_config()
    if config.get("type") != CURVE_RUN_KIND:
        raise FileNotFoundError(
            f"{run.path} is not a curve run (config.json has type {config.get('type')!r}); "
            "curve runs are made by `landscape curve fit A B --out DIR`"
        )
    ckpt = load_checkpoint(resolve_checkpoint(run.path, epoch))
    curve, model = _build(config, device)
    with torch.no_grad():
        for param, value in zip(curve.middle, ckpt.extra["middle"]):
            param.copy_(value)
    return LoadedCurve(curve=curve, model=model, config=config, epoch=ckpt.epoch)


def fit_curve(
    start: str | Path,
    end: str | Path,
    out: str | Path,
    *,
    dataset: Dataset,
    config: CurveFitConfig | None = None,
    device: str | torch.device = "cpu",
    resume: bool = False,
    progress: bool = False,
) -> LoadedCurve:
    """Fit the middle control points of a curve between two checkpoints.

    Args:
        start: checkpoint of the first minimum (``t = 0``).
        end: checkpoint of the second minimum (``t = 1``), same model.
        out: the curve's run directory.
        dataset: training data (``dataset.train``); recorded in ``config.json``.
        config: fit settings (default :class:`CurveFitConfig`).
        device: where to fit.
        resume: continue from the last checkpoint in ``out`` (which must hold the same fit).
        progress: show a progress bar on stderr.

    Returns:
        The fitted curve (:class:`LoadedCurve`).

    Raises:
        FileExistsError: ``out`` holds checkpoints and ``resume`` is false.
        ValueError: ``resume`` with settings that differ from those in ``out``.
        landscape.checkpoint.CheckpointError: unreadable or incomparable endpoints.

    """
    from landscape.distributed import (
        ShardedBatches,
        context,
        reduce_gradients_,
        weighted_means,
    )
    from landscape.distributed import barrier as dist_barrier
    from landscape.optim import create_schedule

    cfg = config or CurveFitConfig()
    is_main = context().is_main  # torchrun: rank 0 writes, ranks fit slices of each minibatch
    progress = progress and is_main
    run = RunDir(out)
    ckpt_a, info_a = _endpoint(start)
    ckpt_b, info_b = _endpoint(end)
    check_comparable(ckpt_a, ckpt_b, names=(f"checkpoint {start}", f"checkpoint {end}"))
    full = {
        "type": CURVE_RUN_KIND,
        "library_version": __version__,
        "endpoints": {"start": info_a, "end": info_b},
        "model": {"name": ckpt_a.model_name, "kwargs": ckpt_a.model_kwargs},
        "dataset": {"name": dataset.name, "options": dict(dataset.options),
                    "digest": dataset.digest()},
        **asdict(cfg),
    }
    full = json.loads(json.dumps(full))  # as config.json will read back (tuples -> lists)
    done = run.epochs()
    dist_barrier()
    if done and not resume:
        raise FileExistsError(
            f"{run.path} already holds curve checkpoints (epochs {done[0]}..{done[-1]}): pass "
            "--resume to continue that fit, or choose another --out"
        )
    if done:
        old = run.read_config()
        keys = ["endpoints", "model", "dataset", *asdict(cfg)]
        diff = [k for k in keys if k != "library_version" and old.get(k) != full.get(k)]
        if diff:
            raise ValueError(
                f"cannot resume {run.path}: its fit differs in {diff} (e.g. {diff[0]}: "
                f"{old.get(diff[0])!r} there, {full.get(diff[0])!r} now); use the same "
                "settings or another --out"
            )
        full = old
    elif is_main:
        run.write_config(full)
    device = torch.device(device)
    curve, model = _build(full, device)
    model.train()
    optimizer = torch.optim.SGD(curve.middle.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    schedule = create_schedule(cfg.schedule, base_lr=cfg.lr, epochs=cfg.epochs)
    first, step = 0, 0
    if done:
        last = load_checkpoint(run.checkpoint_path(done[-1]), map_location=device)
        with torch.no_grad():
            for param, value in zip(curve.middle, last.extra["middle"]):
                param.copy_(value)
        if last.optimizer_state is not None:
            optimizer.load_state_dict(last.optimizer_state)
        first, step = last.epoch, last.step
        if is_main:
            run.truncate_metrics(first)
    elif is_main:
        _save(run, 0, 0, curve, model, full, {"epoch": 0}, optimizer)
    dtype = curve.start.dtype
    loader = TrainLoader(dataset, batch_size=cfg.batch_size, seed=cfg.seed, augment=cfg.augment,
                         device=device, dtype=dtype)
    total = (cfg.epochs - first) * len(loader)
    rng_devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with tqdm(total=total, desc="curve fit", disable=not progress, leave=False) as bar, \
            torch.random.fork_rng(devices=rng_devices):
        for epoch in range(first, cfg.epochs):
            lr = schedule(epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # dropout draws from the global RNG: seed it per epoch, as the trainer does, so a
            # fit (and a resumed fit) is determined by its config (the caller's RNG is restored)
            torch.manual_seed(derive_seed(cfg.seed, "curve_dropout", epoch))
            ts = torch.rand(len(loader), generator=generator(cfg.seed, "curve_t", epoch),
                            dtype=torch.float64)
            began = time.perf_counter()
            batches = ShardedBatches(loader.epoch(epoch))
            hook = (lambda b=batches: reduce_gradients_(curve.middle, b.local_size / b.global_size)
                    ) if context().distributed else None
            metrics = curve_epoch(curve, model, batches, optimizer, ts,
                                  weight_decay=cfg.weight_decay, progress=bar, after_backward=hook)
            metrics = weighted_means(metrics, batches.local_total)
            step += len(loader)
            metrics.update(epoch=epoch + 1, lr=lr, seconds=time.perf_counter() - began)
            if is_main:
                run.append_metrics(metrics)  # first: a resume truncates rows past its checkpoint
                _save(run, epoch + 1, step, curve, model, full, metrics, optimizer)
            dist_barrier()
    return LoadedCurve(curve=curve, model=model, config=full, epoch=cfg.epochs)
