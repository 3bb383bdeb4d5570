import json

import numpy as np
import pytest
import torch

from landscape.surface import (
    SurfaceDirections,
    eigen_directions,
    minima_directions,
    pca_directions,
    points_directions,
)

SHAPES = {"a.weight": (4, 3), "a.bias": (4,), "b.weight": (2, 4)}


def point(seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: scale * torch.randn(s, generator=g, dtype=torch.float64) for k, s in SHAPES.items()}


def flat(d):
    return torch.cat([t.reshape(-1) for t in d.values()])


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angles between the column spans of ``a`` and ``b`` (float64)."""
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    s = torch.linalg.svdvals(qa.T @ qb).clamp(max=1.0)
    return torch.arccos(s)


def test_eigen_rows_or_columns_subset_unit_and_orthogonal():
    params = point(0)
    g = torch.Generator().manual_seed(1)
    size = 4 * 3 + 4  # the eigenvectors cover a.weight and a.bias only
    vecs = torch.linalg.qr(torch.randn(size, 3, generator=g, dtype=torch.float64))[0]
    rows = eigen_directions(vecs.T * 2.0, params, names=["a.weight", "a.bias"],
                            eigenvalues=[3.0, 2.0, 1.0])
    cols = eigen_directions(vecs.numpy() * 2.0, params, names=["a.weight", "a.bias"])
    for r, c in zip(rows.vectors, cols.vectors):
        assert torch.equal(flat(r), flat(c))  # exact: the same arithmetic on the same numbers
        assert r["b.weight"].abs().sum() == 0
    d1, d2 = (flat(v) for v in rows.vectors)
    assert float(d1 @ d1) == pytest.approx(1.0, abs=1e-14)
    assert float(d2 @ d2) == pytest.approx(1.0, abs=1e-14)
    assert abs(float(d1 @ d2)) < 1e-15
    torch.testing.assert_close(d1[:size], vecs[:, 0], rtol=0, atol=1e-15)
    assert rows.axis_labels[1] == "Hessian eigenvector 2 (eigenvalue 2)"
    json.dumps(rows.definition)


def test_eigen_bad_input():
    params = point(0)
    with pytest.raises(ValueError, match=r"\[k, P\] or \[P, k\] array with P = 24"):
        eigen_directions(torch.zeros(2, 5), params)
    with pytest.raises(ValueError, match="indices must be one or two distinct"):
        eigen_directions(torch.ones(2, 24), params, indices=(0, 2))
    with pytest.raises(ValueError, match="which the model does not have"):
        eigen_directions(torch.ones(2, 4), params, names=["nope"])


def test_pca_recovers_the_plane_of_a_trajectory_with_explained_variance_one():
    final = point(0)
    u, v = point(1), point(2)
    g = torch.Generator().manual_seed(3)
    coeffs = torch.randn(9, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 0.5])
    traj = [{k: final[k] + float(a) * u[k] + float(b) * v[k] for k in final} for a, b in coeffs]
    traj.append(final)
    dirs = pca_directions(traj, final, labels=[f"epoch {e}" for e in range(10)])
    basis = torch.stack([flat(u), flat(v)], 1)
    found = torch.stack([flat(d) for d in dirs.vectors], 1)
    assert principal_angles(basis, found).max() < 1e-8
    ratio = dirs.info["explained_variance_ratio"]
    assert sum(ratio) == pytest.approx(1.0, abs=1e-12)
    assert ratio[0] > ratio[1] > 0
    # orthonormal, and the path coordinates rebuild every point of the trajectory
    torch.testing.assert_close(found.T @ found, torch.eye(2, dtype=torch.float64), rtol=0,
                               atol=1e-13)
    for w, c in zip(traj, dirs.path):
        rebuilt = flat(final) + found @ torch.as_tensor(c)
        torch.testing.assert_close(rebuilt, flat(w), rtol=0, atol=1e-12)
    # the sign convention: the first point has non-negative coordinates (eigenvector signs
    # are arbitrary: several trajectories, so that an unfixed sign shows)
    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        other = [{k: torch.randn(final[k].shape, generator=g, dtype=torch.float64) for k in final}
                 for _ in range(4)]
        assert pca_directions(other, final).path[0].min() >= 0
    assert np.allclose(dirs.path[-1], 0.0)
    assert dirs.axis_labels[0].startswith("PC 1 (") and "% of variance)" in dirs.axis_labels[0]
    assert dirs.path_labels[0] == "epoch 0"


def test_pca_bad_input():
    final = point(0)
    line = [{k: final[k] + t * point(1)[k] for k in final} for t in (1.0, 2.0, 3.0)]
    with pytest.raises(ValueError, match="spans fewer than 2 dimension"):
        pca_directions(line, final)
    with pytest.raises(ValueError, match="at least 3 points"):
        pca_directions(line[:2], final)


def test_points_line_and_plane_put_the_points_at_their_coordinates():
    a, b, c = point(0), point(1), point(2)
    plane = points_directions(a, b, c, labels=("init", "SGD", "gRDA"))
    assert plane.marks["init"] == (0.0, 0.0) and plane.marks["SGD"] == (1.0, 0.0)
    for name in ("init", "SGD", "gRDA"):
        coords, distance = plane.coordinates({"init": a, "SGD": b, "gRDA": c}[name])
        np.testing.assert_allclose(coords, plane.marks[name], rtol=0, atol=1e-12)
        assert distance < 1e-12
    assert plane.marks["gRDA"][1] == 1.0
    d1, d2 = (flat(v) for v in plane.vectors)
    assert abs(float(d1 @ d2)) < 1e-12 * float(d1.norm() * d2.norm())
    torch.testing.assert_close(flat(plane.point([1.0, 0.0])), flat(b), rtol=0, atol=1e-14)
    line = points_directions(a, b)
    assert line.ndim == 1 and line.marks == {"A": (0.0,), "B": (1.0,)}
    with pytest.raises(ValueError, match="A and B are the same point"):
        points_directions(a, a)
    with pytest.raises(ValueError, match="C lies on the line through A and B"):
        points_directions(a, b, {k: 2 * b[k] - a[k] for k in a})
    with pytest.raises(ValueError, match="parameter 'b.weight' of shape"):
        points_directions(a, {**b, "b.weight": torch.zeros(3)})


def test_minima_plane_puts_sgd_at_the_origin_and_grda_at_one():
    sgd, grda = point(0), point(1, 0.1)
    v = point(2)
    dirs = minima_directions(sgd, grda, flat(v), eigenvalue=12.5)
    assert dirs.marks == {"SGD": (0.0, 0.0), "gRDA": (1.0, 0.0)}
    coords, distance = dirs.coordinates(grda)
    np.testing.assert_allclose(coords, (1.0, 0.0), rtol=0, atol=1e-12)
    assert distance < 1e-12
    assert dirs.coordinates(sgd)[0] == (0.0, 0.0)
    d1, d2 = (flat(d) for d in dirs.vectors)
    delta = flat(grda) - flat(sgd)
    assert torch.equal(d1, delta)  # exact: the same subtraction in float64
    assert float(d2.norm()) == pytest.approx(float(delta.norm()), rel=1e-14)
    assert abs(float(d1 @ d2)) < 1e-13 * float(delta.norm()) ** 2
    # d2 lies in the span of the eigenvector and delta
    span = torch.stack([flat(v), delta], 1)
    assert principal_angles(span, torch.stack([d1, d2], 1)).max() < 1e-8
    cos = float(flat(v) @ delta / (flat(v).norm() * delta.norm()))
    assert dirs.info["cos_eigenvector_delta"] == pytest.approx(cos, rel=1e-12)
    assert "units of ‖δ‖" in dirs.axis_labels[0] and "eigenvalue 12.5" in dirs.axis_labels[1]
    with pytest.raises(ValueError, match="parallel to gRDA − SGD"):
        minima_directions(sgd, grda, {k: grda[k] - sgd[k] for k in sgd})


def test_surface_directions_checks_its_parts():
    a = point(0)
    with pytest.raises(ValueError, match="one direction .a line. or two"):
        SurfaceDirections((a, a, a), a, {}, ("x", "y", "z"))
    with pytest.raises(ValueError, match="one axis label per direction"):
        SurfaceDirections((a,), a, {}, ("x", "y"))
