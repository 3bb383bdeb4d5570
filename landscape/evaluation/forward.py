"""Evaluating a network at given parameters, without touching its own.

A point in weight space (a point on a curve, in a plane, on a surface) is a parameter dict
``name -> tensor``; the unmodified network is evaluated there with
:func:`torch.func.functional_call`, so no layer is rewritten (Garipov et al. 2018 build
"curve layers" instead; evaluating a parameter dict keeps any architecture usable).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["forward_at"]


def forward_at(
    model: nn.Module,
    params: Mapping[str, Tensor],
    x: Tensor,
    buffers: Mapping[str, Tensor] | None = None,
) -> Tensor:
    """Evaluate ``model`` on ``x`` at ``params`` with ``functional_call``.

    Args:
        model: the network; its own parameters are not used (those ``params`` names).
        params: ``name -> tensor`` for every trainable parameter (differentiable: gradients
            flow to whatever ``params`` were built from).
        x: a batch of inputs.
        buffers: BatchNorm statistics etc. to use instead of the model's own (optional).

    Returns:
        The model's output on ``x``.

    >>> import torch
    >>> net = nn.Linear(2, 1, bias=False)
    >>> forward_at(net, {"weight": torch.tensor([[1.0, 2.0]])}, torch.ones(1, 2)).item()
    3.0
    """
    state = dict(params)
    if buffers:
        state.update(buffers)
    return functional_call(model, state, (x,))
