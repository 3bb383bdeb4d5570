"""Hessian-eigenvector directions (Yao et al. 2020, PyHessian, Sec. 3.3).

The surface around ``w`` along the top Hessian eigenvectors ``v_1, v_2`` at ``w`` shows the
sharpest curvature directions: ``L(w + a v_1 + b v_2)``. The eigenvectors come from elsewhere
(e.g. a cached top-k Lanczos result, rows ``[k, P]`` in parameter order, possibly over a
subset of the parameters); here they are only checked, made unit norm and, for a plane,
``v_2`` is Gram-Schmidt orthogonalised against ``v_1`` in float64 (a no-op for converged
eigenvectors up to rounding), so the directions are **orthonormal** and the coordinates are
distances in weight space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landscape.surface._vectors import as_direction, combine, dot, norm, scale
from landscape.surface.directions import SurfaceDirections

__all__ = ["eigen_directions"]


def _rows(eigenvectors: Any, size: int) -> Tensor:
    """The eigenvectors as rows ``[k, P]`` of a ``[k, P]`` or ``[P, k]`` array."""
    m = eigenvectors if isinstance(eigenvectors, Tensor) else torch.as_tensor(
        np.asarray(eigenvectors))
    m = m.detach()
    if m.dim() == 1:
        m = m.unsqueeze(0)
    if m.dim() != 2 or size not in m.shape:
        raise ValueError(
            f"eigenvectors must be a [k, P] or [P, k] array with P = {size} (the size of the "
            f"parameters they cover), got shape {tuple(m.shape)}"
        )
    if m.shape[0] == m.shape[1]:
        raise ValueError(
            f"eigenvectors of shape {tuple(m.shape)} are ambiguous ([k, P] or [P, k]): pass "
            "them as rows [k, P]"
        )
    return m if m.shape[1] == size else m.T


def eigen_directions(
    eigenvectors: Any,
    params: Mapping[str, Tensor],
    *,
    names: Sequence[str] | None = None,
    indices: Sequence[int] = (0, 1),
    eigenvalues: Sequence[float] | None = None,
) -> SurfaceDirections:
    """The Hessian eigenvectors ``indices`` (default the top two) as orthonormal directions.

    Args:
        eigenvectors: ``[k, P]`` (rows) or ``[P, k]`` (columns), ordered by eigenvalue (e.g.
            the cached top-k result's ``eigenvectors``); numpy or torch.
        params: the point where the Hessian was taken (the origin; names and shapes).
        names: the parameters the eigenvectors cover, in their order (default: all of
            ``params``); the other parameters get zero entries.
        indices: which eigenvectors, 0-based: ``(0,)`` for a line, ``(0, 1)`` for a plane.
        eigenvalues: the matching eigenvalues, for the axis labels and ``info`` (optional).

    Returns:
        :class:`SurfaceDirections` with unit-norm, mutually orthogonal float64 directions.

    Raises:
        ValueError: a bad shape, an index out of range, a zero vector, or two directions that
            are parallel.

    >>> w = {"a": torch.zeros(2), "b": torch.zeros(1)}
    >>> dirs = eigen_directions([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]], w, eigenvalues=[5.0, 2.0])
    >>> [d["a"].tolist() for d in dirs.vectors], dirs.axis_labels[0]
    ([[0.0, 1.0], [1.0, 0.0]], 'Hessian eigenvector 1 (eigenvalue 5)')
    """
    chosen = list(params) if names is None else list(names)
    unknown = [n for n in chosen if n not in params]
    if unknown:
        raise ValueError(f"the eigenvectors cover parameter {unknown[0]!r}, which the model "
                         f"does not have (it has {list(params)[:5]} ...)")
    size = sum(params[n].numel() for n in chosen)
    rows = _rows(eigenvectors, size)
    idx = [int(i) for i in indices]
    if len(idx) not in (1, 2) or any(not 0 <= i < rows.shape[0] for i in idx) or (
            len(set(idx)) != len(idx)):
        raise ValueError(
            f"indices must be one or two distinct eigenvector numbers in [0, {rows.shape[0]}) "
            f"(0 = the top one), got {list(indices)}"
        )
    if eigenvalues is not None and len(eigenvalues) < max(idx) + 1:
        raise ValueError(f"got {len(eigenvalues)} eigenvalue(s) for eigenvector {max(idx)}")
    vectors = []
    overlap = 0.0
    for i in idx:
        v = as_direction(rows[i], params, names, what=f"eigenvector {i}")
        for u in vectors:  # Gram-Schmidt against the unit vectors before it
            overlap = dot(v, u) / max(norm(v), 1e-300)
            v = combine([(1.0, v), (-dot(v, u), u)])
        n = norm(v)
        if not n > 0:
            raise ValueError(f"eigenvector {i} is zero (or parallel to the one before it)")
        vectors.append(scale(v, 1.0 / n))
    values = [float(eigenvalues[i]) for i in idx] if eigenvalues is not None else None
    labels = tuple(
        f"Hessian eigenvector {i + 1}" + (f" (eigenvalue {values[j]:.4g})" if values else "")
        for j, i in enumerate(idx))
    definition: dict[str, Any] = {"method": "eigen", "indices": idx,
                                  "names": chosen if names is not None else None}
    info: dict[str, Any] = {"eigenvalues": values, "overlap_before_orthogonalisation": overlap}
    return SurfaceDirections(tuple(vectors), params, definition, labels, info=info)
