r"""Share of a direction that lies in a leading eigenspace (Chao et al. 2020, Sec. 4.3, eq. 13).

With ``V_k`` the top-k eigenvectors of the Hessian at ``w_SGD`` (orthonormal columns) and
``delta = w_gRDA - w_SGD``:

.. math::

    r = \frac{\lVert V_k^\top \delta \rVert}{\lVert \delta \rVert}, \qquad
    r^2 = \sum_i s_i, \qquad s_i = \frac{(v_i \cdot \delta)^2}{\lVert \delta \rVert^2}.

``r^2`` is the share of ``delta``'s squared length in the eigenspace. Sanity: ``delta`` an
eigenvector gives 1, a vector orthogonal to the space 0, an isotropic random vector
``k / P`` in expectation. (The reference notebook divided by a further ``sqrt(10)``; that is
not done here.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Projection", "project", "random_direction_shares"]


@dataclass(frozen=True)
class Projection:
    """The projection of one direction on an eigenspace.

    Attributes:
        ratio: ``||V^T delta|| / ||delta||`` in [0, 1].
        share: ``ratio ** 2``.
        per_vector: ``(v_i . delta)^2 / ||delta||^2`` for each eigenvector, summing to ``share``.
        delta_norm: ``||delta||``.
    """

    ratio: float
    share: float
    per_vector: list[float]
    delta_norm: float


def _columns(vectors: Tensor, dim: int) -> Tensor:
    """Return eigenvectors as ``[P, k]`` columns, accepting ``[P, k]`` or ``[k, P]``."""
    if vectors.dim() == 1:
        vectors = vectors[:, None]
    if vectors.dim() != 2 or dim not in vectors.shape:
        raise ValueError(
            f"eigenvectors must be [P, k] or [k, P] with P = {dim} (the length of delta), "
            f"got shape {tuple(vectors.shape)}: were they computed for another model?"
        )
    return vectors if vectors.shape[0] == dim else vectors.T


def project(eigenvectors: Tensor, delta: Tensor) -> Projection:
    """Project ``delta`` on the span of orthonormal ``eigenvectors`` (Chao et al. 2020, eq. 13).

    Args:
        eigenvectors: ``[P, k]`` (or ``[k, P]``) orthonormal eigenvectors.
        delta: ``[P]`` direction, e.g. ``w_gRDA(e) - w_SGD(e)``.

    Returns:
        A :class:`Projection`. Computed in float64.

    Raises:
        ValueError: shapes do not match, or ``delta`` is zero (the share is undefined).

    >>> v = torch.eye(4)[:, :2]
    >>> p = project(v, torch.tensor([3.0, 0.0, 4.0, 0.0]))
    >>> round(p.share, 6), [round(s, 6) for s in p.per_vector], p.delta_norm
    (0.36, [0.36, 0.0], 5.0)
    """
    delta = delta.reshape(-1).double()
    cols = _columns(eigenvectors, delta.numel()).to(device=delta.device, dtype=torch.float64)
    norm = float(torch.linalg.vector_norm(delta))
    if norm == 0.0:
        raise ValueError("delta is the zero vector: the two weight vectors are identical, so "
                         "its share in any eigenspace is undefined")
    coeffs = cols.T @ delta
    per = (coeffs / norm) ** 2
    share = float(per.sum())
    return Projection(ratio=share**0.5, share=share, per_vector=per.tolist(), delta_norm=norm)


def random_direction_shares(
    eigenvectors: Tensor,
    *,
    num: int = 32,
    generator: torch.Generator | None = None,
    chunk: int = 8,
) -> Tensor:
    """Shares of ``num`` isotropic Gaussian directions (the "random" baseline, about k/P).

    Directions are drawn ``chunk`` at a time on the eigenvectors' device and in their dtype
    (the generator must live there too; default: a fresh one), so memory stays at
    ``chunk * P`` numbers even for a VGG-sized ``P``; the shares are accumulated in float64.

    Returns:
        ``[num]`` float64 shares (on the CPU).
    """
    dim = max(eigenvectors.shape) if eigenvectors.dim() == 2 else eigenvectors.numel()
    cols = _columns(eigenvectors, dim)
    shares = []
    for start in range(0, num, chunk):
        z = torch.randn(dim, min(chunk, num - start), generator=generator, dtype=cols.dtype,
                        device=cols.device)
        inside = ((cols.T @ z).double() ** 2).sum(0)
        shares.append((inside / (z.double() ** 2).sum(0)).cpu())
    return torch.cat(shares)
