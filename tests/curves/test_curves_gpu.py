"""Curve fitting and the epoch runner on an accelerator against the CPU (marked ``gpu``).

``LANDSCAPE_GPU_TEST_DEVICE=cpu`` runs them on the CPU, to check the tests themselves.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.curves import evaluate_along, fit_curve
from landscape.optim import EpochRunner, LossNotFinite, Step

pytestmark = pytest.mark.gpu
DEVICE = torch.device(os.environ.get("LANDSCAPE_GPU_TEST_DEVICE", "cuda"))

G = torch.Generator().manual_seed(0)
X = torch.randn(40, 6, generator=G, dtype=torch.float64)
Y = torch.randint(0, 3, (40,), generator=G)


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()


def test_a_fit_on_the_device_follows_the_cpu_fit():
    batches = [(X[i:i + 10], Y[i:i + 10]) for i in range(0, 40, 10)]
    on_cpu = fit_curve(_net(1), _net(2), batches, epochs=3, lr=0.05)
    moved = [(x.to(DEVICE), y.to(DEVICE)) for x, y in batches]
    on_dev = fit_curve(_net(1).to(DEVICE), _net(2).to(DEVICE), moved, epochs=3, lr=0.05)
    assert on_dev.middle[0].device.type == DEVICE.type
    # float64, other kernels: 12 steps of rounding differences of ~1e-16, a few times amplified
    torch.testing.assert_close(on_dev.middle[0].detach().cpu(), on_cpu.middle[0].detach(),
                               rtol=1e-9, atol=1e-12)
    res = evaluate_along(on_dev, _net(1).to(DEVICE), moved, moved, points=3)
    ref = evaluate_along(on_cpu, _net(1), batches, batches, points=3)
    for part in ("curve", "line"):
        torch.testing.assert_close(torch.as_tensor(res[part]["train_loss"]),
                                   torch.as_tensor(ref[part]["train_loss"]), rtol=1e-9,
                                   atol=1e-12)


def test_the_runner_reads_the_finiteness_flag_every_32_steps_on_the_device():
    net = nn.Linear(6, 3).double().to(DEVICE)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    batches = [(X[i:i + 1].to(DEVICE), Y[i:i + 1].to(DEVICE)) for i in range(40)]

    def step(epoch, k, x, y):
        loss = F.cross_entropy(net(x), y) * (float("nan") if k == 3 else 1.0)
        return Step(loss, loss, 1)

    runner = EpochRunner(opt, lambda e: 0.1, epochs=1, seed=0, device=DEVICE, sync_every=32)
    with pytest.raises(LossNotFinite, match=r"by step 32\b"):  # read at step 32, not 4
        runner.run(step, batches)
