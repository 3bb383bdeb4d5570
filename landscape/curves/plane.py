"""The plane through a curve's three control points, evaluated on a grid (DESIGN 4.5).

Garipov et al. (2018, Sec. 4; seed 004 Fig. 5 top) draw the loss over the plane through
``w_0``, ``theta_1`` and ``w_1``:

    u = (w_1 - w_0) / ||w_1 - w_0||,
    v = r / ||r||  with  r = (theta_1 - w_0) - <theta_1 - w_0, u> u,
    (alpha, beta) -> w_0 + alpha * dx * u + beta * dy * v,
    dx = ||w_1 - w_0||,   dy = <theta_1 - w_0, v>

so ``w_0``, ``w_1`` and ``theta_1`` sit at ``(0, 0)``, ``(1, 0)`` and ``(<theta_1 - w_0, u>/dx,
1)``; ``alpha, beta`` run over ``[-margin, 1 + margin]`` (21 x 21 points, margin 0.2 by default).
For a curve of degree K != 2 the third point is ``phi(1/2)``. Every grid point gets exact
BatchNorm statistics (one pass over the training data) and is then evaluated once on the
training and test sets: nothing else is computed per point.

The grid is processed point by point (:func:`evaluate_grid_point`) over any subset of indices
(:func:`run_grid`), writing each result to a sink as soon as it exists (a result-store
``partial`` entry, or :class:`MemoryGrid`), so an interrupted grid resumes where it stopped and
several processes can share the points of one grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from landscape.curves.bezier import Curve
from landscape.curves.evaluate import evaluate_weights

__all__ = [
    "PLANE_FIELDS",
    "GridSink",
    "MemoryGrid",
    "PlaneBasis",
    "evaluate_grid_point",
    "grid_axis",
    "plane_basis",
    "plane_layout",
    "run_grid",
]

PLANE_FIELDS = ("train_loss", "train_error", "test_loss", "test_error")


@dataclass
class PlaneBasis:
    """An orthonormal basis of the plane through three weight vectors.

    Attributes:
        origin: ``w_0`` (flat).
        u: unit vector along the chord (float64).
        v: unit vector orthogonal to ``u`` towards the third point (float64).
        dx: ``||w_1 - w_0||``.
        dy: the ``v``-coordinate of the third point.

    >>> mid = torch.tensor([1.0, 2.0, 0.0])
    >>> basis = plane_basis(torch.zeros(3), mid, torch.tensor([4.0, 0.0, 0.0]))
    >>> basis.dx, basis.dy, basis.coordinates(mid)
    (4.0, 2.0, (0.25, 1.0, 0.0))

    """

    origin: Tensor
    u: Tensor
    v: Tensor
    dx: float
    dy: float

    def point(self, alpha: float, beta: float) -> Tensor:
        """The weights ``w_0 + alpha dx u + beta dy v`` (dtype and device of ``origin``)."""
        step = self.u * (alpha * self.dx) + self.v * (beta * self.dy)
        return (self.origin.double() + step).to(self.origin.dtype)

    def coordinates(self, w: Tensor) -> tuple[float, float, float]:
        """``(alpha, beta, distance)`` of ``w``: plane coordinates and distance to the plane."""
        d = w.double() - self.origin.double()
        a, b = float(d @ self.u), float(d @ self.v)
        residual = float(torch.linalg.vector_norm(d - a * self.u - b * self.v))
        return a / self.dx, b / self.dy, residual


def plane_basis(w0: Tensor, mid: Tensor, w1: Tensor) -> PlaneBasis:
    """Build the :class:`PlaneBasis` through flat vectors ``w0``, ``mid`` and ``w1``.

    Raises:
        ValueError: the endpoints coincide, or ``mid`` lies on the line through them (the
            plane is not defined: fit the curve first).

    """
    a, m, b = w0.double(), mid.double(), w1.double()
    chord = b - a
    dx = float(torch.linalg.vector_norm(chord))
    if dx == 0.0:
        raise ValueError("the two endpoints are identical: there is no plane through them")
    u = chord / dx
    r = m - a
    r = r - (r @ u) * u
    dy = float(torch.linalg.vector_norm(r))
    if dy <= 1e-12 * max(dx, 1.0):
        raise ValueError(
            f"the middle point lies on the chord (distance {dy:.3g} from it): the plane is not "
            "defined; fit the curve (`landscape curve fit`) before drawing its plane"
        )
    return PlaneBasis(origin=w0.detach(), u=u, v=r / dy, dx=dx, dy=dy)


def _third_point(curve: Curve) -> Tensor:
    with torch.no_grad():
        return curve.middle[0].detach() if curve.degree == 2 else curve.vector(0.5).detach()


def grid_axis(grid: int = 21, margin: float = 0.2) -> np.ndarray:
    """``grid`` equally spaced values over ``[-margin, 1 + margin]``.

    >>> grid_axis(3, 0.5).tolist()
    [-0.5, 0.5, 1.5]
    """
    if int(grid) != grid or grid < 2:
        raise ValueError(f"grid must be an integer >= 2 (21 by default), got {grid!r}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 (0.2 by default), got {margin!r}")
    return np.linspace(-margin, 1.0 + margin, int(grid))


@torch.no_grad()
def plane_layout(
    curve: Curve, *, grid: int = 21, margin: float = 0.2, curve_points: int = 61
) -> dict[str, Any]:
    """Everything about the plane except the grid values (cheap: no data pass).

    Returns:
        ``alpha``, ``beta`` (grid axes), ``dx``, ``dy``, ``bends`` (``[K+1, 2]`` plane
        coordinates of the control points), ``bend_distance`` (their distance to the plane),
        ``curve`` (``[curve_points, 2]`` coordinates of ``phi(t)``) and ``curve_distance``.

    """
    basis = plane_basis(curve.start, _third_point(curve), curve.end)
    bends = [basis.coordinates(p.detach()) for p in curve.control_points()]
    ts = np.linspace(0.0, 1.0, int(curve_points))
    along = [basis.coordinates(curve.vector(float(t))) for t in ts]
    return {
        "alpha": grid_axis(grid, margin),
        "beta": grid_axis(grid, margin),
        "dx": basis.dx,
        "dy": basis.dy,
        "bends": np.asarray([b[:2] for b in bends]),
        "bend_distance": np.asarray([b[2] for b in bends]),
        "t": ts,
        "curve": np.asarray([c[:2] for c in along]),
        "curve_distance": np.asarray([c[2] for c in along]),
    }


def evaluate_grid_point(
    model: nn.Module,
    basis: PlaneBasis,
    split: Callable[[Tensor], Mapping[str, Tensor]],
    alpha: float,
    beta: float,
    train: Iterable[tuple[Tensor, Tensor]],
    test: Iterable[tuple[Tensor, Tensor]],
) -> dict[str, float]:
    """Evaluate one grid point: one BatchNorm pass, then one pass over train and test.

    Args:
        model: the network.
        basis: the plane.
        split: flat vector -> parameter dict (e.g. ``curve.split``).
        alpha: first plane coordinate (units of ``dx``).
        beta: second plane coordinate (units of ``dy``).
        train: training data (BatchNorm pass and train metrics).
        test: test data.

    Returns:
        ``train_loss``, ``train_error``, ``test_loss``, ``test_error``.

    """
    return evaluate_weights(model, split(basis.point(alpha, beta)), train, test)


class GridSink(Protocol):
    """Where grid values go: a store ``partial`` entry or a :class:`MemoryGrid`."""

    @property
    def done(self) -> np.ndarray:
        """Boolean mask of the points already written."""
        ...

    def write(self, index: tuple[int, ...], **values: float) -> None:
        """Record the values of one point (durably, for a store)."""
        ...


class MemoryGrid:
    """An in-memory :class:`GridSink` with the store's ``partial`` interface.

    >>> g = MemoryGrid((2, 2), ("train_loss",))
    >>> g.write((0, 1), train_loss=0.5)
    >>> g.done.tolist(), float(g["train_loss"][0, 1]), g.complete
    ([[False, True], [False, False]], 0.5, False)
    """

    def __init__(self, shape: tuple[int, ...], fields: Iterable[str] = PLANE_FIELDS) -> None:
        self._done = np.zeros(shape, dtype=bool)
        self._values = {f: np.full(shape, np.nan) for f in fields}

    @property
    def done(self) -> np.ndarray:
        """Boolean mask of the points written so far (a copy)."""
        return self._done.copy()

    @property
    def complete(self) -> bool:
        """Whether every point has been written."""
        return bool(self._done.all())

    def write(self, index: tuple[int, ...], **values: float) -> None:
        """Record one point's values."""
        for key, value in values.items():
            self._values[key][index] = value
        self._done[index] = True

    def __getitem__(self, field: str) -> np.ndarray:
        return self._values[field]


