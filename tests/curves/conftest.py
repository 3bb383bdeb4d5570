"""Fixtures for the mode-connectivity tests: tiny datasets, models and endpoint checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from landscape.checkpoint import save_checkpoint
from landscape.data import EvalSet, get_dataset
from landscape.models import create_model


def make_checkpoint(path: Path, model, name: str, kwargs: dict) -> Path:
    """Save ``model`` as an endpoint checkpoint."""
    return save_checkpoint(path, model, model_name=name, model_kwargs=kwargs, epoch=1)


@pytest.fixture
def tiny_data():
    """A 4-class synthetic problem with 8 features (60 train, 30 test)."""
    return get_dataset("synthetic", input_shape=(8,), num_classes=4, num_train=60, num_test=30,
                       noise=0.8, seed=3)


@pytest.fixture
def bn_endpoints(tmp_path, tiny_data):
    """Two float64 checkpoints of an MLP with BatchNorm, from different initialisations."""
    kwargs = {"widths": [6, 5], "batchnorm": True, "num_classes": 4, "input_shape": [8]}
    paths = []
    for seed in (1, 2):
        model = create_model("mlp", seed=seed, **kwargs).double()
        with torch.no_grad():  # non-trivial stored statistics, which recalibration must replace
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm1d):
                    m.running_mean.normal_()
                    m.running_var.uniform_(0.5, 2.0)
        paths.append(make_checkpoint(tmp_path / f"end{seed}.pt", model, "mlp", kwargs))
    return paths


@pytest.fixture
def tiny_sets(tiny_data):
    """Train and test EvalSets in float64, in unequal batches (25, 25, 10 / 25, 5)."""
    return (EvalSet(tiny_data, "train", batch_size=25, dtype=torch.float64),
            EvalSet(tiny_data, "test", batch_size=25, dtype=torch.float64))
