"""Loss surfaces of subjects, cached point by point in the result store.

A surface is the loss (and error) over a line or a plane of weight space, ``w(c) = origin +
c_1 d_1 [+ c_2 d_2]``, on a grid (Li et al. 2018; Yao et al. 2020; Goodfellow et al. 2015;
Chao et al. 2020). The directions come from the builders of :mod:`._surfacebasis`
(``random``, ``eigen``, ``pca``, ``points``, ``minima``, or :func:`surface_basis` by name);
:func:`surface_cached` evaluates the grid with :class:`landscape.surface.SurfaceEvaluator`
(K points per pass over the data) into a store partial entry (``surface.grid``): every point
is durable as soon as its pass ends, a killed run loses nothing acknowledged, a rerun computes
only the missing points, and the finished grid becomes an ordinary entry, so the same question
asked again answers from the store without a pass over the data. Under ``torchrun`` the pending
points are dealt over the ranks in chunks of K (:func:`landscape.distributed.fill_round_robin`)
and rank 0 writes.

Store key (:func:`landscape.experiment.cached.cached_grid`): the inputs are the content
digests of the subjects the directions come from, by role (``checkpoint``; ``epoch_E`` for
a trajectory; ``A``/``B``/``C``; ``sgd``/``grda``); the data are the identity of the splits
evaluated; the parameters are the direction definition (method, seed, normalisation,
bias/BatchNorm treatment, eigen ``k``, indices and the Hessian entry they come from, PCA
epochs), the grid shape and ranges, ``bn``, the loss, the fields, the dtype, the data's batch
size and the evaluation scheme (``strategy``, ``share_input_layer``, ``max_batch``,
``channels_last``: these change the values by rounding). Not in the key: K (a point's values
do not depend on which points share its pass under ``strategy="loop"``; under ``"vmap"`` only
by rounding) and the device (as for every cached analysis).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from landscape.distributed import barrier, broadcast_object, context, fill_round_robin
from landscape.experiment._surfacebasis import (
    SurfaceBasis,
    eigen_basis,
    minima_basis,
    pca_basis,
    points_basis,
    random_basis,
)
from landscape.experiment._surfacequestion import (
    GridQuestion,
    grid_question,
    loss_fn_of,
    surface_fields,
)
from landscape.experiment.cached import Analysis, cached_grid
from landscape.experiment.subject import Subject
from landscape.surface import SurfaceEvaluator, run_surface, surface_layout, top1_wrong

__all__ = [
    "METHODS",
    "SURFACE",
    "SurfaceBasis",
    "eigen_basis",
    "minima_basis",
    "minima_summary",
    "pca_basis",
    "points_basis",
    "pruning_surfaces",
    "random_basis",
    "surface_basis",
    "surface_cached",
    "surface_fields",
    "surface_partial",
]

METHODS = ("random", "eigen", "pca", "points", "minima")
SURFACE = Analysis("surface.grid", version=1)
"""Loss and error (fractions) at every point of a surface's grid."""


def surface_basis(method: str, subject: Subject, *, store: Any = None, num: int = 2,
                  others: Sequence[Subject] = (), progress: bool = False,
                  **options: Any) -> SurfaceBasis:
    """The directions of ``method`` at ``subject`` (one of :data:`METHODS`).

    Args:
        method: ``random``, ``eigen``, ``pca``, ``points`` or ``minima``.
        subject: the origin (``points``: A; ``minima``: the SGD minimum).
        store: the result store (``eigen`` and ``minima`` read the Hessian top-k from it).
        num: 1 (a line) or 2 (a plane); ``points`` and ``minima`` decide it themselves.
        others: ``points``: B (and C); ``minima``: the gRDA minimum.
        progress: show the eigensolver's progress.
        **options: the builder's settings (``seed``, ``norm``, ``include_bn_bias``;
            ``top_k``, ``indices``; ``epochs``).

    Raises:
        ValueError: an unknown method, or the wrong number of ``others``.

    """
    if method not in METHODS:
        raise ValueError(f"--directions must be one of {', '.join(METHODS)}, got {method!r}")
    wanted = {"points": (1, 2), "minima": (1,)}.get(method, (0,))
    if len(others) not in wanted:
        raise ValueError(f"--directions {method} takes {' or '.join(map(str, wanted))} more "
                         f"checkpoint(s), got {len(others)}")
    if method == "random":
        return random_basis(subject, num=num, **options)
    if method == "eigen":
        return eigen_basis(store, subject, num=num, progress=progress, **options)
    if method == "pca":
        return pca_basis(subject, num=num, **options)
    if method == "points":
        return points_basis(subject, *others)
    return minima_basis(store, subject, others[0], progress=progress, **options)


