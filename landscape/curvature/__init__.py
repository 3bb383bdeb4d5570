"""Curvature: exact Hessian-vector products, Lanczos top-k, trace, spectral density, flatness."""

from landscape.curvature.block import block_lanczos
from landscape.curvature.density import SpectralDensity, gaussian_density, slq_density
from landscape.curvature.distributed import DistributedHessian
from landscape.curvature.hessian import METHODS, HessianOperator
from landscape.curvature.lanczos import WHICH, EigenResult, default_tol, lanczos
from landscape.curvature.operator import CurvatureOperator, eval_mode
from landscape.curvature.sharpness import (
    DirectionIncrease,
    EpsilonSharpness,
    FlatObjective,
    direction_increase,
    epsilon_sharpness,
)
from landscape.curvature.subspace import (
    SubspaceShare,
    orthonormal_basis,
    principal_angles,
    subspace_overlap,
    subspace_share,
)
from landscape.curvature.trace import TraceEstimate, hutchinson, hutchpp

__all__ = [
    "METHODS",
    "WHICH",
    "CurvatureOperator",
    "DirectionIncrease",
    "DistributedHessian",
    "EigenResult",
    "EpsilonSharpness",
    "FlatObjective",
    "HessianOperator",
    "SpectralDensity",
    "SubspaceShare",
    "TraceEstimate",
    "block_lanczos",
    "default_tol",
    "direction_increase",
    "epsilon_sharpness",
    "eval_mode",
    "gaussian_density",
    "hutchinson",
    "hutchpp",
    "lanczos",
    "orthonormal_basis",
    "principal_angles",
    "slq_density",
    "subspace_overlap",
    "subspace_share",
]
