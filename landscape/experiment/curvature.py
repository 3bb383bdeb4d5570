"""Cached curvature analyses of a subject: top-k Hessian eigenpairs and the spectrum.

Each is a question to the result store through :func:`landscape.experiment.cached.cached`:
its key is the analysis name and schema version, the parameters below, the subject's content
digest (role ``"checkpoint"``) and the identity of the split's data, so asking again answers
from the store without a single Hessian-vector product. The HVP method is not part of the
key: every method computes the same exact products. Under ``torchrun`` the operator is the
sharded :class:`landscape.curvature.DistributedHessian` and rank 0 stores the answer.

``hessian.topk`` stores ``eigenvalues [k]``, ``eigenvectors [k, P]`` (**rows**, chunked and
compressed by the store), ``residuals [k]``, ``converged [k]`` and counters;
``hessian.spectrum`` stores the stochastic Lanczos quadrature ``grid``/``density``/``nodes``/
``weights`` (Ghorbani et al. 2019; Papyan 2020) and a Hutchinson trace with its standard error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor

from landscape.curvature import (
    CurvatureOperator,
    DistributedHessian,
    HessianOperator,
    hutchinson,
    lanczos,
    slq_density,
)
from landscape.distributed import context
from landscape.experiment.cached import Analysis, cached
from landscape.experiment.subject import Subject
from landscape.store import Entry, Store

__all__ = ["SPECTRUM", "TOPK", "hessian_operator", "hessian_spectrum", "hessian_topk"]


def _topk_schema(p: Mapping[str, Any]) -> dict[str, Any]:
    k = int(p["k"])
    return {"eigenvalues": ((k,), "f"), "residuals": ((k,), "f"),
            "eigenvectors": ((k, None), "f"), "converged": ((k,), "b")}


def _spectrum_schema(p: Mapping[str, Any]) -> dict[str, Any]:
    n = int(p["grid_size"])
    return {"grid": ((n,), "f"), "density": ((n,), "f")}


TOPK = Analysis("hessian.topk", 1, _topk_schema)
SPECTRUM = Analysis("hessian.spectrum", 1, _spectrum_schema)


def hessian_operator(subject: Subject, *, split: str = "train",
                     params: Sequence[str] | None = None, method: str = "cached"
                     ) -> CurvatureOperator:
    """The Hessian of the subject's mean loss over one split (sharded under torchrun)."""
    cls = DistributedHessian if context().distributed else HessianOperator
    return cls(subject.model, subject.split(split), params=params, method=method,
               loss_fn=subject.loss_fn)


def _key(subject: Subject, params: Sequence[str] | None) -> dict[str, Any]:
    return {"params": list(params) if params is not None else None,
            "loss": subject.loss_name, "mode": "eval"}


def hessian_topk(
    store: Store,
    subject: Subject,
    *,
    k: int,
    split: str = "train",
    which: str = "LA",
    tol: float = 1e-3,
    max_basis: int | None = None,
    block_size: int = 1,
    params: Sequence[str] | None = None,
    method: str = "cached",
    seed: int = 0,
    start: Tensor | Callable[[], Tensor] | None = None,
    progress: bool = False,
) -> Entry | None:
    """Top-``k`` Hessian eigenpairs of the subject's mean loss, from the store or computed.

    Args:
        store: the result store.
        subject: the network, its data and loss (:func:`landscape.experiment.resolve_subject`).
        k: number of eigenpairs.
        split: the data split of the loss (``"train"``).
        which: ``"LA"``, ``"SA"`` or ``"LM"``.
        tol: relative Ritz residual tolerance.
        max_basis: Lanczos basis size (default: see :func:`landscape.curvature.lanczos`).
        block_size: vectors per product (``> 1``: block Lanczos).
        params: parameter names or module prefixes (default: all trainable).
        method: HVP method (not part of the key).
        seed: seed of the starting vector.
        start: a warm start ``[P, s]``, e.g. the eigenvectors of a neighbouring checkpoint
            (not part of the key: the answer is the same to the tolerance), or a callable
            that makes it, called only when the answer is computed (not on a store hit).
        progress: show a progress bar on stderr.

    Returns:
        The store entry (``entry["eigenvectors"]`` is ``[k, P]``, rows in parameter order);
        ``None`` on torchrun ranks other than 0.

    """
    key = {"k": int(k), "which": which, "tol": float(tol), "max_basis": max_basis,
           "block_size": int(block_size), "seed": int(seed), **_key(subject, params)}

    def compute() -> dict[str, Any]:
        began = time.perf_counter()
        op = hessian_operator(subject, split=split, params=params, method=method)
        res = lanczos(op, k, which=which, tol=tol, max_basis=max_basis, block_size=block_size,
                      seed=seed, progress=progress,
                      start=start() if callable(start) else start)
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

    return cached(store, TOPK, key, compute, inputs=subject.inputs(),
                  data=subject.data_spec[split])


def hessian_spectrum(
    store: Store,
    subject: Subject,
    *,
    split: str = "train",
    num_probes: int = 8,
    num_steps: int = 80,
    trace_probes: int = 100,
    sigma: float | None = None,
    grid_size: int = 1000,
    params: Sequence[str] | None = None,
    method: str = "cached",
    seed: int = 0,
    progress: bool = False,
) -> Entry | None:
    """SLQ spectral density and Hutchinson trace of the Hessian, from the store or computed.

    Args:
        store: the result store.
        subject: the network, its data and loss.
        split: the data split of the loss.
        num_probes: SLQ probes.
        num_steps: Lanczos steps per probe.
        trace_probes: Hutchinson probes for the trace (0: skip).
        sigma: Gaussian broadening (default: 1/200 of the spread of the Ritz values).
        grid_size: density grid points.
        params: parameter names or module prefixes (default: all trainable).
        method: HVP method (not part of the key).
        seed: seed of the probes.
        progress: show progress on stderr.

    Returns:
        The store entry (``grid``, ``density``, ``nodes``, ``weights``, ``trace`` ...);
        ``None`` on torchrun ranks other than 0.

    """
    key = {"num_probes": int(num_probes), "num_steps": int(num_steps),
           "trace_probes": int(trace_probes), "sigma": sigma, "grid_size": int(grid_size),
           "seed": int(seed), **_key(subject, params)}

    def compute() -> dict[str, Any]:
        began = time.perf_counter()
        op = hessian_operator(subject, split=split, params=params, method=method)
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
        out["seconds"] = time.perf_counter() - began
        return out

    return cached(store, SPECTRUM, key, compute, inputs=subject.inputs(),
                  data=subject.data_spec[split])
