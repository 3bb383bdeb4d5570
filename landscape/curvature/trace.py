"""Stochastic trace estimators: Hutchinson and Hutch++.

Hutchinson (1989): for Rademacher probes ``z`` (entries +-1), ``E[z^T H z] = tr(H)``; the mean
of ``m`` samples has standard error ``std(z^T H z) / sqrt(m)``.

Hutch++ (Meyer, Musco, Musco & Woodruff 2021, "Hutch++: optimal stochastic trace
estimation"): spend a third of the products on a sketch ``Q = orth(H S)``, take
``tr(Q^T H Q)`` exactly and apply Hutchinson to the deflated rest ``(I - QQ^T) H (I - QQ^T)``:
``tr(H) ~ tr(Q^T H Q) + (3/m) sum_i g_i^T (I - QQ^T) H (I - QQ^T) g_i``. The variance falls
like ``1/m^2`` instead of ``1/m`` when the spectrum decays, as Hessian spectra do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from landscape.curvature.lanczos import _as_operator
from landscape.curvature.operator import CurvatureOperator

__all__ = ["TraceEstimate", "hutchinson", "hutchpp"]


@dataclass
class TraceEstimate:
    """A stochastic trace estimate.

    Attributes:
        value: the estimate of ``tr(H)``.
        stderr: its standard error (from the spread of the Hutchinson samples).
        num_products: matrix-vector products used.
        samples: the Hutchinson samples ``z^T H z`` (of the deflated part for Hutch++).

    """

    value: float
    stderr: float
    num_products: int
    samples: Tensor


def _rademacher(n: int, m: int, gen: torch.Generator, op: CurvatureOperator) -> Tensor:
    bits = torch.randint(0, 2, (n, m), generator=gen, device=op.device)
    return (2 * bits - 1).to(op.dtype)


def _stderr(samples: Tensor) -> float:
    if samples.numel() < 2:
        return math.inf
    return float(samples.std() / math.sqrt(samples.numel()))


def _check(num: int, what: str, least: int) -> None:
    if num < least:
        raise ValueError(f"{what} must be at least {least}, got {num}")


def hutchinson(
    op: CurvatureOperator | Tensor, num_probes: int = 100, *, block_size: int = 10,
    seed: int = 0, progress: bool = False,
) -> TraceEstimate:
    """Hutchinson's trace estimate ``mean_i z_i^T H z_i`` with Rademacher ``z_i``.

    Args:
        op: the operator (or a dense symmetric matrix).
        num_probes: number of probes ``m`` (products).
        block_size: probes per block product.
        seed: seed of the probes.
        progress: show a tqdm bar on stderr, one tick per probe.

    Returns:
        A :class:`TraceEstimate` with ``stderr = std / sqrt(m)``.

    Raises:
        ValueError: ``num_probes < 2`` or ``block_size < 1``.

    >>> est = hutchinson(torch.diag(torch.tensor([1.0, 2.0, 3.0])), 50)
    >>> est.value, est.stderr   # diagonal: z^T D z = tr(D) for every +-1 probe
    (6.0, 0.0)
    """
    op = _as_operator(op)
    _check(num_probes, "num_probes", 2)
    _check(block_size, "block_size", 1)
    gen = torch.Generator(device=op.device).manual_seed(seed)
    samples = []
    with tqdm(total=num_probes, desc="trace", unit="probe", leave=False,
              disable=not progress) as bar:
        for start in range(0, num_probes, block_size):
            z = _rademacher(op.dim, min(block_size, num_probes - start), gen, op)
            samples.append((z * op.matmat(z)).sum(0))
            bar.update(z.shape[1])
    s = torch.cat(samples)
    return TraceEstimate(float(s.mean()), _stderr(s), num_probes, s)


def hutchpp(
    op: CurvatureOperator | Tensor, num_products: int = 102, *, seed: int = 0
) -> TraceEstimate:
    """Hutch++ trace estimate with a budget of ``num_products`` products.

    Args:
        op: the operator (or a dense symmetric matrix).
        num_products: total products ``m`` (``m // 3`` sketch, ``m // 3`` for ``Q^T H Q``,
            the rest for Hutchinson on the deflated operator).
        seed: seed of the random sketch and probes.

    Returns:
        A :class:`TraceEstimate`; ``stderr`` is that of the deflated Hutchinson part.

    Raises:
        ValueError: ``num_products < 6``.

    >>> d = torch.diag(torch.arange(1.0, 5.0, dtype=torch.float64))
    >>> round(hutchpp(d, 12).value, 9)   # the sketch spans everything: exact
    10.0
    """
    op = _as_operator(op)
    _check(num_products, "num_products", 6)
    gen = torch.Generator(device=op.device).manual_seed(seed)
    s = min(num_products // 3, op.dim)
    g = num_products - 2 * s
    q, _ = torch.linalg.qr(op.matmat(_rademacher(op.dim, s, gen, op)))
    exact = float((q * op.matmat(q)).sum())
    z = _rademacher(op.dim, g, gen, op)
    z = z - q @ (q.T @ z)
    samples = (z * op.matmat(z)).sum(0)
    return TraceEstimate(exact + float(samples.mean()), _stderr(samples), 2 * s + g, samples)