def surface_partial(store: Any, subject: Subject, basis: SurfaceBasis, *,
                    grid: int | Sequence[int] = (21, 21), ranges: Sequence[float] | None = None,
                    bn: str = "keep", test: bool = True, errors: bool = True,
                    strategy: str = "loop", share_input_layer: bool | str = "auto",
                    max_batch: int | str | None = "auto",
                    channels_last: bool | str = "auto") -> Any:
    """The store's partial entry that holds (or will hold) the surface's grid.

    Arguments as :func:`surface_cached`; nothing is evaluated. Its ``key`` is the surface's
    store key (module docstring).

    Returns:
        The :class:`landscape.store.Partial`; ``None`` on torchrun ranks other than 0.

    """
    g = grid_question(subject, basis, grid, ranges, bn=bn, test=test, errors=errors,
                      strategy=strategy, share_input_layer=share_input_layer,
                      max_batch=max_batch, channels_last=channels_last)
    return _partial(store, basis, g)


def _partial(store: Any, basis: SurfaceBasis, g: GridQuestion) -> Any:
    shape = tuple(len(a) for a in g.axes)
    return cached_grid(store, SURFACE, g.params, inputs=basis.inputs, data=g.data,
                       fields={f: (shape, "float64") for f in g.fields})


def surface_cached(
    store: Any,
    subject: Subject,
    basis: SurfaceBasis,
    *,
    grid: int | Sequence[int] = (21, 21),
    ranges: Sequence[float] | None = None,
    bn: str = "keep",
    test: bool = True,
    errors: bool = True,
    strategy: str = "loop",
    share_input_layer: bool | str = "auto",
    max_batch: int | str | None = "auto",
    channels_last: bool | str = "auto",
    memory_budget: int = 2**29,
    points_per_pass: int | None = None,
    progress: bool = False,
) -> dict[str, Any] | None:
    """Fill in (or resume, or read) the surface's grid in the store; return its values.

    Args:
        store: the result store.
        subject: the network and its data (train, and test when ``test``); the origin of
            ``basis`` is its point.
        basis: the directions (:func:`surface_basis` or a builder).
        grid: ``NX`` (a line) or ``(NX, NY)`` (a plane), points per axis, at least 2.
        ranges: ``(XMIN, XMAX[, YMIN, YMAX])`` (default: the method's, ``basis.ranges``).
        bn: ``"keep"`` the origin's BatchNorm statistics (Li et al. 2018) or
            ``"recalibrate"`` them exactly at every point.
        test: also evaluate the test split.
        errors: also count top-1 errors (fractions).
        strategy: ``"loop"`` or ``"vmap"`` (:class:`landscape.surface.SurfaceEvaluator`).
        share_input_layer: compute the input layer once per batch for all points
            (``"auto"``, ``True``, ``False``).
        max_batch: split data batches to at most this many samples (``"auto"``: cache-sized
            pieces on a CPU, see :class:`landscape.surface.SurfaceEvaluator`; ``None``: the
            data's batches).
        channels_last: evaluate 2D convolutions in channels-last memory format (``"auto"``:
            when the model has a ``Conv2d``; equal to the model's layout up to rounding).
        memory_budget: bytes for the points of one pass (sets K; not part of the key).
        points_per_pass: K itself (not part of the key).
        progress: show a progress bar.

    Returns:
        :func:`landscape.surface.surface_layout` (``x``, ``y``, ``axis_labels``, ``marks``,
        ``path``, ``info``, ``method``) plus one ``[NX(, NY)]`` float64 array per field
        (errors as fractions; NaN where not computed), ``fields``, ``done``, ``complete``,
        ``computed`` (points evaluated by this call, all ranks together), ``cached`` (the
        finished grid was in the store), ``key``, ``definition`` and ``inputs``; ``None`` on
        torchrun ranks other than 0.

    Raises:
        ValueError: a grid or ranges that do not fit the directions, or a bad setting.

    """
    settings = {"bn": bn, "test": test, "errors": errors, "strategy": strategy,
                "share_input_layer": share_input_layer, "max_batch": max_batch,
                "channels_last": channels_last}
    g = grid_question(subject, basis, grid, ranges, **settings)
    part = _partial(store, basis, g)
    finished = part.complete if part is not None else None
    if context().distributed:
        finished = broadcast_object(finished)
    computed = 0
    if not finished:
        evaluator = SurfaceEvaluator(
            subject.model, basis.directions, subject.split("train"),
            subject.split("test") if test else None, bn=bn, loss_fn=loss_fn_of(subject),
            error_fn=top1_wrong if errors else None, memory_budget=memory_budget,
            points_per_pass=points_per_pass, strategy=strategy,
            share_input_layer=share_input_layer, max_batch=max_batch,
            channels_last=channels_last)

        def run(indices: Any, sink: Any, *, progress: bool = False) -> int:
            return run_surface(evaluator, g.axes, sink, indices=indices, progress=progress)

        computed = fill_round_robin(part, run, fields=g.fields, progress=progress,
                                    desc="surface points", chunk=evaluator.points_per_pass)
    if context().distributed:
        barrier()
    if part is None:
        return None
    out = surface_layout(basis.directions, g.axes)
    complete = bool(part.complete)
    source = part.finalize() if complete else part
    out.update({f: np.asarray(source[f], dtype=np.float64) for f in g.fields})
    out["info"] = {**out.get("info", {}), **basis.info}
    out.update(fields=list(g.fields), done=np.asarray(part.done), complete=complete,
               computed=int(computed), cached=bool(finished), key=part.key,
               definition=basis.definition, inputs=dict(basis.inputs))
    return out


