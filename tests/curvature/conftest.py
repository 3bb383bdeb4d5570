"""Fixtures of the curvature tests."""

import pytest
from curvature_helpers import problem_by_name


@pytest.fixture(params=["mlp", "conv"])
def problem(request):
    """(model, batches): a tiny float64 net with BatchNorm, two batches of unequal size."""
    return problem_by_name(request.param)
