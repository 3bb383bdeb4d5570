"""Small building blocks shared by the model definitions."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["flat_features"]


def flat_features(features: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Return the number of features ``features`` produces for one input of ``input_shape``."""
    was_training = features.training
    features.eval()
    with torch.no_grad():
        n = features(torch.zeros(1, *input_shape)).flatten(1).shape[1]
    features.train(was_training)
    return int(n)
