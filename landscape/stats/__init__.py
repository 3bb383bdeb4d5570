"""Statistics of trained networks: sparsity, feature statistics, projections."""

from landscape.stats.projection import Projection, project, random_direction_shares
from landscape.stats.sparsity import group_sparsity, unit_weight_norms, weight_sparsity, zero_count

__all__ = [
    "Projection",
    "group_sparsity",
    "project",
    "random_direction_shares",
    "unit_weight_norms",
    "weight_sparsity",
    "zero_count",
]
