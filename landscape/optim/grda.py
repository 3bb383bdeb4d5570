"""Generalized regularized dual averaging (gRDA), Chao & Cheng 2019; Chao et al. 2020.

Per parameter tensor the optimizer keeps an accumulator ``a`` (a copy of the weights at the
first update), a step counter ``n`` and a threshold ``L`` (starting at 0). Each step, with the
current learning rate ``gamma_n`` and the gradient ``g`` at the current weights ``w``::

    n <- n + 1
    a <- a - gamma_n * g
    L <- L + c * gamma_n**(mu + 1/2) * (n**mu - (n - 1)**mu)
    w <- S_L(a) = sign(a) * max(|a| - L, 0)        (a itself is never thresholded)

With a constant learning rate ``L_n = c * gamma**(1/2) * (n * gamma)**mu``, the paper's tuning
function (5). Growing ``L`` by increments computed with the *current* learning rate keeps a
learning-rate drop right (Chao et al. 2020, Appendix C.2, Algorithm 2).

The step makes two passes over memory per parameter group beyond reading the gradients: one
multi-tensor ``a <- a - gamma * g`` (``torch._foreach_add_``) and one soft-thresholding pass
``w <- S_L(a)`` written straight into the parameter (``softshrink``, which is ``S_L`` exactly:
``a - L`` above ``L``, ``a + L`` below ``-L``, zero between). No temporaries are
allocated unless ``l2`` is set. The readable for-loop ground truth it is tested against is
:class:`landscape.testing.optim.ReferenceGRDA`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from landscape.optim._closure import closure_loss

__all__ = ["GRDA", "grda_threshold", "soft_threshold", "threshold_increment"]


def threshold_increment(n: int, lr: float, c: float, mu: float) -> float:
    """Return ``c * lr**(mu + 1/2) * (n**mu - (n - 1)**mu)``, the growth of L at step ``n``.

    >>> threshold_increment(1, 0.25, 1.0, 0.5)
    0.25
    """
    return c * lr ** (mu + 0.5) * (n**mu - (n - 1) ** mu)


def grda_threshold(n: int, lr: float, c: float, mu: float) -> float:
    """Closed form ``g(n, gamma) = c * gamma**(1/2) * (n * gamma)**mu`` (constant lr).

    >>> grda_threshold(4, 0.25, 1.0, 0.5)
    0.5
    """
    return c * math.sqrt(lr) * (n * lr) ** mu


def soft_threshold(a: Tensor, threshold: float, *, out: Tensor | None = None) -> Tensor:
    """Soft-thresholding ``S_L(a) = sign(a) * max(|a| - L, 0)``, in one pass (``softshrink``).

    Equal bit for bit to ``sign(a) * max(|a| - L, 0)`` and to ``a - clamp(a, -L, L)`` wherever
    the result is not zero: all three compute ``a - L`` or ``a + L`` with one rounding. Entries
    with ``|a| <= L`` become exactly zero; its sign is not specified (``softshrink`` writes
    ``+0.0`` on its vectorised path and ``-0.0`` for negative ``a`` on its scalar tail).

    Args:
        a: the tensor to threshold.
        threshold: ``L >= 0``.
        out: write the result here (same shape and dtype as ``a``) instead of a new tensor.

    >>> soft_threshold(torch.tensor([-2.0, 0.5, 1.0, 3.0]), 1.0).tolist()
    [-1.0, 0.0, 0.0, 2.0]
    """
    if out is None:
        return torch.nn.functional.softshrink(a, threshold)
    return torch._C._nn.softshrink(a, threshold, out=out)


def _check(name: str, value: Any, ok: bool, expected: str, why: str = "") -> None:
    if not ok:
        raise ValueError(f"gRDA: {name} must be {expected}, got {value!r}{why}")


class GRDA(torch.optim.Optimizer):
    r"""gRDA: dual averaging with a growing soft threshold (Chao & Cheng 2019; Chao et al. 2020).

    Update per parameter, with learning rate :math:`\gamma_n`:
    :math:`a_n = a_{n-1} - \gamma_n g_n`,
    :math:`L_n = L_{n-1} + c\,\gamma_n^{\mu+1/2}(n^\mu - (n-1)^\mu)`,
    :math:`w_n = \mathrm{sign}(a_n)\max(|a_n| - L_n, 0)`, with :math:`a_0 = w_0`, :math:`L_0 = 0`.
    With ``c = 0`` it is plain SGD step for step. No momentum and no weight decay; ``l2``
    (a penalty ``l2/2 * ||w||^2`` whose gradient ``l2 * w`` is added to ``g``) is accepted.

    Args:
        params: parameters or parameter groups.
        lr: learning rate ``gamma`` (a scheduler may change ``group["lr"]`` between steps).
        c: threshold scale, ``c >= 0`` (typical 1e-4 to 5e-3).
        mu: threshold growth exponent, ``1/2 < mu < 1`` (typical 0.501 to 0.7): the threshold
            grows like ``n**mu`` and must outgrow the accumulator's noise, which grows like
            ``n**(1/2)`` (Chao et al. 2020, Theorem 3.1).
        l2: L2 coefficient added to the gradient, ``>= 0``.

    State per parameter: ``accumulator`` (tensor like the parameter), ``step`` (int) and
    ``threshold`` (float, the current L, accumulated in float64 whatever the parameter dtype).
    Parameters whose ``grad`` is ``None`` at a step are left untouched and their state does not
    advance (as in ``torch.optim``).

    >>> w = torch.nn.Parameter(torch.tensor([1.0, 0.02, 0.5]))
    >>> opt = GRDA([w], lr=0.0625, c=0.8, mu=0.75)  # L_1 = 0.8 * 0.0625**1.25 * 1 = 0.025
    >>> w.grad = torch.tensor([0.0, 0.0, 8.0])      # a = [1, 0.02, 0]
    >>> _ = opt.step()
    >>> w.detach().tolist()                          # S_0.025(a)
    [0.9750000238418579, 0.0, 0.0]
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.01,
        c: float = 0.005,
        mu: float = 0.51,
        *,
        l2: float = 0.0,
    ) -> None:
        _check("lr", lr, isinstance(lr, int | float) and math.isfinite(lr) and lr > 0,
               "a positive finite number (e.g. 0.1)")
        _check("c", c, isinstance(c, int | float) and math.isfinite(c) and c >= 0,
               "a finite number >= 0 (0 gives plain SGD; typical 1e-4 to 5e-3)")
        _check("mu", mu, isinstance(mu, int | float) and 0.5 < mu < 1,
               "in the open interval (0.5, 1)", ": Chao et al. 2020 require 1/2 < mu < 1 for "
               "the threshold to grow faster than the noise of the accumulator (typical 0.501 "
               "to 0.7)")
        _check("l2", l2, isinstance(l2, int | float) and math.isfinite(l2) and l2 >= 0,
               "a finite number >= 0")
        super().__init__(params, {"lr": lr, "c": c, "mu": mu, "l2": l2})

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Take one gRDA step (multi-tensor path); returns the closure's loss if given."""
        loss = closure_loss(closure)
        for group in self.param_groups:
            lr, c, mu, l2 = group["lr"], group["c"], group["mu"], group["l2"]
            if not (isinstance(lr, int | float) and lr > 0):
                raise ValueError(f"gRDA: lr must be positive, got {lr!r} (check the schedule)")
            params, grads, accs, thresholds = [], [], [], []
            increments: dict[int, float] = {}  # parameters at the same step share L's growth
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise RuntimeError("gRDA does not support sparse gradients; use dense ones")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["threshold"] = 0.0
                    state["accumulator"] = p.detach().clone(memory_format=torch.preserve_format)
                n = state["step"] = state["step"] + 1
                inc = increments.get(n)
                if inc is None:
                    inc = increments[n] = threshold_increment(n, lr, c, mu)
                state["threshold"] += inc
                params.append(p)
                grads.append(grad)
                accs.append(state["accumulator"])
                thresholds.append(state["threshold"])
            if not params:
                continue
            if l2 != 0:
                grads = torch._foreach_add(grads, params, alpha=l2)  # g + l2 * w
            torch._foreach_add_(accs, grads, alpha=-lr)
            for p, a, threshold in zip(params, accs, thresholds, strict=True):
                torch._C._nn.softshrink(a, threshold, out=p)  # w = S_L(a), one pass
        return loss
