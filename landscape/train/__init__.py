"""The trainer: config -> run directory of per-epoch checkpoints; resume; NaN guard.

It runs on the epoch runner shared with curve fitting (:class:`landscape.optim.EpochRunner`).
"""

from landscape.train.config import TrainConfig, run_name
from landscape.train.sparsifier import (
    Sparsifier,
    SparsifierEntry,
    create_sparsifier,
    list_sparsifiers,
    register_sparsifier,
)
from landscape.train.trainer import TrainingDiverged, evaluate, restore_metrics, train

__all__ = [
    "Sparsifier",
    "SparsifierEntry",
    "TrainConfig",
    "TrainingDiverged",
    "create_sparsifier",
    "evaluate",
    "list_sparsifiers",
    "register_sparsifier",
    "restore_metrics",
    "run_name",
    "train",
]
