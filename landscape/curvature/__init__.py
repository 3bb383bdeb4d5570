"""Curvature: exact Hessian-vector products, Lanczos top-k, trace and spectral density."""

from landscape.curvature.hessian import METHODS, HessianOperator
from landscape.curvature.operator import CurvatureOperator, eval_mode

__all__ = ["METHODS", "CurvatureOperator", "HessianOperator", "eval_mode"]
