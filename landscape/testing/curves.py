"""Naive references for the mode-connectivity code (:mod:`landscape.curves`).

Each one is the formula written out with no vectorisation, no flat vectors and no exact
moment combination, so a test can compare the fast path with something obviously right.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape._types import ParamDict

__all__ = ["naive_bezier_point", "naive_bn_statistics", "train_minimum"]


def naive_bezier_point(points: Sequence[Mapping[str, Tensor]], t: float) -> ParamDict:
    """``sum_j C(K, j) t^j (1 - t)^(K - j) theta_j``, parameter by parameter, in float64.

    >>> a, b = {"w": torch.tensor([0.0])}, {"w": torch.tensor([4.0])}
    >>> naive_bezier_point([a, a, b], 0.5)["w"].tolist()    # 0.25*0 + 0.5*0 + 0.25*4
    [1.0]
    """
    k = len(points) - 1
    out: ParamDict = {}
    for name in points[0]:
        acc = torch.zeros_like(points[0][name], dtype=torch.float64)
        for j, theta in enumerate(points):
            acc += math.comb(k, j) * t**j * (1 - t) ** (k - j) * theta[name].double()
        out[name] = acc
    return out


@torch.no_grad()
def naive_bn_statistics(
    model: nn.Module, params: Mapping[str, Tensor], batches: Iterable[tuple[Tensor, Tensor]]
) -> ParamDict:
    """Running mean and unbiased variance of every BatchNorm input, from all inputs at once.

    The model runs with BatchNorm in training mode (as the recalibration pass does); every
    BatchNorm input is stored, concatenated over the whole pass, and reduced in one go.
    """
    bns = [(n, m) for n, m in model.named_modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    seen: dict[str, list[Tensor]] = {n: [] for n, _ in bns}
    hooks = [m.register_forward_pre_hook(lambda _m, inp, n=n: seen[n].append(inp[0].clone()))
             for n, m in bns]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state.update(params)
    model.eval()
    for _, m in bns:
        m.train()
    try:
        for x, _ in batches:
            functional_call(model, state, (x,))
    finally:
        for h in hooks:
            h.remove()
        model.eval()
    out: ParamDict = {}
    for name, _ in bns:
        x = torch.cat(seen[name]).double()
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)  # [C, N * spatial]
        out[f"{name}.running_mean"] = flat.mean(1)
        out[f"{name}.running_var"] = flat.var(1, unbiased=True)
    return out


def train_minimum(
    model: nn.Module, x: Tensor, y: Tensor, *, steps: int, lr: float, batch_size: int, seed: int
) -> nn.Module:
    """Plain minibatch SGD on ``(x, y)``: a few lines to make a minimum for tests."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model
