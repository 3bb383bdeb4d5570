import pytest
import torch
from curvature_helpers import make_batches, make_convnet

from landscape.curvature import HessianOperator, block_lanczos, lanczos
from landscape.testing.hessian import dense_hessian


@pytest.fixture(scope="module")
def conv_problem():
    model, batches = make_convnet(), make_batches((1, 5, 5))
    return HessianOperator(model, batches), dense_hessian(model, batches)


def _expected(evals, which, k):
    if which == "LA":
        return evals.flip(0)[:k]
    if which == "SA":
        return evals[:k]
    return evals[evals.abs().argsort(descending=True)][:k]


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_topk_matches_dense_eigh(conv_problem, which):
    op, H = conv_problem
    evals = torch.linalg.eigvalsh(H)
    k = 6
    res = lanczos(op, k, which=which, tol=1e-9, max_basis=20)
    torch.testing.assert_close(res.eigenvalues, _expected(evals, which, k), rtol=1e-6, atol=1e-10)
    # eigenvectors by residual against the dense Hessian, and orthonormal
    resid = (H @ res.eigenvectors - res.eigenvectors * res.eigenvalues).norm(dim=0)
    assert (resid <= 1e-8 * res.eigenvalues.abs()).all()
    eye = torch.eye(k, dtype=torch.float64)
    torch.testing.assert_close(res.eigenvectors.T @ res.eigenvectors, eye, rtol=0, atol=1e-10)
    assert res.all_converged and res.residuals.shape == (k,)


def test_restarts_bound_memory_and_count_products(conv_problem):
    op, H = conv_problem
    before = op.num_products
    res = lanczos(op, 4, max_basis=8, tol=1e-10)  # tiny basis: many thick restarts
    assert res.num_restarts > 0 and res.all_converged
    assert res.num_products == op.num_products - before
    torch.testing.assert_close(
        res.eigenvalues, torch.linalg.eigvalsh(H).flip(0)[:4], rtol=1e-6, atol=1e-10
    )


def test_no_ghost_eigenvalues_with_long_runs():
    # A matrix with a dominant, well separated top eigenvalue is where Lanczos without
    # reorthogonalisation returns copies of it; with full reorthogonalisation the top-k are
    # the distinct dense eigenvalues.
    g = torch.Generator().manual_seed(3)
    n = 120
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    evals = torch.cat([torch.tensor([1e4, 50.0, 40.0]), torch.rand(n - 3, generator=g)]).double()
    a = q @ torch.diag(evals) @ q.T
    res = lanczos(a, 8, max_basis=100, tol=1e-10)
    torch.testing.assert_close(
        res.eigenvalues, evals.sort(descending=True).values[:8], rtol=1e-6, atol=1e-9
    )
    assert (res.eigenvalues[:3].diff().abs() > 1).all()  # no duplicated top value


def test_block_and_single_vector_solvers_agree(conv_problem):
    op, _ = conv_problem
    single = lanczos(op, 5, tol=1e-9)
    block = block_lanczos(op, 5, block_size=3, tol=1e-9)
    torch.testing.assert_close(block.eigenvalues, single.eigenvalues, rtol=1e-8, atol=1e-12)
    overlap = (block.eigenvectors.T @ single.eigenvectors).abs().diagonal()
    torch.testing.assert_close(overlap, torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-6)
    assert block.all_converged


def test_scipy_eigsh_agrees(conv_problem):
    from scipy.sparse.linalg import eigsh

    op, _ = conv_problem
    vals = eigsh(op.to_scipy(), k=4, which="LA", tol=1e-12)[0]
    ours = lanczos(op, 4, tol=1e-10).eigenvalues
    torch.testing.assert_close(ours, torch.from_numpy(vals).flip(0), rtol=1e-8, atol=1e-12)


def test_budget_exhausted_reports_unconverged():
    a = torch.diag(torch.linspace(1, 2, 200, dtype=torch.float64))  # clustered: slow
    res = lanczos(a, 3, max_basis=10, max_products=20, tol=1e-12)
    assert not res.all_converged and res.num_products <= 20 + 3 + 10


def test_bad_arguments():
    a = torch.eye(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="which must be one of"):
        lanczos(a, 2, which="BE")
    with pytest.raises(ValueError, match=r"k \(the number of eigenpairs\) must be between 1 and "
                       r"P - 1 = 4 .* got 5") as err:
        lanczos(a, 5)
    assert "block_size" not in str(err.value)  # the caller never set it
    with pytest.raises(ValueError, match=r"between 1 and P - block_size = 3 \(block_size 2\)"):
        lanczos(a, 4, block_size=2)
    with pytest.raises(ValueError, match="max_basis must be at least k \\+ block_size = 3"):
        lanczos(a, 2, max_basis=2)
    with pytest.raises(ValueError, match="tol must be positive"):
        lanczos(a, 2, tol=0)
    with pytest.raises(TypeError, match="expected a CurvatureOperator or a square"):
        lanczos(torch.zeros(3, 4), 1)
