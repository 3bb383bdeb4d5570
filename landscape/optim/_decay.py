"""Decoupled weight decay for any ``torch.optim`` optimizer (plumbing for the registry).

Decoupled weight decay shrinks the weights outside the gradient,
``theta <- theta * (1 - lr * wd)``, applied before the wrapped optimizer's own update, as
``torch.optim.AdamW`` does (Loshchilov & Hutter 2019). The factor uses the group's *current*
learning rate, so a schedule scales the decay as in AdamW; the form of Mehta et al. 2019
``theta * (1 - lambda)`` is this with ``lambda = lr * wd``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from landscape.optim._closure import closure_loss

__all__ = ["decoupled"]

_CACHE: dict[type, type] = {}


def decoupled(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """Return a subclass of ``cls`` taking ``decoupled_weight_decay=wd`` (AdamW-style decay).

    The decay is stored in every parameter group (so it survives a ``state_dict`` round trip)
    and applied to the parameters that have a gradient at that step.

    >>> w = torch.nn.Parameter(torch.tensor([2.0]))
    >>> opt = decoupled(torch.optim.SGD)([w], lr=0.5, decoupled_weight_decay=0.1)
    >>> w.grad = torch.tensor([0.0])
    >>> _ = opt.step()
    >>> w.item()                     # 2 * (1 - 0.5 * 0.1)
    1.899999976158142
    """
    if cls in _CACHE:
        return _CACHE[cls]

    def __init__(self, params: Any, *args: Any, decoupled_weight_decay: float, **kw: Any) -> None:
        cls.__init__(self, params, *args, **kw)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", float(decoupled_weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = closure_loss(closure)
        for group in self.param_groups:
            wd = group["decoupled_weight_decay"]
            if wd:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - group["lr"] * wd)
        cls.step(self)
        return loss

    sub = type(
        f"Decoupled{cls.__name__}",
        (cls,),
        {
            "__init__": __init__,
            "step": step,
            "__module__": __name__,
            "__doc__": f"{cls.__name__} with decoupled weight decay (AdamW-style).",
        },
    )
    _CACHE[cls] = sub
    return sub
