"""Dataset containers: images and labels held as tensors, normalised per batch."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["Dataset", "Split", "normalize_images"]


@dataclass(frozen=True)
class Split:
    """One split of a dataset as tensors on the host.

    Attributes:
        images: ``uint8`` images in ``[0, 255]`` (scaled to ``[0, 1]`` on use) or floating
            point features used as they are, shaped ``[N, *input_shape]``.
        labels: ``int64`` class indices, shaped ``[N]``.

    """

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"a split needs one label per image: got {self.images.shape[0]} images and "
                f"{self.labels.shape[0]} labels"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def normalize_images(
    images: Tensor,
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Return ``(images / 255 - mean) / std`` for uint8 images, ``(images - mean) / std`` else.

    Mean and standard deviation are per channel (dimension 1); ``None`` skips that step.

    >>> x = torch.full((1, 1, 2, 2), 255, dtype=torch.uint8)
    >>> normalize_images(x, (0.5,), (0.5,)).flatten().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    x = images.to(dtype)
    if images.dtype == torch.uint8:
        x = x / 255.0
    shape = (1, -1) + (1,) * (x.dim() - 2)
    if mean is not None:
        x = x - torch.tensor(mean, dtype=dtype, device=x.device).view(shape)
    if std is not None:
        x = x / torch.tensor(std, dtype=dtype, device=x.device).view(shape)
    return x


@dataclass(frozen=True)
class Dataset:
    """A named dataset: train and test splits plus what a model needs to know about them.

    Attributes:
        name: registry name.
        train: training split.
        test: test split.
        num_classes: number of classes.
        input_shape: shape of one sample, e.g. ``(1, 28, 28)``.
        mean: per-channel mean used for normalisation (``None``: none).
        std: per-channel standard deviation (``None``: none).
        options: the registry options that produced it (recorded in configs and cache keys).

    """

    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def split(self, which: str) -> Split:
        """Return the ``"train"`` or ``"test"`` split."""
        if which not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {which!r}")
        return self.train if which == "train" else self.test

    def digest(self) -> str:
        """Return a SHA-256 of both splits' bytes: the dataset's content identity."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            h = hashlib.sha256()
            for part in (self.train.images, self.train.labels, self.test.images, self.test.labels):
                t = part.contiguous()
                h.update(f"{t.dtype}:{tuple(t.shape)};".encode())
                h.update(t.numpy().tobytes())
            cached = h.hexdigest()
            object.__setattr__(self, "_digest", cached)
        return cached

    def spec(self) -> dict[str, Any]:
        """Return a JSON-able description used in run configs and result-store keys."""
        return {
            "name": self.name,
            "options": dict(self.options),
            "digest": self.digest(),
            "num_train": len(self.train),
            "num_test": len(self.test),
        }

    def normalize(self, images: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
        """Normalise a batch of this dataset's images (see :func:`normalize_images`)."""
        return normalize_images(images, self.mean, self.std, dtype=dtype)
