"""How a vector and two subspaces relate to the sharp subspace: shares, angles, overlaps.

For an orthonormal basis ``V`` (``P x k``) of a subspace, e.g. the top-k Hessian
eigenvectors:

* the **share** of a vector ``g`` in the subspace is ``||V^T g||^2 / ||g||^2`` (Gur-Ari et
  al. 2018, "Gradient Descent Happens in a Tiny Subspace": the gradient lies mostly in the
  top-k eigenspace). A direction drawn uniformly at random has expected share ``k / P``;
* the **principal angles** ``0 <= theta_1 <= ... <= theta_k <= pi/2`` between two
  subspaces (Björck & Golub 1973) have cosines the singular values of ``Q_a^T Q_b``. Small
  angles are taken from the sines, the singular values of ``Q_b - Q_a Q_a^T Q_b``, where the
  cosines lose them to rounding (Knyazev & Argentati 2002): an angle of 1e-8 is found to
  about 1e-16 absolute instead of 1e-8;
* the **overlap** ``||V_a^T V_b||_F^2 / k = mean_i cos^2 theta_i``: 1 for the same subspace,
  0 for orthogonal ones, ``k / P`` in expectation for two random ones.

Every result is computed in float64. A basis need not be orthonormal on input: it is
orthonormalised (thin QR), so only its span matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SubspaceShare", "orthonormal_basis", "principal_angles", "subspace_overlap",
           "subspace_share"]


def _columns(basis: Tensor, dim: int | None = None) -> Tensor:
    """``basis`` as float64 columns ``[P, k]`` (``[k, P]`` rows are accepted when ``k < P``)."""
    if not isinstance(basis, Tensor) or basis.dim() not in (1, 2):
        raise ValueError(
            f"expected a basis [P, k] (columns, as EigenResult.eigenvectors) or [k, P] (rows, "
            f"as stored hessian.topk eigenvectors), got {getattr(basis, 'shape', type(basis))}"
        )
    b = basis.detach().to(torch.float64)
    if b.dim() == 1:
        b = b[:, None]
    if dim is not None:
        if b.shape[0] != dim and b.shape[1] == dim:
            b = b.T
        if b.shape[0] != dim:
            raise ValueError(f"the basis has shape {tuple(basis.shape)}, the vector space has "
                             f"dimension {dim}: pass vectors of the same model")
    elif b.shape[0] < b.shape[1]:
        b = b.T
    if b.shape[1] > b.shape[0]:
        raise ValueError(f"a basis of {b.shape[1]} vectors does not fit in dimension "
                         f"{b.shape[0]}")
    return b


def orthonormal_basis(basis: Tensor, dim: int | None = None) -> Tensor:
    """An orthonormal float64 basis ``[P, k]`` of the span of ``basis`` (thin QR).

    Raises:
        ValueError: a malformed or rank-deficient basis (its span has fewer than ``k``
            dimensions).

    >>> orthonormal_basis(torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])).abs().tolist()
    [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """
    b = _columns(basis, dim)
    q, r = torch.linalg.qr(b)
    diag = r.diagonal().abs()
    if diag.numel() and float(diag.min()) <= 1e-12 * max(float(diag.max()), 1e-300):
        raise ValueError(f"the {b.shape[1]} basis vectors are linearly dependent: pass "
                         "independent vectors (e.g. eigenvectors of distinct eigenpairs)")
    return q


@dataclass(frozen=True)
class SubspaceShare:
    """The share of a vector in a subspace.

    Attributes:
        share: ``||V^T g||^2 / ||g||^2`` in ``[0, 1]``.
        per_vector: ``[k]`` the share along each basis vector (``(v_i^T g)^2 / ||g||^2``;
            summing to ``share`` for an orthonormal basis as given).
        norm: ``||g||``.
        random_expected: ``k / P``, the expected share of a random direction.

    """

    share: float
    per_vector: list[float]
    norm: float
    random_expected: float


def subspace_share(basis: Tensor, vector: Tensor) -> SubspaceShare:
    """The share of ``vector`` in the span of ``basis`` (Gur-Ari et al. 2018).

    ``per_vector`` uses the basis as given (e.g. one entry per eigenvector; orthonormal
    eigenvectors are kept as they are), ``share`` its orthonormalised span.

    Raises:
        ValueError: mismatching shapes or a zero vector (its share is undefined).

    >>> s = subspace_share(torch.eye(4)[:, :2], torch.tensor([3.0, 0.0, 4.0, 0.0]))
    >>> round(s.share, 12), [round(x, 12) for x in s.per_vector], s.norm, s.random_expected
    (0.36, [0.36, 0.0], 5.0, 0.5)
    """
    g = vector.detach().reshape(-1).to(torch.float64)
    cols = _columns(basis, g.numel()).to(g.device)
    norm = float(torch.linalg.vector_norm(g))
    if norm == 0.0:
        raise ValueError("the vector is zero (e.g. a gradient at an exact critical point): its "
                         "share in a subspace is undefined")
    q = orthonormal_basis(cols)
    share = float(torch.linalg.vector_norm(q.T @ g) ** 2) / norm**2
    per = ((cols.T @ g) / (torch.linalg.vector_norm(cols, dim=0) * norm)) ** 2
    return SubspaceShare(share=min(share, 1.0), per_vector=per.cpu().tolist(), norm=norm,
                         random_expected=cols.shape[1] / g.numel())


def principal_angles(a: Tensor, b: Tensor) -> Tensor:
    """Principal angles (radians, ascending) between the spans of ``a`` and ``b``.

    ``min(k_a, k_b)`` angles. Cosines from the singular values of ``Q_a^T Q_b``; angles whose
    cosine exceeds ``1/sqrt(2)`` from the sines instead (Knyazev & Argentati 2002), which keep
    small angles accurate.

    Raises:
        ValueError: bases of different dimensions ``P``, or malformed bases.

    >>> e = torch.eye(3, dtype=torch.float64)
    >>> c, s = math.cos(0.3), math.sin(0.3)
    >>> rotated = torch.stack([e[0], c * e[1] + s * e[2]], 1)
    >>> [round(x, 12) for x in principal_angles(e[:, :2], rotated).tolist()]
    [0.0, 0.3]
    """
    qa = orthonormal_basis(a)
    qb = orthonormal_basis(b, qa.shape[0]).to(qa.device)
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa  # the angles of the smaller subspace to the larger
    m = qa.T @ qb
    cosines = torch.linalg.svdvals(m).clamp(0.0, 1.0).flip(0)  # ascending: largest angle first
    sines = torch.linalg.svdvals(qb - qa @ m).clamp(0.0, 1.0)  # descending: largest angle first
    angles = torch.where(cosines**2 < 0.5, torch.arccos(cosines), torch.arcsin(sines))
    return angles.flip(0)


def subspace_overlap(a: Tensor, b: Tensor) -> float:
    """``||Q_a^T Q_b||_F^2 / k`` with ``k = min(k_a, k_b)``: the mean squared cosine.

    1 for the same subspace, 0 for orthogonal ones, ``k / P`` in expectation for two random
    ``k``-dimensional subspaces of ``R^P`` (with ``k_a = k_b``).

    >>> e = torch.eye(4)
    >>> subspace_overlap(e[:, :2], e[:, 1:3])
    0.5
    """
    qa = orthonormal_basis(a)
    qb = orthonormal_basis(b, qa.shape[0]).to(qa.device)
    k = min(qa.shape[1], qb.shape[1])
    value = float(torch.linalg.matrix_norm(qa.T @ qb) ** 2) / k
    return min(value, 1.0) if math.isfinite(value) else value
