"""Optimizers and learning-rate schedules: gRDA, the SGD/Adam family, L2 vs weight decay."""

from landscape.optim.grda import GRDA, grda_threshold, soft_threshold, threshold_increment
from landscape.optim.registry import (
    OptimizerEntry,
    create_optimizer,
    list_optimizers,
    optimizer_entry,
)
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
    "GaripovSchedule",
    "OptimizerEntry",
    "Schedule",
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
