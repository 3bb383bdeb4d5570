"""Bezier curves (any degree) and polygonal chains between two minima.

A curve is a function ``t -> phi(t)`` from ``[0, 1]`` to parameter dicts, built as a weighted
sum of control points ``theta_0 .. theta_K`` held as flat vectors:

    Bezier (Garipov et al. 2018, eq. 4; Chao et al. 2020, Sec. 4.2):
        phi(t) = sum_j C(K, j) t^j (1 - t)^(K - j) theta_j
    polygonal chain with K segments (Garipov et al. 2018, eq. 3 for K = 2):
        phi(t) = (1 - s) theta_k + s theta_{k+1},  k = min(floor(K t), K - 1),  s = K t - k

The endpoints ``theta_0`` and ``theta_K`` are buffers (never seen by an optimizer, so they
stay bit-identical), the middle points are trainable parameters initialised on the chord,
``theta_j = (1 - j/K) theta_0 + (j/K) theta_K``. ``phi(t)`` is evaluated through the unmodified
network with ``torch.func.functional_call``
(:func:`landscape.evaluation.forward_at`): no layer is rewritten.

:meth:`Curve.point` builds ``phi(t)`` directly per parameter tensor with fused multi-tensor
lerps (two passes over the P parameters for a quadratic curve, on cached per-tensor views)
and hands ``w_j dL/dphi`` to each flat middle point from one autograd node
(:mod:`landscape.curves._combine`): no flat ``phi(t)``, no split/gather nodes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from landscape._types import ParamDict
from landscape.curves._combine import PieceCache, combine
from landscape.params import check_comparable, params_to_vector

__all__ = ["CURVE_KINDS", "Curve", "bernstein", "chain_weights"]

CURVE_KINDS = ("bezier", "chain")


def _as_t(t: float | Tensor) -> float:
    if isinstance(t, Tensor):
        if t.dim() != 0:
            raise ValueError(f"t must be a scalar in [0, 1], got {t.tolist()}")
        t = t.item()
    value = float(t)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"t must be a scalar in [0, 1], got {t}")
    return value


def _bernstein(t: float, degree: int) -> list[float]:
    return [math.comb(degree, j) * t**j * (1 - t) ** (degree - j) for j in range(degree + 1)]


def _chain(t: float, segments: int) -> list[float]:
    s = t * segments
    k = min(math.floor(s), segments - 1)
    local = s - k
    w = [0.0] * (segments + 1)
    w[k], w[k + 1] = 1 - local, local
    return w


def bernstein(t: float | Tensor, degree: int) -> Tensor:
    """Bernstein basis ``b_j(t) = C(K, j) t^j (1 - t)^(K - j)``, ``j = 0..K``, in float64.

    Non-negative on ``[0, 1]`` and summing to 1; exactly ``e_0`` at ``t = 0`` and ``e_K`` at
    ``t = 1`` (so the endpoints of a Bezier curve are reproduced bit for bit).

    Args:
        t: curve parameter in ``[0, 1]``.
        degree: K >= 1.

    Returns:
        A float64 tensor of ``K + 1`` weights.

    Raises:
        ValueError: ``degree < 1`` or ``t`` outside ``[0, 1]``.

    >>> bernstein(0.5, 2).tolist()
    [0.25, 0.5, 0.25]
    >>> bernstein(0.0, 3).tolist()
    [1.0, 0.0, 0.0, 0.0]
    """
    if int(degree) != degree or degree < 1:
        raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
    return torch.tensor(_bernstein(_as_t(t), int(degree)), dtype=torch.float64)


def chain_weights(t: float | Tensor, segments: int) -> Tensor:
    """Weights of a polygonal chain through ``segments + 1`` points, in float64.

    ``t`` in ``[k/K, (k+1)/K]`` interpolates linearly between points ``k`` and ``k+1``.

    Args:
        t: curve parameter in ``[0, 1]``.
        segments: K >= 1 (``1`` is the straight line, ``2`` Garipov's one-bend chain).

    Returns:
        A float64 tensor of ``K + 1`` weights (at most two non-zero).

    Raises:
        ValueError: ``segments < 1`` or ``t`` outside ``[0, 1]``.

    >>> chain_weights(0.25, 2).tolist()
    [0.5, 0.5, 0.0]
    >>> chain_weights(1.0, 2).tolist()
    [0.0, 0.0, 1.0]
    """
    if int(segments) != segments or segments < 1:
        raise ValueError(f"segments must be an integer >= 1, got {segments!r}")
    return torch.tensor(_chain(_as_t(t), int(segments)), dtype=torch.float64)


class Curve(nn.Module):
    """A curve ``phi: [0, 1] -> parameters`` between two parameter dicts.

    Args:
        start: parameters of the first minimum (``theta_0``), ``name -> tensor``.
        end: parameters of the second minimum (``theta_K``); same names and shapes.
        degree: K (2: quadratic Bezier, or a chain with one bend).
        kind: ``"bezier"`` or ``"chain"`` (polygonal chain).
        middle: initial middle control points (``K - 1`` flat vectors); default: on the chord.

    Raises:
        ValueError: bad degree or kind, or middle points of the wrong number or size.
        landscape.params.IncompatibleParameters: ``start`` and ``end`` differ in names or
            shapes (a ``ValueError``).

    >>> a, b = {"w": torch.zeros(2, dtype=torch.float64)}, {"w": torch.ones(2, dtype=torch.float64)}
    >>> curve = Curve(a, b, degree=2)
    >>> curve.point(0.5)["w"].tolist()    # the chord's midpoint: middle point on the chord
    [0.5, 0.5]
    >>> with torch.no_grad():
    ...     _ = curve.middle[0].fill_(1.0)
    >>> curve.point(0.5)["w"].tolist()    # 0.25 * 0 + 0.5 * 1 + 0.25 * 1
    [0.75, 0.75]

    """

    def __init__(
        self,
        start: Mapping[str, Tensor],
        end: Mapping[str, Tensor],
        *,
        degree: int = 2,
        kind: str = "bezier",
        middle: Sequence[Tensor] | None = None,
    ) -> None:
        super().__init__()
        if kind not in CURVE_KINDS:
            raise ValueError(f"kind must be one of {CURVE_KINDS}, got {kind!r}")
        if int(degree) != degree or degree < 1:
            raise ValueError(f"degree must be an integer >= 1, got {degree!r}")
        check_comparable(dict(start), dict(end), names=("start", "end"))
        self.kind = kind
        self.degree = int(degree)
        self.names = list(start)
        self.shapes = [tuple(start[n].shape) for n in self.names]
        self.numels = [start[n].numel() for n in self.names]
        self._cache = PieceCache(self.numels, self.shapes)  # per-tensor views of the points
        a = params_to_vector({n: start[n].detach() for n in self.names}).clone()
        b = params_to_vector({n: end[n].detach() for n in self.names}).to(a).clone()
        self.register_buffer("start", a)
        self.register_buffer("end", b)
        if middle is None:
            middle = [torch.lerp(a, b, j / self.degree) for j in range(1, self.degree)]
        middle = list(middle)
        if len(middle) != self.degree - 1 or any(m.shape != a.shape for m in middle):
            raise ValueError(
                f"expected {self.degree - 1} middle control point(s) of shape {tuple(a.shape)}, "
                f"got {[tuple(m.shape) for m in middle]}"
            )
        self.middle = nn.ParameterList(
            [nn.Parameter(m.detach().to(a).clone()) for m in middle]
        )

    @property
    def num_parameters(self) -> int:
        """P, the number of network parameters (length of each control point)."""
        return int(self.start.numel())

    def control_points(self) -> list[Tensor]:
        """``[theta_0, theta_1, ..., theta_K]`` as flat vectors (middle ones trainable)."""
        return [self.start, *self.middle, self.end]

    def coefficients(self, t: float | Tensor) -> list[float]:
        """The ``K + 1`` weights of the control points at ``t``, as Python floats."""
        t = _as_t(t)
        return _bernstein(t, self.degree) if self.kind == "bezier" else _chain(t, self.degree)

    def weights(self, t: float | Tensor) -> Tensor:
        """The ``K + 1`` weights of the control points at ``t`` (float64)."""
        return torch.tensor(self.coefficients(t), dtype=torch.float64)

    def vector(self, t: float | Tensor) -> Tensor:
        """``phi(t)`` as one flat vector (differentiable w.r.t. the middle points)."""
        p = self.num_parameters
        return combine(self.coefficients(t), self.control_points(), [p], [(p,)])[0]

    def split(self, vector: Tensor) -> ParamDict:
        """Split a flat vector into ``name -> tensor`` views shaped like the parameters."""
        return {
            n: p.view(shape)
            for n, p, shape in zip(self.names, vector.split(self.numels), self.shapes)
        }

    def point(self, t: float | Tensor) -> ParamDict:
        """``phi(t)`` as a parameter dict, built per tensor (differentiable w.r.t. the middle).

        Zero-weight terms are skipped, so ``point(0)`` and ``point(1)`` are exact copies of
        the endpoints.
        """
        tensors = combine(self.coefficients(t), self.control_points(), self.numels, self.shapes,
                          cache=self._cache)
        return dict(zip(self.names, tensors))

    def line(self) -> Curve:
        """The straight line (degree 1) between the same endpoints."""
        return Curve(self.split(self.start), self.split(self.end), degree=1)

    def extra_repr(self) -> str:
        """Kind, degree and size, for ``repr``."""
        return f"kind={self.kind}, degree={self.degree}, parameters={self.num_parameters:,}"
