"""The models the curvature and surface benchmarks share, and the trained point they start at.

``mlp`` is LeNet-300-100 (784-300-100-10, 266,610 parameters); ``cnn`` a small conv net with
BatchNorm after every convolution (14,538 parameters); ``vgg16`` VGG16-BN for 3 x 32 x 32
inputs (a GPU model). Both benchmarks evaluate at the point reached by a few seeded SGD
epochs, so that the Hessian has the outlier spectrum of a trained network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from landscape.data import EvalSet
from landscape.models import create_model


def build(name: str) -> nn.Module:
    """The benchmark model ``name`` (``mlp``, ``cnn`` or ``vgg16``), seeded."""
    if name == "mlp":
        return create_model("lenet300_100", seed=0)
    if name == "vgg16":
        return create_model("vgg16_bn", seed=0, input_shape=(3, 32, 32))
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )


def train_point(model: nn.Module, data: EvalSet, epochs: int) -> None:
    """A few seeded SGD epochs (lr 0.05, momentum 0.9, batches of 128); eval mode after."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(data.num_samples, generator=g).to(data.device).split(128):
            opt.zero_grad()
            F.cross_entropy(model(data.x[idx]), data.y[idx]).backward()
            opt.step()
    model.eval()
