"""Final residuals of the Ritz pairs: explicit (one block product) or confirmed by a sketch.

The Krylov-Schur relation gives every Ritz residual without a product,
``||H y_i - theta_i y_i|| = ||K s_i||``; a product tells whether the operator agrees:

* ``verify=True``: one block product of the ``k`` Ritz vectors (one data pass) and the
  explicit residuals. Ritz vectors of a warm start's first block reuse its products.
* ``verify="sketch"``: for ``k`` above :data:`SKETCH_PROBES`, one block product of
  ``r = SKETCH_PROBES`` random combinations ``Y^T g_l`` of the Ritz vectors. The relation
  predicts ``H Y^T g = Y^T (theta * g) + R^T K S g``; the products measure ``D g_l``, with
  ``D`` the deviations ``d_i`` of the true residual vectors from the predicted ones, and
  Halko, Martinsson & Tropp (2011, "Finding structure with randomness", Lemma 4.1) bound
  ``||d_i|| <= ||D|| <= 10 sqrt(2 / pi) max_l ||D g_l||`` except with probability
  ``10^-r``. The residuals reported are ``||K s_i|| + 10 sqrt(2 / pi) max_l ||D g_l||``
  when every one is within its threshold (a product-rounding or a broken relation, e.g. an
  operator that changed between products, shows in ``D``); otherwise the block product
  decides.
* ``verify=False``: the estimates ``||K s_i||``.

The products are counted in the state's ``products`` and ``product_seconds``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from landscape.curvature._krylov import KrylovSchur

__all__ = ["SKETCH_PROBES", "verify_residuals"]

SKETCH_PROBES = 3  # an error is missed with probability at most 10^-3
_SKETCH_FACTOR = 10 * (2 / math.pi) ** 0.5


def _sketch(state: KrylovSchur, sk: Tensor, vectors: Tensor, values: Tensor, est: Tensor,
            threshold: Tensor, seed: int) -> Tensor | None:
    """Residual bounds from :data:`SKETCH_PROBES` products, or None when not confirmed."""
    g = torch.randn(sk.shape[1], SKETCH_PROBES,
                    generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    dev = {"device": vectors.device, "dtype": vectors.dtype}
    y = g.T.to(**dev) @ vectors
    predicted = (g.to(**dev) * values[:, None]).T @ vectors
    predicted += (state.k @ (sk @ g)).T.to(**dev) @ state.r
    err = float((state.multiply(y) - predicted).norm(dim=1).max())
    bounds = est + _SKETCH_FACTOR * err
    return bounds if bool((bounds <= threshold).all()) else None


def verify_residuals(state: KrylovSchur, sk: Tensor, vectors: Tensor, values: Tensor,
                     est: Tensor, threshold: Tensor, *, verify: bool | str,
                     seed: int) -> Tensor:
    """Residuals of the Ritz pairs ``(values, vectors = sk^T Q)`` (float64, host).

    Args:
        state: the settled decomposition the pairs come from.
        sk: ``[j, k]`` Ritz coefficients.
        vectors: ``[k, P]`` Ritz vectors (rows).
        values: ``[k]`` Ritz values (float64, host).
        est: ``[k]`` residual estimates ``||K s_i||``.
        threshold: ``[k]`` the residual each pair must reach.
        verify: ``True``, ``"sketch"`` or ``False`` (see the module docstring).
        seed: seed of the sketch's combinations.

    Returns:
        ``[k]`` residuals: explicit, sketch bounds or the estimates.

    """
    k = vectors.shape[0]
    if state.first_products is not None and state.first_products.shape[0] != sk.shape[0]:
        raise RuntimeError("internal: the start block's products no longer span the basis")
    dev_values = values.to(device=vectors.device, dtype=vectors.dtype)
    if verify == "sketch" and state.first_products is None and k > SKETCH_PROBES:
        confirmed = _sketch(state, sk, vectors, dev_values, est, threshold, seed)
        if confirmed is not None:
            return confirmed
    if not verify:
        return est
    if state.first_products is not None:  # Ritz vectors of the start block: explicit
        hv = sk.T.to(device=vectors.device, dtype=vectors.dtype) @ state.first_products
    else:
        hv = state.multiply(vectors)
    hv.addcmul_(vectors, dev_values[:, None], value=-1)  # H y_i - theta_i y_i, in place
    return hv.norm(dim=1).to(torch.float64).cpu()
