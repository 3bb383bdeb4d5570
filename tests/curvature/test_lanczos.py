import pytest
import torch
from curvature_helpers import make_batches, make_convnet

from landscape.curvature import CurvatureOperator, HessianOperator, block_lanczos, lanczos
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


# ----------------------------------------------------------------- tolerance, verification
def _spectrum_matrix(n=200, top=(10.0, 9.0, 8.0, 7.0, 6.0), seed=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    evals = torch.cat([torch.tensor(top, dtype=torch.float64),
                       torch.rand(n - len(top), generator=g, dtype=torch.float64)])
    return (q @ torch.diag(evals) @ q.T).to(dtype), evals.sort(descending=True).values


def _counting_operator(a):
    """A dense matrix as an operator that records the size of every block product."""

    class Counting(CurvatureOperator):
        def __init__(self):
            super().__init__([a.shape[:1]], device=a.device, dtype=a.dtype)
            self.calls = []

        def _matmat(self, m):
            self.calls.append(m.shape[1])
            return a @ m

    return Counting()


def test_default_tolerance_converges_in_float32():
    # float32 products carry relative errors near 1e-6 here, so a fixed 1e-6 default cannot
    # be met; the default sqrt(eps) of the dtype can, for every wanted pair.
    a, evals = _spectrum_matrix(400, dtype=torch.float32)
    res = lanczos(a, 5)
    assert res.tol == pytest.approx(torch.finfo(torch.float32).eps ** 0.5)
    assert res.all_converged
    # Kato-Temple: |lambda - theta| <= ||r||^2 / gap <= (tol theta)^2 / gap = eps32 theta^2 / gap
    # (tol = sqrt(eps32)); theta <= 10, gap >= 1: <= 1.2e-6 relative, plus the float32
    # rounding of a and theta (~1e-7): rtol 1e-5
    torch.testing.assert_close(res.eigenvalues.double(), evals[:5], rtol=1e-5, atol=0)
    assert lanczos(a.double(), 5).tol == pytest.approx(torch.finfo(torch.float64).eps ** 0.5)


def test_tolerance_below_the_rounding_floor_still_terminates():
    a, _ = _spectrum_matrix(400, dtype=torch.float32)
    res = lanczos(a, 5, tol=1e-9)  # far below float32's reach
    assert res.all_converged and res.num_products < 200


def test_verification_is_one_block_product_of_the_ritz_vectors():
    a, _ = _spectrum_matrix()
    op = _counting_operator(a)
    res = lanczos(op, 4, tol=1e-10)
    assert op.calls[-1] == 4 and op.calls[:-1] == [1] * (len(op.calls) - 1)
    assert res.num_products == sum(op.calls)
    # the reported residuals are the explicit ones of that product
    y = res.eigenvectors
    # the same H y - theta y by another product; cancellation leaves an absolute rounding of
    # about sqrt(n) u ||H|| = 1.6e-14 (float64)
    torch.testing.assert_close(res.residuals, (a @ y - y * res.eigenvalues).norm(dim=0),
                               rtol=0, atol=2e-14)
    assert 0 < res.product_seconds <= res.seconds
    assert y.T.is_contiguous()  # row-major storage: each eigenvector a contiguous row


# ----------------------------------------------------------------- warm starts
def test_warm_start_agrees_with_cold_start(conv_problem):
    op, H = conv_problem
    cold = lanczos(op, 5, tol=1e-9)
    g = torch.Generator().manual_seed(1)
    noise = 1e-2 * torch.randn(H.shape, generator=g, dtype=torch.float64)
    nearby = lanczos(H + (noise + noise.T) / 2, 5, tol=1e-12)
    warm = lanczos(op, 5, tol=1e-9, start=nearby.eigenvectors)
    assert warm.all_converged and cold.all_converged
    # both stop at residuals <= 1e-9 |lambda|, so eigenvalues agree far tighter than that
    torch.testing.assert_close(warm.eigenvalues, cold.eigenvalues, rtol=1e-9, atol=0)
    overlap = (warm.eigenvectors.T @ cold.eigenvectors).abs().diagonal()
    torch.testing.assert_close(overlap, torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-6)


@pytest.mark.parametrize("tol", [1e-4, 1e-8])
def test_warm_start_from_nearby_eigenvectors_halves_the_products(tol):
    a, evals = _spectrum_matrix(300)
    g = torch.Generator().manual_seed(5)
    e = torch.randn(a.shape, generator=g, dtype=torch.float64)
    e = (e + e.T) / torch.linalg.matrix_norm(e + e.T, 2)
    nearby = torch.linalg.eigh(a + 0.1 * tol * e).eigenvectors.flip(1)[:, :5]  # exact ones
    cold = lanczos(a, 5, tol=tol)
    warm = lanczos(a, 5, tol=tol, start=nearby)
    assert warm.all_converged and warm.num_products <= cold.num_products / 2
    assert warm.num_products == 5  # already the answer: one block product, no verification
    torch.testing.assert_close(warm.eigenvalues, evals[:5], rtol=10 * tol, atol=0)


def test_warm_start_far_from_the_answer_is_no_worse_than_a_cold_start():
    a, evals = _spectrum_matrix(300)
    g = torch.Generator().manual_seed(6)
    e = torch.randn(a.shape, generator=g, dtype=torch.float64)
    far = torch.linalg.eigh(a + 0.3 * (e + e.T)).eigenvectors.flip(1)[:, :5]
    cold = lanczos(a, 5, tol=1e-8)
    warm = lanczos(a, 5, tol=1e-8, start=far)
    assert warm.all_converged and warm.num_products <= cold.num_products
    torch.testing.assert_close(warm.eigenvalues, evals[:5], rtol=1e-8, atol=0)


def test_block_warm_start_and_bad_starts():
    a, evals = _spectrum_matrix()
    start = torch.linalg.eigh(a).eigenvectors.flip(1)[:, :3]
    res = block_lanczos(a, 3, block_size=2, start=start, tol=1e-10)
    torch.testing.assert_close(res.eigenvalues, evals[:3], rtol=1e-10, atol=0)
    rows = lanczos(a, 3, start=start.T, tol=1e-10)  # rows [s, P] are accepted too
    torch.testing.assert_close(rows.eigenvalues, evals[:3], rtol=1e-10, atol=0)
    with pytest.raises(ValueError, match=r"start must be a vector \[200\] or a block"):
        lanczos(a, 2, start=torch.ones(3, 7, dtype=torch.float64))
    with pytest.raises(ValueError, match="start must be finite and not zero"):
        lanczos(a, 2, start=torch.zeros(200, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="start must be a tensor"):
        lanczos(a, 2, start=[1.0, 2.0])


def test_progress_bar_shows_converged_pairs_and_residual(capsys):
    a, _ = _spectrum_matrix()
    lanczos(a, 3, tol=1e-8, progress=True)
    err = capsys.readouterr().err
    assert "converged=3/3" in err and "residual=" in err and "hvp" in err
    lanczos(a, 3, tol=1e-8)
    assert capsys.readouterr().err == ""


def test_sketch_confirmation_costs_three_products_and_bounds_the_residuals():
    a, _ = _spectrum_matrix()
    block = lanczos(a, 5, tol=1e-8)
    sketch = lanczos(a, 5, tol=1e-8, verify="sketch")
    assert sketch.num_products == block.num_products - 5 + 3  # three probes, not k = 5
    assert sketch.all_converged
    few = lanczos(a, 3, tol=1e-8, verify="sketch")  # k <= 3: the block product is as cheap
    torch.testing.assert_close(few.residuals, (a @ few.eigenvectors - few.eigenvectors
                                               * few.eigenvalues).norm(dim=0),
                               rtol=1e-10, atol=1e-14)
    y = sketch.eigenvectors
    true = (a @ y - y * sketch.eigenvalues).norm(dim=0)
    # reported = estimate + measured discrepancy, an upper bound of the true residual (up to
    # the rounding of the explicit product itself)
    assert (true <= sketch.residuals + 1e-13).all()
    torch.testing.assert_close(sketch.eigenvalues, block.eigenvalues, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="verify must be True, False or 'sketch'"):
        lanczos(a, 2, verify="yes")


def test_sketch_falls_back_to_the_block_product_when_the_products_drift():
    a, _ = _spectrum_matrix()

    class Drifting(CurvatureOperator):  # each product a little different: not one matrix
        def __init__(self):
            super().__init__([a.shape[:1]], device=a.device, dtype=a.dtype)
            self.gen = torch.Generator().manual_seed(0)

        def _matmat(self, m):
            noise = torch.randn(m.shape, generator=self.gen, dtype=m.dtype)
            return a @ m + 1e-4 * noise * m.norm(dim=0)

    op = Drifting()
    res = lanczos(op, 3, tol=1e-9, verify="sketch", max_products=60)
    assert op.num_products == res.num_products
    assert res.num_products > 60  # the sketch product, then the block of 3
    assert not res.all_converged  # the drift shows in the explicit residuals


# ----------------------------------------------------------------- deferred reorthogonalisation
def _outlier_matrix(n=150, seed=3, dtype=torch.float64):
    # a dominant eigenvalue far above the rest: where orthogonality is lost fastest
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    evals = torch.cat([torch.tensor([1e4, 50.0, 40.0], dtype=torch.float64),
                       torch.rand(n - 3, generator=g, dtype=torch.float64)])
    return (q @ torch.diag(evals) @ q.T).to(dtype), evals.sort(descending=True).values


@pytest.mark.parametrize("matrix", ["spread", "outlier"])
def test_deferred_reorthogonalisation_agrees_with_a_pass_per_step(matrix):
    a, evals = _spectrum_matrix(300) if matrix == "spread" else _outlier_matrix()
    full = lanczos(a, 6, tol=1e-10, max_basis=20, reorth="full")  # restarts included
    partial = lanczos(a, 6, tol=1e-10, max_basis=20)
    assert full.num_restarts > 0 and partial.all_converged
    # both stop at residuals <= 1e-10 |lambda|: the same eigenvalues to far better than that
    torch.testing.assert_close(partial.eigenvalues, evals[:6], rtol=1e-12, atol=0)
    torch.testing.assert_close(partial.eigenvalues, full.eigenvalues, rtol=1e-12, atol=0)
    assert abs(partial.num_products - full.num_products) <= 1
    y = partial.eigenvectors
    torch.testing.assert_close(y.T @ y, torch.eye(6, dtype=torch.float64), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="reorth must be one of"):
        lanczos(a, 2, reorth="none")


def test_deferred_reorthogonalisation_on_a_network_hessian(conv_problem):
    op, H = conv_problem
    res = lanczos(op, 5, tol=1e-10, max_basis=12)  # several restarts on a 41-dim problem
    evals = torch.linalg.eigvalsh(H).flip(0)[:5]
    assert res.num_restarts > 0 and res.all_converged
    torch.testing.assert_close(res.eigenvalues, evals, rtol=1e-9, atol=1e-12)


def test_no_ghosts_in_float32_with_deferred_reorthogonalisation():
    # the outlier converges at once and every later step loses orthogonality to it; the
    # bulk (spacing 0.2) is resolvable above float32's rounding floor 32 eps ||H|| = 4e-3
    n = 150
    g = torch.Generator().manual_seed(4)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    evals = torch.cat([torch.tensor([1e3, 50.0]), torch.linspace(30.0, 1.0, n - 2)]).double()
    a = (q @ torch.diag(evals) @ q.T).float()
    res = lanczos(a, 5, tol=1e-4, max_basis=40)
    assert res.all_converged and res.num_products > 40  # a long run, restarts included
    torch.testing.assert_close(res.eigenvalues.double(), evals[:5], rtol=1e-4, atol=0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_few_pairs_of_an_outlier_spectrum(k):
    """A Hessian-like spectrum (a few large eigenvalues, the rest near zero) with k <= 3.

    Regression: with deferred reorthogonalisation the product of the first row outlived the
    first step and the final verification multiplied it with the whole basis (k = 1 failed).
    """
    d = torch.full((300,), 1e-6, dtype=torch.float64)
    d[:8] = torch.tensor([100.0, 95, 90, 85, 80, 75, 70, 65], dtype=torch.float64)
    res = lanczos(torch.diag(d), k, tol=1e-6)
    assert res.all_converged
    # the residuals are below 1e-6 |lambda|: the eigenvalues agree to far better than that
    torch.testing.assert_close(res.eigenvalues, d[:k], rtol=1e-10, atol=1e-12)
