"""The result of every direction method: the vectors, the origin and their definition.

A surface is the loss over ``w(c) = origin + sum_i c_i d_i`` for coordinates ``c`` on a grid
(one direction: a line, two: a plane; Li et al. 2018, Sec. 4). Each method of
:mod:`landscape.surface` returns a :class:`SurfaceDirections` that says what the directions
are (``definition``, JSON-able, so a cached layer can put it into a store key), how to label
the axes, and where the points worth marking (minima, checkpoints, a trajectory) sit in the
surface's coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landscape._types import ParamDict
from landscape.surface._vectors import check_like, dot, subtract

__all__ = ["SurfaceDirections"]


@dataclass(frozen=True)
class SurfaceDirections:
    """One or two directions around an origin, with what a figure and a cache need to know.

    Attributes:
        vectors: the directions ``d_1`` (and ``d_2``), float64 ``name -> tensor`` dicts shaped
            like ``origin``.
        origin: the point the surface is drawn around (``c = 0``); the caller's tensors.
        definition: JSON-able description (``method`` plus the method's settings, e.g.
            ``seed`` and ``norm``); two calls with equal definitions and equal inputs give
            equal directions.
        axis_labels: what each coordinate is, for figure axes.
        marks: named points at their coordinates (e.g. ``{"SGD": (0.0, 0.0)}``).
        path: ``[E, ndim]`` coordinates of a trajectory (trajectory PCA), or ``None``.
        path_labels: one label per row of ``path``.
        info: JSON-able extra outputs (explained variance, eigenvalues, norms ...).

    >>> o = {"w": torch.zeros(2)}
    >>> dirs = SurfaceDirections((({"w": torch.tensor([1.0, 0.0], dtype=torch.float64)}),), o,
    ...                          {"method": "example"}, ("x",))
    >>> dirs.point([2.0])["w"].tolist(), dirs.coordinates({"w": torch.tensor([3.0, 4.0])})
    ([2.0, 0.0], ((3.0,), 4.0))

    """

    vectors: tuple[ParamDict, ...]
    origin: Mapping[str, Tensor]
    definition: dict[str, Any]
    axis_labels: tuple[str, ...]
    marks: dict[str, tuple[float, ...]] = field(default_factory=dict)
    path: np.ndarray | None = None
    path_labels: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.vectors) not in (1, 2):
            raise ValueError(
                f"a surface has one direction (a line) or two (a plane), got {len(self.vectors)}"
            )
        if len(self.axis_labels) != len(self.vectors):
            raise ValueError(
                f"expected one axis label per direction ({len(self.vectors)}), got "
                f"{len(self.axis_labels)}"
            )
        for i, d in enumerate(self.vectors):
            check_like(self.origin, d, "the origin", f"direction {i + 1}")

    @property
    def ndim(self) -> int:
        """Number of directions (1: a line, 2: a plane)."""
        return len(self.vectors)

    @torch.no_grad()
    def point(self, coords: Sequence[float], names: Iterable[str] | None = None) -> ParamDict:
        """``origin + sum_i c_i d_i``, summed in float64, in the origin's dtype and device.

        Args:
            coords: one coordinate per direction.
            names: build only these parameters (default: all).

        """
        if len(coords) != self.ndim:
            raise ValueError(f"expected {self.ndim} coordinate(s), got {len(coords)}")
        out: ParamDict = {}
        for name in self.origin if names is None else names:
            w = self.origin[name]
            acc = w.detach().to(torch.float64, copy=True)
            for c, d in zip(coords, self.vectors):
                acc.add_(d[name], alpha=float(c))
            out[name] = acc.to(w.dtype)
        return out

    @torch.no_grad()
    def coordinates(self, w: Mapping[str, Tensor]) -> tuple[tuple[float, ...], float]:
        """Least-squares coordinates of ``w`` in the span and its distance to it.

        Solves ``G c = b`` with the Gram matrix ``G_ij = <d_i, d_j>`` and ``b_i = <w - origin,
        d_i>``, in float64; exact for points of the plane (up to rounding).

        Returns:
            ``(coordinates, distance)``: ``distance = ||w - origin - sum_i c_i d_i||``.

        """
        check_like(self.origin, w, "the origin", "the point")
        delta = subtract(w, self.origin)
        gram = np.array([[dot(a, b) for b in self.vectors] for a in self.vectors])
        rhs = np.array([dot(delta, d) for d in self.vectors])
        coords = np.linalg.solve(gram, rhs)
        residual = sum(float(torch.linalg.vector_norm(
            delta[k] - sum(float(c) * d[k] for c, d in zip(coords, self.vectors))) ** 2)
            for k in delta)
        return tuple(float(c) for c in coords), float(np.sqrt(residual))

    def layout(self) -> dict[str, Any]:
        """What a figure needs besides the grid values (labels, marks, path), JSON-able."""
        out: dict[str, Any] = {
            "method": self.definition.get("method"),
            "axis_labels": list(self.axis_labels),
            "marks": {k: list(v) for k, v in self.marks.items()},
        }
        if self.path is not None:
            out["path"] = np.asarray(self.path).tolist()
            out["path_labels"] = list(self.path_labels)
        return out
