"""Flatness measures that look at the loss itself: epsilon-sharpness and random directions.

The loss is ``L(w) = sum_b (n_b / N) loss_fn(f(x_b; w), y_b)`` over an evaluation set, in
eval mode, as a function of a flat parameter vector (:class:`FlatObjective`).

**Epsilon-sharpness** (Keskar et al. 2017, "On Large-Batch Training for Deep Learning:
Generalization Gap and Sharp Minima", metric 2.1 with ``A = I``): the largest loss increase in
the box ``C_eps = {z : |z_i| <= eps (|w_i| + 1)}`` around ``w``, reported as

    sharpness = 100 * (max_{z in C_eps} L(w + z) - L(w)) / (1 + L(w)).

The maximum is approached by projected (sign-)gradient ascent (as in Madry et al. 2018): from
a seeded random start ``z_0`` uniform in ``start * C_eps`` (the gradient vanishes at a
minimum, so the start breaks the symmetry), ``steps`` steps

    z <- clip(z + alpha * b * sign(grad L(w + z)), -b, b),   b_i = eps (|w_i| + 1),

with ``alpha = 2.5 / steps`` (a coordinate whose gradient keeps its sign reaches the face of
the box within the steps); the largest loss seen along the way is kept. It is a lower bound
of the maximum. For a separable quadratic whose minimum lies inside the box the ascent reaches
the maximising corner exactly (a test checks the closed form).

**Loss increase along random directions** (Li et al. 2018's filter-normalised directions, or
any directions given): for directions ``d_j`` and a distance ``alpha``,

    increase = mean_j [(L(w + alpha d_j) + L(w - alpha d_j)) / 2 - L(w)],

the mean of both signs, which cancels the first-order term ``alpha g^T d_j`` and leaves
``alpha^2 / 2 * mean_j d_j^T H d_j`` to second order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from landscape.curvature._functional import FlatLoss, batch_weights, select_names
from landscape.curvature.operator import eval_mode

__all__ = ["DirectionIncrease", "EpsilonSharpness", "FlatObjective", "direction_increase",
           "epsilon_sharpness"]


class FlatObjective:
    """The mean loss over ``data`` as a function of a flat parameter vector, in eval mode.

    Args:
        model: the network (evaluated with ``functional_call``; its tensors are not changed).
        data: re-iterable ``(x, y)`` batches (the same batches on every pass).
        params: names or module prefixes of the parameters in the vector (default: all
            trainable); the others and the buffers stay as the model holds them.
        loss_fn: ``(outputs, targets) -> mean loss over the batch``.

    >>> net = nn.Linear(1, 1, bias=False)
    >>> obj = FlatObjective(net, [(torch.ones(2, 1), torch.zeros(2, 1))],
    ...                     loss_fn=lambda out, y: 0.5 * (out ** 2).mean())
    >>> obj.loss(torch.tensor([3.0]))
    4.5
    """

    def __init__(self, model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], *,
                 params: Sequence[str] | None = None,
                 loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy) -> None:
        self.model, self.data = model, data
        self.names = select_names(model, params)
        values = dict(model.named_parameters())
        self.theta = torch.cat([values[n].detach().reshape(-1) for n in self.names])
        fixed = {n: p.detach() for n, p in values.items() if n not in self.names}
        fixed.update({n: b.detach() for n, b in model.named_buffers()})
        self._loss = FlatLoss(model, self.names, [values[n].shape for n in self.names], fixed,
                              loss_fn)
        self.sizes, self.num_samples = batch_weights(data)
        self.passes = 0

    def _terms(self, theta: Tensor, *, grad: bool) -> tuple[float, Tensor]:
        theta = theta.to(self.theta).detach().requires_grad_(grad)
        total, g = 0.0, torch.zeros_like(self.theta)
        self.passes += 1
        with eval_mode(self.model), torch.set_grad_enabled(grad):
            for i, (x, y) in enumerate(self.data):
                x, y = x.to(self.theta.device), y.to(self.theta.device)
                value = self._loss(theta, x, y, self.sizes[i] / self.num_samples)
                if grad:
                    g += torch.autograd.grad(value, theta)[0]
                total += float(value.detach().double())
        return total, g

    def loss(self, theta: Tensor) -> float:
        """``L(theta)`` (one data pass)."""
        return self._terms(theta, grad=False)[0]

    def loss_and_gradient(self, theta: Tensor) -> tuple[float, Tensor]:
        """``(L(theta), grad L(theta))`` (one data pass)."""
        return self._terms(theta, grad=True)


@dataclass(frozen=True)
class EpsilonSharpness:
    """Epsilon-sharpness of a point (Keskar et al. 2017).

    Attributes:
        sharpness: ``100 * (max_loss - loss) / (1 + loss)``.
        loss: ``L(w)``.
        max_loss: the largest ``L(w + z)`` found in the box.
        epsilon: the box's relative size.
        steps: ascent steps taken (gradient passes).
        history: the loss after each step (the start first).

    """

    sharpness: float
    loss: float
    max_loss: float
    epsilon: float
    steps: int
    history: list[float] = field(default_factory=list)


def epsilon_sharpness(objective: Callable[[Tensor], tuple[float, Tensor]], w: Tensor, *,
                      epsilon: float = 1e-3, steps: int = 10, start: float = 0.1,
                      seed: int = 0, loss: float | None = None,
                      loss_only: Callable[[Tensor], float] | None = None) -> EpsilonSharpness:
    """Keskar et al. 2017's epsilon-sharpness by projected sign-gradient ascent (docstring above).

    Args:
        objective: ``theta -> (L(theta), grad L(theta))`` (e.g.
            :meth:`FlatObjective.loss_and_gradient`).
        w: the point ``[P]``.
        epsilon: relative size of the box, ``|z_i| <= epsilon (|w_i| + 1)``.
        steps: ascent steps (each one gradient pass).
        start: the random start is uniform in ``start`` times the box (0: start at ``w``).
        seed: seed of the random start.
        loss: ``L(w)`` when already known (saves a pass).
        loss_only: ``theta -> L(theta)`` without the gradient (e.g.
            :meth:`FlatObjective.loss`), for ``L(w)`` and the last point, whose gradients
            nothing uses: ``steps`` gradient passes and two loss passes instead of
            ``steps + 2`` gradient passes.

    Returns:
        An :class:`EpsilonSharpness`.

    Raises:
        ValueError: ``epsilon <= 0``, ``steps < 1`` or ``start`` outside ``[0, 1]``.

    >>> quad = lambda t: (0.5 * float((t ** 2).sum()), t.clone())
    >>> r = epsilon_sharpness(quad, torch.zeros(3, dtype=torch.float64), epsilon=0.1)
    >>> round(r.max_loss, 12), round(r.sharpness, 10)   # the corner: 0.5 * 3 * 0.1 ** 2
    (0.015, 1.5)
    """
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a positive number (Keskar et al. 2017 use 1e-3 and "
                         f"5e-4), got {epsilon!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not 0.0 <= start <= 1.0:
        raise ValueError(f"start must be in [0, 1] (a fraction of the box), got {start!r}")
    w = w.detach()
    value_of = loss_only if loss_only is not None else (lambda t: objective(t)[0])
    if loss is None:
        loss = value_of(w)
    bound = epsilon * (w.abs() + 1)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    u = torch.rand(w.shape, generator=gen, dtype=torch.float64).to(w)
    z = start * bound * (2 * u - 1)
    alpha = 2.5 / steps
    best, history = -math.inf, []
    for _ in range(steps):
        value, g = objective(w + z)
        history.append(value)
        best = max(best, value)
        z = torch.minimum(torch.maximum(z + alpha * bound * torch.sign(g), -bound), bound)
    value = value_of(w + z)
    history.append(value)
    best = max(best, value)
    return EpsilonSharpness(sharpness=100.0 * (best - loss) / (1.0 + loss), loss=float(loss),
                            max_loss=float(best), epsilon=float(epsilon), steps=steps,
                            history=history)


@dataclass(frozen=True)
class DirectionIncrease:
    """The loss increase along directions at one distance.

    Attributes:
        increase: the mean over directions of ``(L(w + a d) + L(w - a d)) / 2 - L(w)``.
        stderr: its standard error over the directions (``inf`` for one direction).
        values: ``[n]`` the increase along each direction.
        distance: ``a``.
        loss: ``L(w)``.

    """

    increase: float
    stderr: float
    values: list[float]
    distance: float
    loss: float


def direction_increase(loss: Callable[[Tensor], float], w: Tensor,
                       directions: Sequence[Tensor], *, distance: float,
                       base: float | None = None) -> DirectionIncrease:
    """Mean loss increase along ``directions`` at ``distance``, both signs (docstring above).

    Args:
        loss: ``theta -> L(theta)`` (e.g. :meth:`FlatObjective.loss`).
        w: the point ``[P]``.
        directions: flat directions ``[P]`` at their natural scale (e.g. filter-normalised,
            Li et al. 2018: each filter as long as the weights' filter).
        distance: the coordinate ``a`` along each direction.
        base: ``L(w)`` when already known.

    Raises:
        ValueError: no direction, a direction of another size, or a negative distance.

    >>> quad = lambda t: 0.5 * float((t ** 2).sum())
    >>> r = direction_increase(quad, torch.zeros(2), [torch.tensor([1.0, 0.0])], distance=0.5)
    >>> r.increase, r.values
    (0.125, [0.125])
    """
    if not directions:
        raise ValueError("pass at least one direction")
    if not (isinstance(distance, int | float) and math.isfinite(distance) and distance >= 0):
        raise ValueError(f"distance must be a number >= 0, got {distance!r}")
    w = w.detach()
    base = loss(w) if base is None else float(base)
    values = []
    for i, d in enumerate(directions):
        d = d.reshape(-1).to(w)
        if d.numel() != w.numel():
            raise ValueError(f"direction {i} has {d.numel()} entries, the point {w.numel()}: "
                             "pass directions of the same parameters")
        values.append((loss(w + distance * d) + loss(w - distance * d)) / 2 - base)
    t = torch.tensor(values, dtype=torch.float64)
    stderr = float(t.std() / math.sqrt(len(values))) if len(values) > 1 else math.inf
    return DirectionIncrease(increase=float(t.mean()), stderr=stderr, values=values,
                             distance=float(distance), loss=base)
