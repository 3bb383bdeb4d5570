"""Plumbing of the thick-restart Lanczos solver: a Krylov-Schur decomposition kept row-major.

The state is an orthonormal basis ``Q`` (``[j, P]``, one contiguous row per vector, inside a
preallocated ``[m, P]`` buffer), the projected matrix ``T = Q H Q^T`` and an orthonormal
residual block ``R`` (``[l, P]`` rows, orthogonal to ``Q``) with its coupling ``K``
(``[l, j]``), such that

    H Q^T = Q^T T + R^T K.

Only ``Q`` and ``R`` are ``P``-sized and live on the operator's device; ``T`` and ``K`` are
small and kept on the host in float64, so the Ritz problem is solved in double precision
whatever the operator's dtype, and no ``P``-sized vector ever leaves the device.

A step moves ``b`` directions of ``R`` into the basis and multiplies them. With ``l <= b``
(Lanczos from one vector, block Lanczos) that is all of ``R``. A warm start leaves a residual
of rank ``l = s`` (a start subspace is not a Krylov subspace); a step then takes the ``b``
directions that carry most of the relative residual of the wanted, unconverged Ritz pairs
(the leading left singular vectors of ``K S_u D``, ``D = diag(1 / threshold_i)``) and keeps
the rest of ``R`` in the relation, which stays exact.

A single-vector Lanczos step (one residual row, e.g. from a random start) defers the full
Gram-Schmidt pass: the new row is made orthogonal only to the rows the relation couples it
to, Simon's estimate of its inner products with the rest is carried along on the host, and
the rows added since the last full orthogonalisation are orthogonalised together when the
estimate reaches ``sqrt(eps)``, and always before a restart, a convergence decision or the
Ritz vectors are taken (:mod:`landscape.curvature._reorth`). The basis is then orthonormal
to rounding as with a pass per step, at about one read of it every few steps.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from landscape.curvature._reorth import DGKS, loss_estimate, settle
from landscape.curvature.operator import CurvatureOperator

__all__ = ["DGKS", "REORTH", "KrylovSchur", "order"]

REORTH = ("partial", "full")
_CHUNK = 1 << 16  # columns per block when the basis is rotated in place at a restart
_HOST = torch.float64


def order(theta: Tensor, which: str) -> Tensor:
    """Indices that sort Ritz values by ``which`` (``LA``, ``SA`` or ``LM``)."""
    if which == "LA":
        return torch.argsort(theta, descending=True)
    if which == "SA":
        return torch.argsort(theta)
    return torch.argsort(theta.abs(), descending=True)


def _small(t: Tensor) -> Tensor:
    return t.to(_HOST).cpu()


class KrylovSchur:
    """A Krylov-Schur decomposition ``H Q^T = Q^T T + R^T K`` grown a block at a time.

    Args:
        op: the symmetric operator (its :meth:`matmat_rows` is the only product used).
        max_basis: most basis rows ``m`` (the buffer holds one more: the residual row of a
            Lanczos step is written where it will be multiplied next).
        start: ``[l, P]`` rows spanning the first block (need not be orthonormal).
        generator: random source for breakdown replacements.
        keep_first: keep the products of the first block (a warm start subspace) so that
            Ritz vectors taken right after it have explicit residuals without new products.
        known: ``H q^T`` of the first start rows when already computed (the rows must then
            be orthonormal): the first step reuses them instead of products.
        reorth: ``"partial"`` (Lanczos steps defer the full pass, see the module docstring)
            or ``"full"`` (a Gram-Schmidt pass against the whole basis every step).

    """

    def __init__(self, op: CurvatureOperator, max_basis: int, start: Tensor,
                 generator: torch.Generator, *, keep_first: bool = False,
                 known: Tensor | None = None, reorth: str = "partial") -> None:
        if reorth not in REORTH:
            raise ValueError(f"reorth must be one of {REORTH}, got {reorth!r}")
        self.op = op
        self.eps = float(torch.finfo(op.dtype).eps)
        self.m = max_basis
        self.basis = torch.empty(max_basis + 1, op.dim, device=op.device, dtype=op.dtype)
        self.j = 0
        self.t = torch.zeros(0, 0, dtype=_HOST)
        self.gen = generator
        if known is None:
            self.r, b = self._orthonormal(start)
            diag = torch.diagonal(b).abs()
            self.r = self.r[diag > 1e3 * self.eps * float(diag.max())]  # drop dependent ones
        else:
            self.r = start
        self.k = torch.zeros(self.r.shape[0], 0, dtype=_HOST)
        self.products = 0
        self.product_seconds = 0.0
        self.restarts = 0
        self.keep_first = keep_first
        self.first_products: Tensor | None = None
        self.known = known  # H q^T of the first start rows, already paid for
        self.defer = reorth == "partial"
        self.settled = 0  # rows [:settled] orthonormal; later rows and R pending when omega
        self.omega: Tensor | None = None  # estimated Q Q^T - I of the rows and R, pending
        self.settles = 0
        self.norm = 0.0  # largest ||H q|| seen: a lower bound of ||H||

    @property
    def pending(self) -> bool:
        """Whether rows added by deferred steps still await their full orthogonalisation."""
        return self.omega is not None

    @staticmethod
    def _orthonormal(rows: Tensor, *, inplace: bool = False) -> tuple[Tensor, Tensor]:
        """``rows = B^T Q`` with orthonormal rows ``Q``; returns ``(Q, B)`` (``B`` on host)."""
        if rows.shape[0] == 1:
            norm = rows.norm()
            scale = norm.clamp_min(torch.finfo(rows.dtype).tiny)
            return rows.div_(scale) if inplace else rows / scale, _small(norm)[None, None]
        q, b = torch.linalg.qr(rows.T)
        return q.T.contiguous(), _small(b)

    # ------------------------------------------------------------------ one step
    def _take(self, block: int, weights: Tensor | None, scale: float) -> tuple[Tensor, Tensor]:
        """Split ``R`` into the next basis rows and the rest; return ``(rows, T[new, old])``."""
        r, k, j = self.r, self.k, self.j
        if j == 0:  # the first block: the whole (orthonormal) start
            self.r, self.k = r[:0], k[:0]
            return r, k
        floor = max(1e3 * self.eps * scale, torch.finfo(_HOST).tiny)
        if r.shape[0] == 1:  # Lanczos: one residual vector, coupled through beta
            live = int(float(k.norm()) > floor)
            u = sv = vh = torch.ones(1, 1, dtype=_HOST)
        else:  # drop directions without residual (an invariant subspace, or locked pairs)
            u, sv, vh = torch.linalg.svd(k, full_matrices=False)
            live = int((sv > floor).sum())
        if live == 0:  # breakdown: continue from a random direction orthogonal to Q
            w = torch.randn(1, self.op.dim, generator=self.gen, device=self.op.device,
                            dtype=self.op.dtype)
            q = self.basis[:j]
            for _ in range(2):
                w -= (q @ w.T).T @ q
            self.r, self.k = r[:0], k[:0]
            return w / w.norm(), torch.zeros(1, j, dtype=_HOST)
        if live <= block:
            if live == r.shape[0]:
                self.r, self.k = r[:0], k[:0]
                return r, k
            rot = u[:, :live]
        else:  # more residual directions than the block: the most important ones first
            rot = u[:, :live]
            if weights is not None and weights.shape[1]:
                c = (sv[:live, None] * vh[:live]) @ weights
                rot = rot @ torch.linalg.svd(c, full_matrices=True)[0]
        rows = rot.T.to(device=r.device, dtype=r.dtype) @ r
        coupling = rot.T @ k
        self.r, self.k = rows[block:], coupling[block:]
        return rows[:block], coupling[:block]

    def expand(self, scale: float, block: int = 1, weights: Tensor | None = None) -> None:
        """Add up to ``block`` rows of ``R`` to the basis; one block product; reorthogonalise.

        ``H q_new`` is orthogonalised first against the rows it is known to couple to (the
        three-term recurrence of Lanczos, or the kept Ritz vectors after a restart), then by
        one classical Gram-Schmidt pass against the whole basis, and by a second pass only
        when the first removed most of it (the criterion of Daniel, Gragg, Kaufman & Stewart
        1976; "twice is enough", Giraud et al. 2005).

        Args:
            scale: the spectral scale ``||H||`` (for the breakdown test).
            block: most rows to add (all of the first block regardless).
            weights: ``[j, u]`` coefficients of the Ritz vectors whose residuals matter,
                scaled by ``1 / threshold``; used when ``R`` has more than ``block`` rows.

        """
        if (self.defer and self.j > 0 and self.known is None and self.r.shape[0] == 1
                and float(self.k.norm()) > max(1e3 * self.eps * scale,
                                               torch.finfo(_HOST).tiny)):
            self._lanczos_step(scale)
            return
        self.settle()
        j = self.j
        new_rows, c = self._take(block, weights, scale)
        n = new_rows.shape[0]
        if j + n > self.m:
            raise RuntimeError("internal: the Krylov basis overflowed; restart first")
        if new_rows.data_ptr() != self.basis[j].data_ptr():
            self.basis[j : j + n] = new_rows
        new = self.basis[j : j + n]
        if self.known is not None and j == 0:  # products of the first rows are known
            w, self.known = self.known, None
            if w.shape[0] < n:
                start = time.perf_counter()
                w = torch.cat([w, self.op.matmat_rows(new[w.shape[0] :])])
                self.product_seconds += time.perf_counter() - start
                self.products += n - 1
        else:
            w = self.multiply(new)
        self.first_products = w.clone() if j == 0 and self.keep_first else None
        nonzero = torch.nonzero(c.abs().sum(0)).flatten()
        if nonzero.numel():  # known couplings: T[old, new] = C^T
            lo = int(nonzero[0])
            w.addmm_(c[:, lo:].to(device=w.device, dtype=w.dtype), self.basis[lo:j], alpha=-1)
        a = w @ new.T  # [n, n]
        w.addmm_(a, new, alpha=-1)
        full = self.basis[: j + n]
        before = w.norm(dim=1)
        h = (full @ w.T).T  # [n, j + n]; this layout keeps the product memory-bound
        w.addmm_(h, full, alpha=-1)
        if bool((w.norm(dim=1) < DGKS * before).any()):
            h2 = (full @ w.T).T
            w.addmm_(h2, full, alpha=-1)
            h = h + h2
        h = _small(h)
        h[:, :j] += c
        h[:, j:] += _small(a)
        t = torch.zeros(j + n, j + n, dtype=_HOST)
        t[:j, :j] = self.t
        t[j:, :j] = h[:, :j]
        t[:j, j:] = h[:, :j].T
        t[j:, j:] = 0.5 * (h[:, j:] + h[:, j:].T)
        self.t, self.j = t, j + n
        # new residual rows: W orthonormalised against the rows of R left over, then itself
        rest, k_rest = self.r, torch.cat([self.k, torch.zeros(self.k.shape[0], n,
                                                              dtype=_HOST)], 1)
        x = torch.zeros(rest.shape[0], n, dtype=_HOST)
        if rest.shape[0]:
            xd = rest @ w.T
            w.addmm_(xd.T, rest, alpha=-1)
            x = _small(xd)
        wq, bw = self._orthonormal(w, inplace=True)
        k_rest[:, j:] += x
        k_new = torch.zeros(n, j + n, dtype=_HOST)
        k_new[:, j:] = bw
        self.r = torch.cat([rest, wq]) if rest.shape[0] else wq
        self.k = torch.cat([k_rest, k_new])
        self.settled = self.j

    def multiply(self, rows: Tensor) -> Tensor:
        """``H rows`` (row-major), counted and timed (synchronised on CUDA) as products."""
        start = time.perf_counter()
        w = self.op.matmat_rows(rows)
        if w.device.type == "cuda":
            torch.cuda.synchronize(w.device)
        self.product_seconds += time.perf_counter() - start
        self.products += rows.shape[0]
        return w

    def _lanczos_step(self, scale: float) -> None:
        """One Lanczos step whose full orthogonalisation is deferred (see the module docstring).

        The residual row becomes basis row ``j`` (it is usually there already), ``w = H q``
        is made orthogonal to the rows it couples to (``K``: the previous row, or the kept
        Ritz vectors after a restart) and to ``q`` in one pass, and its normalised remainder
        is written to row ``j + 1`` as the new residual. The projected matrix gains the
        column ``[K, alpha]`` and Simon's estimate a row; the pending rows are settled when
        the estimate passes ``sqrt(eps)``.
        """
        j, c = self.j, self.k
        q = self.basis[j : j + 1]
        if self.r.data_ptr() != q.data_ptr():
            q.copy_(self.r)
        if self.omega is None:  # everything so far is orthonormal: q included
            self.settled = j + 1
            self.omega = torch.zeros(j + 1, j + 1, dtype=_HOST)
        w = self.multiply(q)
        # the first row's product serves the final verification only while it is the basis
        self.first_products = w.clone() if j == 0 and self.keep_first else None
        alpha = float(w[0] @ q[0])
        nonzero = torch.nonzero(c[0]).flatten()
        lo = int(nonzero[0]) if nonzero.numel() else j
        coef = torch.cat([c[0, lo:], torch.tensor([alpha], dtype=_HOST)])
        w.addmm_(coef[None].to(device=w.device, dtype=w.dtype), self.basis[lo : j + 1],
                 alpha=-1)
        beta = float(w.norm())
        self.norm = max(self.norm, (alpha**2 + beta**2 + float(c.square().sum())) ** 0.5)
        t = torch.zeros(j + 1, j + 1, dtype=_HOST)
        t[:j, :j] = self.t
        t[j, :j] = c[0]
        t[:j, j] = c[0]
        t[j, j] = alpha
        x = loss_estimate(self.omega, t, beta, self.eps * max(self.norm, scale))
        omega = torch.zeros(j + 2, j + 2, dtype=_HOST)
        omega[: j + 1, : j + 1] = self.omega
        omega[j + 1, : j + 1] = omega[: j + 1, j + 1] = x
        self.omega, self.t, self.j = omega, t, j + 1
        self.k = torch.zeros(1, j + 1, dtype=_HOST)
        self.k[0, j] = beta
        self.r = self.basis[j + 1 : j + 2]
        torch.div(w, max(beta, torch.finfo(w.dtype).tiny), out=self.r)
        if not float(x.abs().max()) <= self.eps**0.5:
            self.settle()

    def settle(self) -> None:
        """Orthogonalise the rows added by deferred steps (no-op when nothing is pending)."""
        if self.omega is None:
            return
        n = self.j
        if self.r.data_ptr() != self.basis[n].data_ptr():
            self.basis[n : n + 1] = self.r
        self.t, self.k = settle(self.basis, self.settled, n, self.t, self.k)
        self.r = self.basis[n : n + 1]
        self.settled, self.omega = n, None
        self.settles += 1

    # ------------------------------------------------------------------ Ritz pairs
    def ritz(self, which: str) -> tuple[Tensor, Tensor, Tensor]:
        """Ritz values, vectors (coefficients ``S``) and residual norms ``||K s_i||``."""
        theta, s = torch.linalg.eigh(self.t)
        idx = order(theta, which)
        theta, s = theta[idx], s[:, idx]
        return theta, s, (self.k @ s).norm(dim=0)

    def lock(self, s: Tensor) -> None:
        """Drop the residual coupling of the Ritz vectors ``Q^T s`` (columns of ``s``).

        A backward-stable deflation (Stewart 2001): it changes ``H`` by at most the locked
        pairs' residuals, and lets the rank of the residual block fall.
        """
        self.k = self.k - (self.k @ s) @ s.T

    def restart(self, s: Tensor, theta: Tensor, keep: int) -> None:
        """Thick restart: keep the Ritz vectors ``Q^T s[:, :keep]`` (rotated in place).

        The basis must be settled (:meth:`settle`) and ``s`` taken from it.
        """
        if self.omega is not None:
            raise RuntimeError("internal: settle the basis before a restart")
        rot = s[:, :keep].T.to(device=self.basis.device, dtype=self.basis.dtype)
        for lo in range(0, self.basis.shape[1], _CHUNK):
            cols = self.basis[: self.j, lo : lo + _CHUNK]
            self.basis[:keep, lo : lo + _CHUNK] = rot @ cols
        self.t = torch.diag(theta[:keep])
        self.k = self.k @ s[:, :keep]
        self.j = self.settled = keep
        self.restarts += 1
        self.first_products = None

    def vectors(self, s: Tensor) -> Tensor:
        """Ritz vectors ``s^T Q`` as rows ``[k, P]`` (of a settled basis)."""
        if self.omega is not None:
            raise RuntimeError("internal: settle the basis before taking Ritz vectors")
        return s.T.to(device=self.basis.device, dtype=self.basis.dtype) @ self.basis[: self.j]
