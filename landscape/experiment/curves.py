"""Curve runs and their cached evaluations: fit, resume, load; along the curve; the plane.

* :func:`fit_curve_run` fits a curve between two subjects (landscape checkpoints or the
  user's own weights files) into a resumable run directory (:mod:`._curverun`), on the same
  epoch runner as the trainer; :func:`load_curve` resolves the endpoints and the data again
  from the run's records and checks the endpoints' digests.
* :func:`along_cached` stores :func:`landscape.curves.evaluate_along` as one entry
  (``curves.along``); :func:`plane_cached` fills the plane grid through a partial entry
  (``curves.plane``), one durable write per grid point, so an interrupted grid resumes where
  it stopped; :func:`plane_distributed` deals the pending points over torchrun ranks.

Keys hold the content digests of both endpoints and of the middle control points, the
settings, and the identity of the training and test data. Errors are fractions (schema
version 2; version 1 entries held percent and are not served).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from landscape._digest import state_digest
from landscape.curves import (
    PLANE_FIELDS,
    JobMap,
    evaluate_along,
    grid_axis,
    plane_layout,
    run_grid,
)
from landscape.experiment._curvefit import fit_curve_run
from landscape.experiment._curverun import CurveFitConfig, LoadedCurve, load_curve
from landscape.experiment.cached import Analysis, cached, cached_grid

__all__ = [
    "ALONG", "PLANE", "CurveFitConfig", "GridFill", "GridRun", "LoadedCurve", "along_cached",
    "curve_inputs", "fit_curve_run", "load_curve", "plane_cached", "plane_distributed",
    "plane_partial",
]

GridRun = Callable[..., int]
"""``run(indices, sink, *, progress=False) -> points computed``: the grid of one curve."""
GridFill = Callable[..., int]
"""``fill(part, run, *, indices, progress) -> points computed`` (see :func:`plane_cached`)."""


def _along_schema(params: Mapping[str, Any]) -> dict[str, Any]:
    n = int(params["points"])
    return ({f"{p}/{f}": ((n,), "f") for p in ("curve", "line")
             for f in ("train_loss", "test_error")} | {"t": ((n,), "f"),
                                                      "curve/barrier": ((), "f")})


ALONG = Analysis("curves.along", version=2, schema=_along_schema)
"""Loss and error along the curve and the line (v2: errors as fractions; v1 held percent)."""
PLANE = Analysis("curves.plane", version=2)
"""The plane grid's values (v2: errors as fractions; v1 held percent)."""


def curve_inputs(loaded: LoadedCurve) -> dict[str, str]:
    """Content digests of a curve: both endpoints and the stacked middle control points."""
    ends = loaded.config["endpoints"]
    middle = torch.stack([m.detach().cpu() for m in loaded.curve.middle])
    return {"start": ends["start"]["digest"], "end": ends["end"]["digest"],
            "middle": state_digest({"middle": middle})}


