"""What a model costs and how two models compare: parameters, FLOPs, outputs on data.

Used to judge a reduction (:mod:`landscape.stats.reduction`): parameters and FLOPs before and
after, and the largest logit difference, argmax agreement and accuracy (fractions) of both
models on the same batches.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["compare_outputs", "count_flops", "count_parameters"]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, example: Tensor) -> int:
    """FLOPs of one forward pass per sample, counted as 2 x multiply-accumulates.

    Only Linear and Conv layers are counted (``in * out`` MACs for a Linear, ``output
    positions * in/groups * kernel size`` per output channel for a Conv); BatchNorm, ReLU,
    pooling and biases are negligible and left out.

    >>> count_flops(nn.Linear(3, 2), torch.zeros(1, 3))
    12
    """
    macs = [0]

    def hook(m: nn.Module, args: tuple, out: Tensor) -> None:
        if isinstance(m, nn.Linear):
            macs[0] += m.in_features * m.out_features
        else:
            per_out = out[0].numel()
            macs[0] += per_out * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return 2 * macs[0]


def compare_outputs(
    original: nn.Module, reduced: nn.Module, data: Iterable[tuple[Tensor, Tensor]]
) -> dict[str, float]:
    """Compare the logits of two models on ``data`` (eval mode).

    Args:
        original: the analysed network.
        reduced: its reduction.
        data: re-iterable ``(x, y)`` batches (an ``EvalSet``, a list, a ``DataLoader``) on
            the models' device.

    Returns:
        ``max_abs_diff`` (largest |logit difference|), ``max_rel_diff`` (that divided by the
        largest |logit| of the original), ``agreement`` (fraction of equal argmax), and the
        accuracies (fractions) ``accuracy_original`` / ``accuracy_reduced``.

    Raises:
        ValueError: ``data`` holds no sample.

    """
    wa, wb = original.training, reduced.training
    original.eval()
    reduced.eval()
    diff = scale = 0.0
    agree = ca = cb = n = 0
    with torch.no_grad():
        for x, y in data:
            n += int(y.shape[0])
            a, b = original(x), reduced(x)
            diff = max(diff, float((a - b).abs().max()))
            scale = max(scale, float(a.abs().max()))
            pa, pb = a.argmax(1), b.argmax(1)
            agree += int((pa == pb).sum())
            ca += int((pa == y).sum())
            cb += int((pb == y).sum())
    original.train(wa)
    reduced.train(wb)
    if n == 0:
        raise ValueError("compare_outputs got no samples: pass non-empty (x, y) batches")
    return {
        "max_abs_diff": diff,
        "max_rel_diff": diff / scale if scale > 0 else diff,
        "agreement": agree / n,
        "accuracy_original": ca / n,
        "accuracy_reduced": cb / n,
    }
