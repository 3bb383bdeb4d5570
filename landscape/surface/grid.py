"""A surface's grid: axes, layout for figures, and the resumable runner.

The grid is ``NX`` points over ``[XMIN, XMAX]`` (a line) or ``NX x NY`` points over
``[XMIN, XMAX] x [YMIN, YMAX]`` (a plane), equally spaced, endpoints included; point
``(i, j)`` is ``w(x_i, y_j) = origin + x_i d_1 + y_j d_2``. :func:`run_surface` evaluates the
points of any subset of indices that a sink (:class:`landscape.evaluation.GridSink`: a ``done``
mask and ``write(index, **values)``) does not hold yet, ``points_per_pass`` at a time, and
writes each point as soon as its pass ends: an interrupted grid loses at most the pass in
flight and a rerun computes only what is missing; disjoint index sets spread one grid over
several processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from landscape.evaluation import GridSink
from landscape.surface.directions import SurfaceDirections
from landscape.surface.evaluate import SurfaceEvaluator

__all__ = ["run_surface", "surface_axes", "surface_layout"]


def surface_axes(grid: int | Sequence[int], ranges: Sequence[float]) -> tuple[np.ndarray, ...]:
    """The grid axes: ``grid = NX`` or ``(NX, NY)``, ``ranges = (XMIN, XMAX[, YMIN, YMAX])``.

    >>> [a.tolist() for a in surface_axes((3, 2), (-1.0, 1.0, 0.0, 0.5))]
    [[-1.0, 0.0, 1.0], [0.0, 0.5]]

    Raises:
        ValueError: fewer than 2 points on an axis, or ranges that do not match the grid.

    """
    sizes = [grid] if isinstance(grid, int | np.integer) else list(grid)
    bounds = [float(r) for r in ranges]
    if len(sizes) not in (1, 2) or any(int(n) != n or n < 2 for n in sizes):
        raise ValueError(f"grid must be NX or NX NY, integers >= 2 (points per axis), got "
                         f"{grid!r}")
    if len(bounds) != 2 * len(sizes):
        raise ValueError(f"a grid of {len(sizes)} axis/axes needs {2 * len(sizes)} range "
                         f"values (XMIN XMAX{' YMIN YMAX' if len(sizes) == 2 else ''}), got "
                         f"{len(bounds)}")
    axes = []
    for n, lo, hi in zip(sizes, bounds[::2], bounds[1::2]):
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"each range must be finite with MIN < MAX, got [{lo}, {hi}]")
        axes.append(np.linspace(lo, hi, int(n)))
    return tuple(axes)


def surface_layout(directions: SurfaceDirections, axes: Sequence[np.ndarray]) -> dict[str, Any]:
    """Everything a figure needs besides the values: axes, labels, marks, path (cheap)."""
    out = directions.layout()
    out["x"] = np.asarray(axes[0])
    if len(axes) > 1:
        out["y"] = np.asarray(axes[1])
    if directions.path is not None:
        out["path"] = np.asarray(directions.path)
    out["info"] = dict(directions.info)
    return out


def _indices(shape: tuple[int, ...], indices: Iterable[Any] | None) -> list[tuple[int, ...]]:
    if indices is None:
        return [tuple(int(v) for v in i) for i in np.ndindex(*shape)]
    out = []
    for i in indices:
        idx = (int(i),) if np.ndim(i) == 0 else tuple(int(v) for v in i)
        if len(idx) != len(shape) or any(not 0 <= v < n for v, n in zip(idx, shape)):
            raise ValueError(f"grid index {idx} is outside the grid of shape {shape}")
        out.append(idx)
    return out


def run_surface(
    evaluator: SurfaceEvaluator,
    axes: Sequence[np.ndarray],
    sink: GridSink,
    *,
    indices: Iterable[Any] | None = None,
    progress: bool = False,
) -> int:
    """Evaluate the grid points that ``sink`` does not hold yet, writing each as it is done.

    Args:
        evaluator: the surface, data and evaluation settings.
        axes: the grid axes (:func:`surface_axes`), one per direction.
        sink: receives ``write((i, j), train_loss=..., ...)`` per point (``(i,)`` on a
            line); its ``done`` mask (shape ``(NX[, NY])``) says what to skip.
        indices: the points this process handles (default: all, row by row).
        progress: show a progress bar on stderr.

    Returns:
        The number of points evaluated by this call.

    Raises:
        ValueError: axes that do not match the directions, or a sink of another shape.

    """
    if len(axes) != evaluator.directions.ndim:
        raise ValueError(f"the surface has {evaluator.directions.ndim} direction(s) but "
                         f"{len(axes)} grid axis/axes were given")
    shape = tuple(len(a) for a in axes)
    done = np.asarray(sink.done)
    if done.shape != shape:
        raise ValueError(f"the sink holds a grid of shape {done.shape}, expected {shape}")
    todo = [i for i in _indices(shape, indices) if not done[i]]
    if not todo:
        return 0
    k = evaluator.points_per_pass
    with tqdm(total=len(todo), desc="surface", disable=not progress, leave=False) as bar:
        for start in range(0, len(todo), k):
            chunk = todo[start:start + k]
            coords = [[float(axes[d][i[d]]) for d in range(len(shape))] for i in chunk]
            for idx, values in zip(chunk, evaluator.evaluate_pass(coords)):
                sink.write(idx, **values)
            bar.update(len(chunk))
    return len(todo)
