"""Data-parallel training steps whose global minibatches are a single process's.

Every rank draws the same global minibatch ``B`` from :class:`landscape.data.TrainLoader`
(order and augmentation from ``(seed, epoch)``) and keeps its contiguous slice of ``n_r`` rows
(:class:`ShardedBatches`). The model is wrapped in
:class:`torch.nn.parallel.DistributedDataParallel`, whose bucketed all-reduce overlaps with
the backward pass and which SyncBatchNorm needs. DDP *averages* gradients over ranks, which is
wrong for unequal slices, so the objective each rank differentiates is

    J_r = (W / B) * sum_{i in slice_r} loss_i,     (1 / W) sum_r grad J_r = grad (1/B) sum_i loss_i,

exactly the single-process gradient of the mean over the global minibatch, for any slice sizes
(a short last batch included). The logged loss is the global mean, all-reduced, so the NaN
guard decides the same on every rank.

BatchNorm: in training mode each rank normalises with the statistics of its own slice, not of
the global batch, so a model with BatchNorm does not follow the single-process trajectory
exactly (the usual DDP behaviour; DDP broadcasts rank 0's running statistics each step). On
CUDA, ``sync_batchnorm=True`` converts the layers to :class:`torch.nn.SyncBatchNorm`, which
normalises with global-batch statistics. Models without BatchNorm match exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from landscape.data import EvalSet
from landscape.distributed.collectives import all_reduce_, weighted_mean
from landscape.distributed.context import DistContext, barrier, context
from landscape.distributed.shard import ShardedBatches, shard_evalset

__all__ = ["DataParallel"]


class DataParallel:
    """Rank-aware pieces of a training loop; every method is the identity in one process.

    Args:
        model: the network (the object the optimizer updates and checkpoints are taken of).
        sync_batchnorm: convert BatchNorm to SyncBatchNorm (CUDA only).

    Raises:
        ValueError: ``sync_batchnorm`` on a CPU model.

    In a single process the objective is the plain mean cross-entropy:

    >>> torch.manual_seed(0) and None
    >>> net = nn.Linear(3, 2)
    >>> dp = DataParallel(net)
    >>> x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    >>> batches = dp.batches([(x, y)])
    >>> loss, objective, size = dp.loss(*next(iter(batches)))
    >>> bool(loss == F.cross_entropy(net(x), y)), objective is loss, size
    (True, True, 4)
    """

    def __init__(self, model: nn.Module, *, sync_batchnorm: bool = False) -> None:
        self.ctx: DistContext = context()
        self.model = model
        self.sync_batchnorm = bool(sync_batchnorm)
        if self.sync_batchnorm:
            device = next(model.parameters()).device
            if device.type != "cuda":
                raise ValueError(
                    f"sync_batchnorm needs CUDA (torch.nn.SyncBatchNorm), the model is on "
                    f"{device}: drop the option on CPU, or train on GPUs with NCCL"
                )
        self._ddp: nn.Module | None = None
        self._current: ShardedBatches | None = None

    @property
    def is_main(self) -> bool:
        """Whether this rank writes files (rank 0)."""
        return self.ctx.is_main

    def barrier(self) -> None:
        """Wait for every rank."""
        barrier()

    def _forward_module(self) -> nn.Module:
        if not self.ctx.distributed:
            return self.model
        if self._ddp is None:  # built late: after a resume has loaded the weights
            module = self.model
            if self.sync_batchnorm:
                module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
            device = next(module.parameters()).device
            ids = [device.index if device.index is not None else torch.cuda.current_device()] \
                if device.type == "cuda" else None
            self._ddp = DistributedDataParallel(module, device_ids=ids)
        return self._ddp

    def batches(self, batches: Iterable[tuple[Tensor, Tensor]]) -> ShardedBatches:
        """This rank's slices of the global minibatches (remembered for :meth:`loss`)."""
        self._current = ShardedBatches(batches, rank=self.ctx.rank,
                                       world_size=self.ctx.world_size)
        return self._current

    def loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, int]:
        """Forward this rank's slice.

        Returns:
            ``(loss, objective, B)``: the mean loss over the global minibatch (detached when
            distributed), the tensor to call ``backward()`` on, and the global batch size.

        """
        if not self.ctx.distributed:
            loss = F.cross_entropy(self.model(x), y)
            return loss, loss, int(y.shape[0])
        if self._current is None:
            raise RuntimeError("call loss() on slices from batches(), not on whole minibatches")
        size = self._current.global_size
        local = F.cross_entropy(self._forward_module()(x), y, reduction="sum")
        objective = local * (self.ctx.world_size / size)
        total = all_reduce_(local.detach().double().clone())
        return (total / size).to(local.dtype), objective, size

    def shard(self, data: EvalSet) -> EvalSet:
        """This rank's share of an evaluation set (the set itself in one process)."""
        return shard_evalset(data, rank=self.ctx.rank, world_size=self.ctx.world_size)

    def evaluator(
        self, evaluate: Callable[[nn.Module, EvalSet], tuple[float, float]]
    ) -> Callable[[nn.Module, EvalSet], tuple[float, float]]:
        """Wrap ``evaluate(model, shard) -> (mean loss, accuracy)`` into the global means."""
        if not self.ctx.distributed:
            return evaluate

        def combined(model: nn.Module, data: EvalSet) -> tuple[float, float]:
            loss, acc = evaluate(model, data)
            n = data.num_samples
            (gl, _), (ga, _) = weighted_mean(loss, n), weighted_mean(acc, n)
            return gl, ga

        return combined