def _at(result: dict[str, Any], coords: Sequence[float]) -> tuple[int, ...] | None:
    """The grid index of ``coords`` when they are a grid node (to rounding), else ``None``."""
    axes = [np.asarray(result["x"])] + ([np.asarray(result["y"])] if "y" in result else [])
    index = []
    for axis, c in zip(axes, coords):
        i = int(np.abs(axis - c).argmin())
        if abs(axis[i] - c) > 1e-9 * max(1.0, abs(c)):
            return None
        index.append(i)
    return tuple(index)


def minima_summary(result: dict[str, Any], field: str = "train_loss") -> dict[str, Any]:
    """Where the gRDA minimum sits in a finished ``minima`` plane, from its grid values.

    The curvature of ``field`` at SGD along each axis is the central second difference
    ``(L(h) - 2 L(0) + L(-h)) / h^2`` on the grid (both axes in units of ``||delta||``, so
    the two are comparable): ``sharper_eigenvector`` says whether the top eigenvector's
    direction curves more than the SGD -> gRDA direction.

    Returns:
        ``{"grda": [1, 0], "delta_norm", "sgd_loss", "grda_loss" (None off the grid),
        "curvature_delta", "curvature_eigenvector", "sharper_eigenvector",
        "cos_eigenvector_delta"}``.

    Raises:
        ValueError: not a finished ``minima`` plane, or SGD not on a grid node with
            neighbours on both sides.

    """
    if result.get("method") != "minima" or not result.get("complete"):
        raise ValueError("minima_summary needs a finished minima plane (--directions minima)")
    z = np.asarray(result[field], dtype=np.float64)
    x, y = np.asarray(result["x"]), np.asarray(result["y"])
    origin = _at(result, (0.0, 0.0))
    if origin is None or not (0 < origin[0] < len(x) - 1 and 0 < origin[1] < len(y) - 1):
        raise ValueError("the plane's grid has no node at SGD (0, 0) with a neighbour on each "
                         "side: choose --range and --grid so that 0 is an inner grid value")
    i, j = origin
    hx, hy = float(x[i + 1] - x[i]), float(y[j + 1] - y[j])
    curv_x = float((z[i + 1, j] - 2 * z[i, j] + z[i - 1, j]) / hx**2)
    curv_y = float((z[i, j + 1] - 2 * z[i, j] + z[i, j - 1]) / hy**2)
    grda = _at(result, (1.0, 0.0))
    info = result.get("info", {})
    return {
        "grda": [1.0, 0.0], "delta_norm": info.get("delta_norm"),
        "sgd_loss": float(z[i, j]),
        "grda_loss": float(z[grda]) if grda is not None else None,
        "curvature_delta": curv_x, "curvature_eigenvector": curv_y,
        "sharper_eigenvector": bool(curv_y > curv_x),
        "cos_eigenvector_delta": info.get("cos_eigenvector_delta"),
    }


def pruning_surfaces(store: Any, sgd: Any, grda: Any, *, grid: int = 21, top_k: int = 10,
                     device: Any = "cpu", progress: bool = False) -> dict[str, Any]:
    """The two surfaces of the directional-pruning question, at the SGD minimum.

    A filter-normalised random plane at ``w_SGD`` (Li et al. 2018; seed 0, ``[-1, 1]^2``) and
    the ``minima`` plane of ``w_gRDA - w_SGD`` and the top Hessian eigenvector at ``w_SGD``
    (Chao et al. 2020; top-``top_k`` entry, ``[-0.5, 1.5] x [-1, 1]``), both ``grid x grid``
    on the SGD run's own training and test data, with the command line's defaults (so
    ``landscape surface SGD --directions random|minima ...`` answers from the same entries).

    Args:
        store: the result store.
        sgd: the SGD minimum (a landscape checkpoint or run directory).
        grda: the gRDA minimum (a landscape checkpoint of the same model).
        grid: points per axis (odd, so that ``w_SGD`` is a grid point; ``grid - 1`` a
            multiple of 4 puts ``w_gRDA`` on one too).
        top_k: the Hessian top-k entry the eigenvector comes from.
        device: where to evaluate.
        progress: show progress bars.

    One process only (under torchrun use :func:`surface_cached` on every rank).

    Returns:
        ``{"random": ..., "minima": ...}`` (the dicts of :func:`surface_cached`),
        ``"summary"`` (:func:`minima_summary` of the train loss) and ``"computed"`` (points
        evaluated by this call).

    """
    from landscape.experiment.subject import DataOptions, at_checkpoint, resolve_subject

    origin = resolve_subject(sgd, data=DataOptions(device=device), splits=("train", "test"))
    other = at_checkpoint(origin, grda)
    bases = {"random": random_basis(origin),
             "minima": minima_basis(store, origin, other, top_k=top_k, progress=progress)}
    out: dict[str, Any] = {name: surface_cached(store, origin, basis, grid=(grid, grid),
                                                progress=progress)
                           for name, basis in bases.items()}
    out["summary"] = minima_summary(out["minima"])
    out["computed"] = sum(out[name]["computed"] for name in bases)
    return out
