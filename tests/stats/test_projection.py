import pytest
import torch

from landscape.stats.projection import project, random_direction_shares


def _orthonormal(p, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(p, k, generator=g, dtype=torch.float64))
    return q


def test_an_eigenvector_has_share_one_and_an_orthogonal_vector_zero():
    v = _orthonormal(50, 5)
    p = project(v, 3.0 * v[:, 2])
    assert p.share == pytest.approx(1.0, abs=1e-12) and p.ratio == pytest.approx(1.0)
    assert p.per_vector[2] == pytest.approx(1.0) and sum(p.per_vector) == pytest.approx(1.0)
    w = torch.randn(50, dtype=torch.float64)
    orth = w - v @ (v.T @ w)
    assert project(v, orth).share == pytest.approx(0.0, abs=1e-20)


def test_layout_k_by_p_is_accepted():
    v = _orthonormal(20, 3)
    d = torch.randn(20, dtype=torch.float64)
    assert project(v.T, d).share == pytest.approx(project(v, d).share, rel=1e-12)


def test_random_directions_share_k_over_p():
    p, k = 2000, 10
    v = _orthonormal(p, k)
    shares = random_direction_shares(v, num=400, generator=torch.Generator().manual_seed(1))
    # E[share] = k/P exactly; the mean of 400 draws has relative s.e. ~ sqrt(2/k)/20 = 2.2%
    assert float(shares.mean()) == pytest.approx(k / p, rel=0.1)


def test_errors():
    v = _orthonormal(10, 2)
    with pytest.raises(ValueError, match="P = 11"):
        project(v, torch.ones(11))
    with pytest.raises(ValueError, match="zero vector"):
        project(v, torch.zeros(10))
