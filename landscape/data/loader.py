"""Seeded training loader and the device-resident evaluation set.

``TrainLoader``: the minibatch order and the augmentation of epoch ``e`` are
drawn from generators derived from ``(seed, e)`` alone, so every optimizer trained with one
seed sees the same minibatches, and a run resumed at epoch ``e`` sees what it would have seen.

``EvalSet`` (analyses): a whole split, unaugmented and normalised once, held as tensors on a
chosen device and iterated in fixed batches: the thousands of full-dataset passes made by
Hessian-vector products and grid points pay no decoding and no host-to-device copies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from landscape.data._base import Dataset
from landscape.data.augment import random_crop, random_hflip
from landscape.seeding import generator

__all__ = ["DeferredEvalSet", "EvalSet", "TrainLoader"]


class TrainLoader:
    """Minibatches of a dataset's training split in a seed-determined order.

    Args:
        dataset: the dataset.
        batch_size: samples per minibatch (the last one may be smaller unless ``drop_last``).
        seed: the run seed; order and augmentation of epoch ``e`` depend on ``(seed, e)`` only.
        augment: ``"crop_flip"`` (random crop with 4-pixel padding and horizontal flip, the
            CIFAR recipe of the papers), ``"flip"``, ``"crop"`` or ``None``.
        padding: crop padding in pixels.
        drop_last: drop a final incomplete batch.
        device: where batches are delivered.
        dtype: floating dtype of the images.
        indices: restrict training to these sample indices (a fixed subset).

    >>> from landscape.data import get_dataset
    >>> ds = get_dataset("synthetic", num_train=10)
    >>> a = [y.tolist() for _, y in TrainLoader(ds, batch_size=4, seed=1).epoch(0)]
    >>> b = [y.tolist() for _, y in TrainLoader(ds, batch_size=4, seed=1).epoch(0)]
    >>> a == b and [len(y) for y in a] == [4, 4, 2]
    True

    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,
        seed: int,
        augment: str | None = None,
        padding: int = 4,
        drop_last: bool = False,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        indices: Tensor | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if augment not in (None, "crop_flip", "crop", "flip"):
            raise ValueError(
                f"augment must be None, 'crop_flip', 'crop' or 'flip', got {augment!r}"
            )
        if augment in ("crop_flip", "crop") and len(dataset.input_shape) != 3:
            raise ValueError(f"random crop needs [C, H, W] images, not {dataset.input_shape}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.augment = augment
        self.padding = int(padding)
        self.drop_last = drop_last
        self.device = torch.device(device)
        self.dtype = dtype
        split = dataset.train
        if indices is not None:
            split = type(split)(split.images[indices], split.labels[indices])
        self._images, self._labels = split.images, split.labels

    @property
    def num_samples(self) -> int:
        """Number of training samples."""
        return int(self._labels.shape[0])

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self, epoch: int) -> Tensor:
        """Return the sample permutation of ``epoch`` (a function of ``(seed, epoch)``)."""
        return torch.randperm(self.num_samples, generator=generator(self.seed, "order", epoch))

    def epoch(self, epoch: int, *, start_batch: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield the ``(images, labels)`` minibatches of ``epoch`` from ``start_batch`` on."""
        perm = self.order(epoch)
        aug = generator(self.seed, "augment", epoch)
        for i in range(len(self)):
            idx = perm[i * self.batch_size : (i + 1) * self.batch_size]
            x = self.dataset.normalize(self._images[idx].to(self.device), dtype=self.dtype)
            # Draw augmentation randomness for every batch, also skipped ones, so that the
            # stream of batch i does not depend on where iteration started.
            if self.augment in ("crop_flip", "crop"):
                x = random_crop(x, self.padding, aug)
            if self.augment in ("crop_flip", "flip"):
                x = random_hflip(x, aug)
            if i >= start_batch:
                yield x, self._labels[idx].to(self.device)


class EvalSet:
    """A whole split, normalised, unaugmented, resident on ``device``, in fixed batches.

    Args:
        dataset: the dataset.
        split: ``"train"`` or ``"test"``.
        batch_size: samples per batch (the last batch may be smaller).
        device: where the tensors live.
        dtype: floating dtype of the inputs (``torch.float64`` for exactness tests).
        subset: keep only this many samples, chosen by a fixed permutation of ``subset_seed``
            (a declared subset).
        subset_seed: seed of the subset permutation.

    >>> from landscape.data import get_dataset
    >>> ev = EvalSet(get_dataset("synthetic", num_train=10), "train", batch_size=4)
    >>> ev.num_samples, ev.batch_sizes
    (10, [4, 4, 2])

    """

    def __init__(
        self,
        dataset: Dataset,
        split: str = "train",
        *,
        batch_size: int = 1000,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        subset: int | None = None,
        subset_seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        part = dataset.split(split)
        images, labels = part.images, part.labels
        if subset is not None:
            if not 1 <= subset <= len(part):
                raise ValueError(
                    f"subset must be between 1 and the {split} split's {len(part)} samples, "
                    f"got {subset}"
                )
            idx = torch.randperm(len(part), generator=generator(subset_seed, "subset"))[:subset]
            images, labels = images[idx.sort().values], labels[idx.sort().values]
        self.dataset_spec = dataset.spec()
        self.split = split
        self.subset = subset
        self.subset_seed = subset_seed
        self.batch_size = int(batch_size)
        self.x = dataset.normalize(images, dtype=dtype).to(device)
        self.y = labels.to(device)

    @classmethod
    def from_tensors(
        cls, x: Tensor, y: Tensor, *, batch_size: int, name: str = "tensors"
    ) -> EvalSet:
        """Wrap ready-made (already normalised) tensors, e.g. in tests."""
        self = cls.__new__(cls)
        self.dataset_spec = {"name": name, "num_samples": int(y.shape[0])}
        self.split, self.subset, self.subset_seed = "custom", None, 0
        self.batch_size = int(batch_size)
        self.x, self.y = x, y
        return self

    @property
    def num_samples(self) -> int:
        """Number of samples N (the weights of a mean over batches are ``len(batch) / N``)."""
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.x.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the inputs."""
        return self.x.dtype

    @property
    def batch_sizes(self) -> list[int]:
        """Sizes of the batches, in iteration order."""
        n, b = self.num_samples, self.batch_size
        return [min(b, n - i) for i in range(0, n, b)]

    def __len__(self) -> int:
        return len(self.batch_sizes)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, self.num_samples, self.batch_size):
            yield self.x[i : i + self.batch_size], self.y[i : i + self.batch_size]

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None):
        """Return a copy on another device and/or floating dtype."""
        out = EvalSet.__new__(EvalSet)
        out.__dict__.update(self.__dict__)
        out.x = self.x.to(device=device or self.x.device, dtype=dtype or self.x.dtype)
        out.y = self.y.to(device=device or self.y.device)
        return out

    def spec(self) -> dict[str, Any]:
        """JSON-able identity of this evaluation set, for result-store keys."""
        return self.spec_for(self.dataset_spec, self.split, subset=self.subset,
                             subset_seed=self.subset_seed, dtype=self.dtype)

    @staticmethod
    def spec_for(dataset_spec: dict[str, Any], split: str, *, subset: int | None,
                 subset_seed: int, dtype: torch.dtype) -> dict[str, Any]:
        """The :meth:`spec` of an evaluation set of a dataset with ``dataset_spec``.

        >>> EvalSet.spec_for({"name": "d"}, "test", subset=None, subset_seed=0,
        ...                  dtype=torch.float64)["dtype"]
        'float64'
        """
        return {
            "dataset": dataset_spec,
            "split": split,
            "subset": subset,
            "subset_seed": subset_seed if subset is not None else None,
            "dtype": str(dtype).removeprefix("torch."),
        }


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (what a store key sees: tuples and lists alike)."""
    def text(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=str)

    return text(a) == text(b)


class DeferredEvalSet(EvalSet):
    """An :class:`EvalSet` whose tensors are made on first use; its :meth:`spec` is known before.

    For analyses answered from the result store, which need the data's identity and not the
    data: ``dataset`` (a function returning the dataset) runs when the tensors are first
    used (iterating, ``x``, ``y``, ``to``), and the set is then made exactly as
    ``EvalSet(dataset(), split, ...)`` would. Its spec must equal the one announced
    (``dataset_spec``, from :func:`landscape.data.identity.dataset_identity`), else
    ``RuntimeError``: a computed result never lands under another dataset's key.

    Args:
        dataset: returns the dataset (called once, on first use).
        split: ``"train"`` or ``"test"``.
        dataset_spec: the dataset's :meth:`Dataset.spec`.
        batch_size, device, dtype, subset, subset_seed: as for :class:`EvalSet`.

    Raises:
        ValueError: a bad split, batch size or subset (checked here, before any data).

    >>> from landscape.data import get_dataset
    >>> ds = get_dataset("synthetic", num_train=10)
    >>> ev = DeferredEvalSet(lambda: ds, "train", dataset_spec=ds.spec(), batch_size=4)
    >>> ev.batch_sizes, ev.spec() == EvalSet(ds, "train", batch_size=4).spec(), "x" in vars(ev)
    ([4, 4, 2], True, False)
    >>> [len(y) for _, y in ev]
    [4, 4, 2]

    """

    def __init__(
        self,
        dataset: Callable[[], Dataset],
        split: str = "train",
        *,
        dataset_spec: dict[str, Any],
        batch_size: int = 1000,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        subset: int | None = None,
        subset_seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        size = int(dataset_spec[f"num_{split}"])
        if subset is not None and not 1 <= subset <= size:
            raise ValueError(
                f"subset must be between 1 and the {split} split's {size} samples, got {subset}"
            )
        self.dataset_spec = dataset_spec
        self.split, self.subset, self.subset_seed = split, subset, subset_seed
        self.batch_size = int(batch_size)
        self._make, self._size = dataset, subset if subset is not None else size
        self._device, self._dtype = torch.device(device), dtype

    def __getattr__(self, name: str) -> Any:
        # only for attributes not set yet: the tensors, made on first use
        if name in ("x", "y") and "_make" in self.__dict__:
            self._materialise()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _materialise(self) -> None:
        made = EvalSet(self.__dict__["_make"](), self.split, batch_size=self.batch_size,
                       device=self._device, dtype=self._dtype, subset=self.subset,
                       subset_seed=self.subset_seed)
        if not _same(made.spec(), self.spec()):
            raise RuntimeError(
                f"the {self.split} data are not the ones whose identity was announced "
                f"({made.dataset_spec.get('name')}, digest {made.dataset_spec.get('digest')}, "
                f"expected {self.dataset_spec.get('digest')}): the dataset's files changed "
                "while the command ran; run it again"
            )
        self.x, self.y = made.x, made.y
        del self.__dict__["_make"]

    @property
    def built(self) -> bool:
        """Whether the tensors have been made."""
        return "_make" not in self.__dict__

    @property
    def num_samples(self) -> int:
        """Number of samples N (known before the tensors are made)."""
        return self._size

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.x.device if self.built else self._device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the inputs."""
        return self.x.dtype if self.built else self._dtype
