"""Curve and plane results cached in the result store (DESIGN 3.3, 4.4, 4.5).

``along_cached`` stores :func:`landscape.curves.evaluate_along` as one entry; ``plane_cached``
fills the plane grid through a store ``partial`` entry, one durable write per grid point, so
an interrupted grid resumes where it stopped, and finalises it into an ordinary entry once
complete. Keys hold the content digests of both endpoints and of the middle control points,
the settings, and the identity of the training and test sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from landscape.checkpoint import state_digest
from landscape.curves.evaluate import JobMap, evaluate_along
from landscape.curves.fit import LoadedCurve
from landscape.curves.plane import PLANE_FIELDS, grid_axis, plane_layout, run_grid
from landscape.data import EvalSet

__all__ = [
    "ALONG_NAME", "PLANE_NAME", "GridFill", "GridRun", "along_cached", "curve_inputs",
    "plane_cached", "plane_partial",
]

GridRun = Callable[..., int]
"""``run(indices, sink, *, progress=False) -> points computed``: the grid of one curve."""
GridFill = Callable[..., int]
"""``fill(part, run, *, indices, progress) -> points computed`` (see :func:`plane_cached`)."""

ALONG_NAME = "curves.along"
PLANE_NAME = "curves.plane"
VERSION = 1


def curve_inputs(loaded: LoadedCurve) -> dict[str, str]:
    """Content digests of a curve: both endpoints and the stacked middle control points."""
    ends = loaded.config["endpoints"]
    middle = torch.stack([m.detach().cpu() for m in loaded.curve.middle])
    return {"start": ends["start"]["digest"], "end": ends["end"]["digest"],
            "middle": state_digest({"middle": middle})}


def _question(loaded: LoadedCurve, train: EvalSet, test: EvalSet) -> dict[str, Any]:
    return {"degree": loaded.curve.degree, "kind": loaded.curve.kind,
            "eval_batch_size": train.batch_size, "test_batch_size": test.batch_size}


def along_cached(
    store: Any,
    loaded: LoadedCurve,
    train: EvalSet,
    test: EvalSet,
    *,
    points: int = 61,
    progress: bool = False,
    map_jobs: JobMap | None = None,
) -> Any:
    """Loss and error along the curve and the line, from the store or computed and stored.

    ``map_jobs`` runs the evaluations on a miss (see :func:`evaluate_along`;
    ``landscape.distributed.map_round_robin`` under torchrun, with a ``CollectiveStore``). It
    is not part of the key: every way of running them computes the same values.

    Returns:
        The store :class:`~landscape.store.Entry` (``entry["curve"]["barrier"]`` ...), or
        ``None`` where a ``CollectiveStore`` gives none (torchrun ranks > 0).

    """
    if int(points) != points or points < 2:
        raise ValueError(f"points must be an integer >= 2 (61 by default), got {points!r}")
    params = {**_question(loaded, train, test), "points": int(points)}

    def compute() -> dict[str, Any]:
        return evaluate_along(loaded.curve, loaded.model, train, test, points=points,
                              progress=progress, map_jobs=map_jobs)

    return store.get_or_compute(ALONG_NAME, params, curve_inputs(loaded), compute,
                                dataset={"train": train.spec(), "test": test.spec()},
                                version=VERSION,
                                schema={f"{p}/{f}": ((points,), "f") for p in ("curve", "line")
                                        for f in ("train_loss", "test_error")}
                                | {"t": ((points,), "f"), "curve/barrier": ((), "f")})


def plane_partial(
    store: Any, loaded: LoadedCurve, train: EvalSet, test: EvalSet, *, grid: int = 21,
    margin: float = 0.2,
) -> Any:
    """The store ``partial`` entry that holds (or will hold) the plane grid's values."""
    grid_axis(grid, margin)  # refuses a grid < 2 or a negative margin, naming them
    params = {**_question(loaded, train, test), "grid": int(grid), "margin": float(margin)}
    fields = {f: ((int(grid), int(grid)), "float64") for f in PLANE_FIELDS}
    return store.partial(PLANE_NAME, params, curve_inputs(loaded),
                         dataset={"train": train.spec(), "test": test.spec()},
                         version=VERSION, fields=fields)


def _fill_here(part: Any, run: GridRun, *, indices: Iterable[tuple[int, int]] | None,
               progress: bool) -> int:
    """Compute the pending points (of ``indices``) in this process, writing each at once."""
    return 0 if part.complete else run(indices, part, progress=progress)


def plane_cached(
    store: Any,
    loaded: LoadedCurve,
    train: EvalSet,
    test: EvalSet,
    *,
    grid: int = 21,
    margin: float = 0.2,
    indices: Iterable[tuple[int, int]] | None = None,
    curve_points: int = 61,
    progress: bool = False,
    fill: GridFill = _fill_here,
) -> dict[str, Any] | None:
    """Fill in (or resume) the plane grid in the store; return the layout and the values.

    Args:
        store: a :class:`landscape.store.Store` (or a ``CollectiveStore`` under torchrun).
        loaded: the fitted curve.
        train: training data (BatchNorm pass and train metrics).
        test: test data.
        grid: points per axis.
        margin: the axes span ``[-margin, 1 + margin]``.
        indices: the grid points this process handles (default: all).
        curve_points: number of points of the curve drawn in the plane.
        progress: show a progress bar.
        fill: ``fill(part, run, indices=, progress=) -> points computed``: how the points not
            yet in the store's partial entry ``part`` get computed and written, where
            ``run(indices, sink, progress=)`` is :func:`~landscape.curves.run_grid` on this
            curve and data. Default: all of them (or those of ``indices``) in this process;
            ``landscape.distributed.fill_round_robin`` deals them over torchrun ranks.

    Returns:
        :func:`landscape.curves.plane_layout` plus one ``[grid, grid]`` array per field of
        :data:`PLANE_FIELDS` (indexed ``[alpha, beta]``; NaN where not computed yet),
        ``done`` (the mask), ``complete``, ``computed`` (points evaluated by this call) and
        ``key`` (the store key); ``None`` where the store gives no partial entry (a
        ``CollectiveStore`` on torchrun ranks > 0).

    """
    part = plane_partial(store, loaded, train, test, grid=grid, margin=margin)

    def run(points: Iterable[tuple[int, int]] | None, sink: Any, *, progress: bool = False
            ) -> int:
        return run_grid(loaded.curve, loaded.model, train, test, sink, grid=grid,
                        margin=margin, indices=points, progress=progress)

    computed = fill(part, run, indices=indices, progress=progress)
    if part is None:
        return None
    out = plane_layout(loaded.curve, grid=grid, margin=margin, curve_points=curve_points)
    complete = bool(part.complete)
    if complete:
        entry = part.finalize()
        out.update({f: np.asarray(entry[f]) for f in PLANE_FIELDS})
    else:
        out.update({f: np.asarray(part[f]) for f in PLANE_FIELDS})
    out.update(done=np.asarray(part.done), complete=complete, computed=computed, key=part.key)
    return out
