"""GPU paths against their CPU results (marked ``gpu``: skipped when CUDA is absent).

``LANDSCAPE_GPU_TEST_DEVICE=cpu`` runs the same tests on the CPU, to check the tests
themselves on a machine without a GPU.
"""

from __future__ import annotations

import os

import pytest
import torch

from landscape.curvature import HessianOperator, lanczos
from landscape.curves import Curve, evaluate_weights
from landscape.data import EvalSet, get_dataset
from landscape.models import create_model
from landscape.optim import create_optimizer
from landscape.testing import dense_hessian
from landscape.train import TrainConfig, train

pytestmark = pytest.mark.gpu
DEVICE = torch.device(os.environ.get("LANDSCAPE_GPU_TEST_DEVICE", "cuda"))


@pytest.fixture(scope="module")
def data():
    return get_dataset("synthetic", input_shape=(1, 4, 4), num_classes=3, num_train=37,
                       num_test=11)


def _model(seed=0):
    return create_model("mlp", widths=[6], batchnorm=True, input_shape=(1, 4, 4),
                        num_classes=3, seed=seed).double().eval()


def test_evalset_is_resident_on_the_device(data):
    ev = EvalSet(data, "train", batch_size=10, device=DEVICE, dtype=torch.float64)
    assert ev.x.device.type == DEVICE.type and ev.y.device.type == DEVICE.type
    assert all(x.device.type == DEVICE.type for x, _ in ev)


def test_hvp_and_lanczos_on_the_device_match_the_dense_cpu_hessian(data):
    cpu = EvalSet(data, "train", batch_size=10, dtype=torch.float64)
    dev = cpu.to(DEVICE)
    model = _model()
    dense = dense_hessian(model, cpu)
    op = HessianOperator(model.to(DEVICE), dev)
    v = torch.randn(op.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    hv = op @ v.to(DEVICE)
    assert hv.device.type == DEVICE.type
    torch.testing.assert_close(hv.cpu(), dense @ v, rtol=1e-5, atol=1e-8)
    res = lanczos(op, 3, tol=1e-8)
    assert res.eigenvectors.device.type == DEVICE.type  # never moved to the host
    exact = torch.linalg.eigvalsh(dense).flip(0)[:3]
    torch.testing.assert_close(res.eigenvalues.cpu(), exact, rtol=1e-6, atol=1e-10)


def test_grda_step_on_the_device_matches_the_cpu_step():
    torch.manual_seed(0)
    w = torch.randn(50, dtype=torch.float64)
    grads = [torch.randn(50, dtype=torch.float64) for _ in range(4)]
    results = []
    for device in ("cpu", DEVICE):
        p = torch.nn.Parameter(w.clone().to(device))
        opt = create_optimizer("grda", [p], lr=0.1, c=0.05, mu=0.6)
        for g in grads:
            p.grad = g.to(device)
            opt.step()
        results.append(p.detach().cpu())
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-14)
    assert torch.equal(results[0] == 0, results[1] == 0)  # the same entries thresholded


def test_training_on_the_device(tmp_path):
    cfg = TrainConfig(model="mlp", model_args={"widths": [8]}, dataset="synthetic",
                      dataset_args={"num_train": 64, "num_test": 16}, optimizer="grda",
                      optimizer_args={"c": 0.01, "mu": 0.6}, lr=0.1, epochs=2, batch_size=16,
                      device=str(DEVICE))
    run = train(cfg, tmp_path / "run", progress=False)
    rows = run.read_metrics()
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert all(0.0 <= r["test_acc"] <= 1.0 for r in rows)


def test_curve_point_evaluation_on_the_device_matches_the_cpu(data):
    a, b = _model(0), _model(1)
    values = []
    for device in ("cpu", DEVICE):
        start = {n: p.detach().to(device) for n, p in a.named_parameters()}
        end = {n: p.detach().to(device) for n, p in b.named_parameters()}
        curve = Curve(start, end, degree=2)
        ev = EvalSet(data, "train", batch_size=10, device=device, dtype=torch.float64)
        test = EvalSet(data, "test", batch_size=10, device=device, dtype=torch.float64)
        values.append(evaluate_weights(a.to(device), curve.point(0.3), ev, test))
    for key in values[0]:
        assert values[0][key] == pytest.approx(values[1][key], rel=1e-9, abs=1e-12), key
