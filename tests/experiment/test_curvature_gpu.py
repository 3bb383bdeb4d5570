"""Curvature along a curve, epsilon-sharpness and subspaces on an accelerator (marked ``gpu``).

``LANDSCAPE_GPU_TEST_DEVICE=cpu`` runs them on the CPU, to check the tests themselves.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from curve_toys import bn_curve

from landscape.curvature import (
    FlatObjective,
    epsilon_sharpness,
    principal_angles,
    subspace_overlap,
    subspace_share,
)
from landscape.experiment.curvehessian import point_curvature

pytestmark = pytest.mark.gpu
DEVICE = torch.device(os.environ.get("LANDSCAPE_GPU_TEST_DEVICE", "cuda"))


def _on(device: torch.device):
    loaded = bn_curve()
    model = loaded.model.to(device)
    params = {n: v.detach().to(device) for n, v in loaded.curve.point(0.4).items()}
    data = [(x.to(device), y.to(device)) for x, y in loaded.data["train"]]
    return model, params, data


def test_curvature_at_a_point_of_the_curve_follows_the_cpu():
    got, vectors = point_curvature(*_on(DEVICE), loss_fn=F.cross_entropy, k=3, tol=1e-10,
                                   trace_probes=0)
    want, ref = point_curvature(*_on(torch.device("cpu")), loss_fn=F.cross_entropy, k=3,
                                tol=1e-10, trace_probes=0)
    assert vectors.device.type == DEVICE.type
    # two independent solves, each Ritz value within ||r|| <= tol |theta| (tol 1e-10) of the
    # same eigenvalue: they agree to 2 tol; 1e-9 leaves a margin for the floor of the products
    torch.testing.assert_close(torch.as_tensor(got["eigenvalues"]),
                               torch.as_tensor(want["eigenvalues"]), rtol=1e-9, atol=0)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-12)
    assert subspace_overlap(vectors, ref) == pytest.approx(1.0, abs=1e-9)
    angles = principal_angles(vectors, ref.to(DEVICE))
    assert float(angles.max()) < 1e-6
    grad = torch.ones(vectors.shape[1], dtype=torch.float64, device=DEVICE)
    share = subspace_share(vectors, grad).share
    assert share == pytest.approx(subspace_share(ref, grad.cpu()).share, rel=1e-9)


def test_epsilon_sharpness_on_the_device_follows_the_cpu():
    results = []
    for device in (DEVICE, torch.device("cpu")):
        model, _, data = _on(device)
        obj = FlatObjective(model, data)
        results.append(epsilon_sharpness(obj.loss_and_gradient, obj.theta, epsilon=1e-2,
                                         steps=4, seed=3))
    # the same seeded start (drawn on the CPU); sign steps of the same gradients
    assert results[0].max_loss == pytest.approx(results[1].max_loss, rel=1e-10)
    assert results[0].sharpness == pytest.approx(results[1].sharpness, rel=1e-8)
