"""Independent jobs dealt round-robin over the ranks, results gathered on every rank.

:func:`landscape.curves.evaluate_along` evaluates ``points`` weight vectors ``phi(t)`` on the
curve and as many on the straight line, each with its own BatchNorm pass, through a
``map_jobs(fn, jobs)`` hook. :func:`map_round_robin` is that hook under torchrun: job ``k``
runs on rank ``k mod W`` (exactly as in one process: whole data sets, same arithmetic), the
results are all-gathered, and every rank returns the full list in job order, so

    evaluate_along(curve, model, train, test, map_jobs=map_round_robin)

gives every rank the single-process result, bit for bit. In one process it is a plain map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from landscape.distributed.collectives import all_gather_objects
from landscape.distributed.context import context
from landscape.distributed.shard import round_robin

__all__ = ["map_round_robin"]

J = TypeVar("J")
R = TypeVar("R")


def map_round_robin(fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
    """``[fn(job) for job in jobs]`` with job ``k`` computed on rank ``k mod W``.

    Every rank passes the same jobs and gets every result (small picklable values: they
    travel by ``all_gather_object``).

    >>> map_round_robin(lambda x: x * x, [1, 2, 3])    # one process: a plain map
    [1, 4, 9]
    """
    ctx = context()
    if not ctx.distributed:
        return [fn(job) for job in jobs]
    numbered = list(enumerate(jobs))
    mine = {k: fn(job) for k, job in round_robin(numbered, ctx.rank, ctx.world_size)}
    results: dict[int, R] = {}
    for share in all_gather_objects(mine):
        results.update(share)
    return [results[k] for k in range(len(numbered))]
