"""Exact BatchNorm recalibration for an arbitrary weight vector.

Running statistics stored in a checkpoint belong to the weights they were collected with; a
point on a curve, in a plane or on a surface needs its own. Following Garipov et al. (2018,
Sec. 3.4) and Chao et al. (2020, Appendix C.3), the statistics are recomputed with one pass
over the training data with BatchNorm in training mode (everything else in eval mode, no
gradients).

PyTorch's cumulative average (``momentum=None``) averages per-batch *unbiased* variances with
equal weights per batch, which is not the dataset variance when batches differ in size or
mean. Here the per-batch moments of each BatchNorm input are combined exactly (Chan et al.
1979): with batch b of n_b values, mean m_b and sum of squared deviations M_b,

    n = n_a + n_b,  delta = m_b - m_a,
    m = m_a + delta * n_b / n,  M = M_a + M_b + delta^2 * n_a * n_b / n,

accumulated in float64, then ``running_mean = m`` and ``running_var = M / (n - 1)`` (unbiased,
as PyTorch stores it). The result is the exact mean and variance over the whole dataset of
each BatchNorm layer's input during the pass (layers behind another BatchNorm see inputs that
it normalised with batch statistics, as in ``torch.optim.swa_utils.update_bn``). A model
without BatchNorm needs no pass and gets none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call

from landscape._types import ParamDict

__all__ = ["batchnorm_layers", "recalibrate_bn"]


def batchnorm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Return ``(name, module)`` of every BatchNorm layer that tracks running statistics.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    >>> [name for name, _ in batchnorm_layers(net)]
    ['1']
    """
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


class _Moments:
    """Exactly combined per-channel count, mean and sum of squared deviations (float64)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None
        self.batches = 0

    def __call__(self, module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        x = inputs[0].detach()
        dims = [d for d in range(x.dim()) if d != 1]
        nb = x.numel() // x.shape[1]
        var_b, mean_b = torch.var_mean(x, dim=dims, correction=0)
        mean_b, m2_b = mean_b.double(), var_b.double() * nb
        self.batches += 1
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = nb, mean_b, m2_b
            return
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2_b + delta.square() * (self.n * nb / n)
        self.n = n


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    params: Mapping[str, Tensor],
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    buffers: Mapping[str, Tensor] | None = None,
) -> ParamDict:
    """Recompute every BatchNorm layer's running statistics for ``params``, exactly.

    Args:
        model: the network (its own parameters and buffers are left untouched).
        params: the weight vector to calibrate for, ``name -> tensor``.
        batches: the training data (unaugmented), e.g. an :class:`landscape.data.EvalSet` or
            a ``DataLoader``; iterated once, and only when the model has BatchNorm.
        buffers: other buffers to pass to the model (default: the model's own).

    Returns:
        ``name -> tensor`` for the ``running_mean``, ``running_var`` and
        ``num_batches_tracked`` of every BatchNorm layer (empty without BatchNorm), to pass
        as buffers to :func:`landscape.evaluation.forward_at`.

    Raises:
        ValueError: the data hold fewer than two values per channel (no unbiased variance).

    """
    layers = batchnorm_layers(model)
    if not layers:
        return {}
    state: dict[str, Tensor] = dict(buffers or {})
    for name, m in layers:  # scratch copies: the pass must not touch the caller's buffers
        prefix = f"{name}." if name else ""
        for key in ("running_mean", "running_var", "num_batches_tracked"):
            state[prefix + key] = getattr(m, key).clone()
    modes = {m: m.training for m in model.modules()}
    moments = {name: _Moments() for name, _ in layers}
    hooks = [m.register_forward_pre_hook(moments[name]) for name, m in layers]
    try:
        model.eval()
        for _, m in layers:
            m.train()
        state.update(params)
        for x, _ in batches:
            functional_call(model, state, (x,))
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    out: ParamDict = {}
    for name, m in layers:
        mom = moments[name]
        if mom.mean is None or mom.m2 is None or mom.n < 2:
            raise ValueError(
                f"BatchNorm layer {name!r} saw {mom.n} value(s) per channel; recalibration "
                "needs at least 2: pass the training data (non-empty batches)"
            )
        prefix = f"{name}." if name else ""
        ref = m.running_mean
        out[prefix + "running_mean"] = mom.mean.to(ref)
        out[prefix + "running_var"] = (mom.m2 / (mom.n - 1)).to(ref)
        out[prefix + "num_batches_tracked"] = torch.tensor(
            mom.batches, dtype=torch.long, device=ref.device
        )
    return out
