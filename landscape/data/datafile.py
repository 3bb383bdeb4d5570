"""Evaluation data from the user's own code: ``PATH.py:FACTORY`` returning the batches.

``FACTORY(**options)`` returns either a re-iterable of ``(x, y)`` batches (a list of
pairs, a ``torch.utils.data.DataLoader`` with ``shuffle=False``, any object whose
``__iter__`` starts over) or a mapping ``{"train": batches, "test": batches}``. A single
iterable serves as both the train and the test split (:attr:`DataFile.single` says so). The
batches are used as they come: already normalised, on the device the analysis moves them to.

Loading makes one pass over each split, which checks every batch (a pair of tensors with
one label row per input row) and hashes the tensors, and starts one more pass that reads
only its first batch: a second pass that yields a different first batch (``shuffle=True``,
random augmentation) is refused, because the analyses evaluate the same loss many times. So
the check costs one batch beyond the pass the digest needs; it cannot see a loader that
changes only later batches between passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from landscape._usercode import call_factory, load_factory, parse_file_spec, plain_options

__all__ = ["DataFile", "batches_digest", "load_data_file"]

Batches = Iterable[tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class DataFile:
    """The evaluation data a user's file returned.

    Attributes:
        train: the train split's batches (re-iterable).
        test: the test split's batches (the same object as ``train`` when ``single``).
        single: one iterable serves both splits.
        definition: ``{"kind": "file", "path", "sha256", "factory", "options"}``: the
            resolved path, the SHA-256 of the file's bytes, the factory and its options.
        digests: ``{"train": sha256, "test": sha256}`` of the batches' content.
        num_samples: ``{"train": N, "test": N}``.

    """

    train: Batches
    test: Batches
    single: bool
    definition: dict[str, Any]
    digests: dict[str, str]
    num_samples: dict[str, int]

    def split(self, which: str) -> Batches:
        """Return the ``"train"`` or ``"test"`` batches."""
        if which not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {which!r}")
        return self.train if which == "train" else self.test

    def digest(self) -> str:
        """SHA-256 of both splits' content (equal batches give equal digests)."""
        return hashlib.sha256(f"{self.digests['train']};{self.digests['test']}".encode()
                              ).hexdigest()


def _feed(h: Any, t: Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}:{tuple(t.shape)};".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy())


def _check_batch(batch: Any, index: int, label: str) -> tuple[Tensor, Tensor]:
    if not (isinstance(batch, tuple | list) and len(batch) == 2
            and all(isinstance(t, Tensor) for t in batch)):
        kind = (f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, tuple | list)
                else f"a {type(batch).__name__}")
        raise TypeError(f"{label}: batch {index} is {kind}, not a pair of tensors (x, y): "
                        "yield (inputs, targets) pairs")
    x, y = batch
    if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"{label}: batch {index} has inputs of shape {tuple(x.shape)} and "
                         f"targets of shape {tuple(y.shape)}: both need the same, non-zero "
                         "number of rows (one target per input)")
    return x, y


def batches_digest(batches: Batches, *, label: str = "batches") -> tuple[str, int]:
    """One checked pass: ``(SHA-256 of the batches' x and y, in order; number of samples)``.

    Dtypes and shapes enter the digest with the bytes, so equal data cut into other batches
    has another digest (conservative: it is a cache identity).

    Raises:
        TypeError: a one-shot iterator, or a batch that is not a pair of tensors.
        ValueError: no batches, a batch whose x and y differ in rows, or a second pass whose
            first batch differs from the first pass's.

    >>> import torch
    >>> data = [(torch.zeros(2, 3), torch.tensor([0, 1]))]
    >>> digest, n = batches_digest(data)
    >>> n, digest == batches_digest([(torch.zeros(2, 3), torch.tensor([0, 1]))])[0]
    (2, True)
    """
    if isinstance(batches, Iterator):
        raise TypeError(
            f"{label} is a one-shot iterator ({type(batches).__name__}): the analyses pass "
            "over the data many times; return a list of batches, a DataLoader, or an object "
            "whose __iter__ starts over"
        )
    h = hashlib.sha256()
    first: str | None = None
    n = 0
    for i, batch in enumerate(batches):
        x, y = _check_batch(batch, i, label)
        one = hashlib.sha256()
        _feed(one, x)
        _feed(one, y)
        h.update(one.digest())
        first = first or one.hexdigest()
        n += int(x.shape[0])
    if first is None:
        raise ValueError(f"{label} yields no batches")
    again = iter(batches)
    batch = next(again, None)
    del again  # stops a DataLoader's workers
    if batch is None:
        raise ValueError(f"{label} was exhausted after one pass: the analyses pass over the data "
                         "many times; return a list or a DataLoader, not a generator")
    x, y = _check_batch(batch, 0, label)
    one = hashlib.sha256()
    _feed(one, x)
    _feed(one, y)
    if one.hexdigest() != first:
        raise ValueError(f"{label} yields a different first batch on a second pass (a DataLoader "
                         "with shuffle=True, or random augmentation?): the analyses need the "
                         "same batches every time; use shuffle=False and no random transforms")
    return h.hexdigest(), n


def load_data_file(spec: str, **options: Any) -> DataFile:
    """Run ``PATH.py:FACTORY`` (this executes the file's code) and check what it returns.

    Args:
        spec: ``"PATH.py:FACTORY"``.
        **options: keyword arguments of the factory (plain values: numbers, strings,
            booleans, lists, none), recorded in the definition.

    Returns:
        The batches with their definition and content digests (see :class:`DataFile`).

    Raises:
        ValueError: not ``PATH.py:FACTORY``, no such factory, an option the factory does
            not take, a mapping without both ``"train"`` and ``"test"``, or bad batches.
        FileNotFoundError: the file does not exist.
        RuntimeError: running the file or the factory raised.
        TypeError: the factory returned something that is not batches.

    """
    file = parse_file_spec(spec, what="data")
    label = f"data factory {file}"
    plain = plain_options(options, label=label)
    factory, sha = load_factory(file, what="data")
    result = call_factory(factory, options, label=label)
    if isinstance(result, Mapping):
        keys = set(result)
        if keys != {"train", "test"}:
            raise ValueError(f"{label} returned a mapping with keys {sorted(map(str, keys))}: "
                             "return {'train': batches, 'test': batches}, or one iterable of "
                             "batches for both")
        splits = {"train": result["train"], "test": result["test"]}
    elif isinstance(result, Iterable) and not isinstance(result, str | bytes | Tensor):
        splits = {"train": result, "test": result}
    else:
        raise TypeError(f"{label} returned a {type(result).__name__}, not batches: return an "
                        "iterable of (x, y) tensor pairs (a dataset of samples becomes one with "
                        "DataLoader(dataset, batch_size=256)) or {'train': ..., 'test': ...}")
    single = splits["train"] is splits["test"]
    digests, counts = {}, {}
    for which, batches in splits.items():
        if single and which == "test":
            digests["test"], counts["test"] = digests["train"], counts["train"]
            continue
        where = label if single else f"{label} ({which!r})"
        digests[which], counts[which] = batches_digest(batches, label=where)
    definition = {"kind": "file", "path": str(file.path.resolve()), "sha256": sha,
                  "factory": file.factory, "options": plain}
    return DataFile(splits["train"], splits["test"], single, definition, digests, counts)
