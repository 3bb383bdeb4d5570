"""The plane grid of a curve (DESIGN 4.5) with its points spread over the ranks.

Rank 0 opens the store's ``partial`` entry of the grid and broadcasts the points not written
yet; the pending points are dealt round-robin (point ``k`` to rank ``k mod W``) and evaluated
in rounds of ``W`` points, one per rank. After each round the values are gathered and rank 0
writes them, so every point has exactly one writer, each is durable as soon as its round ends
(an interrupted grid resumes from the store), and only rank 0 needs the store. Every point is
computed exactly as in one process (:func:`landscape.curves.run_grid`), so the values are
bit-identical to a single-process grid.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from landscape.curves import (
    PLANE_FIELDS,
    LoadedCurve,
    MemoryGrid,
    plane_cached,
    plane_partial,
    run_grid,
)
from landscape.data import EvalSet
from landscape.distributed.collectives import all_gather_objects, broadcast_object
from landscape.distributed.context import barrier, context

__all__ = ["plane_distributed"]


def plane_distributed(
    store: Any,
    loaded: LoadedCurve,
    train: EvalSet,
    test: EvalSet,
    *,
    grid: int = 21,
    margin: float = 0.2,
    curve_points: int = 61,
    progress: bool = False,
) -> dict[str, Any] | None:
    """Fill in (or resume) the plane grid with every rank; rank 0 writes the store.

    Args:
        store: a :class:`landscape.store.Store` (used by rank 0 only).
        loaded: the fitted curve (every rank loads it).
        train: training data (BatchNorm pass and train metrics), whole on every rank.
        test: test data.
        grid: points per axis.
        margin: the axes span ``[-margin, 1 + margin]``.
        curve_points: number of points of the curve drawn in the plane.
        progress: show a progress bar on rank 0.

    Returns:
        On rank 0 the dict of :func:`landscape.curves.plane_cached` (``computed`` counts the
        points evaluated by all ranks in this call); ``None`` on the other ranks. In a single
        process this is :func:`plane_cached`.

    """
    ctx = context()
    if not ctx.distributed:
        return plane_cached(store, loaded, train, test, grid=grid, margin=margin,
                            curve_points=curve_points, progress=progress)
    part = plane_partial(store, loaded, train, test, grid=grid, margin=margin) \
        if ctx.is_main else None
    pending = broadcast_object(part.pending() if part is not None and not part.complete else [])
    world = ctx.world_size
    bar = tqdm(total=len(pending), desc="plane grid", leave=False,
               disable=not (progress and ctx.is_main))
    for r in range(0, len(pending), world):
        share = pending[r:r + world]
        mine = tuple(int(i) for i in share[ctx.rank]) if ctx.rank < len(share) else None
        values = None
        if mine is not None:
            sink = MemoryGrid((int(grid), int(grid)))
            run_grid(loaded.curve, loaded.model, train, test, sink, grid=grid, margin=margin,
                     indices=[mine])
            values = {f: float(sink[f][mine]) for f in PLANE_FIELDS}
        results = all_gather_objects((mine, values))
        if part is not None:
            for index, vals in results:
                if index is not None:
                    part.write(index, **vals)
        bar.update(len(share))
    bar.close()
    out = None
    if ctx.is_main:
        out = plane_cached(store, loaded, train, test, grid=grid, margin=margin, indices=[],
                           curve_points=curve_points)
        out["computed"] = len(pending)
    barrier()
    return out
