"""Loss surfaces: directions and their fast, resumable evaluation on a grid.

Directions: random filter-normalised, Hessian eigenvectors, trajectory PCA, points, and the
SGD / gRDA minima plane.
The core: it takes a model, parameter dicts, re-iterable ``(x, y)`` batches and a loss, and
never sees a file path, run directory or store. Li et al. 2018; Yao et al. 2020; Goodfellow
et al. 2015; Chao et al. 2020.
"""

from landscape.surface._options import surface_fields
from landscape.surface.directions import SurfaceDirections
from landscape.surface.eigen import eigen_directions
from landscape.surface.evaluate import (
    BN_MODES,
    STRATEGIES,
    SurfaceEvaluator,
    cross_entropy,
    top1_wrong,
)
from landscape.surface.filternorm import NORMS, bn_bias_names, random_directions
from landscape.surface.grid import run_surface, surface_axes, surface_layout
from landscape.surface.pca import pca_directions
from landscape.surface.planes import minima_directions, points_directions

__all__ = [
    "BN_MODES",
    "NORMS",
    "STRATEGIES",
    "SurfaceDirections",
    "SurfaceEvaluator",
    "bn_bias_names",
    "cross_entropy",
    "eigen_directions",
    "minima_directions",
    "pca_directions",
    "points_directions",
    "random_directions",
    "run_surface",
    "surface_axes",
    "surface_fields",
    "surface_layout",
    "top1_wrong",
]
