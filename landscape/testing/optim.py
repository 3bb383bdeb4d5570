"""Readable for-loop gRDA: the ground truth the multi-tensor :class:`~landscape.optim.GRDA` matches.

One parameter at a time, the update written as in Chao et al. 2020 (Appendix C.2, Algorithm 2)::

    n <- n + 1;  a <- a - gamma * g;  L <- L + c * gamma**(mu + 1/2) * (n**mu - (n - 1)**mu)
    w <- sign(a) * max(|a| - L, 0)

Its state has the same keys and types as the fast path's, so the two can be compared entry by
entry and their ``state_dict`` s swapped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from landscape.optim.grda import GRDA

__all__ = ["ReferenceGRDA"]


class ReferenceGRDA(GRDA):
    """gRDA with a plain per-parameter loop (slow, obviously right); same hyperparameters.

    >>> w = torch.nn.Parameter(torch.tensor([1.0, -0.02, 0.5], dtype=torch.float64))
    >>> opt = ReferenceGRDA([w], lr=0.0625, c=0.8, mu=0.75)   # L_1 = 0.8 * 0.0625**1.25 = 0.025
    >>> w.grad = torch.tensor([0.0, 0.0, 8.0], dtype=torch.float64)
    >>> _ = opt.step()
    >>> w.detach().tolist()                  # -0.02 thresholds to (negative) zero
    [0.975, -0.0, 0.0]
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Take one gRDA step, one parameter at a time."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, c, mu, l2 = group["lr"], group["c"], group["mu"], group["l2"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state: dict[str, Any] = self.state[p]
                if not state:
                    state["step"] = 0
                    state["threshold"] = 0.0
                    state["accumulator"] = p.detach().clone()
                g = p.grad.add(p, alpha=l2) if l2 != 0 else p.grad  # L2: g + l2 * w
                state["step"] += 1
                n = state["step"]
                state["accumulator"].add_(g, alpha=-lr)
                state["threshold"] += c * lr ** (mu + 0.5) * (n**mu - (n - 1) ** mu)
                a = state["accumulator"]
                p.copy_(torch.sign(a) * torch.clamp(a.abs() - state["threshold"], min=0))
        return loss

