"""The HDF5 result store: content-addressed, crash-safe, race-safe, checksummed.

``Store(root).get_or_compute(name, params, inputs, compute)`` answers a question from the
cache or computes, stores and returns it; ``Store.partial`` fills a grid in point by point.
Every entry is a plain HDF5 file readable with ``h5py.File`` (layout in the README); every
dataset in it is checksummed, and an entry that fails a check is moved aside and recomputed.
"""

from landscape.store.entry import Entry, read_meta
from landscape.store.errors import (
    CorruptEntryError,
    NotAStoreError,
    StoreError,
    StoreVersionError,
    StoreWarning,
)
from landscape.store.keys import canonical_json, entry_key, question_key
from landscape.store.listing import EntrySummary
from landscape.store.partial import Partial
from landscape.store.paths import default_store_path
from landscape.store.store import Store

__all__ = [
    "CorruptEntryError",
    "Entry",
    "EntrySummary",
    "NotAStoreError",
    "Partial",
    "Store",
    "StoreError",
    "StoreVersionError",
    "StoreWarning",
    "canonical_json",
    "default_store_path",
    "entry_key",
    "question_key",
    "read_meta",
]
