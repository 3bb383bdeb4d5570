"""Thick-restart (block) Lanczos for extreme eigenpairs, on the operator's device.

Krylov-Schur form of thick-restart Lanczos (Wu & Simon 2000, "Thick-restart Lanczos method
for large symmetric eigenvalue problems"; Stewart 2001, "A Krylov-Schur algorithm for large
eigenproblems"). With an orthonormal basis ``Q`` (``[P, j]``), the projected matrix
``T = Q^T H Q`` and a residual block ``R`` orthogonal to ``Q``, every step keeps

    H Q = Q T + R Z^T.

A step orthonormalises ``R`` (``R = Q_new B``), multiplies ``W = H Q_new`` (one block product),
and orthogonalises ``W`` against the whole basis twice (full reorthogonalisation: "twice is
enough", Giraud et al. 2005), which keeps the basis orthogonal to rounding and so prevents
ghost copies of converged eigenvalues. When the basis reaches ``max_basis`` columns, the
Ritz decomposition ``T = S diag(theta) S^T`` is truncated to the wanted Ritz vectors plus a
few more (``Q <- Q S_l``, ``T <- diag(theta_l)``, ``Z <- S_l^T Z``): memory stays bounded by
``max_basis`` vectors. The Ritz residual of ``(theta_i, y_i = Q s_i)`` follows from the
relation without a product: ``||H y_i - theta_i y_i|| = ||R Z^T s_i||``; iteration stops when
``||H y_i - theta_i y_i|| <= tol * |theta_i|`` for the ``k`` wanted pairs, and the final
residuals are verified with explicit products. With ``block_size > 1`` this is block Lanczos
on the operator's block product (one data pass per block).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from landscape.curvature.operator import CurvatureOperator

__all__ = ["WHICH", "EigenResult", "lanczos"]

WHICH = ("LA", "SA", "LM")


@dataclass
class EigenResult:
    """Eigenpairs from an iterative solver.

    Attributes:
        eigenvalues: ``[k]`` Ritz values, ordered by ``which`` (``LA``: descending).
        eigenvectors: ``[P, k]`` orthonormal Ritz vectors as **columns**.
        residuals: ``[k]`` ``||H v_i - lambda_i v_i||`` (explicit products when verified).
        converged: ``[k]`` whether ``residuals <= tol * |eigenvalues|``.
        num_products: matrix-vector products used (verification included).
        num_restarts: thick restarts performed.

    """

    eigenvalues: Tensor
    eigenvectors: Tensor
    residuals: Tensor
    converged: Tensor
    num_products: int
    num_restarts: int

    @property
    def all_converged(self) -> bool:
        """Whether every requested pair met the tolerance."""
        return bool(self.converged.all())


def _order(theta: Tensor, which: str) -> Tensor:
    if which == "LA":
        return torch.argsort(theta, descending=True)
    if which == "SA":
        return torch.argsort(theta)
    return torch.argsort(theta.abs(), descending=True)


def _orthogonalise(q: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Classical Gram-Schmidt of ``w`` against ``q``, twice; returns ``(w', q^T w)``."""
    h = q.T @ w
    w = w - q @ h
    h2 = q.T @ w
    return w - q @ h2, h + h2


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


