"""The closure convention of ``torch.optim`` ``step``, shared by the optimizers here.

``step(closure)`` runs under ``torch.no_grad()``; a closure re-evaluates the model, calls
``backward`` and returns the loss, so it must run with gradients enabled. ``GRDA.step`` and the
decoupled-weight-decay wrapper (:func:`landscape.optim._decay.decoupled`) both start with
:func:`closure_loss`. The for-loop reference in :mod:`landscape.testing.optim` spells the same
lines out on purpose: it is the independent ground truth.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["closure_loss"]


def closure_loss(closure: Callable[[], Tensor] | None) -> Tensor | None:
    """Call ``closure`` with gradients enabled and return its loss (``None`` without one).

    >>> w = torch.tensor(3.0, requires_grad=True)
    >>> def closure():
    ...     loss = w**2
    ...     loss.backward()
    ...     return loss
    >>> with torch.no_grad():              # as inside an optimizer's step
    ...     loss = closure_loss(closure)
    >>> loss.item(), w.grad.item()         # w**2 and its gradient 2w
    (9.0, 6.0)
    >>> closure_loss(None) is None
    True
    """
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()
