"""Statistics of trained networks: sparsity, feature statistics, projections."""

from landscape.stats.sparsity import group_sparsity, unit_weight_norms, weight_sparsity, zero_count

__all__ = ["group_sparsity", "unit_weight_norms", "weight_sparsity", "zero_count"]
