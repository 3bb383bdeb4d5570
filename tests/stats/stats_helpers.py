"""A hand-built network with known dead units and activation patterns, and its tolerance."""

from __future__ import annotations

import torch
from torch import nn

from landscape.data import EvalSet


def partition_tol(depth: int, dtype: torch.dtype = torch.float64) -> dict[str, float]:
    """Tolerance for activations computed with different batch partitions or kernels.

    A matrix product may sum each dot product in another order for another number of rows
    (blocked kernels, threads), so two passes agree only to rounding: for a dot product of
    length k, |error| <= k * eps * sum_i |w_i x_i| (Higham 2002, eq. 3.5). ``depth`` is the
    total length of the reductions along the path to the activation; the activations here are
    O(1), so the bound is used as both relative and absolute tolerance, with a factor 4 for the
    bias additions and the residual sum.
    """
    tol = 4 * depth * torch.finfo(dtype).eps
    return {"rtol": tol, "atol": tol}


def known_mlp() -> nn.Sequential:
    """Four units on inputs (x0, x1) in [0, 1]^2 with class = [x0 > 0.5].

    unit 0: relu(x0)            active on every sample with x0 > 0
    unit 1: relu(-x0 - x1 - 10) never active (dead by activation)
    unit 2: relu(x0 - 0.5)      active only on class-1 samples (fully class-specialised)
    unit 3: relu(1)             constant 1 (zero incoming weights, bias 1): not dead
    """
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, -1.0], [1.0, 0.0], [0.0, 0.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -10.0, -0.5, 1.0]))
    return net


def known_data(batch_size: int = 3) -> EvalSet:
    """Seven samples of :func:`known_mlp`'s inputs, in batches of ``batch_size``."""
    x = torch.tensor(
        [[0.0, 0.2], [0.25, 0.9], [0.5, 0.1], [0.75, 0.3], [1.0, 0.0], [0.9, 0.4], [0.1, 0.7]],
        dtype=torch.float64,
    )
    y = (x[:, 0] > 0.5).long()
    return EvalSet.from_tensors(x, y, batch_size=batch_size)
