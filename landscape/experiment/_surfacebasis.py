"""The directions of a loss surface, built from subjects, with their identity for the store.

Each builder turns subjects (:mod:`landscape.experiment.subject`) into the core's
:class:`landscape.surface.SurfaceDirections` and says what defines them: a JSON
``definition`` (the method and every setting that changes the directions) and the content
digests of the subjects by role. Both go into the store key of the surface
(:func:`landscape.experiment.surface.surface_cached`), so a changed seed, checkpoint, epoch
list or eigen-solver setting is a new entry. Nothing here reads the evaluation data, except
the Hessian top-k of ``eigen`` and ``minima`` when the store does not hold it yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from landscape.distributed import broadcast_object, context
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.subject import Subject, at_checkpoint
from landscape.rundir import RunDir
from landscape.surface import (
    SurfaceDirections,
    eigen_directions,
    minima_directions,
    pca_directions,
    points_directions,
    random_directions,
)

__all__ = [
    "SurfaceBasis",
    "eigen_basis",
    "minima_basis",
    "pca_basis",
    "points_basis",
    "random_basis",
]


@dataclass(frozen=True)
class SurfaceBasis:
    """Directions of a surface with what identifies them in a store key.

    Attributes:
        directions: the origin and the one or two directions (the core's object).
        definition: JSON-able; the method and every setting that changes the directions.
        inputs: ``role -> content digest`` of every subject the directions come from.
        ranges: the method's default ``(XMIN, XMAX[, YMIN, YMAX])``.
        info: JSON-able extras to report (eigenvalues, explained variance ...).

    """

    directions: SurfaceDirections
    definition: dict[str, Any]
    inputs: dict[str, str]
    ranges: tuple[float, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        """1 (a line) or 2 (a plane)."""
        return self.directions.ndim


def _check_num(num: int) -> int:
    if num not in (1, 2):
        raise ValueError(f"a surface has 1 direction (a line) or 2 (a plane), got {num!r}")
    return int(num)


def _unit_ranges(num: int, half: float) -> tuple[float, ...]:
    return (-half, half) * num


def random_basis(subject: Subject, *, num: int = 2, seed: int = 0, norm: str = "filter",
                 include_bn_bias: bool = False) -> SurfaceBasis:
    """Seeded Gaussian directions at the subject's point, filter-normalised (Li et al. 2018).

    Natural scale (see :func:`landscape.surface.random_directions`): coordinate 1 moves
    every filter by its own norm. Default range ``[-1, 1]`` per axis, as Li et al. draw it.
    """
    dirs = random_directions(subject.point, num=_check_num(num), seed=seed, norm=norm,
                             include_bn_bias=include_bn_bias, model=subject.model)
    dirs = replace(dirs, marks={subject.label: (0.0,) * num})
    return SurfaceBasis(dirs, dict(dirs.definition), subject.inputs(), _unit_ranges(num, 1.0))


@dataclass(frozen=True)
class _Top:
    rows: np.ndarray  # [len(indices), P]
    values: list[float]
    names: list[str]
    key: str
    converged: list[bool]


def _top_eigenvectors(store: Any, subject: Subject, *, k: int, indices: Sequence[int],
                      progress: bool) -> _Top:
    """Rows ``indices`` of the cached top-``k`` (computed when absent); every torchrun rank."""
    entry = hessian_topk(store, subject, k=k, progress=progress)
    payload = None
    if entry is not None:  # rank 0, or one process
        values = np.asarray(entry["eigenvalues"], dtype=np.float64)
        payload = {
            "rows": np.stack([np.asarray(entry.read("eigenvectors", (int(i),)))
                              for i in indices]),
            "values": [float(values[i]) for i in indices],
            "names": str(entry["parameter_names"]).split("\n"),
            "key": entry.key,
            "converged": [bool(c) for c in np.asarray(entry["converged"])[list(indices)]],
        }
    if context().distributed:
        payload = broadcast_object(payload)
    return _Top(**payload)


def _check_top(k: int, indices: Sequence[int], what: str) -> list[int]:
    idx = [int(i) for i in indices]
    if int(k) < 1:
        raise ValueError(f"top_k (--top-k) must be at least 1, got {k!r}")
    if any(i < 0 or i >= k for i in idx) or len(set(idx)) != len(idx):
        raise ValueError(
            f"{what} must be distinct eigenvector numbers from 1 to --top-k {k}, got "
            f"{[i + 1 for i in idx]}: raise --top-k or pick lower ones")
    return idx


def eigen_basis(store: Any, subject: Subject, *, num: int = 2, top_k: int = 10,
                indices: Sequence[int] | None = None, progress: bool = False) -> SurfaceBasis:
    """The top Hessian eigenvectors at the subject's point (Yao et al. 2020), orthonormal.

    The eigenvectors are those of the cached ``hessian.topk`` entry for ``k = top_k`` (the
    same entry ``landscape hessian --top-k K`` answers from), computed when absent. Unit
    norm: coordinates are distances in weight space; default range ``[-0.5, 0.5]``.

    Args:
        store: the result store.
        subject: the point (its training data define the Hessian).
        num: 1 (a line) or 2 (a plane).
        top_k: ``k`` of the top-k entry.
        indices: which eigenvectors, 0-based (default the first ``num``).
        progress: show the eigensolver's progress.

    """
    num = _check_num(num)
    idx = _check_top(top_k, range(num) if indices is None else indices,
                     "the eigenvectors (--eigenvectors)")
    if len(idx) != num:
        raise ValueError(f"a surface of {num} direction(s) takes {num} eigenvector(s) "
                         f"(--eigenvectors), got {len(idx)}")
    top = _top_eigenvectors(store, subject, k=top_k, indices=idx, progress=progress)
    dirs = eigen_directions(top.rows, subject.point, names=top.names, indices=range(num),
                            eigenvalues=top.values)
    labels = tuple(f"Hessian eigenvector {i + 1} (eigenvalue {v:.4g}; unit norm)"
                   for i, v in zip(idx, top.values))
    definition = {"method": "eigen", "top_k": int(top_k), "indices": idx,
                  "hessian": top.key, "orthonormal": True}
    dirs = replace(dirs, axis_labels=labels, definition=definition,
                   marks={subject.label: (0.0,) * num})
    info = {"eigenvalues": top.values, "converged": top.converged,
            "overlap_before_orthogonalisation": dirs.info.get(
                "overlap_before_orthogonalisation")}
    return SurfaceBasis(dirs, definition, subject.inputs(), _unit_ranges(num, 0.5), info)


def _nice(value: float, up: bool) -> float:
    """``value`` rounded outward to two significant digits.

    A default range that does not depend on the last bits of a float64 sum, so the store key
    is stable across thread counts.

    >>> _nice(0.4437, up=True), _nice(-0.1212, up=False)
    (0.45, -0.13)
    """
    if value == 0.0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    return round((math.ceil if up else math.floor)(value / step) * step, 12)


def _around(coords: np.ndarray, margin: float = 0.25) -> tuple[float, float]:
    lo, hi = min(float(coords.min()), 0.0), max(float(coords.max()), 0.0)
    pad = margin * (hi - lo) if hi > lo else 1.0
    return _nice(lo - pad, up=False), _nice(hi + pad, up=True)


def pca_basis(subject: Subject, *, num: int = 2, epochs: Sequence[int] | None = None
              ) -> SurfaceBasis:
    """Principal directions of the run's trajectory ``w_e - w_final`` (Li et al. 2018, Sec. 7).

    The subject is the final point (its run's last checkpoint, or the one asked for); the
    trajectory is its run's checkpoints of ``epochs`` (default: every checkpointed epoch up to
    the subject's, the initialisation included), read with the subject's data kept loaded
    (:func:`landscape.experiment.subject.at_checkpoint`). The final epoch is always part of
    the trajectory. Orthonormal directions; the default ranges cover the trajectory with a
    margin of a quarter of its extent.

    Raises:
        ValueError: the subject is not a checkpoint of a run, an epoch without a checkpoint,
            or fewer than ``num + 1`` epochs.

    """
    num = _check_num(num)
    ckpt, path = subject.checkpoint, subject.path
    run = RunDir(path.parent) if path is not None else None
    if ckpt is None or run is None or not path.name.startswith("epoch_") or not run.exists():
        raise ValueError(
            f"--directions pca needs a run directory (or one of its epoch checkpoints): "
            f"{subject.label} is not part of a training run's epochs")
    final = int(ckpt.epoch)
    available = run.epochs()
    chosen = sorted({int(e) for e in epochs}) if epochs is not None else [
        e for e in available if e <= final]
    missing = [e for e in chosen if e not in available]
    if missing:
        raise ValueError(f"--at-epochs: run {run.path} has no checkpoint of epoch(s) "
                         f"{missing}; it has {available}")
    chosen = sorted({*chosen, final})
    if len(chosen) < num + 1:
        raise ValueError(
            f"--directions pca with {num} direction(s) needs the checkpoints of at least "
            f"{num + 1} epochs; run {run.path} gives {chosen}: pass more --at-epochs, train "
            "longer, or draw a line (--grid NX)")
    points, inputs = [], {"checkpoint": subject.digest}
    for e in chosen:
        s = subject if e == final else at_checkpoint(subject, run.checkpoint_path(e))
        points.append(s.point)
        inputs[f"epoch_{e}"] = s.digest
    dirs = pca_directions(points, subject.point, num=num, labels=[str(e) for e in chosen],
                          final_label=f"epoch {final} (final)")
    definition = {**dirs.definition, "epochs": chosen, "final_epoch": final,
                  "orthonormal": True}
    ranges: tuple[float, ...] = ()
    for i in range(num):
        ranges += _around(np.asarray(dirs.path)[:, i])
    info = {"explained_variance_ratio": dirs.info["explained_variance_ratio"],
            "epochs": chosen}
    return SurfaceBasis(dirs, definition, inputs, ranges, info)


def points_basis(a: Subject, b: Subject, c: Subject | None = None) -> SurfaceBasis:
    """The line through ``a`` and ``b`` (Goodfellow et al. 2015), or the plane through three.

    Natural scale: ``a`` at 0, ``b`` at 1 on the first axis; ``c`` at 1 on the second (see
    :func:`landscape.surface.points_directions`). Default range ``[-0.25, 1.25]`` per axis.
    """
    others = [b] if c is None else [b, c]
    dirs = points_directions(a.point, b.point, c.point if c is not None else None)
    names = ("A", "B", "C")
    marks = {f"{n}: {s.label}": where for n, s, where in zip(
        names, [a, *others], dirs.marks.values())}
    dirs = replace(dirs, marks=marks)
    inputs = {n: s.digest for n, s in zip(names, [a, *others])}
    return SurfaceBasis(dirs, dict(dirs.definition), inputs, (-0.25, 1.25) * dirs.ndim,
                        {"norms": dirs.info["norms"]})


def minima_basis(store: Any, sgd: Subject, grda: Subject, *, top_k: int = 10,
                 progress: bool = False) -> SurfaceBasis:
    """The plane of ``w_gRDA - w_SGD`` and the top Hessian eigenvector at ``w_SGD``.

    Chao et al. 2020: does the gRDA minimum lie along a flat or a sharp direction? The top
    eigenvector is the first of the cached top-``top_k`` entry at ``w_SGD`` (computed when
    absent). Both axes in units of ``||w_gRDA - w_SGD||``: SGD at (0, 0), gRDA at (1, 0);
    default ranges ``[-0.5, 1.5] x [-1, 1]``.
    """
    _check_top(top_k, [0], "the top eigenvector")
    top = _top_eigenvectors(store, sgd, k=top_k, indices=[0], progress=progress)
    dirs = minima_directions(sgd.point, grda.point, top.rows[0], names=top.names,
                             eigenvalue=top.values[0])
    definition = {**dirs.definition, "top_k": int(top_k), "hessian": top.key}
    info = {key: dirs.info[key] for key in ("delta_norm", "cos_eigenvector_delta",
                                            "eigenvalue")}
    info["converged"] = top.converged[0]
    marks = {f"SGD: {sgd.label}": (0.0, 0.0), f"gRDA: {grda.label}": (1.0, 0.0)}
    return SurfaceBasis(replace(dirs, marks=marks), definition,
                        {"sgd": sgd.digest, "grda": grda.digest}, (-0.5, 1.5, -1.0, 1.0), info)
