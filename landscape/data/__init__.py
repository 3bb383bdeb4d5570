"""Datasets as tensors, a seeded training loader and a device-resident evaluation set."""

from landscape.data import sources as _sources  # noqa: F401  (registers the datasets)
from landscape.data._base import Dataset, Split, normalize_images
from landscape.data.loader import EvalSet, TrainLoader
from landscape.data.registry import (
    DatasetEntry,
    dataset_from_config,
    get_dataset,
    list_datasets,
    register_dataset,
)

__all__ = [
    "Dataset",
    "DatasetEntry",
    "EvalSet",
    "Split",
    "TrainLoader",
    "dataset_from_config",
    "get_dataset",
    "list_datasets",
    "normalize_images",
    "register_dataset",
]
