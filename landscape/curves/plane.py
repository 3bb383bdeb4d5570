"""The plane through a curve's three control points, evaluated on a grid.

Garipov et al. (2018, Sec. 4; Chao et al. 2020, Fig. 5 top) draw the loss over the plane through
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
``partial`` entry, or :class:`landscape.evaluation.MemoryGrid`), so an interrupted grid
resumes where it stopped and several processes can share the points of one grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from landscape.curves.bezier import Curve
from landscape.evaluation import GridSink, LossFn, MemoryGrid, evaluate_weights

__all__ = [
    "PLANE_FIELDS",
    "GridSink",
    "MemoryGrid",
    "PlaneBasis",
    "evaluate_grid_point",
    "grid_axis",
    "plane_basis",
    "plane_grid",
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
        step = self.u * (alpha * self.dx)
        step += self.v * (beta * self.dy)
        step += self.origin  # w_0 + step in float64 (a float32 w_0 converts exactly)
        return step.to(self.origin.dtype)

    def project(self, w: Tensor) -> tuple[float, float, Tensor]:
        """``(alpha, beta, r)``: plane coordinates of ``w`` and its residual vector (float64).

        ``r = (w - w_0) - alpha dx u - beta dy v`` is orthogonal to the plane; one float64
        copy of ``w`` is the only allocation.
        """
        d = w.to(torch.float64, copy=True)
        d -= self.origin
        a, b = float(d @ self.u), float(d @ self.v)
        d.sub_(self.u, alpha=a).sub_(self.v, alpha=b)
        return a / self.dx, b / self.dy, d

    def coordinates(self, w: Tensor) -> tuple[float, float, float]:
        """``(alpha, beta, distance)`` of ``w``: plane coordinates and distance to the plane."""
        a, b, r = self.project(w)
        return a, b, float(torch.linalg.vector_norm(r))


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


def plane_grid(grid: int) -> MemoryGrid:
    """An empty in-memory ``grid x grid`` sink for :func:`run_grid` (fields: ``PLANE_FIELDS``).

    >>> plane_grid(3).done.shape
    (3, 3)
    """
    return MemoryGrid((int(grid), int(grid)), PLANE_FIELDS)


@torch.no_grad()
def plane_layout(
    curve: Curve, *, grid: int = 21, margin: float = 0.2, curve_points: int = 61
) -> dict[str, Any]:
    """Everything about the plane except the grid values (no data pass; K + 1 projections).

    Returns:
        ``alpha``, ``beta`` (grid axes), ``dx``, ``dy``, ``bends`` (``[K+1, 2]`` plane
        coordinates of the control points), ``bend_distance`` (their distance to the plane),
        ``curve`` (``[curve_points, 2]`` coordinates of ``phi(t)``) and ``curve_distance``.

    """
    basis = plane_basis(curve.start, _third_point(curve), curve.end)
    projected = [basis.project(p.detach()) for p in curve.control_points()]
    bends = np.asarray([(a, b) for a, b, _ in projected])
    residuals = [r for _, _, r in projected]
    gram = np.asarray([[float(ri @ rj) for rj in residuals] for ri in residuals])
    del projected, residuals
    ts = np.linspace(0.0, 1.0, int(curve_points))
    weights = np.asarray([curve.coefficients(float(t)) for t in ts])  # [T, K+1]
    # phi(t) = sum_j w_j(t) theta_j is linear in the control points, so are its coordinates
    # and its residual: (alpha, beta)(t) = sum_j w_j (alpha_j, beta_j), ||r(t)||^2 = w^T G w
    # with G the Gram matrix of the control points' residuals (one pass per control point).
    distance = np.sqrt(np.maximum(np.einsum("tj,jk,tk->t", weights, gram, weights), 0.0))
    return {
        "alpha": grid_axis(grid, margin),
        "beta": grid_axis(grid, margin),
        "dx": basis.dx,
        "dy": basis.dy,
        "bends": bends,
        "bend_distance": np.sqrt(np.maximum(np.diag(gram), 0.0)),
        "t": ts,
        "curve": weights @ bends,
        "curve_distance": distance,
    }


def evaluate_grid_point(
    model: nn.Module,
    basis: PlaneBasis,
    split: Callable[[Tensor], Mapping[str, Tensor]],
    alpha: float,
    beta: float,
    train: Iterable[tuple[Tensor, Tensor]],
    test: Iterable[tuple[Tensor, Tensor]],
    *,
    loss_fn: LossFn = F.cross_entropy,
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
        loss_fn: ``(logits, targets) -> mean loss over the batch``.

    Returns:
        ``train_loss``, ``train_error``, ``test_loss``, ``test_error`` (errors are fractions).

    """
    return evaluate_weights(model, split(basis.point(alpha, beta)), train, test,
                            loss_fn=loss_fn)


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
    loss_fn: LossFn = F.cross_entropy,
    progress: bool = False,
) -> int:
    """Evaluate the plane's grid points that ``sink`` does not have yet, writing each at once.

    Args:
        curve: the fitted curve (the plane goes through its endpoints and middle point).
        model: a network of the curve's architecture.
        train: training data (unaugmented, re-iterable: an ``EvalSet``, a ``DataLoader``).
        test: test data.
        sink: receives ``write((i, j), train_loss=..., ...)`` per point; ``i`` indexes
            ``alpha``, ``j`` indexes ``beta``; its ``done`` mask says what to skip.
        grid: points per axis.
        margin: the axes span ``[-margin, 1 + margin]``.
        indices: the points this process handles (default: all, row by row); distributing
            the grid over processes is passing each a disjoint share.
        loss_fn: ``(logits, targets) -> mean loss over the batch``.
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
    with tqdm(total=len(todo), desc="plane grid points", disable=not progress,
              leave=False) as bar:
        for i, j in todo:
            with torch.no_grad():
                values = evaluate_grid_point(model, basis, curve.split, float(axis[i]),
                                             float(axis[j]), train, test, loss_fn=loss_fn)
            sink.write((i, j), **values)
            bar.update(1)
    return len(todo)
