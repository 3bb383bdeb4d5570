"""Surfaces on a GPU against the CPU (marked ``gpu``: skipped when CUDA is absent).

``LANDSCAPE_GPU_TEST_DEVICE=cpu`` runs them on the CPU, to check the tests themselves.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch
from surface_helpers import loss_tolerance, params_of, tiny_mlp

from landscape.data import EvalSet
from landscape.surface import SurfaceEvaluator, random_directions

pytestmark = pytest.mark.gpu
DEVICE = torch.device(os.environ.get("LANDSCAPE_GPU_TEST_DEVICE", "cuda"))
COORDS = [[0.0, 0.0], [0.4, -0.3], [-1.0, 1.0]]


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_device_surface_matches_the_cpu(tiny_data, strategy):
    cpu_model = tiny_mlp(batchnorm=True)
    train = EvalSet(tiny_data, "train", batch_size=25, dtype=torch.float64)
    dirs = random_directions(params_of(cpu_model), seed=0, model=cpu_model)
    ref = SurfaceEvaluator(cpu_model, dirs, train, share_input_layer=True).evaluate(COORDS)
    model = copy.deepcopy(cpu_model).to(DEVICE)
    dev_dirs = random_directions(params_of(model), seed=0, model=model)
    assert dev_dirs.vectors[0]["1.weight"].device.type == DEVICE.type
    dev_train = EvalSet(tiny_data, "train", batch_size=25, dtype=torch.float64, device=DEVICE)
    ev = SurfaceEvaluator(model, dev_dirs, dev_train, strategy=strategy,
                          share_input_layer=True)
    got = ev.evaluate(COORDS)
    assert ev.shared_layer == "1"
    for i, c in enumerate(COORDS):
        # other kernels on the device: within the rounding bound of the forward (both sides)
        tol = loss_tolerance(cpu_model, dirs.point(c), train, shared=(c, dirs.vectors))
        assert abs(got["train_loss"][i] - ref["train_loss"][i]) <= tol
        assert got["train_error"][i] == ref["train_error"][i]
