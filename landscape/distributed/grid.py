"""A grid of independent point evaluations, its pending points dealt over the ranks.

A resumable grid (a curve's plane, a loss surface) is a store ``partial`` entry filled by a
point runner ``run(indices, sink, progress=)`` that evaluates the given points into a sink
(anything with a ``done`` mask and ``write(index, **values)``). :func:`fill_round_robin`
runs it under torchrun: rank 0 (the only one holding the entry, through
:class:`CollectiveStore`) broadcasts the points not written yet; they are dealt round-robin
in chunks of ``chunk`` points (chunk ``k`` to rank ``k mod W``; one point per chunk by
default) and evaluated in rounds of ``W`` chunks, one per rank, each chunk in one call of the
runner (a runner that evaluates several points per pass over the data keeps its passes full).
After each round the values are gathered and rank 0 writes them, so every point has exactly
one writer, each is durable as soon as its round ends (an interrupted grid resumes from the
store), and only rank 0 needs the store. Every point is computed exactly as in one process,
so the values are bit-identical to a single-process grid. Nothing here knows what is
evaluated: the fields and the runner are arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from landscape.distributed.collectives import all_gather_objects, broadcast_object
from landscape.distributed.context import context

__all__ = ["PointRun", "fill_round_robin"]

PointRun = Callable[..., int]
"""``run(indices, sink, *, progress=False) -> points computed``."""


class _Points:
    """A sink for some points of a grid of ``shape``: nothing done yet, keeps what is written."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.done = np.zeros(shape, dtype=bool)
        self.values: dict[tuple[int, ...], dict[str, float]] = {}

    def write(self, index: tuple[int, ...], **values: float) -> None:
        index = tuple(int(i) for i in index)
        self.values[index] = {k: float(v) for k, v in values.items()}
        self.done[index] = True


def fill_round_robin(
    part: Any,
    run: PointRun,
    *,
    fields: Sequence[str],
    indices: Iterable[tuple[int, ...]] | None = None,
    progress: bool = False,
    desc: str = "grid points",
    chunk: int = 1,
) -> int:
    """Compute the grid points that ``part`` lacks with every rank; rank 0 writes them.

    Args:
        part: the store's partial entry on rank 0, ``None`` on the other ranks (in one
            process: any sink with ``complete``).
        run: ``run(indices, sink, progress=)`` evaluating grid points into a sink.
        fields: the names of the values of each point (what is gathered and written).
        indices: ignored under torchrun (every pending point is dealt out); in one process,
            the points to handle (default: all).
        progress: show a progress bar on rank 0.
        desc: the bar's label.
        chunk: points dealt to a rank at a time, evaluated by one call of ``run`` (rank 0's
            value is used by every rank).

    Returns:
        The number of points evaluated by all ranks together.

    """
    if int(chunk) < 1:
        raise ValueError(f"chunk must be a positive number of points, got {chunk!r}")
    ctx = context()
    if not ctx.distributed:
        return 0 if part.complete else run(indices, part, progress=progress)
    pending, shape, size = broadcast_object(
        (part.pending() if not part.complete else [], tuple(part.done.shape), int(chunk))
        if part is not None else None)
    step = ctx.world_size * size
    with tqdm(total=len(pending), desc=desc, leave=False,
              disable=not (progress and ctx.is_main)) as bar:
        for r in range(0, len(pending), step):
            share = pending[r:r + step]
            mine = [tuple(int(i) for i in p)
                    for p in share[ctx.rank * size:(ctx.rank + 1) * size]]
            values: list[tuple[tuple[int, ...], dict[str, float]]] = []
            if mine:
                sink = _Points(shape)
                run(mine, sink)
                values = [(i, {f: sink.values[i][f] for f in fields}) for i in mine]
            for gathered in all_gather_objects(values):
                for index, vals in gathered:
                    if part is not None:
                        part.write(index, **vals)
            bar.update(len(share))
    return len(pending)
