"""Fully connected networks: ``mlp`` (Yaguchi et al. 2018), ``lenet300_100`` (LeCun et al. 1998).

The LeNet-300-100 is the fully connected baseline of Dettmers & Zettlemoyer 2019 and Gale
et al. 2019.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

from landscape.models.registry import register_model

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


class MLP(nn.Module):
    """Flatten -> [Linear -> (BatchNorm1d) -> activation] x L -> Linear.

    BatchNorm sits before the activation, as in Yaguchi et al. 2018. Hidden layers are ``hidden.0``,
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


@register_model("mlp", "fully connected ReLU net; widths=1000 or widths=300,100; batchnorm=true")
def mlp(
    *,
    num_classes: int,
    input_shape: tuple[int, ...],
    widths: Sequence[int] = (1000,),
    batchnorm: bool = False,
    activation: Literal["relu", "tanh", "sigmoid", "elu"] = "relu",
) -> nn.Module:
    """A multilayer perceptron (Yaguchi et al. 2018 use one hidden layer of 1000 units)."""
    if min(widths) < 1:
        raise ValueError(f"model 'mlp': option widths={list(widths)} must be positive integers "
                         "(e.g. widths=300,100)")
    return MLP(
        math.prod(input_shape), widths, num_classes,
        batchnorm=batchnorm, activation=activation,
    )


@register_model("lenet300_100", "LeNet-300-100: MLP 300-100 with ReLU")
def lenet300_100(*, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """LeCun et al.'s 300-100 fully connected net, as used by the pruning baselines."""
    return MLP(math.prod(input_shape), [300, 100], num_classes)
