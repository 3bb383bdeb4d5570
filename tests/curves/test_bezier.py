"""Bernstein weights, chains and the Curve against the naive per-parameter formula."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.curves import Curve, bernstein, chain_weights, curve_forward
from landscape.params import IncompatibleParameters
from landscape.testing.curves import naive_bezier_point

TS = [0.0, 1e-9, 0.1, 0.25, 1 / 3, 0.5, 0.77, 0.999, 1.0]


def _params(seed: int, dtype=torch.float64) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"a.weight": torch.randn(3, 4, generator=g, dtype=dtype),
            "a.bias": torch.randn(3, generator=g, dtype=dtype),
            "b.weight": torch.randn(2, 3, generator=g, dtype=dtype)}


@pytest.mark.parametrize("degree", [1, 2, 3, 5, 8])
def test_bernstein_weights_nonnegative_and_sum_to_one(degree):
    for t in TS:
        w = bernstein(t, degree)
        assert w.shape == (degree + 1,)
        assert (w >= 0).all()
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-14)
    assert bernstein(0.0, degree).tolist() == [1.0] + [0.0] * degree
    assert bernstein(1.0, degree).tolist() == [0.0] * degree + [1.0]


@pytest.mark.parametrize("segments", [1, 2, 3])
def test_chain_weights_are_piecewise_linear(segments):
    for t in TS:
        w = chain_weights(t, segments)
        assert (w >= 0).all() and float(w.sum()) == pytest.approx(1.0, abs=1e-15)
        assert int((w != 0).sum()) <= 2
    # at the knots the chain passes through the control points
    for k in range(segments + 1):
        w = chain_weights(k / segments, segments)
        assert float(w[k]) == pytest.approx(1.0, abs=1e-15)


def test_weights_reject_bad_arguments():
    with pytest.raises(ValueError, match="degree must be an integer >= 1"):
        bernstein(0.5, 0)
    with pytest.raises(ValueError, match=r"t must be a scalar in \[0, 1\]"):
        bernstein(1.5, 2)
    with pytest.raises(ValueError, match="segments must be an integer >= 1"):
        chain_weights(0.5, 0)


def test_degree_one_is_linear_interpolation():
    a, b = _params(0), _params(1)
    line = Curve(a, b, degree=1)
    for t in TS:
        point = line.point(t)
        for name in a:
            torch.testing.assert_close(point[name], (1 - t) * a[name] + t * b[name],
                                       rtol=0, atol=1e-15)


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_curve_matches_naive_formula_and_reproduces_endpoints(degree):
    a, b = _params(0), _params(1)
    curve = Curve(a, b, degree=degree)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in curve.middle:  # move the middle points off the chord
            m.add_(torch.randn(m.shape, generator=g, dtype=m.dtype))
    points = [a, *[curve.split(m.detach()) for m in curve.middle], b]
    for t in TS:
        got, want = curve.point(t), naive_bezier_point(points, t)
        for name in a:
            torch.testing.assert_close(got[name], want[name], rtol=1e-13, atol=1e-13)
    for name in a:  # bit-identical, not merely close
        assert torch.equal(curve.point(0.0)[name], a[name])
        assert torch.equal(curve.point(1.0)[name], b[name])


def test_middle_points_start_on_the_chord_and_endpoints_are_not_trainable():
    a, b = _params(0), _params(1)
    curve = Curve(a, b, degree=3)
    trainable = [p for p in curve.parameters() if p.requires_grad]
    assert len(trainable) == 2 and all(p.numel() == curve.num_parameters for p in trainable)
    for j, m in enumerate(curve.middle, start=1):
        torch.testing.assert_close(m.detach(), torch.lerp(curve.start, curve.end, j / 3))
    # on the chord the quadratic Bezier is the line traversed at constant speed
    quad, line = Curve(a, b, degree=2), Curve(a, b, degree=1)
    torch.testing.assert_close(quad.vector(0.3), line.vector(0.3), rtol=0, atol=1e-14)


def test_gradient_reaches_only_the_middle_points():
    a, b = _params(0), _params(1)
    curve = Curve(a, b, degree=2)
    curve.vector(0.5).square().sum().backward()
    assert curve.middle[0].grad is not None and curve.start.grad is None
    # d/dtheta_1 of ||phi||^2 at t = 1/2 is 2 * phi * b_1(1/2) = phi
    torch.testing.assert_close(curve.middle[0].grad, curve.vector(0.5).detach())


@pytest.mark.parametrize(("kind", "degree"), [("bezier", 2), ("bezier", 3), ("chain", 3)])
def test_point_gradients_match_autograd_through_the_naive_formula(kind, degree):
    a, b = _params(0), _params(1)
    curve = Curve(a, b, degree=degree, kind=kind)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for m in curve.middle:
            m.add_(torch.randn(m.shape, generator=g, dtype=m.dtype))
    probe = {n: torch.randn(v.shape, generator=g, dtype=v.dtype) for n, v in a.items()}
    for t in (0.0, 0.2, 0.5, 0.9):
        point = curve.point(t)
        sum((p.sin() * probe[n]).sum() for n, p in point.items()).backward()
        got = [m.grad.clone() if m.grad is not None else None for m in curve.middle]
        curve.zero_grad(set_to_none=True)
        # the same weighted sum written out with autograd-tracked flat ops
        flat = sum(w * p for w, p in zip(curve.weights(t).tolist(), curve.control_points()))
        naive = curve.split(flat)
        sum((p.sin() * probe[n]).sum() for n, p in naive.items()).backward()
        for m, want_w, grad in zip(curve.middle, curve.weights(t).tolist()[1:-1], got):
            if want_w == 0.0:  # a term that did not contribute gets no gradient
                assert grad is None
            else:
                torch.testing.assert_close(grad, m.grad, rtol=1e-13, atol=1e-13)
        curve.zero_grad(set_to_none=True)


def test_point_holds_new_tensors_not_views_of_the_control_points():
    a, b = _params(0), _params(1)
    curve = Curve(a, b, degree=2)
    for t in (0.0, 0.5, 1.0):
        point = curve.point(t)
        with torch.no_grad():
            for p in point.values():
                p.add_(1.0)
    assert torch.equal(curve.start, Curve(a, b).start) and torch.equal(curve.end, Curve(a, b).end)
    assert all(torch.equal(curve.point(0.0)[n], a[n]) for n in a)


def test_point_follows_the_control_points_after_moves_and_replacements():
    a, b = _params(0), _params(1)
    curve = Curve(a, b, degree=2)
    curve.point(0.3)  # builds the cached per-tensor views
    with torch.no_grad():
        curve.middle[0].add_(1.0)  # in place: the cached views see it
    want = curve.split(curve.vector(0.3))
    assert all(torch.equal(v, want[n]) for n, v in curve.point(0.3).items())
    curve.middle[0].data = torch.zeros_like(curve.middle[0])  # a new storage: new views
    # b(0.3) = (0.49, 0.42, 0.09): the zeroed middle point drops out
    assert all(torch.allclose(v, 0.49 * a[n] + 0.09 * b[n], rtol=1e-14, atol=1e-14)
               for n, v in curve.point(0.3).items())
    curve.float()  # .to(): new storages of another dtype
    point = curve.point(0.3)
    assert all(v.dtype == torch.float32 for v in point.values())
    assert all(torch.allclose(v.double(), 0.49 * a[n] + 0.09 * b[n], atol=1e-6)
               for n, v in point.items())


def test_chain_curve_passes_through_its_bend():
    a, b = _params(0), _params(1)
    chain = Curve(a, b, degree=2, kind="chain")
    with torch.no_grad():
        chain.middle[0].fill_(3.0)
    assert torch.equal(chain.vector(0.5), chain.middle[0].detach())


def test_curve_rejects_mismatched_endpoints_and_bad_options():
    a, b = _params(0), _params(1)
    b["a.bias"] = torch.zeros(5, dtype=torch.float64)
    with pytest.raises(IncompatibleParameters, match=r"'a.bias' of shape \(5,\)"):
        Curve(a, b)
    with pytest.raises(ValueError, match="kind must be one of"):
        Curve(a, a, kind="spline")
    with pytest.raises(ValueError, match=r"expected 1 middle control point\(s\)"):
        Curve(a, a, middle=[torch.zeros(3)])


def test_curve_forward_evaluates_the_unmodified_network():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    other = {k: v + 1.0 for k, v in net.named_parameters()}
    curve = Curve(dict(net.named_parameters()), other, degree=2)
    x = torch.randn(5, 4, dtype=torch.float64)
    assert torch.equal(curve_forward(net, curve.point(0.0), x), net(x))
    # the module's own parameters are untouched by evaluating elsewhere on the curve
    before = [p.clone() for p in net.parameters()]
    curve_forward(net, curve.point(0.7), x)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
