"""Loss and error of a network at given parameters over a whole data set (fractions).

For batches ``(x_b, y_b)`` of sizes ``n_b`` (any partition of the data, ``N = sum_b n_b``):

    loss  = (1 / N) * sum_b n_b * loss_fn(f(x_b; params), y_b)     (mean loss per sample)
    error = (1 / N) * sum_b #{i in b : argmax_c f(x_i; params)_c != y_i}   (a fraction)

``loss_fn(logits, targets)`` returns the mean loss over a batch (``F.cross_entropy``); it is
evaluated on float64 logits and the sums are taken in float64 on the device (one host
synchronisation at the end, none per batch), so the result does not depend on how the data
are batched beyond float64 rounding. ``evaluate_weights`` first gives the weights their own
BatchNorm statistics (:func:`landscape.evaluation.recalibrate_bn`; Garipov et al. 2018,
Sec. 3.4), as every point of a curve, plane or surface needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape.evaluation.bn import recalibrate_bn
from landscape.evaluation.forward import forward_at

__all__ = ["LossFn", "evaluate_loss_error", "evaluate_weights"]

LossFn = Callable[[Tensor, Tensor], Tensor]
"""``loss_fn(logits, targets) -> mean loss over the batch`` (e.g. ``F.cross_entropy``)."""

Batches = Iterable[tuple[Tensor, Tensor]]


@torch.no_grad()
def evaluate_loss_error(
    model: nn.Module,
    params: Mapping[str, Tensor],
    batches: Batches,
    *,
    buffers: Mapping[str, Tensor] | None = None,
    loss_fn: LossFn = F.cross_entropy,
) -> tuple[float, float]:
    """Mean loss and error (a fraction) of ``model`` at ``params``, in eval mode.

    Args:
        model: the network (its own parameters are not used; its mode is restored).
        params: ``name -> tensor`` of every trainable parameter.
        batches: re-iterable ``(x, y)`` batches, e.g. a ``DataLoader`` or an ``EvalSet``.
        buffers: BatchNorm statistics to use instead of the model's own.
        loss_fn: ``(logits, targets) -> mean loss over the batch``.

    Returns:
        ``(loss, error)``: the mean loss per sample and the fraction of misclassified samples
        (``argmax`` of the output against the target class).

    Raises:
        ValueError: no data.

    >>> net = nn.Linear(2, 2, bias=False)
    >>> w = {"weight": torch.eye(2)}
    >>> x, y = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), torch.tensor([0, 0, 0])
    >>> loss, error = evaluate_loss_error(net, w, [(x[:2], y[:2]), (x[2:], y[2:])])
    >>> round(error, 6)    # the second sample is classified as 1
    0.333333
    """
    was_training = model.training
    model.eval()
    loss: Tensor | None = None
    wrong: Tensor | None = None
    n = 0
    try:
        for x, y in batches:
            out = forward_at(model, params, x, buffers)
            size = int(y.shape[0])
            part = loss_fn(out.double(), y) * size
            miss = (out.argmax(1) != y).sum()
            loss = part if loss is None else loss + part
            wrong = miss if wrong is None else wrong + miss
            n += size
    finally:
        model.train(was_training)
    if n == 0 or loss is None or wrong is None:
        raise ValueError("cannot evaluate on an empty data set: pass non-empty batches")
    return float(loss) / n, int(wrong) / n


def evaluate_weights(
    model: nn.Module,
    params: Mapping[str, Tensor],
    train: Batches,
    test: Batches | None = None,
    *,
    bn_data: Batches | None = None,
    loss_fn: LossFn = F.cross_entropy,
) -> dict[str, float]:
    """Recalibrate BatchNorm for ``params`` (one pass), then evaluate on train and test.

    Args:
        model: the network.
        params: the weights, ``name -> tensor``.
        train: training data (unaugmented; also the BatchNorm pass unless ``bn_data``).
        test: test data, or ``None`` to skip the test metrics.
        bn_data: data for the BatchNorm pass (default: ``train``).
        loss_fn: ``(logits, targets) -> mean loss over the batch``.

    Returns:
        ``train_loss``, ``train_error`` and, with ``test``, ``test_loss``, ``test_error``
        (errors are fractions).

    """
    buffers = recalibrate_bn(model, params, bn_data if bn_data is not None else train)
    out: dict[str, float] = {}
    out["train_loss"], out["train_error"] = evaluate_loss_error(
        model, params, train, buffers=buffers, loss_fn=loss_fn)
    if test is not None:
        out["test_loss"], out["test_error"] = evaluate_loss_error(
            model, params, test, buffers=buffers, loss_fn=loss_fn)
    return out
