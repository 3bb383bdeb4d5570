"""Baseline sparsifiers plugged into the trainer, and the sparsity-accuracy trade-off.

Importing this package registers ``magnitude``, ``random`` and ``sparse-momentum`` with
:func:`landscape.train.register_sparsifier` (the trainer imports it on first lookup), so
``landscape train --prune magnitude --target-sparsity 0.9`` works with any optimizer.
"""

from landscape.pruning._masks import prunable_parameters
from landscape.pruning.magnitude import (
    GradualPruning,
    MagnitudePruning,
    RandomPruning,
    cubic_sparsity,
)
from landscape.pruning.sparse_momentum import SparseMomentum, allocate_regrowth, cosine_prune_rate
from landscape.pruning.tradeoff import (
    TradeoffPoint,
    compare_at,
    format_table,
    method_of,
    tradeoff_points,
)

__all__ = [
    "GradualPruning",
    "MagnitudePruning",
    "RandomPruning",
    "SparseMomentum",
    "TradeoffPoint",
    "allocate_regrowth",
    "compare_at",
    "cosine_prune_rate",
    "cubic_sparsity",
    "format_table",
    "method_of",
    "prunable_parameters",
    "tradeoff_points",
]
