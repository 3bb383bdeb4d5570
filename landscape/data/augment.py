"""Batched, generator-driven augmentations of the papers: random crop with padding, h-flip.

They act on a whole batch of ``[B, C, H, W]`` tensors at once and draw from an explicit
``torch.Generator``, so a run's augmentation stream is fixed by its seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["random_crop", "random_hflip"]


def random_crop(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Zero-pad each image by ``padding`` pixels and cut a random window of the original size.

    Args:
        images: ``[B, C, H, W]`` batch.
        padding: pixels of zero padding on every side (4 for CIFAR in the papers).
        generator: source of the crop offsets (on the CPU).

    Returns:
        A batch of the same shape and dtype.

    >>> x = torch.arange(16.0).view(1, 1, 4, 4)
    >>> torch.equal(random_crop(x, 0, torch.Generator().manual_seed(0)), x)
    True

    """
    if padding == 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    off = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(images.device)
    rows = off[0][:, None] + torch.arange(h, device=images.device)[None, :]
    cols = off[1][:, None] + torch.arange(w, device=images.device)[None, :]
    batch = torch.arange(b, device=images.device)[:, None, None]
    # padded[b, :, rows[b, i], cols[b, j]] -> [B, H, W, C]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def random_hflip(images: Tensor, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """Flip each image left-right with probability ``p``."""
    flip = (torch.rand(images.shape[0], generator=generator) < p).to(images.device)
    return torch.where(flip[:, None, None, None], images.flip(-1), images)
