"""Datasets as tensors, a seeded training loader and a device-resident evaluation set.

Besides the registered datasets, your own data: an image folder (``imagefolder``) or the
batches a Python file returns (:func:`load_data_file`).
"""

from landscape.data import imagefolder as _imagefolder  # noqa: F401  (registers it)
from landscape.data import sources as _sources  # noqa: F401  (registers the datasets)
from landscape.data._base import Dataset, Split, normalize_images
from landscape.data._cache import cache_dir
from landscape.data.datafile import DataFile, batches_digest, load_data_file
from landscape.data.loader import EvalSet, TrainLoader
from landscape.data.registry import (
    DatasetEntry,
    dataset_from_config,
    get_dataset,
    list_datasets,
    register_dataset,
)

__all__ = [
    "DataFile",
    "Dataset",
    "DatasetEntry",
    "EvalSet",
    "Split",
    "TrainLoader",
    "batches_digest",
    "cache_dir",
    "dataset_from_config",
    "get_dataset",
    "list_datasets",
    "load_data_file",
    "normalize_images",
    "register_dataset",
]
