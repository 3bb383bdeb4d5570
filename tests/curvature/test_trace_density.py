import pytest
import torch
from curvature_helpers import make_batches, make_convnet

from landscape.curvature import (
    HessianOperator,
    gaussian_density,
    hutchinson,
    hutchpp,
    slq_density,
)
from landscape.testing.hessian import dense_hessian


@pytest.fixture(scope="module")
def conv_problem():
    model, batches = make_convnet(), make_batches((1, 5, 5))
    H = dense_hessian(model, batches)
    return HessianOperator(model, batches), H, torch.linalg.eigvalsh(H)


def test_hutchinson_converges_within_budget(conv_problem):
    op, H, _ = conv_problem
    exact = float(torch.trace(H))
    small, large = hutchinson(op, 100, block_size=50), hutchinson(op, 2000, block_size=200)
    assert large.num_products == 2000 and large.samples.shape == (2000,)
    assert abs(large.value - exact) <= 4 * large.stderr
    assert large.stderr <= 0.15  # budget: 2000 probes give a standard error under 0.15 here
    assert large.stderr < small.stderr / 3  # ~ 1 / sqrt(m)


def test_hutchpp_converges_and_is_exact_when_the_sketch_spans_everything(conv_problem):
    op, H, _ = conv_problem
    exact = float(torch.trace(H))
    est = hutchpp(op, 90)
    assert est.num_products == 90
    assert abs(est.value - exact) <= max(4 * est.stderr, 1e-9)
    full = hutchpp(op, 3 * op.dim)
    assert full.value == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_trace_bad_arguments():
    with pytest.raises(ValueError, match="num_probes must be at least 2, got 1"):
        hutchinson(torch.eye(3), 1)
    with pytest.raises(ValueError, match="num_products must be at least 6"):
        hutchpp(torch.eye(3), 3)


def test_slq_density_converges_to_exact_broadened_density(conv_problem):
    op, _, evals = conv_problem
    est = slq_density(op, num_probes=40, num_steps=40, sigma=0.05, grid_size=800)
    exact = gaussian_density(est.grid, evals, torch.full_like(evals, 1 / len(evals)), 0.05)
    dt = float(est.grid[1] - est.grid[0])
    # a Riemann sum over a finite grid: the Gaussian tails beyond it and the step dt
    # leave < 1e-3 of the unit mass unaccounted for
    assert float(est.density.sum() * dt) == pytest.approx(1.0, abs=1e-3)
    # budget: 40 probes x 40 steps put the L1 error of the density under 0.1 here
    assert float((est.density - exact).abs().sum() * dt) < 0.1
    assert est.num_products == 40 * 40
    torch.testing.assert_close(est.weights.sum(1), torch.ones(40, dtype=torch.float64))


def test_slq_nodes_are_eigenvalues_when_the_krylov_space_is_full(conv_problem):
    # With P steps the quadrature is exact: every weighted node is a dense eigenvalue, and the
    # weights of a probe reproduce v^T H v (no ghosts: full reorthogonalisation).
    op, _, evals = conv_problem
    est = slq_density(op, num_probes=3, num_steps=op.dim)
    heavy = est.nodes[est.weights > 1e-6]
    gap = (heavy[:, None] - evals[None, :]).abs().min(1).values
    assert float(gap.max()) < 1e-7
    # exact quadrature: P * sum_j tau_j theta_j = z^T H z for each (same seed) Rademacher z
    same_probes = hutchinson(op, 3, block_size=3)
    assert est.trace(op.dim) == pytest.approx(same_probes.value, rel=1e-9)


def test_slq_bad_arguments():
    with pytest.raises(ValueError, match="must be positive, got 0"):
        slq_density(torch.eye(3), num_probes=0)


def test_slq_probes_in_blocks_or_one_by_one_agree(conv_problem):
    op, _, _ = conv_problem
    together = slq_density(op, num_probes=4, num_steps=12, sigma=0.1, block_size=4)
    alone = slq_density(op, num_probes=4, num_steps=12, sigma=0.1, block_size=1)
    assert together.num_products == alone.num_products == 48
    # the same probes and products; only the batched reorthogonalisation rounds differently
    torch.testing.assert_close(alone.nodes, together.nodes, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(alone.density, together.density, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="must be positive"):
        slq_density(op, block_size=0)
