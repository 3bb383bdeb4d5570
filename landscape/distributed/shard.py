"""Sharding: which samples, minibatch rows and grid points belong to which rank.

Contiguous balanced shards: ``n`` items over ``W`` ranks give rank ``r`` the half-open range
``[r * q + min(r, s), (r + 1) * q + min(r + 1, s))`` with ``q, s = divmod(n, W)``, so sizes
differ by at most one and the shards, concatenated in rank order, are the original sequence.
A global minibatch is cut the same way, so the union of the ranks' slices is exactly the
minibatch a single process sees for the same seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from torch import Tensor

from landscape.data import EvalSet
from landscape.distributed.context import context

__all__ = ["ShardedBatches", "round_robin", "shard_evalset", "shard_range"]

T = TypeVar("T")


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """The ``[start, stop)`` range of rank ``rank`` among ``world_size`` over ``n`` items.

    >>> [shard_range(5, r, 2) for r in range(2)]
    [(0, 3), (3, 5)]
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    q, s = divmod(int(n), world_size)
    return rank * q + min(rank, s), (rank + 1) * q + min(rank + 1, s)


def round_robin(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Items ``rank, rank + W, rank + 2W, ...`` (interleaved shares, for grid points).

    >>> round_robin(list("abcde"), 1, 2)
    ['b', 'd']
    """
    return list(items[rank::world_size])


class ShardedBatches:
    """This rank's contiguous slice of every global minibatch of an iterable.

    While iterating, ``global_size`` and ``local_size`` hold the sizes of the current
    minibatch and of this rank's slice (``sum_r local_size_r == global_size``), and
    ``local_total`` counts this rank's samples so far. In a single
    process the batches pass through untouched.

    Args:
        batches: iterable of global ``(x, y)`` minibatches (e.g. ``TrainLoader.epoch(e)``).
        rank: this rank (default: the current context's).
        world_size: number of ranks (default: the current context's).

    >>> import torch
    >>> sb = ShardedBatches([(torch.arange(5), torch.arange(5))], rank=1, world_size=2)
    >>> [(x.tolist(), sb.local_size, sb.global_size) for x, _ in sb]
    [([3, 4], 2, 5)]
    """

    def __init__(self, batches: Iterable[tuple[Tensor, Tensor]], *, rank: int | None = None,
                 world_size: int | None = None) -> None:
        ctx = context()
        self.batches = batches
        self.rank = ctx.rank if rank is None else int(rank)
        self.world_size = ctx.world_size if world_size is None else int(world_size)
        self.global_size = 0
        self.local_size = 0
        self.local_total = 0

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for x, y in self.batches:
            n = int(y.shape[0])
            self.global_size = n
            if self.world_size == 1:
                self.local_size = n
                self.local_total += n
                yield x, y
                continue
            a, b = shard_range(n, self.rank, self.world_size)
            self.local_size = b - a
            self.local_total += b - a
            yield x[a:b], y[a:b]


def shard_evalset(data: EvalSet, *, rank: int | None = None,
                  world_size: int | None = None) -> EvalSet:
    """This rank's contiguous share of an :class:`~landscape.data.EvalSet` (same batch size).

    The shard keeps the full set's ``spec()`` (store keys name the whole question) and adds
    ``shard = (rank, world_size)``. In a single process ``data`` itself is returned.

    Raises:
        ValueError: fewer samples than ranks (some rank would hold nothing).

    """
    ctx = context()
    rank = ctx.rank if rank is None else int(rank)
    world = ctx.world_size if world_size is None else int(world_size)
    if world == 1:
        return data
    n = data.num_samples
    if n < world:
        raise ValueError(
            f"cannot shard {n} samples over {world} ranks: every rank needs at least one; use "
            "fewer processes (--nproc-per-node) or more data"
        )
    a, b = shard_range(n, rank, world)
    out = EvalSet.__new__(EvalSet)
    out.__dict__.update(data.__dict__)
    out.x, out.y = data.x[a:b], data.y[a:b]
    out.shard = (rank, world)
    return out
