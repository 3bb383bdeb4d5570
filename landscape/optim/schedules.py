"""Learning-rate schedules as functions of the (0-based, possibly fractional) epoch.

``create_schedule(name, *, base_lr, epochs, **kw)`` returns a small frozen dataclass that is
called as ``sched(epoch) -> lr``. The trainer evaluates it at the start of every epoch (the lr
is constant within an epoch, as in the reference implementations), so ``sched(e)`` is the lr of
epoch ``e``.

* ``constant``: ``base_lr``.
* ``step`` (Yaguchi et al. 2018: x0.5 every 25 epochs):
  ``base_lr * gamma**floor(epoch / step_size)``.
* ``garipov`` (Chao et al. 2020 on CIFAR, after Garipov et al. 2018): with
  ``t = epoch / epochs``, ``base_lr`` for ``t <= 0.5``, linear down to ``ratio * base_lr`` at
  ``t = 0.9``, then ``ratio * base_lr`` (``ratio = 0.01``).
* ``drop`` (Chao et al. 2020 on ImageNet, "constant-and-drop"; Mehta et al. 2019: /10 after
  250 of 325 epochs):
  ``base_lr`` before ``at`` epochs, ``base_lr * factor`` from then on (``factor = 0.1``).
* ``cosine``: ``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / epochs)) / 2``.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConstantSchedule",
    "CosineSchedule",
    "DropSchedule",
    "GaripovSchedule",
    "Schedule",
    "StepSchedule",
    "create_schedule",
    "list_schedules",
    "schedule_options",
]


def _positive(name: str, value: float, schedule: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"schedule {schedule!r}: {name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Schedule(ABC):
    """Base: ``sched(epoch)`` returns the learning rate of (0-based, float allowed) ``epoch``."""

    base_lr: float
    epochs: int

    name = "base"

    def __post_init__(self) -> None:
        _positive("base_lr", self.base_lr, self.name)
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ValueError(
                f"schedule {self.name!r}: epochs must be a positive integer, got {self.epochs!r}"
            )

    @abstractmethod
    def factor(self, epoch: float) -> float:
        """Multiplier of ``base_lr`` at ``epoch`` (each schedule defines it)."""

    def __call__(self, epoch: float) -> float:
        """Learning rate of ``epoch`` (0-based; fractional epochs allowed)."""
        if not (isinstance(epoch, int | float) and math.isfinite(epoch) and epoch >= 0):
            raise ValueError(f"schedule {self.name!r}: epoch must be a number >= 0, got {epoch!r}")
        return self.base_lr * self.factor(float(epoch))


@dataclass(frozen=True)
class ConstantSchedule(Schedule):
    """``lr = base_lr``.

    >>> ConstantSchedule(0.1, 10)(7)
    0.1
    """

    name = "constant"

    def factor(self, epoch: float) -> float:
        """Always 1."""
        return 1.0


@dataclass(frozen=True)
class StepSchedule(Schedule):
    """``lr = base_lr * gamma**floor(epoch / step_size)`` (Yaguchi et al. 2018: gamma 0.5, step 25).

    >>> s = StepSchedule(1.0, 100, step_size=25, gamma=0.5)
    >>> s(0), s(24.9), s(25), s(75)
    (1.0, 1.0, 0.5, 0.125)
    """

    step_size: int = 25
    gamma: float = 0.5

    name = "step"

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("step_size", self.step_size, self.name)
        _positive("gamma", self.gamma, self.name)

    def factor(self, epoch: float) -> float:
        """``gamma**floor(epoch / step_size)``."""
        return self.gamma ** math.floor(epoch / self.step_size)


@dataclass(frozen=True)
class GaripovSchedule(Schedule):
    """Chao et al. 2020's CIFAR schedule: flat to 50%, linear to ``ratio`` at 90%, then flat.

    >>> s = GaripovSchedule(1.0, 100)
    >>> s(0), s(50), round(s(70), 6), s(90), s(99)
    (1.0, 1.0, 0.505, 0.01, 0.01)
    """

    ratio: float = 0.01

    name = "garipov"

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("ratio", self.ratio, self.name)

    def factor(self, epoch: float) -> float:
        """Piecewise linear in ``t = epoch / epochs``."""
        t = epoch / self.epochs
        if t <= 0.5:
            return 1.0
        if t < 0.9:
            return 1.0 - (1.0 - self.ratio) * (t - 0.5) / 0.4
        return self.ratio


@dataclass(frozen=True)
class DropSchedule(Schedule):
    """Constant-and-drop: ``base_lr`` before epoch ``at``, ``base_lr * factor_`` from it on.

    >>> s = DropSchedule(0.1, 10, at=6, drop_factor=0.1)
    >>> s(5), round(s(6), 12)
    (0.1, 0.01)
    """

    at: float | None = None
    drop_factor: float = 0.1

    name = "drop"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.at is None:
            raise ValueError(
                "schedule 'drop' needs the epoch of the drop: pass at=EPOCH "
                "(--schedule-args at=140)"
            )
        _positive("at", self.at, self.name)
        _positive("drop_factor", self.drop_factor, self.name)

    def factor(self, epoch: float) -> float:
        """1 before ``at``, ``drop_factor`` from ``at`` on."""
        return 1.0 if epoch < self.at else self.drop_factor


@dataclass(frozen=True)
class CosineSchedule(Schedule):
    """Cosine annealing from ``base_lr`` at epoch 0 to ``eta_min`` at ``epochs``.

    >>> s = CosineSchedule(1.0, 10)
    >>> s(0), round(s(5), 12), s(10)
    (1.0, 0.5, 0.0)
    """

    eta_min: float = 0.0

    name = "cosine"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.eta_min, int | float) and 0 <= self.eta_min <= self.base_lr):
            raise ValueError(
                f"schedule 'cosine': eta_min must be in [0, base_lr={self.base_lr}], "
                f"got {self.eta_min!r}"
            )

    def factor(self, epoch: float) -> float:
        """Cosine from 1 to ``eta_min / base_lr``."""
        t = min(epoch / self.epochs, 1.0)
        low = self.eta_min / self.base_lr
        return low + (1.0 - low) * (1.0 + math.cos(math.pi * t)) / 2.0


_SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls
    for cls in (ConstantSchedule, StepSchedule, GaripovSchedule, DropSchedule, CosineSchedule)
}


def list_schedules() -> list[str]:
    """Return the schedule names, sorted.

    >>> list_schedules()
    ['constant', 'cosine', 'drop', 'garipov', 'step']
    """
    return sorted(_SCHEDULES)


def schedule_options(name: str) -> list[str]:
    """Return the extra keyword options a schedule accepts."""
    cls = _get(name)
    return [p for p in inspect.signature(cls).parameters if p not in ("base_lr", "epochs")]


def _get(name: str) -> type[Schedule]:
    cls = _SCHEDULES.get(name)
    if cls is None:
        raise ValueError(f"unknown schedule {name!r}; choose one of: {', '.join(list_schedules())}")
    return cls


def create_schedule(
    name: str, *, base_lr: float, epochs: int, **kw: Any
) -> Schedule:
    """Build a learning-rate schedule.

    Args:
        name: one of :func:`list_schedules`.
        base_lr: the initial learning rate.
        epochs: the number of training epochs (``garipov`` and ``cosine`` use it).
        **kw: the schedule's options: ``step_size``/``gamma`` (step), ``ratio`` (garipov),
            ``at``/``drop_factor`` (drop; ``factor`` is accepted as an alias), ``eta_min``
            (cosine).

    Returns:
        A callable ``sched(epoch) -> lr`` for 0-based (fractional allowed) epochs.

    Raises:
        ValueError: unknown name or option, or an invalid value.

    >>> create_schedule("garipov", base_lr=0.1, epochs=10)(9)
    0.001
    """
    cls = _get(name)
    if name == "drop" and "factor" in kw:
        kw["drop_factor"] = kw.pop("factor")
    unknown = sorted(set(kw) - set(schedule_options(name)))
    if unknown:
        raise ValueError(
            f"schedule {name!r} has no option(s) {unknown}; its options are "
            f"{schedule_options(name)}"
        )
    if isinstance(epochs, float) and epochs.is_integer():
        epochs = int(epochs)
    return cls(base_lr=base_lr, epochs=epochs, **kw)