def lanczos(
    op: CurvatureOperator | Tensor,
    k: int = 1,
    *,
    which: str = "LA",
    tol: float = 1e-6,
    max_basis: int | None = None,
    block_size: int = 1,
    max_products: int | None = None,
    start: Tensor | None = None,
    seed: int = 0,
    verify: bool = True,
    progress: bool = False,
) -> EigenResult:
    """Top-``k`` eigenpairs of a symmetric operator by thick-restart (block) Lanczos.

    Args:
        op: a :class:`CurvatureOperator` (or a dense symmetric matrix).
        k: number of eigenpairs.
        which: ``"LA"`` largest algebraic, ``"SA"`` smallest algebraic, ``"LM"`` largest
            magnitude.
        tol: relative Ritz residual ``||H v - lambda v|| <= tol * |lambda|``.
        max_basis: most basis vectors held at once (default ``max(2k + 2b, k + 20)``,
            capped at ``P``).
        block_size: vectors per product ``b`` (1: Lanczos; more: block Lanczos).
        max_products: give up after this many products (default ``50 * max_basis``).
        start: ``[P]`` or ``[P, b]`` starting block (default: seeded Gaussian).
        seed: seed of the starting block and of breakdown replacements.
        verify: recompute the final residuals with ``k`` explicit products.
        progress: show a tqdm bar (stderr) of products used.

    Returns:
        An :class:`EigenResult`; eigenvectors are columns ``[P, k]``.

    Raises:
        ValueError: invalid ``k``, ``which``, ``tol``, ``max_basis`` or ``block_size``.

    >>> res = lanczos(torch.diag(torch.arange(1.0, 51.0, dtype=torch.float64)), k=3)
    >>> [round(x, 9) for x in res.eigenvalues.tolist()], res.all_converged
    ([50.0, 49.0, 48.0], True)
    """
    op = _as_operator(op)
    n, b = op.dim, int(block_size)
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if b < 1 or not 1 <= k <= n - b:
        raise ValueError(
            f"need 1 <= k <= P - block_size and block_size >= 1; got k={k}, "
            f"block_size={b}, P={n}"
        )
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    m = min(n, max_basis if max_basis is not None else max(2 * k + 2 * b, k + 20))
    if m < k + b:
        raise ValueError(
            f"max_basis must be at least k + block_size = {k + b} (and at most P = {n}), "
            f"got {max_basis}: raise it"
        )
    max_products = max_products if max_products is not None else 50 * m
    dev, dt = op.device, op.dtype
    gen = torch.Generator(device=dev).manual_seed(seed)
    if start is None:
        r = torch.randn(n, b, generator=gen, device=dev, dtype=dt)
    else:
        r = start.reshape(n, -1).to(device=dev, dtype=dt)
        if r.shape[1] != b:
            raise ValueError(f"start must have {b} column(s) (block_size), got {r.shape[1]}")
    basis = torch.empty(n, m, device=dev, dtype=dt)  # the only P-sized storage: m vectors
    j = 0
    t = torch.zeros(0, 0, device=dev, dtype=dt)
    theta = est = torch.zeros(0, device=dev, dtype=dt)
    s = torch.zeros(0, 0, device=dev, dtype=dt)
    done = torch.zeros(k, dtype=torch.bool, device=dev)
    products = restarts = 0
    bar = tqdm(total=max_products, disable=not progress, desc="lanczos", unit="hvp", leave=False)
    while True:
        if j + b > m:  # thick restart: keep the wanted Ritz vectors and some more
            keep = min(m - b, max(k + int(done.sum()), k + (m - k) // 2))
            basis[:, :keep] = basis[:, :j] @ s[:, :keep]
            j = keep
            t = torch.diag(theta[:keep])
            restarts += 1
        q = basis[:, :j]
        r, _ = _orthogonalise(q, r)
        if b == 1:  # a norm instead of a QR factorisation
            beta = r.norm().reshape(1, 1)
            q_new = r / beta.clamp_min(torch.finfo(dt).tiny)
        else:
            q_new, beta = torch.linalg.qr(r)
        scale = float(t.abs().max()) if t.numel() else 1.0
        bad = beta.diagonal().abs() <= 1e3 * torch.finfo(dt).eps * max(scale, 1e-300)
        for i in torch.nonzero(bad).flatten().tolist():  # breakdown: an invariant subspace
            w = torch.randn(n, 1, generator=gen, device=dev, dtype=dt)
            w, _ = _orthogonalise(torch.cat([q, q_new[:, :i], q_new[:, i + 1 :]], 1), w)
            q_new[:, i : i + 1] = w / w.norm()
            beta[i] = 0.0
        basis[:, j : j + b] = q_new
        w = op.matmat(q_new)
        products += b
        bar.update(b)
        w, h = _orthogonalise(basis[:, : j + b], w)
        t_new = torch.zeros(j + b, j + b, device=dev, dtype=dt)
        t_new[:j, :j] = t
        t_new[:, j:] = h
        t_new[j:, :] = h.T
        t_new[j:, j:] = 0.5 * (h[j:] + h[j:].T)
        t, j, r = t_new, j + b, w
        z = torch.zeros(j, b, device=dev, dtype=dt)
        z[j - b :] = torch.eye(b, device=dev, dtype=dt)
        if j < k:
            continue
        # Rayleigh-Ritz on T (j x j, cheap) after every step: stop as soon as k pairs converge
        theta, s = torch.linalg.eigh(t)
        idx = _order(theta, which)
        theta, s = theta[idx], s[:, idx]
        c = z.T @ s
        est = torch.sqrt(((r.T @ r) @ c * c).sum(0).clamp_min(0))
        floor = torch.finfo(dt).eps * float(theta.abs().max())
        done = est[:k] <= tol * theta[:k].abs().clamp_min(floor)
        bar.set_postfix(converged=f"{int(done.sum())}/{k}")
        if bool(done.all()) or products >= max_products:
            break
    bar.close()
    vectors = basis[:, :j] @ s[:, :k]
    values = theta[:k]
    residuals = est[:k]
    if verify:
        hv = op.matmat(vectors)
        products += k
        residuals = (hv - vectors * values).norm(dim=0)
    floor = torch.finfo(dt).eps * float(values.abs().max())
    converged = residuals <= tol * values.abs().clamp_min(floor)
    return EigenResult(values, vectors, residuals, converged, products, restarts)
