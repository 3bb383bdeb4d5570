"""The hooked pass: pooled activations and class mass, on any re-iterable of batches."""

from __future__ import annotations

import pytest
import torch
from stats_helpers import known_data, known_mlp, partition_tol
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.data import EvalSet
from landscape.models import create_model
from landscape.stats import feature_pass, feature_statistics
from landscape.stats._hooks import find_sites


def test_batching_does_not_change_the_statistics():
    a = feature_pass(known_mlp(), known_data(batch_size=2), num_classes=2)
    b = feature_pass(known_mlp(), known_data(batch_size=7), num_classes=2)
    # batches of 2 and of 7 rows: one Linear(2, 4) deep, reductions of length 2
    torch.testing.assert_close(a.pooled["1"], b.pooled["1"], **partition_tol(2))
    # class mass sums up to 7 such values per class: 7 more additions
    torch.testing.assert_close(a.class_mass["1"], b.class_mass["1"], **partition_tol(2 + 7))


def test_a_dataloader_gives_what_the_evalset_gives():
    data = known_data(batch_size=3)
    loader = DataLoader(TensorDataset(data.x, data.y), batch_size=3)
    a, b = feature_pass(known_mlp(), data), feature_pass(known_mlp(), loader)
    # exact: the DataLoader yields the same tensors in the same batches of 3
    assert torch.equal(a.pooled["1"], b.pooled["1"])
    assert torch.equal(a.class_mass["1"], b.class_mass["1"])  # exact: same computation
    assert b.labels.tolist() == data.y.tolist() and b.num_classes == 2
    st = feature_statistics(known_mlp(), loader, num_classes=2)
    assert st["num_samples"] == 7 and st["layers"]["1"]["dead_activation"].tolist() == [
        False, True, False, False]


def test_classes_are_inferred_and_batches_may_differ_in_size():
    x = known_data().x
    batches = [(x[:1], torch.tensor([0])), (x[1:5], torch.tensor([0, 2, 0, 1])),
               (x[5:], torch.tensor([1, 0]))]
    fp = feature_pass(known_mlp(), batches)
    assert fp.num_classes == 3 and fp.pooled["1"].shape == (7, 4)
    assert fp.labels.tolist() == [0, 0, 2, 0, 1, 1, 0]
    # sample 2 (x0 = 0.5) is the only one of class 2: its mass is its unit-0 activation
    assert fp.class_mass["1"][2, 0] == x[2, 0]  # exact: one value, added to zeros
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), batch 1 has labels"):
        feature_pass(known_mlp(), batches, num_classes=2)


def test_float32_batches_reach_a_float64_model_on_its_dtype():
    data = known_data()
    loader = DataLoader(TensorDataset(data.x.float(), data.y), batch_size=4)
    fp = feature_pass(known_mlp(), loader)
    assert fp.pooled["1"].dtype == torch.float64


def test_conv_pooling_matches_a_naive_reference():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    net = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
    net = net.double()
    x = torch.randn(10, 2, 5, 5, dtype=torch.float64)
    y = torch.arange(10) % 4
    fp = feature_pass(net, EvalSet.from_tensors(x, y, batch_size=4), num_classes=4)
    with torch.no_grad():
        act = torch.relu(conv(x))  # [N, C, H, W]: the slow, obviously-right reference
    # batches of 4 vs one batch of 10: a 3x3 convolution over 2 channels (18 products)
    torch.testing.assert_close(fp.pooled["1"], act.abs().amax(dim=(2, 3)), **partition_tol(18))
    mass = torch.zeros(4, 3, dtype=torch.float64)
    for s in range(10):
        mass[y[s]] += act[s].abs().sum(dim=(1, 2))
    # per-sample sums of 25 positions, then up to 3 samples per class
    torch.testing.assert_close(fp.class_mass["1"], mass, **partition_tol(18 + 25 + 3))
    assert fp.sites[0].spatial and fp.sites[0].weight_layer == "0"


class _Reuse(nn.Module):
    """One ReLU module called three times, the last after a residual addition."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.b = nn.Linear(4, 4)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        h = self.relu(self.bn(self.a(x)))
        o = self.b(h)
        o += h
        return self.out(self.relu(o)) + self.relu(self.a(x)).sum(1, keepdim=True)


def test_reused_relu_module_gives_one_site_per_call():
    torch.manual_seed(1)
    net = _Reuse().double().eval()
    sites = find_sites(net, torch.randn(2, 3, dtype=torch.float64))
    assert [s.name for s in sites] == ["relu@0", "relu@1", "relu@2"]
    assert [(s.batchnorm, s.weight_layer) for s in sites] == [
        ("bn", "a"), (None, None), (None, "a")  # in-place residual add: no producer
    ]
    x = torch.randn(9, 3, dtype=torch.float64)
    fp = feature_pass(net, EvalSet.from_tensors(x, torch.zeros(9, dtype=torch.long),
                                                batch_size=4))
    with torch.no_grad():
        h = torch.relu(net.bn(net.a(x)))
        r = torch.relu(net.b(h) + h)
    # the pass runs batches of 4, the reference one batch of 9: equal only to rounding.
    # relu@0: Linear(3, 4) then BatchNorm; relu@1 adds Linear(4, 4) and the residual sum.
    torch.testing.assert_close(fp.pooled["relu@0"], h, **partition_tol(3 + 1))
    torch.testing.assert_close(fp.pooled["relu@1"], r, **partition_tol(3 + 1 + 4 + 1))
    torch.testing.assert_close(fp.pooled["relu@2"], torch.relu(net.a(x)).detach(),
                               **partition_tol(3))


def test_residual_models_are_handled():
    torch.manual_seed(0)
    wrn = create_model("wrn", depth=10, width=1, input_shape=(3, 16, 16), seed=0)
    data = EvalSet.from_tensors(torch.randn(6, 3, 16, 16), torch.arange(6) % 10, batch_size=4)
    st = feature_statistics(wrn, data, num_classes=10)
    assert len(st["order"]) == 7 and st["layers"]["relu"]["batchnorm"] == "bn"
    assert st["layers"]["stages.0.0.relu2"]["weight_layer"] == "stages.0.0.conv1"
    assert wrn.training  # the pass restores the mode
    r50 = create_model("resnet50", input_shape=(3, 32, 32), seed=0)
    sites = find_sites(r50, torch.randn(2, 3, 32, 32))
    assert len(sites) == 1 + 16 * 3
    assert sum(s.batchnorm is None for s in sites) == 16  # the ReLU after each residual add


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no nn.ReLU module"):
        feature_pass(nn.Sequential(nn.Linear(2, 2), nn.Tanh()),
                     EvalSet.from_tensors(torch.zeros(2, 2), torch.zeros(2).long(), batch_size=2))
    with pytest.raises(ValueError, match="labels must lie in"):
        feature_pass(known_mlp(), known_data(), num_classes=1)
    with pytest.raises(ValueError, match="evaluation data are empty"):
        feature_pass(known_mlp(), [])
    with pytest.raises(TypeError, match="one-shot iterator"):
        feature_pass(known_mlp(), iter(known_data()))
    with pytest.raises(ValueError, match="one integer class label per sample"):
        feature_pass(known_mlp(), [(known_data().x, torch.zeros(7, 2))])
