"""Optimizers, learning-rate schedules and the epoch runner (training and curve fitting).

gRDA, the SGD/Adam family with L2 or decoupled weight decay, and the one epoch loop that the
trainer and curve fitting share (:class:`EpochRunner`).
"""

from landscape.optim.grda import GRDA, grda_threshold, soft_threshold, threshold_increment
from landscape.optim.registry import (
    OptimizerEntry,
    create_optimizer,
    list_optimizers,
    optimizer_entry,
)
from landscape.optim.runner import EpochRunner, EpochStats, LossNotFinite, Step
from landscape.optim.schedules import (
    ConstantSchedule,
    CosineSchedule,
    DropSchedule,
    GaripovSchedule,
    Schedule,
    StepSchedule,
    create_schedule,
    list_schedules,
    schedule_options,
)

__all__ = [
    "GRDA",
    "ConstantSchedule",
    "CosineSchedule",
    "DropSchedule",
    "EpochRunner",
    "EpochStats",
    "GaripovSchedule",
    "LossNotFinite",
    "OptimizerEntry",
    "Schedule",
    "Step",
    "StepSchedule",
    "create_optimizer",
    "create_schedule",
    "grda_threshold",
    "list_optimizers",
    "list_schedules",
    "optimizer_entry",
    "schedule_options",
    "soft_threshold",
    "threshold_increment",
]
