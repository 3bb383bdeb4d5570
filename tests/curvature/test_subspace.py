"""Shares, principal angles and overlaps of subspaces against closed forms (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from curvature_helpers import make_batches, make_mlp

from landscape.curvature import (
    HessianOperator,
    lanczos,
    principal_angles,
    subspace_overlap,
    subspace_share,
)


def _orthonormal(p: int, k: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(p, k, generator=g, dtype=torch.float64))[0]


def test_the_share_of_an_exact_eigenvector_gradient_is_one():
    model = make_mlp()
    op = HessianOperator(model, make_batches((4,)), rewrite=False)
    h = op.to_dense()
    _, vectors = torch.linalg.eigh(h)
    top = vectors[:, -3:]  # exact eigenvectors of the dense Hessian
    share = subspace_share(top, -2.5 * top[:, 1])
    assert share.share == pytest.approx(1.0, abs=1e-14)
    assert share.per_vector == pytest.approx([0.0, 1.0, 0.0], abs=1e-14)
    assert share.norm == pytest.approx(2.5, rel=1e-14)
    # the Lanczos eigenvectors (rows or columns) hold the same subspace to their tolerance
    res = lanczos(op, 3, tol=1e-12)
    for basis in (res.eigenvectors, res.eigenvectors.T):
        assert subspace_share(basis, top[:, 0]).share == pytest.approx(1.0, abs=1e-12)


def test_the_share_of_random_vectors_is_about_k_over_p():
    p, k, n = 2000, 10, 400
    basis = _orthonormal(p, k, 0)
    g = torch.Generator().manual_seed(1)
    shares = torch.tensor([subspace_share(basis, torch.randn(p, generator=g,
                                                             dtype=torch.float64)).share
                           for _ in range(n)])
    # a share is Beta(k/2, (P-k)/2): mean k/P, sd sqrt(2 k (P-k) / P^2 / (P + 2)) ~ 2.2e-3;
    # the mean of 400 has sd ~1.1e-4: allow 5 of them
    assert subspace_share(basis, torch.ones(p)).random_expected == k / p
    assert float(shares.mean()) == pytest.approx(k / p, abs=5.5e-4)


def test_principal_angles_of_a_rotated_copy_are_the_rotation_angles():
    p = 40
    angles = torch.tensor([1e-9, 1e-4, 0.3, 0.7, 1.2, math.pi / 2], dtype=torch.float64)
    k = angles.numel()
    q = _orthonormal(p, 2 * k, 2)
    e, f = q[:, :k], q[:, k:]
    rotated = e * torch.cos(angles) + f * torch.sin(angles)  # column i turned by angle i
    mix = _orthonormal(k, k, 3)  # another basis of the same subspace
    got = principal_angles(e @ mix, rotated)
    # sines and cosines of orthonormal columns carry rounding of ~1e-16; the small angles
    # come from the sines, so they keep an absolute accuracy of that order
    torch.testing.assert_close(got, angles, rtol=0, atol=1e-13)
    assert got[0] == pytest.approx(1e-9, rel=1e-5)  # arccos(cos) rounds to 0 here
    overlap = subspace_overlap(e, rotated)
    assert overlap == pytest.approx(float((torch.cos(angles) ** 2).mean()), rel=1e-13)
    assert subspace_overlap(rotated, rotated @ mix) == pytest.approx(1.0, abs=1e-14)


def test_overlap_of_random_subspaces_is_about_k_over_p():
    p, k = 1000, 8
    values = [subspace_overlap(_orthonormal(p, k, s), _orthonormal(p, k, 100 + s))
              for s in range(60)]
    # ||Q_a^T Q_b||_F^2 / k: k^2 squared entries of mean 1/P and variance ~2/P^2, over k:
    # mean k/P = 8e-3, sd ~sqrt(2)/P = 1.4e-3 per draw, ~1.8e-4 for the mean of 60
    assert sum(values) / len(values) == pytest.approx(k / p, abs=1e-3)


def test_bad_bases_are_refused():
    with pytest.raises(ValueError, match="linearly dependent"):
        subspace_overlap(torch.ones(5, 2), torch.eye(5)[:, :2])
    with pytest.raises(ValueError, match="dimension 6"):
        subspace_share(torch.eye(5)[:, :2], torch.ones(6))
    with pytest.raises(ValueError, match="vector is zero"):
        subspace_share(torch.eye(5)[:, :2], torch.zeros(5))
