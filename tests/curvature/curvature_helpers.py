"""Tiny float64 networks with BatchNorm and two batches of unequal size (shared helpers)."""

from __future__ import annotations

import torch
from torch import nn


def _randomise_bn(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(1 + 0.2 * torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return model


def make_convnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * 3 * 3, 3),
    ).double()
    return _randomise_bn(model, seed)


def make_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3),
    ).double()
    return _randomise_bn(model, seed)


def make_batches(input_shape, *, seed: int = 1, sizes=(5, 3), classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(n, *input_shape, generator=g, dtype=torch.float64),
         torch.randint(0, classes, (n,), generator=g))
        for n in sizes
    ]


def problem_by_name(name: str):
    """(model, batches) for a tiny float64 net with BatchNorm, batches of 5 and 3 samples."""
    if name == "mlp":
        return make_mlp(), make_batches((4,))
    return make_convnet(), make_batches((1, 5, 5))