def run_grid(
    curve: Curve,
    model: nn.Module,
    train: Iterable[tuple[Tensor, Tensor]],
    test: Iterable[tuple[Tensor, Tensor]],
    sink: GridSink,
    *,
    grid: int = 21,
    margin: float = 0.2,
    indices: Iterable[tuple[int, int]] | None = None,
    progress: bool = False,
) -> int:
    """Evaluate the plane's grid points that ``sink`` does not have yet, writing each at once.

    Args:
        curve: the fitted curve (the plane goes through its endpoints and middle point).
        model: a network of the curve's architecture.
        train: training data (unaugmented EvalSet).
        test: test data.
        sink: receives ``write((i, j), train_loss=..., ...)`` per point; ``i`` indexes
            ``alpha``, ``j`` indexes ``beta``; its ``done`` mask says what to skip.
        grid: points per axis.
        margin: the axes span ``[-margin, 1 + margin]``.
        indices: the points this process handles (default: all, row by row); distributing
            the grid over processes is passing each a disjoint share.
        progress: show a progress bar on stderr.

    Returns:
        The number of points evaluated by this call.

    """
    axis = grid_axis(grid, margin)
    basis = plane_basis(curve.start, _third_point(curve), curve.end)
    todo = list(indices) if indices is not None else [(i, j) for i in range(grid)
                                                      for j in range(grid)]
    done = np.asarray(sink.done)
    if done.shape != (len(axis), len(axis)):
        raise ValueError(f"the sink holds a grid of shape {done.shape}, expected {(grid, grid)}")
    todo = [(int(i), int(j)) for i, j in todo if not done[i, j]]
    with tqdm(total=len(todo), desc="plane grid", disable=not progress, leave=False) as bar:
        for i, j in todo:
            with torch.no_grad():
                values = evaluate_grid_point(model, basis, curve.split, float(axis[i]),
                                             float(axis[j]), train, test)
            sink.write((i, j), **values)
            bar.update(1)
    return len(todo)
