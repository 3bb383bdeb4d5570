"""Spectral density by stochastic Lanczos quadrature (SLQ).

Ubaru, Chen & Saad (2017), "Fast estimation of tr(f(A)) via stochastic Lanczos quadrature";
applied to neural-network Hessians by Ghorbani, Krishnan & Xiao (2019), "An investigation
into neural net optimization via Hessian eigenvalue density". For a probe ``v`` with
``||v|| = 1``, ``m`` Lanczos steps give a tridiagonal ``T_m = U diag(theta) U^T`` and the
Gauss quadrature ``v^T f(H) v ~ sum_j tau_j f(theta_j)`` with ``tau_j = U[0, j]^2``. The
density, broadened by a Gaussian of width ``sigma``, is the average over probes

    phi(t) = (1 / n_v) sum_v sum_j tau_j N(t; theta_j, sigma^2),

an estimate of ``(1/P) sum_i N(t; lambda_i, sigma^2)``. Probes advance in blocks through the
operator's block product (one data pass per step for a block); each probe's basis is fully
reorthogonalised (twice), so no ghost eigenvalues.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from landscape.curvature.lanczos import _as_operator
from landscape.curvature.operator import CurvatureOperator

__all__ = ["SpectralDensity", "gaussian_density", "slq_density"]


@dataclass
class SpectralDensity:
    """An SLQ spectral density.

    Attributes:
        grid: ``[G]`` points ``t``.
        density: ``[G]`` ``phi(t)`` (integrates to about 1).
        nodes: ``[n_v, m]`` Ritz values per probe (quadrature nodes).
        weights: ``[n_v, m]`` quadrature weights per probe (each row sums to 1).
        sigma: Gaussian broadening.
        num_products: matrix-vector products used.

    """

    grid: Tensor
    density: Tensor
    nodes: Tensor
    weights: Tensor
    sigma: float
    num_products: int

    def trace(self, dim: int) -> float:
        """``tr(H) ~ P * mean_v sum_j tau_j theta_j`` from the same quadrature."""
        return float(dim * (self.weights * self.nodes).sum(1).mean())


def gaussian_density(grid: Tensor, nodes: Tensor, weights: Tensor, sigma: float) -> Tensor:
    """``sum_j w_j N(t; x_j, sigma^2)`` at every grid point (weights may be a batch: averaged).

    >>> t = torch.tensor([0.0])
    >>> round(float(gaussian_density(t, torch.tensor([0.0]), torch.tensor([1.0]), 1.0)), 6)
    0.398942
    """
    probes = weights.shape[0] if weights.dim() == 2 else 1
    nodes, weights = nodes.reshape(-1, 1), weights.reshape(-1, 1) / probes
    z = (grid.reshape(1, -1) - nodes) / sigma
    return (weights * torch.exp(-0.5 * z**2)).sum(0) / (sigma * math.sqrt(2 * math.pi))


def _lanczos_block(op: CurvatureOperator, v: Tensor, m: int) -> tuple[Tensor, Tensor, int]:
    """Run ``m`` Lanczos steps for each column of ``v`` (unit probes) together.

    Returns the Ritz values ``[nv, m]`` and quadrature weights ``[nv, m]`` of each probe.
    """
    n, nv = v.shape
    dev, dt = v.device, v.dtype
    basis = torch.zeros(nv, m, n, device=dev, dtype=dt)
    alpha = torch.zeros(nv, m, device=dev, dtype=dt)
    beta = torch.zeros(nv, m, device=dev, dtype=dt)
    active = torch.ones(nv, dtype=torch.bool, device=dev)
    for j in range(m):
        basis[:, j] = v.T
        w = op.matmat(v)
        alpha[:, j] = (w * v).sum(0)
        q = basis[:, : j + 1]  # [nv, j+1, n]
        for _ in range(2):  # full reorthogonalisation, twice
            w = w - torch.einsum("vjn,vj->nv", q, torch.einsum("vjn,nv->vj", q, w))
        if j + 1 == m:
            break
        b = w.norm(dim=0)
        scale = alpha[:, : j + 1].abs().amax(1).clamp_min(1e-300)
        active &= b > 1e3 * torch.finfo(dt).eps * scale  # breakdown: Krylov space exhausted
        beta[:, j] = torch.where(active, b, torch.zeros_like(b))
        v = torch.where(active, w / b.clamp_min(1e-300), torch.zeros_like(w))
    nodes = torch.empty(nv, m, device=dev, dtype=dt)
    weights = torch.zeros(nv, m, device=dev, dtype=dt)
    for p in range(nv):
        steps = m if bool((beta[p, : m - 1] > 0).all()) else int((beta[p] == 0).nonzero()[0]) + 1
        t = torch.diag(alpha[p, :steps]) + torch.diag(beta[p, : steps - 1], 1) + torch.diag(
            beta[p, : steps - 1], -1
        )
        theta, u = torch.linalg.eigh(t)
        nodes[p] = theta[-1]  # unused slots: zero weight at a harmless node
        nodes[p, :steps], weights[p, :steps] = theta, u[0] ** 2
    return nodes, weights, nv * m


def slq_density(
    op: CurvatureOperator | Tensor,
    *,
    num_probes: int = 8,
    num_steps: int = 80,
    grid_size: int = 1000,
    sigma: float | None = None,
    seed: int = 0,
    block_size: int | None = None,
    progress: bool = False,
) -> SpectralDensity:
    """Estimate the spectral density of ``op`` by stochastic Lanczos quadrature.

    Args:
        op: the operator (or a dense symmetric matrix).
        num_probes: Rademacher probes ``n_v``.
        num_steps: Lanczos steps ``m`` per probe (capped at ``P``); memory is
            ``block_size * m`` vectors of size ``P``.
        grid_size: points of the grid, which spans the Ritz values plus ``5 sigma``.
        sigma: Gaussian broadening (default: 1/200 of the spread of the Ritz values).
        seed: seed of the probes (the same probes whatever the block size).
        block_size: probes advanced together by block products (default: all of them when
            the operator's block product is one data pass, ``block="vmap"``, else one).
        progress: show a tqdm bar on stderr, one tick per probe.

    Returns:
        A :class:`SpectralDensity`.

    Raises:
        ValueError: a non-positive count.

    >>> d = torch.diag(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    >>> est = slq_density(d, num_probes=2, num_steps=4, sigma=0.1)
    >>> round(est.trace(4), 9)   # four steps span everything: exact quadrature
    10.0
    """
    op = _as_operator(op)
    if min(num_probes, num_steps, grid_size) < 1 or (block_size is not None and block_size < 1):
        raise ValueError(
            f"num_probes, num_steps, grid_size and block_size must be positive, got "
            f"{num_probes}, {num_steps}, {grid_size}, {block_size}"
        )
    n, nv, m = op.dim, num_probes, min(num_steps, op.dim)
    if block_size is None:
        block_size = nv if getattr(op, "block", "vmap") == "vmap" else 1
    dev, dt = op.device, op.dtype
    gen = torch.Generator(device=dev).manual_seed(seed)
    v = (2 * torch.randint(0, 2, (n, nv), generator=gen, device=dev) - 1).to(dt) / math.sqrt(n)
    parts, products = [], 0
    with tqdm(total=nv, desc="slq", unit="probe", leave=False, disable=not progress) as bar:
        for lo in range(0, nv, block_size):
            parts.append(_lanczos_block(op, v[:, lo : lo + block_size], m))
            products += parts[-1][2]
            bar.update(parts[-1][0].shape[0])
    nodes = torch.cat([p[0] for p in parts])
    weights = torch.cat([p[1] for p in parts])
    lo, hi = float(nodes.min()), float(nodes.max())
    if sigma is None:
        sigma = max(hi - lo, 1e-12 * max(abs(lo), abs(hi), 1.0)) / 200
    grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, grid_size, device=dev, dtype=dt)
    density = gaussian_density(grid, nodes, weights, sigma)
    return SpectralDensity(grid, density, nodes, weights, float(sigma), products)
