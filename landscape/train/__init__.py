"""The trainer: config -> run directory of per-epoch checkpoints; resume; NaN guard."""

from landscape.train.config import TrainConfig, run_name
from landscape.train.sparsifier import (
    Sparsifier,
    SparsifierEntry,
    create_sparsifier,
    list_sparsifiers,
    register_sparsifier,
)
from landscape.train.trainer import TrainingDiverged, evaluate, train

__all__ = [
    "Sparsifier",
    "SparsifierEntry",
    "TrainConfig",
    "TrainingDiverged",
    "create_sparsifier",
    "evaluate",
    "list_sparsifiers",
    "register_sparsifier",
    "run_name",
    "train",
]
