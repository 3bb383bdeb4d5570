"""Dense reference Hessian: ``torch.func.hessian`` of the mean loss on a flat parameter vector.

Slow and obviously right (STYLE rule 5): the loss is written out directly as
``sum_b (|b| / N) * loss_fn(f(x_b; theta), y_b)`` with ``functional_call``, the model in eval
mode, and differentiated twice by ``torch.func.hessian``. Tiny models only (``P x P`` memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["dense_hessian"]


def dense_hessian(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Tensor]],
    *,
    params: Sequence[str] | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
) -> Tensor:
    """Return the dense ``[P, P]`` Hessian of the mean loss over ``data``.

    Args:
        model: the network (put in eval mode for the computation, its modes restored).
        data: ``(x, y)`` batches; batch ``b`` is weighted by ``|b| / N``.
        params: exact parameter names to differentiate (default: all trainable), in
            ``named_parameters()`` order; the others are held fixed.
        loss_fn: ``(logits, targets) -> mean loss over the batch``.

    >>> lin = nn.Linear(1, 1, bias=False)
    >>> mse = lambda out, y: 0.5 * ((out - y) ** 2).mean()
    >>> dense_hessian(lin, [(torch.tensor([[2.0]]), torch.tensor([[0.0]]))], loss_fn=mse)
    tensor([[4.]])
    """
    named = dict(model.named_parameters())
    names = list(params) if params is not None else [n for n, p in named.items() if p.requires_grad]
    fixed = {n: p.detach() for n, p in named.items() if n not in names}
    fixed.update({n: b.detach() for n, b in model.named_buffers()})
    shapes = [named[n].shape for n in names]
    numels = [named[n].numel() for n in names]
    batches = list(data)
    total = sum(int(y.shape[0]) for _, y in batches)

    def loss(theta: Tensor) -> Tensor:
        tensors = dict(fixed)
        tensors.update({n: c.view(s) for n, c, s in zip(names, theta.split(numels), shapes)})
        return sum(
            loss_fn(functional_call(model, tensors, (x,)), y) * (y.shape[0] / total)
            for x, y in batches
        )

    theta = torch.cat([named[n].detach().reshape(-1) for n in names])
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        return torch.func.hessian(loss)(theta)
    finally:
        for m, training in modes:
            m.training = training
