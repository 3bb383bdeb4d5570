"""Statistics of trained networks: sparsity, feature statistics, projections."""

from landscape.stats.features import (
    FeaturePass,
    class_specialisation,
    feature_pass,
    feature_statistics,
    format_sparsity_table,
    inactive_by_activation,
    inactive_by_scale,
    layer_statistics,
    sparsity_rows,
    universality,
)
from landscape.stats.projection import Projection, project, random_direction_shares
from landscape.stats.reduction import (
    Reduction,
    compare_outputs,
    count_flops,
    count_parameters,
    plan_reduction,
    reduce_model,
)
from landscape.stats.sparsity import group_sparsity, unit_weight_norms, weight_sparsity, zero_count

__all__ = [
    "FeaturePass",
    "Projection",
    "Reduction",
    "class_specialisation",
    "compare_outputs",
    "count_flops",
    "count_parameters",
    "feature_pass",
    "feature_statistics",
    "format_sparsity_table",
    "group_sparsity",
    "inactive_by_activation",
    "inactive_by_scale",
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
