"""Exact BatchNorm recalibration: dataset mean and unbiased variance of the pre-BN inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.evaluation import batchnorm_layers, recalibrate_bn
from landscape.testing.curves import naive_bn_statistics


def _batches(x: torch.Tensor, sizes: list[int]):
    out, i = [], 0
    for s in sizes:
        out.append((x[i:i + s], torch.zeros(s, dtype=torch.long)))
        i += s
    return out


def test_single_bn_layer_gets_exact_dataset_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).double()
    # shifted, unequal batches: averaging per-batch statistics would be wrong here
    x = torch.cat([torch.randn(7, 5), torch.randn(20, 5) * 3 + 2, torch.randn(3, 5) - 4]).double()
    params = dict(net.named_parameters())
    stats = recalibrate_bn(net, params, _batches(x, [7, 20, 3]))
    with torch.no_grad():
        pre = net[0](x)  # the exact pre-BN activations of the whole dataset
    torch.testing.assert_close(stats["1.running_mean"], pre.mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(stats["1.running_var"], pre.var(0, unbiased=True),
                               rtol=1e-12, atol=1e-12)
    assert int(stats["1.num_batches_tracked"]) == 3
    # PyTorch's cumulative average (momentum=None) is not the dataset variance here
    ref = nn.BatchNorm1d(4, momentum=None).double()
    with torch.no_grad():
        for xb, _ in _batches(pre, [7, 20, 3]):
            ref(xb)
    assert not torch.allclose(ref.running_var, stats["1.running_var"], rtol=1e-3)


def test_deep_conv_net_matches_naive_reference_with_unequal_batches():
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5), nn.BatchNorm1d(5), nn.Dropout(0.5), nn.Linear(5, 2),
    ).double()
    x = torch.randn(23, 2, 6, 6, dtype=torch.float64)
    params = {k: v + 0.1 for k, v in net.named_parameters()}
    batches = _batches(x, [10, 10, 3])
    stats = recalibrate_bn(net, params, batches)
    want = naive_bn_statistics(net, params, batches)
    assert set(want) <= set(stats)
    for key, value in want.items():
        torch.testing.assert_close(stats[key], value, rtol=1e-12, atol=1e-12)


def test_recalibration_leaves_model_untouched_and_restores_modes():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.3)).double()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    recalibrate_bn(net, dict(net.named_parameters()),
                   _batches(torch.randn(9, 3, dtype=torch.float64), [5, 4]))
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert all(m.training for m in net.modules())


def test_model_without_batchnorm_makes_no_pass():
    net = nn.Sequential(nn.Linear(3, 2))

    class Exploding:
        def __iter__(self):
            raise AssertionError("the data must not be touched without BatchNorm")

    assert batchnorm_layers(net) == []
    assert recalibrate_bn(net, dict(net.named_parameters()), Exploding()) == {}


def test_too_little_data_is_refused():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match="recalibration needs at least 2"):
        recalibrate_bn(net, dict(net.named_parameters()), [])
