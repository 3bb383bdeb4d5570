"""Model reduction: removing dead units keeps the outputs; parameters and FLOPs add up."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.data import EvalSet
from landscape.models import create_model
from landscape.stats import (
    compare_outputs,
    count_flops,
    count_parameters,
    feature_statistics,
    plan_reduction,
    reduce_model,
)


def _data(shape, n=24, classes=10, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g, dtype=dtype)
    return EvalSet.from_tensors(x, torch.arange(n) % classes, batch_size=7)


def _reduce_from_stats(model, train, by=("activation", "scale", "weights")):
    st = feature_statistics(model, train, num_classes=10)
    plan = plan_reduction(model, st, by=by)
    return plan, reduce_model(model, plan, example=train.x[:2])


def test_mlp_with_batchnorm_all_three_criteria_exact():
    torch.manual_seed(0)
    model = create_model("mlp", widths=[8, 6], batchnorm=True, input_shape=(1, 3, 3)).double()
    model.eval()
    with torch.no_grad():
        for bn in (model.hidden[0][1], model.hidden[1][1]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.bias.fill_(3.0)  # every other unit clearly alive
        model.hidden[0][0].weight[1] = 0.0          # zero weights: constant relu(BN(b)) > 0?
        model.hidden[0][0].bias[1] = 2.0
        model.hidden[0][1].weight[3] = 0.0           # gamma = 0: constant relu(beta)
        model.hidden[0][1].bias[3] = 0.7
        model.hidden[1][1].weight[0] = 0.0
        model.hidden[1][1].bias[0] = -1.0            # gamma = 0, beta < 0: dead by activation
        model.hidden[1][1].bias[4] = -1e6            # dead by activation only
    train, test = _data((1, 3, 3)), _data((1, 3, 3), seed=1)
    plan, red = _reduce_from_stats(model, train)
    assert plan["hidden.0.0"]["remove"].nonzero().flatten().tolist() == [1, 3]
    assert plan["hidden.1.0"]["remove"].nonzero().flatten().tolist() == [0, 4]
    assert plan["hidden.0.0"]["constant"][3] == pytest.approx(0.7)
    assert plan["hidden.0.0"]["constant"][1] > 0  # a zero-weight unit with positive output
    assert isinstance(red.model, type(model))
    assert red.model.hidden[0][0].out_features == 6 and red.model.hidden[1][1].num_features == 4
    cmp = compare_outputs(model, red.model, test)
    assert cmp["max_abs_diff"] < 1e-12 and cmp["agreement"] == 1.0
    # closed forms: 9*8+8 + 2*8 (BN) + 8*6+6 + 2*6 + 6*10+10 before; 9*6+6+12+6*4+4+8+4*10+10
    assert red.params_before == 80 + 16 + 54 + 12 + 70
    assert red.params_after == 60 + 12 + 28 + 8 + 50
    assert (red.flops_before, red.flops_after) == (2 * (72 + 48 + 60), 2 * (54 + 24 + 40))
    assert red.exact and red.summary()["removed"] == {"hidden.0.0": 2, "hidden.1.0": 2}


def test_convnet_channels_flattened_into_a_linear_layer():
    torch.manual_seed(0)
    model = create_model("lenet5", input_shape=(1, 20, 20)).double().eval()
    with torch.no_grad():
        for m in (model.features[0], model.features[3], model.classifier[0]):
            m.weight.abs_()  # non-negative weights and inputs: every other unit alive
            m.bias.fill_(1.0)
        model.features[3].weight[[0, 7, 49]] = 0.0   # last conv: 2x2 flattened positions each
        model.features[3].bias[[0, 7]] = -1.0          # dead (relu(-1) = 0)
        model.features[3].bias[49] = 0.3               # constant 0.3 folded into fc bias
        model.features[0].weight[5] = 0.0
        model.features[0].bias[5] = 0.2                # constant into a padding-free conv
        model.classifier[0].weight[:10] = 0.0
        model.classifier[0].bias[:10] = -0.1
    train = _data((1, 20, 20))
    _, red = _reduce_from_stats(model, train)
    assert red.model.features[3].out_channels == 47 and red.model.features[0].out_channels == 19
    assert red.model.classifier[0].out_features == 490
    assert red.model.classifier[0].in_features == 47 * 4
    assert red.exact
    cmp = compare_outputs(model, red.model, _data((1, 20, 20), seed=3))
    assert cmp["max_abs_diff"] < 1e-10
    assert red.flops_after < red.flops_before and red.params_after < red.params_before


def test_basicnet_dead_channels_and_padded_conv_constants():
    torch.manual_seed(0)
    model = create_model("basicnet", width=0.125, input_shape=(3, 8, 8)).double().eval()
    with torch.no_grad():
        for m in model.features:
            if isinstance(m, nn.BatchNorm2d):
                m.bias.fill_(3.0)  # every other channel clearly alive
        model.features[1].weight[2] = 0.0
        model.features[1].bias[2] = -0.5              # gamma 0, relu(beta) = 0: exact
        model.features[4].weight[:3] = 0.0
        model.features[4].bias[:3] = -0.1
    train = _data((3, 8, 8))
    _, red = _reduce_from_stats(model, train)
    assert red.exact and red.model.features[0].out_channels == 7
    assert compare_outputs(model, red.model, _data((3, 8, 8), seed=2))["max_abs_diff"] < 1e-10
    with torch.no_grad():
        model.features[1].bias[2] = 0.5               # now a constant 0.5 into a padded conv
    _, red = _reduce_from_stats(model, train)
    assert not red.exact and "padded" in red.notes[0]


def test_hand_plan_and_closed_form_flops():
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Dropout(), nn.Linear(5, 3))
    assert count_parameters(net) == 25 + 18 and count_flops(net, torch.zeros(2, 4)) == 2 * 35
    plan = {"0": {"remove": torch.tensor([False, True, True, False, False])}}
    red = reduce_model(net, plan, example=torch.zeros(1, 4))
    assert red.params_after == 15 + 12 and red.flops_after == 2 * (12 + 9)
    assert net[0].out_features == 5  # the original is untouched


def test_errors_are_clear():
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    ex = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="mask of shape"):
        reduce_model(net, {"0": {"remove": torch.tensor([True, False])}}, example=ex)
    with pytest.raises(ValueError, match="removes all 5 units"):
        reduce_model(net, {"0": {"remove": torch.ones(5, dtype=torch.bool)}}, example=ex)
    with pytest.raises(ValueError, match="no Linear/Conv2d layer 'x'"):
        reduce_model(net, {"x": {"remove": torch.zeros(5, dtype=torch.bool)}}, example=ex)
    with pytest.raises(ValueError, match="not followed by"):
        reduce_model(net, {"2": {"remove": torch.tensor([True, False, False])}}, example=ex)
    wrn = create_model("wrn", depth=10, width=1, input_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="residual"):
        reduce_model(wrn, {}, example=torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="by must name"):
        plan_reduction(net, {"layers": {}}, by=("gamma",))


def test_compare_outputs_of_identical_models():
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    cmp = compare_outputs(net, net, _data((4,), classes=3))
    assert cmp["max_abs_diff"] == 0.0 and cmp["agreement"] == 1.0
    assert cmp["accuracy_original"] == cmp["accuracy_reduced"]
