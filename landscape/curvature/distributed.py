"""The Hessian operator over an evaluation set sharded across ranks.

Each rank holds a shard ``S_r`` of ``n_r`` of the ``N`` samples and a local
:class:`~landscape.curvature.HessianOperator` of the mean loss over its shard. Since

    H v = sum_b (|b| / N) H_b v = sum_r (n_r / N) * [ sum_{b in S_r} (|b| / n_r) H_b v ],

a product is the local product scaled by ``n_r / N`` and summed over ranks with one
all-reduce of a ``[P, K]`` block; the loss and the gradient are combined the same way. The
eigensolvers of :mod:`landscape.curvature` run unchanged on every rank: their vectors are
replicated (same seed, same arithmetic, identical all-reduced products), only the products are
distributed. In a single process the shard is the whole set and the weight is 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from torch import Tensor, nn

from landscape.curvature.hessian import HessianOperator
from landscape.curvature.operator import CurvatureOperator
from landscape.data import EvalSet
from landscape.distributed import (
    all_reduce_,
    all_reduce_floats,
    context,
    shard_evalset,
    shard_range,
)

__all__ = ["DistributedHessian"]


def _shard(data: Any) -> Any:
    ctx = context()
    if isinstance(data, EvalSet):
        return shard_evalset(data)
    batches = list(data)
    if len(batches) < ctx.world_size:
        raise ValueError(
            f"cannot shard {len(batches)} batches over {ctx.world_size} ranks: pass an EvalSet "
            "(sharded by samples) or at least one batch per rank"
        )
    a, b = shard_range(len(batches), ctx.rank, ctx.world_size)
    return batches[a:b]


class DistributedHessian(CurvatureOperator):
    """Hessian of the mean loss over ``data``, with the data sharded across the ranks.

    Takes the arguments of :class:`~landscape.curvature.HessianOperator` (``params``,
    ``point``, ``loss_fn``, ``method``, ``block``, ``check_deterministic`` ...); every rank
    passes the same full ``data`` and keeps only its shard (samples of an ``EvalSet``, or a
    contiguous run of the batches of a list).

    Attributes:
        local: this rank's :class:`HessianOperator` over its shard.
        weight: ``n_r / N``.
        num_samples: ``N`` (all ranks).
        loss_value: the mean loss over all ``N`` samples at the point.

    Raises:
        ValueError: fewer samples (or batches) than ranks, and the errors of
            :class:`HessianOperator`.

    In one process it is the plain operator: for ``L(w) = mean_i (w . x_i)^2 / 2``,
    ``H = mean_i x_i x_i^T``:

    >>> import torch
    >>> lin = nn.Linear(2, 1, bias=False)
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> mse = lambda out, y: 0.5 * (out.squeeze(1) ** 2).mean()
    >>> H = DistributedHessian(lin, [(x[:2], x[:2]), (x[2:], x[2:])], loss_fn=mse)
    >>> (H @ torch.eye(2)) * 3
    tensor([[2., 1.],
            [1., 5.]])
    """

    def __init__(self, model: nn.Module, data: Iterable[tuple[Tensor, Tensor]],
                 **kwargs: Any) -> None:
        self.local = HessianOperator(model, _shard(data), **kwargs)
        super().__init__(self.local.shapes, device=self.local.device, dtype=self.local.dtype)
        self.model = model
        self.names: Sequence[str] = self.local.names
        self.theta = self.local.theta
        n_local = self.local.num_samples
        self.num_samples = int(all_reduce_floats([n_local])[0])
        self.weight = n_local / self.num_samples
        self.loss_value = float("nan")
        if kwargs.get("check_deterministic", True):
            # the local probe has run; combine its loss into the global one
            self.loss_value = all_reduce_floats([self.local.loss_value * self.weight])[0]

    def _matmat(self, m: Tensor) -> Tensor:
        return self._matmat_rows(m.T.contiguous()).T

    def _matmat_rows(self, rows: Tensor) -> Tensor:
        # the local product is a fresh tensor: scaled in place, and reduced as one dense
        # block (NCCL refuses non-contiguous tensors)
        out = self.local.matmat_rows(rows).contiguous()
        if self.weight != 1.0:
            out.mul_(self.weight)
        return all_reduce_(out)

    def loss_and_gradient(self) -> tuple[float, Tensor]:
        """Return the mean loss over all samples and its gradient ``[P]`` (one data pass)."""
        loss, g = self.local.loss_and_gradient()
        if self.weight != 1.0:
            g = g * self.weight
        total = all_reduce_floats([loss * self.weight])[0]
        return total, all_reduce_(g)

    def release_cache(self) -> None:
        """Free the local operator's cached gradient graphs."""
        self.local.release_cache()
