"""Block Lanczos: the eigensolver on the operator's block product (several vectors per pass).

Block Krylov subspaces ``span{R, H R, H^2 R, ...}`` with a ``[P, b]`` starting block (Golub &
Underwood 1977, "The block Lanczos method for computing eigenvalues"), run by the same
thick-restart Krylov-Schur iteration as :func:`landscape.curvature.lanczos.lanczos`: each step
costs one block product ``H Q_new`` (one data pass for ``b`` vectors), the basis is fully
reorthogonalised, and restarts keep memory at ``max_basis`` vectors. A block also resolves
eigenvalues of multiplicity up to ``b`` without relying on rounding.

A block pays off where the operator's block product is cheaper per vector than single
products: :class:`~landscape.curvature.HessianOperator` with ``block="vmap"`` on a GPU. On one
CPU thread a ``vmap`` block costs about as much per vector as single products (see
benchmarks/README.md), and a block Krylov space needs more products than a single-vector one
for the same accuracy, so :func:`~landscape.curvature.lanczos` with ``block_size=1`` is the
faster choice there.
"""

from __future__ import annotations

from torch import Tensor

from landscape.curvature.lanczos import EigenResult, lanczos
from landscape.curvature.operator import CurvatureOperator

__all__ = ["block_lanczos"]


def block_lanczos(
    op: CurvatureOperator | Tensor,
    k: int = 1,
    *,
    block_size: int | None = None,
    which: str = "LA",
    tol: float | None = None,
    max_basis: int | None = None,
    max_products: int | None = None,
    start: Tensor | None = None,
    seed: int = 0,
    verify: bool = True,
    progress: bool = False,
) -> EigenResult:
    """Top-``k`` eigenpairs by thick-restart block Lanczos.

    Args:
        op: a :class:`CurvatureOperator` (or a dense symmetric matrix).
        k: number of eigenpairs.
        block_size: vectors per block product (default ``min(k, 4)``, at least 2).
        which: ``"LA"``, ``"SA"`` or ``"LM"`` (see :func:`lanczos`).
        tol: relative Ritz residual ``||H v - lambda v|| <= tol * |lambda|`` (default: from
            the dtype, see :func:`lanczos`).
        max_basis: most basis vectors held (default ``max(2k + 2b, k + 6b)``, capped at P).
        max_products: give up after this many products.
        start: a warm start ``[P, s]`` (see :func:`lanczos`).
        seed: seed of the starting block.
        verify: recompute the final residuals with explicit products.
        progress: show a tqdm bar on stderr.

    Returns:
        An :class:`EigenResult` (eigenvectors as columns ``[P, k]``).

    Raises:
        ValueError: invalid arguments (see :func:`lanczos`).

    A doubly repeated top eigenvalue is found twice by a block of two:

    >>> import torch
    >>> a = torch.diag(torch.tensor([5.0, 5.0, 3.0, 2.0, 1.0, 0.5], dtype=torch.float64))
    >>> [round(x, 9) for x in block_lanczos(a, 2, block_size=2).eigenvalues.tolist()]
    [5.0, 5.0]
    """
    b = block_size if block_size is not None else max(2, min(k, 4))
    if max_basis is None:
        width = max(b, (min(start.shape) if start.dim() == 2 else 1) if start is not None else 0)
        max_basis = max(2 * k + 2 * width, k + 6 * b)
    return lanczos(
        op, k, which=which, tol=tol, max_basis=max_basis, block_size=b,
        max_products=max_products, start=start, seed=seed, verify=verify, progress=progress,
    )
