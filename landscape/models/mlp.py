"""Fully connected networks: ``mlp`` (seed 000), ``lenet300_100`` (seeds 002, 003)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from landscape.models.registry import register_model

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


class MLP(nn.Module):
    """Flatten -> [Linear -> (BatchNorm1d) -> activation] x L -> Linear.

    BatchNorm sits before the activation, as in seed 000. Hidden layers are ``hidden.0``,
    ``hidden.1``...; each is an ``nn.Sequential`` whose first module is the Linear layer.
    """

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        num_classes: int,
        *,
        batchnorm: bool = False,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if not widths or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be a non-empty list of positive integers, got {widths}")
        layers = []
        prev = in_features
        for w in widths:
            block = [nn.Linear(prev, int(w))]
            if batchnorm:
                block.append(nn.BatchNorm1d(int(w)))
            block.append(_ACTIVATIONS[activation]())
            layers.append(nn.Sequential(*block))
            prev = int(w)
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(prev, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Return the logits of a batch."""
        return self.out(self.hidden(x.flatten(1)))


def _widths(widths: int | str | Sequence[int]) -> list[int]:
    if isinstance(widths, int):
        return [widths]
    if isinstance(widths, str):
        return [int(w) for w in widths.replace("x", ",").split(",") if w]
    return [int(w) for w in widths]


@register_model("mlp", "fully connected ReLU net; widths=1000 or widths=300,100; batchnorm=true")
def mlp(
    *,
    num_classes: int,
    input_shape: tuple[int, ...],
    widths: int | str | Sequence[int] = (1000,),
    batchnorm: bool = False,
    activation: str = "relu",
) -> nn.Module:
    """A multilayer perceptron (seed 000 uses one hidden layer of 1000 units)."""
    return MLP(
        math.prod(input_shape), _widths(widths), num_classes,
        batchnorm=batchnorm, activation=activation,
    )


@register_model("lenet300_100", "LeNet-300-100: MLP 300-100 with ReLU")
def lenet300_100(*, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """LeCun et al.'s 300-100 fully connected net, as used by the pruning baselines."""
    return MLP(math.prod(input_shape), [300, 100], num_classes)
