"""Thick-restart (block) Lanczos for extreme eigenpairs, on the operator's device.

Krylov-Schur form of thick-restart Lanczos (Wu & Simon 2000, "Thick-restart Lanczos method
for large symmetric eigenvalue problems"; Stewart 2001, "A Krylov-Schur algorithm for large
eigenproblems"). With an orthonormal basis ``Q`` (``[j, P]``, one row per vector), the
projected matrix ``T = Q H Q^T`` and an orthonormal residual block ``R`` orthogonal to ``Q``
with its coupling ``K``, every step keeps

    H Q^T = Q^T T + R^T K.

A step moves ``b`` directions of ``R`` into the basis (their rows of ``K`` are the new
entries ``T[new, old]``), makes one block product ``W = H Q_new^T`` and orthogonalises ``W``:
first against the rows it is known to couple to (the three-term recurrence, or the kept Ritz
vectors after a restart), then by Gram-Schmidt against the whole basis, a second pass only
when the first removed most of ``W`` (Daniel, Gragg, Kaufman & Stewart 1976). Single-vector
steps defer that pass: Simon's (1984) estimate of the orthogonality lost since, computed
from ``T`` alone, decides when the deferred rows are orthogonalised together (two reads of
the basis every few steps instead of two per step), and they always are before Ritz pairs
are judged, kept at a restart or returned. The basis is therefore orthonormal to rounding
wherever it matters (no ghost copies of converged eigenvalues); ``T`` and ``K`` are small
and solved on the host in float64. When the basis reaches ``max_basis`` rows the Ritz decomposition
``T = S diag(theta) S^T`` is truncated to the wanted Ritz vectors and some more
(``Q <- S_l^T Q`` in place, ``T <- diag(theta_l)``, ``K <- K S_l``): memory stays at
``max_basis`` vectors.

The Ritz residual of ``(theta_i, y_i = Q^T s_i)`` follows from the relation without a product,
``||H y_i - theta_i y_i|| = ||K s_i||``; the iteration stops when every wanted pair has

    ||H y_i - theta_i y_i|| <= max(tol * |theta_i|, 32 * eps * ||H||),

with ``||H||`` estimated by the largest ``|theta|``. The second term sits above the rounding
floor of the products in the operator's dtype (``eps = torch.finfo(dtype).eps``; explicit
residuals of float32 network Hessians bottom out at 3-25 ``eps * ||H||``), below which no
residual can be measured, so a tolerance finer than the dtype allows still terminates. The
default ``tol = sqrt(eps)`` (3.5e-4 in float32, 1.5e-8 in float64) asks for half the digits
of the dtype, reachable for every pair whose eigenvalue is not far below ``||H||``. The final
residuals are then verified by one block product of the ``k`` Ritz vectors (one data pass),
or, with ``verify="sketch"``, the estimates are confirmed by a block of three products of
random combinations of the Ritz vectors, whose deviations from what the decomposition
predicts bound the error of every estimate except with probability ``10^-3`` (Halko,
Martinsson & Tropp 2011, Lemma 4.1).

A ``[P, s]`` ``start`` is a warm start (e.g. the eigenvectors of the previous epoch). One
product, of the normalised sum ``u`` of its vectors, tells how far ``span(start)`` is from
invariant. When the part of ``H u`` outside it is within ``tol * ||H u||``, the start is used
as a subspace: one block product, a Rayleigh-Ritz projection (whose residuals are explicit,
so a start that already holds the answer costs ``s`` products and no verification), then the
thick-restart iteration continues from that decomposition, its wider residual block taken a
block at a time by importance, converged pairs locked (Stewart 2001). Otherwise the
iteration starts from ``u``: its single Krylov sequence serves every wanted pair, where a
block Krylov space from the start would pay about ``s`` products per step of accuracy. The
stopping rule is the same as from a cold start.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from landscape.curvature._krylov import REORTH, KrylovSchur
from landscape.curvature._verify import verify_residuals
from landscape.curvature.operator import CurvatureOperator

__all__ = ["WHICH", "EigenResult", "default_tol", "lanczos"]

WHICH = ("LA", "SA", "LM")
ROUNDING = 32  # residuals below ROUNDING * eps * ||H|| are at the products' rounding level


@dataclass
class EigenResult:
    """Eigenpairs from an iterative solver.

    Attributes:
        eigenvalues: ``[k]`` Ritz values, ordered by ``which`` (``LA``: descending).
        eigenvectors: ``[P, k]`` orthonormal Ritz vectors as **columns** (a transposed view
            of row-major ``[k, P]`` storage: ``eigenvectors.T`` is contiguous).
        residuals: ``[k]`` ``||H v_i - lambda_i v_i||`` (explicit products when verified).
        converged: ``[k]`` whether ``residuals <= max(tol * |eigenvalues|, floor)``.
        num_products: matrix-vector products used (verification included).
        num_restarts: thick restarts performed.
        seconds: wall time of the solve.
        product_seconds: the part of ``seconds`` spent in the operator's products.
        tol: the relative tolerance used (the dtype's default when none was given).

    """

    eigenvalues: Tensor
    eigenvectors: Tensor
    residuals: Tensor
    converged: Tensor
    num_products: int
    num_restarts: int
    seconds: float = 0.0
    product_seconds: float = 0.0
    tol: float = math.nan

    @property
    def all_converged(self) -> bool:
        """Whether every requested pair met the tolerance."""
        return bool(self.converged.all())


def default_tol(dtype: torch.dtype) -> float:
    """The default relative residual tolerance ``sqrt(eps)`` of a floating dtype.

    >>> f"{default_tol(torch.float32):.2e}", f"{default_tol(torch.float64):.2e}"
    ('3.45e-04', '1.49e-08')
    """
    return float(torch.finfo(dtype).eps) ** 0.5


def _as_operator(op: CurvatureOperator | Tensor) -> CurvatureOperator:
    if isinstance(op, CurvatureOperator):
        return op
    if isinstance(op, Tensor) and op.dim() == 2 and op.shape[0] == op.shape[1]:
        return _Dense(op)
    raise TypeError(
        f"expected a CurvatureOperator or a square symmetric tensor, got "
        f"{type(op).__name__} {tuple(getattr(op, 'shape', ()))}"
    )


class _Dense(CurvatureOperator):
    def __init__(self, a: Tensor) -> None:
        super().__init__([a.shape[:1]], device=a.device, dtype=a.dtype)
        self.a = a

    def _matmat(self, m: Tensor) -> Tensor:
        return self.a @ m

    def _matmat_rows(self, rows: Tensor) -> Tensor:
        return rows @ self.a.T


def _warm_start(op: CurvatureOperator, rows: Tensor, b: int,
                tol: float) -> tuple[Tensor, Tensor | None, float]:
    """Choose how a start subspace of more than ``b`` vectors is used (one product decides).

    The product ``H u`` of ``u``, the normalised sum of the start vectors, shows how far the
    start is from invariant: ``||(I - V^T V) H u||``. When that is within ``tol * ||H u||``,
    the start is used as a subspace (its block product and a Rayleigh-Ritz
    projection, which alone suffice when it already holds the answer); otherwise Lanczos
    starts from ``u``, whose Krylov space is shared by all the wanted pairs (a block Krylov
    space from the start would need about ``s`` times the products per step of accuracy).
    ``H u`` is reused either way. Returns ``(first block rows, their known products,
    seconds)``.
    """
    if rows.shape[0] <= b:
        return rows, None, 0.0
    v = KrylovSchur._orthonormal(rows)[0]
    u = v.sum(0, keepdim=True)
    u = u / u.norm()
    clock = time.perf_counter()
    hu = op.matmat_rows(u)
    seconds = time.perf_counter() - clock
    outside = float((hu - (hu @ v.T) @ v).norm())
    if outside > tol * float(hu.norm()):
        return u, hu, seconds
    q, _ = torch.linalg.qr(torch.cat([u, v]).T)  # u first, then the rest of span(start)
    q = q.T[: v.shape[0]]
    q[0] = u[0]  # the same vector as u (QR may flip its sign)
    return q.contiguous(), hu, seconds


def _start_rows(start: Tensor | None, op: CurvatureOperator, b: int,
                gen: torch.Generator) -> Tensor:
    """Return the first block as rows ``[s, P]``, topped up with Gaussian rows to ``b``."""
    n = op.dim
    rows = torch.zeros(0, n, device=op.device, dtype=op.dtype)
    if start is not None:
        if not isinstance(start, Tensor):
            raise TypeError(f"start must be a tensor [P] or [P, s], got {type(start).__name__}")
        if start.dim() == 1 and start.shape[0] == n:
            rows = start[None]
        elif start.dim() == 2 and start.shape[0] == n:
            rows = start.T
        elif start.dim() == 2 and start.shape[1] == n:
            rows = start
        else:
            raise ValueError(
                f"start must be a vector [{n}] or a block [{n}, s] (columns, as "
                f"EigenResult.eigenvectors), got shape {tuple(start.shape)}"
            )
        rows = rows.to(device=op.device, dtype=op.dtype)
        if not bool(torch.isfinite(rows).all()) or not bool(rows.abs().amax() > 0):
            raise ValueError("start must be finite and not zero: pass the previous eigenvectors")
    if rows.shape[0] < b:
        extra = torch.randn(b - rows.shape[0], n, generator=gen, device=op.device, dtype=op.dtype)
        rows = torch.cat([rows, extra])
    return rows.contiguous()


def lanczos(
    op: CurvatureOperator | Tensor,
    k: int = 1,
    *,
    which: str = "LA",
    tol: float | None = None,
    max_basis: int | None = None,
    block_size: int = 1,
    max_products: int | None = None,
    start: Tensor | None = None,
    seed: int = 0,
    verify: bool | str = True,
    reorth: str = "partial",
    progress: bool = False,
) -> EigenResult:
    """Top-``k`` eigenpairs of a symmetric operator by thick-restart (block) Lanczos.

    Args:
        op: a :class:`CurvatureOperator` (or a dense symmetric matrix).
        k: number of eigenpairs.
        which: ``"LA"`` largest algebraic, ``"SA"`` smallest algebraic, ``"LM"`` largest
            magnitude.
        tol: relative Ritz residual ``||H v - lambda v|| <= tol * |lambda|`` (never below the
            rounding floor ``32 * eps * ||H||``); default ``sqrt(eps)`` of the operator's
            dtype (see the module docstring).
        max_basis: most basis vectors held at once (default ``max(2k + 2b, k + 20)`` with
            ``b`` the larger of ``block_size`` and the start's columns; capped at ``P``).
        block_size: vectors per product ``b`` (1: Lanczos; more: block Lanczos).
        max_products: give up after this many products (default ``50 * max_basis``).
        start: a warm start: ``[P]`` vector or ``[P, s]`` block (columns, e.g. the previous
            :attr:`EigenResult.eigenvectors`; ``[s, P]`` rows are accepted too), topped up
            with random vectors to ``block_size``; default: seeded Gaussian.
        seed: seed of the random start and of breakdown replacements.
        verify: ``True``: recompute the final residuals with one block product of the ``k``
            Ritz vectors (one data pass); ``"sketch"``: confirm the residual estimates with
            a block of three products of random combinations of them (when ``k > 3``;
            falling back to the block product when they are not confirmed) and report
            ``estimate + 10 sqrt(2/pi) * largest discrepancy``, a bound except with
            probability ``10^-3``; ``False``: report the estimates.
        reorth: ``"partial"``: single-vector steps defer the Gram-Schmidt pass until
            Simon's estimate of the lost orthogonality reaches ``sqrt(eps)``, then
            orthogonalise the deferred rows together (the basis is orthonormal whenever
            Ritz pairs are judged or taken); ``"full"``: a pass against the whole basis
            every step (the reference).
        progress: show a tqdm bar (stderr) of products, converged pairs and the largest
            relative residual.

    Returns:
        An :class:`EigenResult`; eigenvectors are columns ``[P, k]``.

    Raises:
        ValueError: invalid ``k``, ``which``, ``tol``, ``max_basis``, ``block_size`` or
            ``start``.

    >>> res = lanczos(torch.diag(torch.arange(1.0, 51.0, dtype=torch.float64)), k=3)
    >>> [round(x, 9) for x in res.eigenvalues.tolist()], res.all_converged
    ([50.0, 49.0, 48.0], True)
    """
    began = time.perf_counter()
    op = _as_operator(op)
    n, b = op.dim, int(block_size)
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if b < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    if not 1 <= k <= n - b:
        within = (f"P - 1 = {n - 1}" if b == 1
                  else f"P - block_size = {n - b} (block_size {b})")
        raise ValueError(
            f"k (the number of eigenpairs) must be between 1 and {within} for an operator of "
            f"size P = {n}, got {k}"
        )
    if verify not in (True, False, "sketch"):
        raise ValueError(f"verify must be True, False or 'sketch', got {verify!r}")
    if reorth not in REORTH:
        raise ValueError(f"reorth must be one of {REORTH}, got {reorth!r}")
    if tol is None:
        tol = default_tol(op.dtype)
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    gen = torch.Generator(device=op.device).manual_seed(seed)
    rows = _start_rows(start, op, b, gen)
    first = rows.shape[0]
    if first > n - 1:
        raise ValueError(f"start has {first} vectors; at most P - 1 = {n - 1} fit")
    m = min(n, max_basis if max_basis is not None else max(2 * k + 2 * first, k + 20))
    if m < k + first:
        raise ValueError(
            f"max_basis must be at least k + {'block_size' if start is None else 'start size'}"
            f" = {k + first} (and at most P = {n}), got {max_basis}: raise it"
        )
    max_products = max_products if max_products is not None else 50 * m
    eps = float(torch.finfo(op.dtype).eps)
    rows, known, seconds = _warm_start(op, rows, b, tol)
    state = KrylovSchur(op, m, rows, gen, keep_first=bool(verify) and rows.shape[0] >= k,
                        known=known, reorth=reorth)
    if known is not None:
        state.products, state.product_seconds = 1, seconds
    bar = tqdm(total=max_products, desc="lanczos", unit="hvp", leave=False) if progress else None
    scale = 0.0
    theta = s = est = torch.zeros(0, dtype=torch.float64)
    done = torch.zeros(k, dtype=torch.bool)
    weights = None  # the unconverged wanted Ritz vectors, scaled by 1 / threshold
    threshold = torch.ones(k, dtype=torch.float64)

    def assess() -> None:
        nonlocal theta, s, est, scale, threshold, done
        theta, s, est = state.ritz(which)
        scale = max(scale, float(theta.abs().max()))
        threshold = (tol * theta[:k].abs()).clamp_min(ROUNDING * eps * scale)
        done = est[:k] <= threshold

    while True:
        step = min(b, state.r.shape[0])
        if state.j + step > m:  # thick restart: the wanted Ritz vectors and more
            if state.pending:  # Ritz vectors of an orthonormal basis
                state.settle()
                assess()
            keep = min(m - step, max(k + int(done.sum()), k + (m - k) // 2))
            state.restart(s, theta, keep)  # the kept Ritz vectors are now the first rows
            weights = torch.eye(keep, dtype=torch.float64)[:, :k][:, ~done] / threshold[~done]
        before = state.products
        state.expand(scale, b, weights)
        if bar is not None:
            bar.update(state.products - before)
        if state.j < k:
            continue
        assess()
        stop = bool(done.all()) or state.products >= max_products
        if stop and state.pending:  # decide on the settled (orthonormal) basis
            state.settle()
            assess()
            stop = bool(done.all()) or state.products >= max_products
        if bar is not None:
            worst = float((est[:k] / theta[:k].abs().clamp_min(1e-300)).max())
            bar.set_postfix(converged=f"{int(done.sum())}/{k}", residual=f"{worst:.1e}")
        if stop:
            break
        weights = s[:, :k][:, ~done] / threshold[~done]
        if state.r.shape[0] > b and bool(done.any()):  # a start subspace's wide residual
            state.lock(s[:, :k][:, done])
    if bar is not None:
        bar.close()
    sk, values = s[:, :k], theta[:k]
    vectors = state.vectors(sk)
    residuals = verify_residuals(state, sk, vectors, values, est[:k], threshold,
                                 verify=verify, seed=seed)
    threshold = (tol * values.abs()).clamp_min(ROUNDING * eps * scale)
    converged = residuals <= threshold
    out = {"device": op.device, "dtype": op.dtype}
    return EigenResult(
        values.to(**out), vectors.T, residuals.to(**out), converged.to(op.device),
        state.products, state.restarts, time.perf_counter() - began, state.product_seconds,
        float(tol),
    )
