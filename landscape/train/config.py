"""Training configuration: everything that determines a run, and run names.

A run is determined by its config: one seed derives independent streams for initialisation,
minibatch order and augmentation/dropout, so runs that differ only in the optimizer start
from the same weights and see the same minibatches (Chao et al. 2020, Sec. 4.3 relies on it).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from landscape.optim import GRDA, list_optimizers, list_schedules, optimizer_entry

__all__ = ["DTYPES", "TrainConfig", "run_name"]

DTYPES = ("float32", "float64")

# Fields that may change when a run is resumed without changing its result (evaluation
# batches only regroup the sums of the full-split metrics).
RESUME_FREE = ("device", "eval_batch_size")


@dataclass
class TrainConfig:
    """A training run, fully determined by these values and the library version.

    Attributes:
        model: model registry name (``landscape.models.list_models()``).
        model_args: model options, e.g. ``{"widths": [1000], "batchnorm": True}``.
        dataset: dataset registry name (``landscape.data.list_datasets()``).
        dataset_args: dataset options.
        optimizer: optimizer registry name (``landscape.optim.list_optimizers()``).
        optimizer_args: its options (``momentum``, ``nesterov``, ``c``, ``mu``, ``betas`` ...).
        lr: base learning rate (the schedule's value at epoch 0).
        epochs: number of epochs.
        batch_size: minibatch size.
        seed: the run seed: initialisation, minibatch order and augmentation/dropout streams are
            derived from it, independently of the optimizer.
        schedule: learning-rate schedule name (``landscape.optim.list_schedules()``), evaluated
            at the start of each epoch.
        schedule_args: its options (``step_size``, ``gamma``, ``at``, ``ratio`` ...).
        l2: L2 coefficient added to the gradient, ``g + l2 * w`` (with Adam divided by
            ``sqrt(v)``: Yaguchi et al. 2018; Mehta et al. 2019).
        weight_decay: decoupled weight decay, ``theta *= 1 - lr * weight_decay``.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        augment: ``None``, ``"crop_flip"``, ``"crop"`` or ``"flip"``.
        dtype: ``"float32"`` or ``"float64"`` (parameters and inputs).
        eval_batch_size: batch size of the full-split evaluations.
        deterministic: use deterministic algorithms (bit-identical resume on CPU).
        drop_last: drop the last incomplete minibatch of each epoch.
        data_root: where file-backed datasets live (passed as ``root``).
        group_xi: a unit counts as zero when its incoming weight vector's L2 norm is below this.
        prune: name of a registered sparsifier (``landscape.train.list_sparsifiers()``).
        prune_args: its options.

    >>> TrainConfig(model="mlp", dataset="synthetic", optimizer="sgd", lr=0.1).epochs
    10
    """

    model: str
    dataset: str
    optimizer: str
    lr: float
    model_args: dict[str, Any] = field(default_factory=dict)
    dataset_args: dict[str, Any] = field(default_factory=dict)
    optimizer_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    schedule: str = "constant"
    schedule_args: dict[str, Any] = field(default_factory=dict)
    l2: float = 0.0
    weight_decay: float = 0.0
    device: str = "cpu"
    augment: str | None = None
    dtype: str = "float32"
    eval_batch_size: int = 1000
    deterministic: bool = True
    drop_last: bool = False
    data_root: str | None = None
    group_xi: float = 1e-6
    prune: str | None = None
    prune_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.optimizer not in list_optimizers():
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}; choose one of: "
                f"{', '.join(list_optimizers())}"
            )
        if self.schedule not in list_schedules():
            raise ValueError(
                f"unknown schedule {self.schedule!r}; choose one of: {', '.join(list_schedules())}"
            )
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            low = 0 if name == "epochs" else 1
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        for name in ("l2", "weight_decay"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.l2 and self.weight_decay:
            raise ValueError(
                f"got both l2={self.l2} and weight_decay={self.weight_decay}; they are different "
                "regularisers (L2 is added to the gradient, weight decay shrinks the weights): "
                "pass only one (--l2 or --weight-decay)"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a configuration from :meth:`to_dict` output; other keys are ignored.

        Extra keys (those a run's resolved ``config.json`` adds) are dropped.
        """
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _prune_target(prune_args: dict[str, Any]) -> str:
    """``s<target_sparsity>`` or ``d<density>``, as the sparsifier was given it (else ``""``)."""
    if prune_args.get("target_sparsity") is not None:
        return f"s{_fmt(prune_args['target_sparsity'])}"
    if prune_args.get("density") is not None:
        return f"d{_fmt(prune_args['density'])}"
    return ""


def run_name(cfg: TrainConfig, *, extra: tuple[str, ...] = ()) -> str:
    """Name of a run directory that says what the run is.

    The optimizer, gRDA's ``c`` and ``mu``, SGD/RMSprop momentum, ``l2``/``wd`` when non-zero,
    the sparsifier with its target (``s`` + target sparsity or ``d`` + density, whichever was
    given), and the config fields named in ``extra`` (e.g. ``("lr",)`` when sweeping).

    >>> run_name(TrainConfig(model="mlp", dataset="mnist5k", optimizer="grda", lr=0.1,
    ...                      optimizer_args={"c": 0.001, "mu": 0.51}))
    'grda_c0.001_mu0.51'
    >>> run_name(TrainConfig(model="mlp", dataset="mnist5k", optimizer="adam", lr=1e-3, l2=1e-4))
    'adam_l20.0001'
    >>> run_name(TrainConfig(model="mlp", dataset="mnist5k", optimizer="sgd", lr=0.05,
    ...                      optimizer_args={"momentum": 0.9}, prune="sparse-momentum",
    ...                      prune_args={"density": 0.1}))
    'sgd_m0.9_sparse-momentum_d0.1'
    """
    parts = [cfg.optimizer]
    opts = cfg.optimizer_args
    if cfg.optimizer == "grda":
        defaults = inspect.signature(GRDA).parameters
        c, mu = opts.get("c", defaults["c"].default), opts.get("mu", defaults["mu"].default)
        parts += [f"c{_fmt(c)}", f"mu{_fmt(mu)}"]
    if "momentum" in optimizer_entry(cfg.optimizer).options and opts.get("momentum"):
        parts.append(f"m{_fmt(opts['momentum'])}")
        if opts.get("nesterov"):
            parts.append("nesterov")
    if cfg.l2:
        parts.append(f"l2{_fmt(cfg.l2)}")
    if cfg.weight_decay:
        parts.append(f"wd{_fmt(cfg.weight_decay)}")
    if cfg.prune:
        parts.append(cfg.prune)
        target = _prune_target(cfg.prune_args)
        if target:
            parts.append(target)
    for key in extra:
        parts.append(f"{key}{_fmt(getattr(cfg, key))}")
    return "_".join(parts)
