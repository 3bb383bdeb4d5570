"""The plane grid of a curve (DESIGN 4.5) with its points spread over the ranks.

:func:`landscape.curves.plane_cached` opens the store's ``partial`` entry of the grid, has its
pending points computed by a ``fill`` hook, and assembles the result. :func:`fill_round_robin`
is that hook under torchrun: rank 0 (the only one holding the entry, through
:class:`CollectiveStore`) broadcasts the points not written yet; they are dealt round-robin
(point ``k`` to rank ``k mod W``) and evaluated in rounds of ``W`` points, one per rank. After
each round the values are gathered and rank 0 writes them, so every point has exactly one
writer, each is durable as soon as its round ends (an interrupted grid resumes from the
store), and only rank 0 needs the store. Every point is computed exactly as in one process
(:func:`landscape.curves.run_grid`), so the values are bit-identical to a single-process grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm

from landscape.curves import PLANE_FIELDS, GridRun, LoadedCurve, MemoryGrid, plane_cached
from landscape.data import EvalSet
from landscape.distributed.collectives import all_gather_objects, broadcast_object
from landscape.distributed.context import barrier, context
from landscape.distributed.store import CollectiveStore

__all__ = ["fill_round_robin", "plane_distributed"]


def fill_round_robin(part: Any, run: GridRun, *, indices: Iterable[tuple[int, int]] | None = None,
                     progress: bool = False) -> int:
    """Compute the grid points that ``part`` lacks with every rank; rank 0 writes them.

    Args:
        part: the store's partial entry on rank 0, ``None`` on the other ranks.
        run: ``run(indices, sink, progress=)`` evaluating grid points into a sink.
        indices: ignored under torchrun (every pending point is dealt out); in one process,
            the points to handle (default: all).
        progress: show a progress bar on rank 0.

    Returns:
        The number of points evaluated by all ranks together.

    """
    ctx = context()
    if not ctx.distributed:
        return 0 if part.complete else run(indices, part, progress=progress)
    pending, shape = broadcast_object(
        (part.pending() if not part.complete else [], tuple(part.done.shape))
        if part is not None else None)
    world = ctx.world_size
    with tqdm(total=len(pending), desc="plane grid", leave=False,
              disable=not (progress and ctx.is_main)) as bar:
        for r in range(0, len(pending), world):
            share = pending[r:r + world]
            mine = tuple(int(i) for i in share[ctx.rank]) if ctx.rank < len(share) else None
            values = None
            if mine is not None:
                sink = MemoryGrid(shape)
                run([mine], sink)
                values = {f: float(sink[f][mine]) for f in PLANE_FIELDS}
            for index, vals in all_gather_objects((mine, values)):
                if part is not None and index is not None:
                    part.write(index, **vals)
            bar.update(len(share))
    return len(pending)


def plane_distributed(store: Any, loaded: LoadedCurve, train: EvalSet, test: EvalSet,
                      **options: Any) -> dict[str, Any] | None:
    """:func:`landscape.curves.plane_cached` with the pending points spread over the ranks.

    Every rank passes the same arguments (``options`` as for ``plane_cached``; ``indices``
    is ignored under torchrun); ``store`` is used by rank 0 only.

    Returns:
        On rank 0 the dict of ``plane_cached`` (``computed`` counts the points evaluated by
        all ranks in this call); ``None`` on the other ranks. In one process this is
        ``plane_cached``.

    """
    out = plane_cached(CollectiveStore(store), loaded, train, test, fill=fill_round_robin,
                       **options)
    barrier()
    return out
