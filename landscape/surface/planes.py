"""Lines and planes through given points: checkpoints, and the SGD / gRDA minima plane.

``points``: the line through ``A`` and ``B`` (Goodfellow et al. 2015: from initialisation to
a minimum, or from one minimum to another) or the plane through ``A``, ``B``, ``C``:

    d_1 = B - A,   d_2 = (C - A) - (<C - A, d_1> / ||d_1||^2) d_1   (Gram-Schmidt),

kept at their natural scale (not normalised), so ``A = (0, 0)``, ``B = (1, 0)`` and ``C =
(<C - A, d_1> / ||d_1||^2, 1)``: the segment ``A -> B`` is ``x in [0, 1]``.

``minima``: the plane through ``w_SGD`` spanned by ``delta = w_gRDA - w_SGD`` and the top
Hessian eigenvector ``v`` at ``w_SGD``, to see whether the gRDA minimum lies along a flat or a
sharp direction (Chao et al. 2020, Sec. 4.3):

    d_1 = delta,   d_2 = ||delta|| r / ||r||,   r = v - (<v, delta> / ||delta||^2) delta,

so both coordinates are in units of ``||delta||`` (the plane is drawn to scale), ``w_SGD =
(0, 0)`` and ``w_gRDA = (1, 0)``; ``info["cos_eigenvector_delta"]`` is the cosine between
``v`` and ``delta`` (the share of the sharpest direction that ``delta`` already holds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from landscape.surface._vectors import as_direction, check_like, combine, dot, norm, scale, subtract
from landscape.surface.directions import SurfaceDirections

__all__ = ["minima_directions", "points_directions"]

_FLAT = 1e-12  # a residual this small relative to the norms means "on the line": no plane


def points_directions(
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    c: Mapping[str, Tensor] | None = None,
    *,
    labels: Sequence[str] = ("A", "B", "C"),
) -> SurfaceDirections:
    """The line through ``a`` and ``b``, or the plane through ``a``, ``b``, ``c`` (module doc).

    Args:
        a: the origin (``x = 0``).
        b: the end of the first direction (``x = 1``).
        c: the third point (a plane), or ``None`` (a line).
        labels: names of the points, for the marks and axis labels.

    Returns:
        :class:`SurfaceDirections` with float64 directions at their natural scale, ``d_2``
        orthogonal to ``d_1``; ``marks`` holds the coordinates of the points;
        ``info["norms"]`` the norms of the directions.

    Raises:
        ValueError: mismatching parameters, ``a == b``, or ``c`` on the line through them.

    >>> import torch
    >>> a, b = {"w": torch.zeros(2)}, {"w": torch.tensor([2.0, 0.0])}
    >>> dirs = points_directions(a, b, {"w": torch.tensor([1.0, 3.0])})
    >>> dirs.marks["C"], dirs.vectors[1]["w"].tolist()
    ((0.5, 1.0), [0.0, 3.0])
    """
    names = list(labels) + ["A", "B", "C"][len(labels):]
    check_like(a, b, names[0], names[1])
    d1 = subtract(b, a)
    n1 = norm(d1)
    if n1 == 0.0:
        raise ValueError(f"{names[0]} and {names[1]} are the same point: no line through them")
    vectors = [d1]
    marks: dict[str, tuple[float, ...]] = {names[0]: (0.0,), names[1]: (1.0,)}
    axis = [f"{names[1]} − {names[0]} (0 at {names[0]}, 1 at {names[1]}; "
            f"‖{names[1]} − {names[0]}‖ = {n1:.4g})"]
    info: dict[str, Any] = {"norms": [n1]}
    if c is not None:
        check_like(a, c, names[0], names[2])
        rel = subtract(c, a)
        along = dot(rel, d1) / n1**2
        d2 = combine([(1.0, rel), (-along, d1)])
        n2 = norm(d2)
        if n2 <= _FLAT * max(n1, norm(rel)):
            raise ValueError(f"{names[2]} lies on the line through {names[0]} and {names[1]} "
                             f"(distance {n2:.3g}): no plane through the three points")
        vectors.append(d2)
        marks = {names[0]: (0.0, 0.0), names[1]: (1.0, 0.0), names[2]: (along, 1.0)}
        axis.append(f"{names[2]} − {names[0]}, orthogonal to {names[1]} − {names[0]} "
                    f"(1 at {names[2]}; norm {n2:.4g})")
        info["norms"].append(n2)
    definition: dict[str, Any] = {"method": "points", "num": len(vectors),
                                  "labels": names[: len(vectors) + 1]}
    return SurfaceDirections(tuple(vectors), a, definition, tuple(axis), marks=marks, info=info)


def minima_directions(
    w_sgd: Mapping[str, Tensor],
    w_grda: Mapping[str, Tensor],
    top_eigenvector: Any,
    *,
    names: Sequence[str] | None = None,
    eigenvalue: float | None = None,
    labels: Sequence[str] = ("SGD", "gRDA"),
) -> SurfaceDirections:
    """The plane of ``w_gRDA - w_SGD`` and the top Hessian eigenvector at ``w_SGD`` (module doc).

    Args:
        w_sgd: the SGD minimum (the origin).
        w_grda: the gRDA minimum.
        top_eigenvector: the top eigenvector of the Hessian at ``w_sgd``, a ``name -> tensor``
            dict or a flat vector over ``names`` (any norm, any sign).
        names: the parameters a flat eigenvector covers (default: all).
        eigenvalue: its eigenvalue, for the axis label and ``info`` (optional).
        labels: names of the two minima.

    Returns:
        :class:`SurfaceDirections`: both directions of norm ``||delta||``, orthogonal;
        ``marks`` = ``{SGD: (0, 0), gRDA: (1, 0)}`` (coordinates in units of ``||delta||``);
        ``info`` holds ``delta_norm``, ``cos_eigenvector_delta`` and ``eigenvalue``.

    Raises:
        ValueError: mismatching parameters, equal minima, or an eigenvector parallel to
            ``delta`` (no plane).

    >>> import torch
    >>> sgd, grda = {"w": torch.zeros(2)}, {"w": torch.tensor([0.0, 2.0])}
    >>> dirs = minima_directions(sgd, grda, torch.tensor([1.0, 1.0]))
    >>> dirs.vectors[1]["w"].round(decimals=12).tolist(), dirs.marks["gRDA"]
    ([2.0, 0.0], (1.0, 0.0))
    """
    s_name, g_name = list(labels)[:2]
    check_like(w_sgd, w_grda, s_name, g_name)
    delta = subtract(w_grda, w_sgd)
    dn = norm(delta)
    if dn == 0.0:
        raise ValueError(f"the {s_name} and {g_name} minima are the same point: no plane")
    v = as_direction(top_eigenvector, w_sgd, names, what="the top eigenvector")
    vn = norm(v)
    if vn == 0.0:
        raise ValueError("the top eigenvector is zero")
    cos = dot(v, delta) / (vn * dn)
    r = combine([(1.0 / vn, v), (-cos / dn, delta)])
    rn = norm(r)
    if rn <= 1e-8:
        raise ValueError(f"the top eigenvector is parallel to {g_name} − {s_name} (cosine "
                         f"{cos:.12g}): the plane is not defined; use the line "
                         f"(points_directions) instead")
    d2 = scale(r, dn / rn)
    lam = f", eigenvalue {eigenvalue:.4g}" if eigenvalue is not None else ""
    axis = (f"w_{g_name} − w_{s_name} (units of ‖δ‖ = {dn:.4g})",
            f"top Hessian eigenvector at w_{s_name}{lam}, ⊥ δ (units of ‖δ‖)")
    definition: dict[str, Any] = {"method": "minima", "labels": [s_name, g_name],
                                  "units": "delta", "names": list(names) if names else None}
    info = {"delta_norm": dn, "cos_eigenvector_delta": cos,
            "eigenvalue": float(eigenvalue) if eigenvalue is not None else None}
    return SurfaceDirections((delta, d2), w_sgd, definition, axis,
                             marks={s_name: (0.0, 0.0), g_name: (1.0, 0.0)}, info=info)
