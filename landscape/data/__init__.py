"""Datasets as tensors, a seeded training loader and a device-resident evaluation set.

Besides the registered datasets, your own data: an image folder (``imagefolder``) or the
batches a Python file returns (:func:`load_data_file`).
"""

from landscape.data import imagefolder as _imagefolder  # noqa: F401  (registers it)
from landscape.data import sources as _sources  # noqa: F401  (registers the datasets)
from landscape.data._base import Dataset, Split, normalize_images
from landscape.data._cache import cache_dir
from landscape.data.datafile import DataFile, batches_digest, load_data_file
from landscape.data.identity import DatasetIdentity, dataset_identity
from landscape.data.loader import DeferredEvalSet, EvalSet, TrainLoader
from landscape.data.registry import (
    DatasetEntry,
    config_dataset,
    dataset_from_config,
    get_dataset,
    list_datasets,
    register_dataset,
)

__all__ = [
    "DataFile",
    "Dataset",
    "DatasetEntry",
    "DatasetIdentity",
    "DeferredEvalSet",
    "EvalSet",
    "Split",
    "TrainLoader",
    "batches_digest",
    "cache_dir",
    "config_dataset",
    "dataset_from_config",
    "dataset_identity",
    "get_dataset",
    "list_datasets",
    "load_data_file",
    "normalize_images",
    "register_dataset",
]
