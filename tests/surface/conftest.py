"""Fixtures for the surface tests: tiny data in float64 and float32."""

from __future__ import annotations

import pytest
import torch

from landscape.data import EvalSet, get_dataset


@pytest.fixture
def tiny_data():
    """A 4-class synthetic problem with 8 features (60 train, 30 test)."""
    return get_dataset("synthetic", input_shape=(8,), num_classes=4, num_train=60, num_test=30,
                       noise=0.8, seed=3)


@pytest.fixture
def tiny_sets(tiny_data):
    """Train and test EvalSets in float64, in unequal batches (25, 25, 10 / 25, 5)."""
    return (EvalSet(tiny_data, "train", batch_size=25, dtype=torch.float64),
            EvalSet(tiny_data, "test", batch_size=25, dtype=torch.float64))


@pytest.fixture
def tiny_sets32(tiny_data):
    """The same in float32."""
    return (EvalSet(tiny_data, "train", batch_size=25), EvalSet(tiny_data, "test", batch_size=25))
