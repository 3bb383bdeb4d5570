"""Statistics of trained networks: sparsity, feature statistics, projections, reduction.

The core of the suite: every function takes modules, tensors or re-iterable ``(x, y)``
batches (an :class:`~landscape.data.EvalSet`, a list, a ``torch.utils.data.DataLoader``),
never a path, a run directory or a store (their cached forms are in
:mod:`landscape.experiment`). Shares of zero weights and inactive features are fractions.
"""

from landscape.stats._hooks import Site, find_sites
from landscape.stats.activations import FeaturePass, feature_pass, iter_feature_batches
from landscape.stats.features import (
    class_specialisation,
    feature_statistics,
    feature_summary,
    inactive_by_activation,
    inactive_by_scale,
    layer_statistics,
    universality,
)
from landscape.stats.measure import compare_outputs, count_flops, count_parameters
from landscape.stats.projection import Projection, project, random_direction_shares
from landscape.stats.reduction import Reduction, plan_reduction, reduce_model
from landscape.stats.sparsity import group_sparsity, unit_weight_norms, weight_sparsity, zero_count
from landscape.stats.tables import format_sparsity_table, sparsity_rows

__all__ = [
    "FeaturePass",
    "Projection",
    "Reduction",
    "Site",
    "class_specialisation",
    "compare_outputs",
    "count_flops",
    "count_parameters",
    "feature_pass",
    "feature_statistics",
    "feature_summary",
    "find_sites",
    "format_sparsity_table",
    "group_sparsity",
    "inactive_by_activation",
    "inactive_by_scale",
    "iter_feature_batches",
    "layer_statistics",
    "plan_reduction",
    "project",
    "random_direction_shares",
    "reduce_model",
    "sparsity_rows",
    "unit_weight_norms",
    "universality",
    "weight_sparsity",
    "zero_count",
]
