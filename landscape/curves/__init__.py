"""Mode connectivity: Bezier curves and chains between minima, fitting, evaluation, planes.

The core of the mode-connectivity analysis (Garipov et al. 2018; Chao et al. 2020, Sec. 4.2):
it takes networks or parameter dicts, re-iterable ``(x, y)`` batches (a ``DataLoader``
included) and a ``loss_fn``, and never a path, run directory or store. Resumable curve runs
in run directories and their cached evaluations are in :mod:`landscape.experiment.curves`.
"""

from landscape.curves.bezier import CURVE_KINDS, Curve, bernstein, chain_weights
from landscape.curves.evaluate import JobMap, barrier, evaluate_along
from landscape.curves.fit import curve_step, fit_curve, parameter_point
from landscape.curves.plane import (
    PLANE_FIELDS,
    PlaneBasis,
    evaluate_grid_point,
    grid_axis,
    plane_basis,
    plane_grid,
    plane_layout,
    run_grid,
)
from landscape.evaluation import (  # for compatibility: they live in landscape.evaluation
    GridSink,
    MemoryGrid,
    batchnorm_layers,
    evaluate_loss_error,
    evaluate_weights,
    recalibrate_bn,
)
from landscape.evaluation import forward_at as curve_forward

__all__ = [
    "CURVE_KINDS",
    "PLANE_FIELDS",
    "Curve",
    "GridSink",
    "JobMap",
    "MemoryGrid",
    "PlaneBasis",
    "barrier",
    "batchnorm_layers",
    "bernstein",
    "chain_weights",
    "curve_forward",
    "curve_step",
    "evaluate_along",
    "evaluate_grid_point",
    "evaluate_loss_error",
    "evaluate_weights",
    "fit_curve",
    "grid_axis",
    "parameter_point",
    "plane_basis",
    "plane_grid",
    "plane_layout",
    "recalibrate_bn",
    "run_grid",
]
