"""Cached curvature analyses: top-k Hessian eigenpairs and the spectrum, in the result store.

Each analysis is a question to the HDF5 store (DESIGN 3.3): its key is the analysis name and
schema version, the parameters below, the checkpoint's content digest and the evaluation set's
spec, so asking again answers from the cache without a single Hessian-vector product. The HVP
method is not part of the key: every method computes the same exact products.

``hessian.topk`` stores ``eigenvalues [k]``, ``eigenvectors [k, P]`` (**rows**, chunked and
compressed by the store), ``residuals [k]``, ``converged [k]`` and counters; ``hessian.spectrum``
stores the SLQ ``grid``/``density``/``nodes``/``weights`` and a Hutchinson trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from landscape.curvature.density import slq_density
from landscape.curvature.hessian import HessianOperator
from landscape.curvature.lanczos import lanczos
from landscape.curvature.operator import CurvatureOperator
from landscape.curvature.trace import hutchinson
from landscape.data import EvalSet

__all__ = ["SPECTRUM_VERSION", "TOPK_VERSION", "hessian_spectrum", "hessian_topk"]

TOPK_VERSION = 1
SPECTRUM_VERSION = 1


def hessian_topk(
    store: Any,
    model: nn.Module,
    data: EvalSet,
    *,
    inputs: Mapping[str, str],
    k: int,
    which: str = "LA",
    tol: float = 1e-3,
    max_basis: int | None = None,
    block_size: int = 1,
    params: Sequence[str] | None = None,
    method: str = "cached",
    seed: int = 0,
    progress: bool = False,
    operator: Callable[..., CurvatureOperator] = HessianOperator,
    start: Tensor | None = None,
):
    """Top-``k`` Hessian eigenpairs of the mean loss over ``data``, from the store or computed.

    Args:
        store: a :class:`landscape.store.Store`.
        model: the network at the point (its parameters are the point).
        data: the evaluation set (its ``spec()`` is part of the key).
        inputs: role -> content digest, e.g. ``{"checkpoint": checkpoint_digest(path)}``.
        k: number of eigenpairs.
        which: ``"LA"``, ``"SA"`` or ``"LM"``.
        tol: relative Ritz residual tolerance.
        max_basis: Lanczos basis size (default: see :func:`lanczos`).
        block_size: vectors per product (``> 1``: block Lanczos).
        params: parameter names or module prefixes (default: all trainable).
        method: HVP method (not part of the key).
        seed: seed of the starting vector.
        progress: show a progress bar on stderr.
        operator: the operator class, called as ``operator(model, data, params=, method=)``
            (``landscape.distributed.DistributedHessian`` under torchrun; not in the key).
        start: a warm start ``[P, s]`` for Lanczos, e.g. the eigenvectors of a neighbouring
            checkpoint (not in the key: the answer is the same to the tolerance).

    Returns:
        The store entry (``entry["eigenvectors"]`` is ``[k, P]``, rows in parameter order).

    """
    key_params = {
        "k": int(k), "which": which, "tol": float(tol), "max_basis": max_basis,
        "block_size": int(block_size), "params": list(params) if params is not None else None,
        "seed": int(seed), "loss": "cross_entropy", "mode": "eval",
    }

    def compute() -> dict[str, Any]:
        began = time.perf_counter()
        op = operator(model, data, params=params, method=method)
        res = lanczos(op, k, which=which, tol=tol, max_basis=max_basis, block_size=block_size,
                      seed=seed, progress=progress, start=start)
        return {
            "eigenvalues": res.eigenvalues.cpu(),
            "eigenvectors": res.eigenvectors.T.contiguous().cpu(),
            "residuals": res.residuals.cpu(),
            "converged": res.converged.cpu(),
            "num_products": int(res.num_products),
            "num_restarts": int(res.num_restarts),
            "num_parameters": int(op.dim),
            "parameter_names": "\n".join(op.names),
            "loss": float(op.loss_value),
            "seconds": time.perf_counter() - began,
            "device": str(op.device),
        }

    return store.get_or_compute("hessian.topk", key_params, dict(inputs), compute,
                                dataset=data.spec(), version=TOPK_VERSION,
                                schema={"eigenvalues": ((k,), "f"), "residuals": ((k,), "f"),
                                        "eigenvectors": ((k, None), "f"),
                                        "converged": ((k,), "b")})


def hessian_spectrum(
    store: Any,
    model: nn.Module,
    data: EvalSet,
    *,
    inputs: Mapping[str, str],
    num_probes: int = 8,
    num_steps: int = 80,
    trace_probes: int = 100,
    sigma: float | None = None,
    grid_size: int = 1000,
    params: Sequence[str] | None = None,
    method: str = "cached",
    seed: int = 0,
    progress: bool = False,
    operator: Callable[..., CurvatureOperator] = HessianOperator,
):
    """SLQ spectral density and Hutchinson trace of the Hessian, from the store or computed.

    Args:
        store: a :class:`landscape.store.Store`.
        model: the network at the point.
        data: the evaluation set.
        inputs: role -> content digest.
        num_probes: SLQ probes.
        num_steps: Lanczos steps per probe.
        trace_probes: Hutchinson probes for the trace (0: skip).
        sigma: Gaussian broadening (default: 1/200 of the spread of the Ritz values).
        grid_size: density grid points.
        params: parameter names or module prefixes (default: all trainable).
        method: HVP method (not part of the key).
        seed: seed of the probes.
        progress: show progress on stderr.
        operator: the operator class (see :func:`hessian_topk`; not part of the key).

    Returns:
        The store entry (``grid``, ``density``, ``nodes``, ``weights``, ``trace`` ...).

    """
    key_params = {
        "num_probes": int(num_probes), "num_steps": int(num_steps),
        "trace_probes": int(trace_probes), "sigma": sigma, "grid_size": int(grid_size),
        "params": list(params) if params is not None else None, "seed": int(seed),
        "loss": "cross_entropy", "mode": "eval",
    }

    def compute() -> dict[str, Any]:
        start = time.perf_counter()
        op = operator(model, data, params=params, method=method)
        dens = slq_density(op, num_probes=num_probes, num_steps=num_steps,
                           grid_size=grid_size, sigma=sigma, seed=seed, progress=progress)
        out: dict[str, Any] = {
            "grid": dens.grid.cpu(), "density": dens.density.cpu(),
            "nodes": dens.nodes.cpu(), "weights": dens.weights.cpu(),
            "sigma": dens.sigma, "slq_trace": dens.trace(op.dim),
            "num_parameters": int(op.dim), "loss": float(op.loss_value),
        }
        if trace_probes >= 2:
            tr = hutchinson(op, trace_probes, block_size=min(trace_probes, 10), seed=seed + 1,
                            progress=progress)
            out["trace"], out["trace_stderr"] = tr.value, tr.stderr
        out["num_products"] = int(op.num_products)
        out["seconds"] = time.perf_counter() - start
        return out

    return store.get_or_compute("hessian.spectrum", key_params, dict(inputs), compute,
                                dataset=data.spec(), version=SPECTRUM_VERSION,
                                schema={"grid": ((grid_size,), "f"),
                                        "density": ((grid_size,), "f")})