def _data(loaded: LoadedCurve, train: Any, test: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The evaluation data and their identity: given EvalSets, or the curve's own data."""
    if train is None and test is None:
        return loaded.data["train"], loaded.data["test"], {
            "train": loaded.data_spec["train"], "test": loaded.data_spec["test"]}
    if train is None or test is None or not all(hasattr(d, "spec") for d in (train, test)):
        raise ValueError("pass both train and test as EvalSets (their spec() is part of the "
                         "store key), or neither to use the curve's own data")
    return train, test, {"train": train.spec(), "test": test.spec()}


def _question(loaded: LoadedCurve, train: Any, test: Any) -> dict[str, Any]:
    return {"degree": loaded.curve.degree, "kind": loaded.curve.kind,
            "eval_batch_size": getattr(train, "batch_size", None),
            "test_batch_size": getattr(test, "batch_size", None)}


def along_cached(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None, *,
                 points: int = 61, progress: bool = False,
                 map_jobs: JobMap | None = None) -> Any:
    """Loss and error along the curve and the line, from the store or computed and stored.

    ``train``/``test`` default to the curve's own data. ``map_jobs`` runs the evaluations on
    a miss (see :func:`landscape.curves.evaluate_along`;
    :func:`landscape.distributed.map_round_robin` under torchrun); it is not part of the
    key: every way of running them computes the same values.

    Returns:
        The store :class:`~landscape.store.Entry` (``entry["curve"]["barrier"]`` ...; errors
        are fractions), or ``None`` on torchrun ranks other than 0.

    """
    if int(points) != points or points < 2:
        raise ValueError(f"points must be an integer >= 2 (61 by default), got {points!r}")
    train, test, data = _data(loaded, train, test)
    params = {**_question(loaded, train, test), "points": int(points)}

    def compute() -> dict[str, Any]:
        return evaluate_along(loaded.curve, loaded.model, train, test, points=points,
                              loss_fn=loaded.start.loss_fn if loaded.start else
                              torch.nn.functional.cross_entropy,
                              progress=progress, map_jobs=map_jobs)

    return cached(store, ALONG, params, compute, inputs=curve_inputs(loaded), data=data)


def plane_partial(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None, *,
                  grid: int = 21, margin: float = 0.2) -> Any:
    """The store's partial entry that holds (or will hold) the plane grid's values."""
    grid_axis(grid, margin)  # refuses a grid < 2 or a negative margin, naming them
    train, test, data = _data(loaded, train, test)
    params = {**_question(loaded, train, test), "grid": int(grid), "margin": float(margin)}
    fields = {f: ((int(grid), int(grid)), "float64") for f in PLANE_FIELDS}
    return cached_grid(store, PLANE, params, inputs=curve_inputs(loaded), data=data,
                       fields=fields)


def _fill_here(part: Any, run: GridRun, *, indices: Iterable[tuple[int, int]] | None,
               progress: bool) -> int:
    """Compute the pending points (of ``indices``) in this process, writing each at once."""
    return 0 if part.complete else run(indices, part, progress=progress)


def plane_cached(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None, *,
                 grid: int = 21, margin: float = 0.2,
                 indices: Iterable[tuple[int, int]] | None = None, curve_points: int = 61,
                 progress: bool = False, fill: GridFill = _fill_here) -> dict[str, Any] | None:
    """Fill in (or resume) the plane grid in the store; return the layout and the values.

    Args:
        store: the result store.
        loaded: the fitted curve.
        train: training data (BatchNorm pass and train metrics; default: the curve's own).
        test: test data (default: the curve's own).
        grid: points per axis.
        margin: the axes span ``[-margin, 1 + margin]``.
        indices: the grid points this process handles (default: all).
        curve_points: number of points of the curve drawn in the plane.
        progress: show a progress bar.
        fill: ``fill(part, run, indices=, progress=) -> points computed``: how the points not
            yet in the partial entry ``part`` get computed, where ``run(indices, sink,
            progress=)`` is :func:`landscape.curves.run_grid` on this curve and data.
            Default: in this process; :func:`plane_distributed` deals them over the ranks.

    Returns:
        :func:`landscape.curves.plane_layout` plus one ``[grid, grid]`` array per field of
        ``PLANE_FIELDS`` (indexed ``[alpha, beta]``; NaN where not computed yet; errors are
        fractions), ``done``, ``complete``, ``computed`` (points evaluated by this call) and
        ``key``; ``None`` on torchrun ranks other than 0.

    """
    part = plane_partial(store, loaded, train, test, grid=grid, margin=margin)
    train, test, _ = _data(loaded, train, test)
    loss_fn = loaded.start.loss_fn if loaded.start else torch.nn.functional.cross_entropy

    def run(points: Iterable[tuple[int, int]] | None, sink: Any, *, progress: bool = False
            ) -> int:
        return run_grid(loaded.curve, loaded.model, train, test, sink, grid=grid,
                        margin=margin, indices=points, loss_fn=loss_fn, progress=progress)

    computed = fill(part, run, indices=indices, progress=progress)
    if part is None:
        return None
    out = plane_layout(loaded.curve, grid=grid, margin=margin, curve_points=curve_points)
    complete = bool(part.complete)
    source = part.finalize() if complete else part
    out.update({f: np.asarray(source[f]) for f in PLANE_FIELDS})
    out.update(done=np.asarray(part.done), complete=complete, computed=computed, key=part.key)
    return out


def plane_distributed(store: Any, loaded: LoadedCurve, train: Any = None, test: Any = None,
                      **options: Any) -> dict[str, Any] | None:
    """:func:`plane_cached` with the pending points dealt round-robin over torchrun ranks.

    Every rank passes the same arguments; the store is used by rank 0 only
    (:func:`landscape.distributed.fill_round_robin`: every point has one writer and the
    values are bit-identical to a single-process grid). In one process this is
    :func:`plane_cached`.

    Returns:
        On rank 0 the dict of :func:`plane_cached` (``computed`` counts the points of all
        ranks); ``None`` on the other ranks.

    """
    from landscape.distributed import CollectiveStore, barrier, fill_round_robin

    def fill(part: Any, run: GridRun, *, indices: Any = None, progress: bool = False) -> int:
        return fill_round_robin(part, run, fields=PLANE_FIELDS, indices=indices,
                                progress=progress, desc="plane grid points")

    out = plane_cached(CollectiveStore(store), loaded, train, test, fill=fill, **options)
    barrier()
    return out
