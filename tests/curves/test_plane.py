"""The plane through the control points: basis, coordinates, a resumable grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.checkpoint import load_checkpoint
from landscape.curves import (
    PLANE_FIELDS,
    Curve,
    grid_axis,
    plane_basis,
    plane_grid,
    plane_layout,
    run_grid,
)
from landscape.evaluation import evaluate_weights


def _random_curve(degree=2, p=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = {"w": torch.randn(p, generator=g, dtype=torch.float64)}
    b = {"w": torch.randn(p, generator=g, dtype=torch.float64)}
    curve = Curve(a, b, degree=degree)
    with torch.no_grad():
        for m in curve.middle:
            m.add_(torch.randn(p, generator=g, dtype=torch.float64))
    return curve


def test_basis_is_orthonormal_and_bends_land_at_expected_coordinates():
    curve = _random_curve()
    w0, th, w1 = curve.start, curve.middle[0].detach(), curve.end
    basis = plane_basis(w0, th, w1)
    gram = torch.stack([basis.u, basis.v]) @ torch.stack([basis.u, basis.v]).T
    torch.testing.assert_close(gram, torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-14)
    assert basis.dx == pytest.approx(float(torch.linalg.vector_norm(w1 - w0)))
    layout = plane_layout(curve, grid=5, curve_points=11)
    a1 = float((th - w0) @ basis.u) / basis.dx
    np.testing.assert_allclose(layout["bends"], [[0, 0], [a1, 1], [1, 0]], atol=1e-12)
    np.testing.assert_allclose(layout["bend_distance"], 0, atol=1e-12)
    # a quadratic Bezier lies in the plane: phi(t) - w0 = 2t(1-t)(theta - w0) + t^2 (w1 - w0)
    t = layout["t"]
    np.testing.assert_allclose(layout["curve"][:, 1], 2 * t * (1 - t), atol=1e-12)
    np.testing.assert_allclose(layout["curve"][:, 0], 2 * t * (1 - t) * a1 + t**2, atol=1e-12)
    np.testing.assert_allclose(layout["curve_distance"], 0, atol=1e-12)
    # grid points map back to their coordinates
    alpha, beta, dist = basis.coordinates(basis.point(-0.2, 1.2))
    assert (alpha, beta) == pytest.approx((-0.2, 1.2), abs=1e-12) and dist < 1e-12


def test_plane_needs_a_bend_off_the_chord():
    curve = Curve({"w": torch.zeros(3)}, {"w": torch.ones(3)}, degree=2)
    with pytest.raises(ValueError, match="lies on the chord"):
        plane_layout(curve)
    with pytest.raises(ValueError, match="endpoints are identical"):
        plane_basis(torch.zeros(3), torch.ones(3), torch.zeros(3))
    with pytest.raises(ValueError, match="grid must be an integer >= 2"):
        grid_axis(1)


def test_grid_is_resumable_and_equals_direct_evaluation(bn_endpoints, tiny_sets):
    train, test = tiny_sets
    a, b = (load_checkpoint(p) for p in bn_endpoints)
    curve = Curve(a.parameters(), b.parameters(), degree=2)
    with torch.no_grad():
        curve.middle[0].add_(0.1)
    model = a.build_model().double()
    full = plane_grid(3)
    assert run_grid(curve, model, train, test, full, grid=3, margin=0.5) == 9
    assert full.complete
    # interrupted after three points, then resumed: only the rest is computed, same values
    part = plane_grid(3)
    assert run_grid(curve, model, train, test, part, grid=3, margin=0.5,
                    indices=[(0, 0), (2, 1), (1, 2)]) == 3
    assert int(part.done.sum()) == 3
    assert run_grid(curve, model, train, test, part, grid=3, margin=0.5) == 6
    assert run_grid(curve, model, train, test, part, grid=3, margin=0.5) == 0
    for field in PLANE_FIELDS:
        np.testing.assert_array_equal(part[field], full[field])
    # grid point (i=1, j=0) is alpha = 0.5, beta = -0.5
    basis = plane_basis(curve.start, curve.middle[0].detach(), curve.end)
    want = evaluate_weights(model, curve.split(basis.point(0.5, -0.5)), train, test)
    assert full["train_loss"][1, 0] == pytest.approx(want["train_loss"], rel=1e-12)
    assert full["test_error"][1, 0] == pytest.approx(want["test_error"])
    with pytest.raises(ValueError, match="expected \\(4, 4\\)"):
        run_grid(curve, model, train, test, plane_grid(3), grid=4)
