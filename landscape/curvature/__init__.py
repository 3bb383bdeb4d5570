"""Curvature: exact Hessian-vector products, Lanczos top-k, trace and spectral density."""

from landscape.curvature.block import block_lanczos
from landscape.curvature.density import SpectralDensity, gaussian_density, slq_density
from landscape.curvature.distributed import DistributedHessian
from landscape.curvature.hessian import METHODS, HessianOperator
from landscape.curvature.lanczos import WHICH, EigenResult, default_tol, lanczos
from landscape.curvature.operator import CurvatureOperator, eval_mode
from landscape.curvature.trace import TraceEstimate, hutchinson, hutchpp

__all__ = [
    "METHODS",
    "WHICH",
    "CurvatureOperator",
    "DistributedHessian",
    "EigenResult",
    "HessianOperator",
    "SpectralDensity",
    "TraceEstimate",
    "block_lanczos",
    "default_tol",
    "eval_mode",
    "gaussian_density",
    "hutchinson",
    "hutchpp",
    "lanczos",
    "slq_density",
]
