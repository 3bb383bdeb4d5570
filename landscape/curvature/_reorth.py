"""Deferred full reorthogonalisation for the Lanczos steps of the Krylov-Schur solver.

Lanczos loses orthogonality only gradually: a vector made orthogonal to the two rows of the
three-term recurrence (or to the kept Ritz vectors after a restart) has inner products with
the rest of an orthonormal basis of order ``eps ||H|| / beta``, which grow by about
``||H|| / beta`` per step as Ritz pairs converge (Paige 1971). Simon (1984, "The Lanczos
algorithm with partial reorthogonalization") showed that the inner products can be
estimated without touching the vectors, from the small projected matrix alone, and that the
Lanczos process behaves as with full reorthogonalisation as long as they stay below
``sqrt(eps)`` (semi-orthogonality). Here the estimate decides *when* the rows added since
the last full orthogonalisation are orthogonalised, and then they are orthogonalised
*fully* and together:

* **estimate** (:func:`loss_estimate`). With the basis rows ``Q`` and the residual row ``r``,
  ``Omega = Q Q^T - I`` and ``x = Q r^T``, the relation ``H Q^T = Q^T T + r^T k`` makes
  ``Q H Q^T = (I + Omega) T + x k`` symmetric, so for ``k = beta e_n`` (a Lanczos step)

      beta x_i = -((Omega T - T Omega)_(i,n) + E_(i,n)),   i < n,

  with ``|E|`` at the rounding level ``eps ||H||`` (Simon's recurrence, written for any
  projected matrix: tridiagonal, or an arrowhead after a thick restart);
* **settling** (:func:`settle`). The pending rows ``Z`` (those not yet orthogonalised
  against the first ``f`` rows, and the residual) are orthogonalised against the first
  ``f`` rows by block classical Gram-Schmidt (one read of those rows for all of ``Z``, a
  second pass only where the first removed most of a row: Daniel, Gragg, Kaufman & Stewart
  1976) and among themselves by Cholesky QR: ``Z = D Q_f + L Z'``. The basis changes by a
  block lower-triangular ``G``, so the relation carries over exactly (no product is
  repeated): ``[T'; k'] = G^-T [T; k] G_nn^T`` with ``G^-T = [[I, D^T], [0, L^T]]``.

Every settled basis is orthonormal to rounding, as with a full Gram-Schmidt pass per step,
so the Ritz values come from an orthonormal projection and no ghost copies of converged
eigenvalues appear; but each row of the basis is read once every several steps instead of
twice per step.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DGKS", "loss_estimate", "settle"]

DGKS = 0.5**0.5  # second Gram-Schmidt pass when a row keeps less than this share of its norm
_HOST = torch.float64


def loss_estimate(omega: Tensor, t: Tensor, beta: float, rounding: float) -> Tensor:
    """Estimated inner products ``x = Q r^T`` of a new Lanczos residual row with the basis.

    Args:
        omega: ``[n, n]`` estimated ``Q Q^T - I`` of the basis rows (the last row is the one
            just multiplied; signed, zero diagonal).
        t: ``[n, n]`` projected matrix, whose last column holds the step's coefficients.
        beta: the norm of the new residual before normalisation.
        rounding: ``eps ||H||``, the size of the rounding terms.

    Returns:
        ``[n]`` signed estimates; the entry of the last row (removed by the local step
        itself) is the rounding level.

    """
    n = t.shape[0]
    y = omega @ t[:, n - 1] - t @ omega[:, n - 1]
    x = -y
    x += torch.where(x >= 0, rounding, -rounding)  # rounding on the side of growth
    x /= max(beta, torch.finfo(_HOST).tiny)
    x[n - 1] = rounding / max(beta, torch.finfo(_HOST).tiny)
    return x


def _lower_factor(gram: Tensor) -> Tensor | None:
    """Cholesky factor of a Gram matrix of nearly orthonormal rows (None: not reliable)."""
    lower, info = torch.linalg.cholesky_ex(gram)
    diag = torch.diagonal(lower)
    if int(info) == 0 and bool((diag > 1e-3 * float(diag.max())).all()):
        return lower
    return None


def settle(basis: Tensor, f: int, n: int, t: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """Orthogonalise rows ``f .. n`` of ``basis`` in place; carry the relation over.

    Rows ``:f`` are orthonormal; rows ``f .. n - 1`` (pending basis rows) and row ``n`` (the
    residual) are unit rows orthogonal to them only approximately. One product gives both
    their inner products ``D`` with the first ``f`` rows and their Gram matrix, whose
    Cholesky factor after the projection is ``L L^T = Z Z^T - D D^T``; a second writes
    ``Z' = L^-1 (Z - D Q_f)``: two reads of the basis in all. Where the projection removed
    most of a row (or the factor is unreliable), a second Gram-Schmidt pass and a
    Householder QR of the pending rows are used instead.

    Args:
        basis: ``[>= n + 1, P]`` buffer.
        f: rows already orthonormal.
        n: basis rows; row ``n`` is the residual.
        t: ``[n, n]`` projected matrix in the current rows.
        k: ``[1, n]`` coupling of the residual row.

    Returns:
        ``(t', k')`` of the relation in the settled rows (``t'`` symmetrised).

    """
    z = basis[f : n + 1]
    dots = (z @ basis[: n + 1].T).to(_HOST).cpu()  # [D, Z Z^T]
    d, gram = dots[:, :f], dots[:, f:]
    gram = gram - d @ d.T
    lower = _lower_factor(gram) if bool((torch.diagonal(gram) > DGKS**2).all()) else None
    if lower is not None:
        inv = torch.linalg.solve_triangular(lower, torch.eye(n + 1 - f, dtype=_HOST),
                                            upper=False)
        coef = torch.cat([-inv @ d, inv], 1).to(z)
        z.copy_(coef @ basis[: n + 1])
    else:  # rows that lost most of their norm: two projections, then Householder
        q = basis[:f]
        for _ in range(2 if f else 0):
            h = z @ q.T
            z.addmm_(h, q, alpha=-1)
            d = d + h.to(_HOST).cpu() if _ else h.to(_HOST).cpu()
        qz, r = torch.linalg.qr(z.T)
        lower = r.T.to(_HOST).cpu()
        z.copy_(qz.T)
        inv = torch.linalg.solve_triangular(lower, torch.eye(n + 1 - f, dtype=_HOST),
                                            upper=False)
    # U = G^-1 U' with G^-1 = [[I, 0], [D, L]]; [T; k] -> G^-T [T; k] G_nn^T
    m = torch.cat([t, k])
    g = torch.eye(n + 1, dtype=_HOST)
    g[f:, :f] = -inv @ d
    g[f:, f:] = inv
    ginv_t = torch.eye(n + 1, dtype=_HOST)
    ginv_t[:f, f:] = d.T
    ginv_t[f:, f:] = lower.T
    m = ginv_t @ m @ g[:n, :n].T
    t_new = m[:n]
    return 0.5 * (t_new + t_new.T), m[n:]
