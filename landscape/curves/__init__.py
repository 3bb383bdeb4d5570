"""Mode connectivity: Bezier curves and chains between minima, evaluation along them, planes."""

from landscape.curves.bezier import CURVE_KINDS, Curve, bernstein, chain_weights, curve_forward
from landscape.curves.bn import batchnorm_layers, recalibrate_bn
from landscape.curves.evaluate import (
    JobMap,
    barrier,
    evaluate_along,
    evaluate_loss_error,
    evaluate_weights,
)
from landscape.curves.fit import CurveFitConfig, LoadedCurve, curve_epoch, fit_curve, load_curve
from landscape.curves.plane import (
    PLANE_FIELDS,
    GridSink,
    MemoryGrid,
    PlaneBasis,
    evaluate_grid_point,
    grid_axis,
    plane_basis,
    plane_layout,
    run_grid,
)
from landscape.curves.results import (
    ALONG_NAME,
    PLANE_NAME,
    GridFill,
    GridRun,
    along_cached,
    curve_inputs,
    plane_cached,
    plane_partial,
)

__all__ = [
    "ALONG_NAME",
    "CURVE_KINDS",
    "PLANE_FIELDS",
    "PLANE_NAME",
    "Curve",
    "CurveFitConfig",
    "GridFill",
    "GridRun",
    "GridSink",
    "JobMap",
    "LoadedCurve",
    "MemoryGrid",
    "PlaneBasis",
    "along_cached",
    "barrier",
    "batchnorm_layers",
    "bernstein",
    "chain_weights",
    "curve_epoch",
    "curve_forward",
    "curve_inputs",
    "evaluate_along",
    "evaluate_grid_point",
    "evaluate_loss_error",
    "evaluate_weights",
    "fit_curve",
    "grid_axis",
    "load_curve",
    "plane_basis",
    "plane_cached",
    "plane_layout",
    "plane_partial",
    "recalibrate_bn",
    "run_grid",
]
