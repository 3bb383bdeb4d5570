"""The deferred full reorthogonalisation of the Krylov-Schur state (float64, dense matrices)."""

import pytest
import torch

from landscape.curvature._krylov import KrylovSchur
from landscape.curvature.lanczos import _Dense


def _matrix(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    evals = torch.cat([torch.linspace(10.0, 5.0, 5, dtype=torch.float64),
                       torch.rand(n - 5, generator=g, dtype=torch.float64)])
    return q @ torch.diag(evals) @ q.T


def _relation_error(a, state):
    q, r = state.basis[: state.j], state.r
    return float((a @ q.T - q.T @ state.t - r.T @ state.k.to(r)).norm())


@pytest.mark.parametrize("reorth", ["partial", "full"])
def test_the_relation_holds_exactly_pending_or_settled(reorth):
    a = _matrix()
    start = torch.randn(1, 200, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    state = KrylovSchur(_Dense(a), 40, start, torch.Generator(), reorth=reorth)
    scale = float(torch.linalg.matrix_norm(a, 2))
    for _ in range(30):
        state.expand(scale)
        # H Q^T = Q^T T + r^T k up to rounding, whether or not rows await orthogonalisation
        assert _relation_error(a, state) <= 1e-12 * scale
    if reorth == "partial":  # the deferral happened: rows were settled every few steps
        assert state.pending or state.settles > 0
        assert state.settles < 30 / 3
    state.settle()
    assert not state.pending and _relation_error(a, state) <= 1e-12 * scale
    q = torch.cat([state.basis[: state.j], state.r])
    torch.testing.assert_close(q @ q.T, torch.eye(31, dtype=torch.float64), rtol=0, atol=1e-13)
    torch.testing.assert_close(state.t, state.t.T, rtol=0, atol=0)  # exact: symmetrised
    # T is the projection of H on the orthonormal basis
    basis = state.basis[: state.j]
    torch.testing.assert_close(state.t, basis @ a @ basis.T, rtol=0, atol=1e-12 * scale)


def test_a_restart_or_ritz_vectors_need_a_settled_basis():
    a = _matrix()
    start = torch.randn(1, 200, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    state = KrylovSchur(_Dense(a), 40, start, torch.Generator())
    for _ in range(3):
        state.expand(10.0)
    assert state.pending
    theta, s, _ = state.ritz("LA")
    with pytest.raises(RuntimeError, match="settle the basis before a restart"):
        state.restart(s, theta, 2)
    with pytest.raises(RuntimeError, match="settle the basis before taking Ritz vectors"):
        state.vectors(s[:, :2])
