"""Epsilon-sharpness and loss increase along directions against closed forms (float64)."""

from __future__ import annotations

import pytest
import torch
from curvature_helpers import make_batches, make_mlp
from torch import nn

from landscape.curvature import (
    FlatObjective,
    HessianOperator,
    direction_increase,
    epsilon_sharpness,
)


class Vector(nn.Module):
    """``f(x; w) = w`` for every sample: the loss is a function of ``w`` only."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w.expand(x.shape[0], -1)


A = torch.tensor([3.0, 0.5, 2.0, 1.0, 0.25], dtype=torch.float64)
C = torch.tensor([0.1, -0.2, 0.0, 0.3, 0.05], dtype=torch.float64)


def quadratic(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum_i a_i (w_i - c_i)^2`` for every sample (the batch mean)."""
    return (0.5 * (A * (out - C) ** 2).sum(1)).mean()


def _objective(w: torch.Tensor) -> FlatObjective:
    data = [(torch.zeros(3, 1, dtype=torch.float64), torch.zeros(3)),
            (torch.zeros(2, 1, dtype=torch.float64), torch.zeros(2))]
    return FlatObjective(Vector(w), data, loss_fn=quadratic)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_epsilon_sharpness_of_a_quadratic_equals_its_closed_form(seed):
    # w - c: two coordinates away from the minimum (by more than the random start can undo),
    # one at it, so the maximum of the box is the corner sign(w - c) for the first and
    # either corner for the other: max L = 0.5 sum_i a_i (|w_i - c_i| + b_i)^2
    w = C + torch.tensor([4e-3, -3e-3, 0.0, 5e-3, -2e-3], dtype=torch.float64)
    eps = 2e-3
    obj = _objective(w)
    res = epsilon_sharpness(obj.loss_and_gradient, obj.theta, epsilon=eps, steps=8, seed=seed)
    b = eps * (w.abs() + 1)
    loss = float(0.5 * (A * (w - C) ** 2).sum())
    best = float(0.5 * (A * ((w - C).abs() + b) ** 2).sum())
    assert res.loss == pytest.approx(loss, rel=1e-14)
    # the ascent lands on the corner exactly: only rounding of the sums remains
    assert res.max_loss == pytest.approx(best, rel=1e-13)
    assert res.sharpness == pytest.approx(100 * (best - loss) / (1 + loss), rel=1e-12)
    assert (res.steps, res.epsilon, len(res.history)) == (8, eps, 9)
    assert obj.passes == 1 + 9  # L(w), then the start and one gradient per step


def test_epsilon_sharpness_refuses_bad_settings():
    quad = lambda t: (0.0, t)  # noqa: E731
    with pytest.raises(ValueError, match="epsilon must be a positive number"):
        epsilon_sharpness(quad, torch.zeros(2), epsilon=0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        epsilon_sharpness(quad, torch.zeros(2), steps=0)


def test_direction_increase_of_a_quadratic_is_half_the_curvature_along_it():
    w = C + 0.1
    obj = _objective(w)
    g = torch.Generator().manual_seed(0)
    dirs = [torch.randn(5, generator=g, dtype=torch.float64) for _ in range(4)]
    res = direction_increase(obj.loss, obj.theta, dirs, distance=0.3)
    # both signs cancel the linear term exactly: a^2 / 2 * d^T A d
    want = [0.09 / 2 * float((A * d**2).sum()) for d in dirs]
    assert res.values == pytest.approx(want, rel=1e-12)
    assert res.increase == pytest.approx(sum(want) / 4, rel=1e-12)
    assert res.loss == pytest.approx(float(0.5 * (A * 0.01).sum()), rel=1e-14)
    with pytest.raises(ValueError, match="direction 0 has 4 entries"):
        direction_increase(obj.loss, obj.theta, [torch.ones(4)], distance=0.1)


def test_flat_objective_matches_the_hessian_operators_loss_and_gradient():
    model = make_mlp()
    data = make_batches((4,))  # two batches of unequal size
    obj = FlatObjective(model, data)
    op = HessianOperator(model, data, rewrite=False)
    loss, grad = op.loss_and_gradient()
    got_loss, got_grad = obj.loss_and_gradient(obj.theta)
    # the same batch terms summed in the same order, in float64
    assert got_loss == pytest.approx(loss, rel=1e-13)
    torch.testing.assert_close(got_grad, grad, rtol=1e-12, atol=1e-14)
    assert obj.loss(obj.theta) == pytest.approx(loss, rel=1e-13)


def test_a_loss_only_callable_saves_the_gradients_nothing_uses():
    calls = {"grad": 0, "loss": 0}

    def with_grad(t):
        calls["grad"] += 1
        return 0.5 * float((t ** 2).sum()), t.clone()

    def loss_only(t):
        calls["loss"] += 1
        return 0.5 * float((t ** 2).sum())

    w = torch.linspace(-1, 1, 5, dtype=torch.float64)
    plain = epsilon_sharpness(with_grad, w, epsilon=0.1, steps=4, seed=2)
    assert calls == {"grad": 6, "loss": 0}  # L(w), the start, 4 steps (the last one unused)
    calls.update(grad=0)
    lean = epsilon_sharpness(with_grad, w, epsilon=0.1, steps=4, seed=2, loss_only=loss_only)
    assert calls == {"grad": 4, "loss": 2}
    # exact: the same expression evaluated at the same points in the same order
    assert lean.history == plain.history and lean.sharpness == plain.sharpness
