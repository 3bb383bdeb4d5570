import json

import pytest
import torch
from torch import nn

from landscape.surface import bn_bias_names, random_directions


def conv_bn_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.ReLU(), nn.Flatten(),
                        nn.Linear(5 * 4 * 4, 7), nn.ReLU(), nn.Linear(7, 3, bias=False))
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-1.0, 1.0)
        net[0].weight[2].zero_()  # a pruned filter stays pruned
    return net


def params_of(net):
    return {k: v.detach() for k, v in net.named_parameters()}


def filter_norms(t):
    return torch.linalg.vector_norm(t.double().reshape(t.shape[0], -1), dim=1)


def test_every_filter_of_the_direction_has_the_weight_filters_norm():
    net = conv_bn_net()
    params = params_of(net)
    dirs = random_directions(params, seed=3, model=net)
    assert dirs.ndim == 2
    for d in dirs.vectors:
        for name in ("0.weight", "4.weight", "6.weight"):  # conv filters and linear neurons
            torch.testing.assert_close(filter_norms(d[name]), filter_norms(params[name]),
                                       rtol=1e-13, atol=0)  # one rescaling in float64
        assert d["0.weight"][2].abs().sum() == 0  # the pruned filter
        for name in ("0.bias", "1.weight", "1.bias", "4.bias"):  # bias and BatchNorm
            assert d[name].abs().sum() == 0
    assert dirs.definition["bn_bias"] == ["0.bias", "1.weight", "1.bias", "4.bias"]
    assert dirs.axis_labels == ("filter-normalised random direction 1",
                                "filter-normalised random direction 2")


def test_include_bn_bias_normalises_them_by_their_own_norm_and_leaves_weights_alone():
    net = conv_bn_net()
    params = params_of(net)
    plain = random_directions(params, seed=3, model=net).vectors[0]
    both = random_directions(params, seed=3, model=net, include_bn_bias=True).vectors[0]
    for name in ("0.bias", "1.weight", "1.bias", "4.bias"):
        norm_d = float(torch.linalg.vector_norm(both[name]))
        assert norm_d == pytest.approx(float(torch.linalg.vector_norm(params[name].double())),
                                       rel=1e-13)
    for name in ("0.weight", "4.weight", "6.weight"):
        assert torch.equal(plain[name], both[name])  # exact: same draws, same arithmetic


def test_layer_and_none_normalisation():
    net = conv_bn_net()
    params = params_of(net)
    layer = random_directions(params, seed=1, norm="layer", model=net).vectors[0]
    for name in ("0.weight", "4.weight"):
        assert float(torch.linalg.vector_norm(layer[name])) == pytest.approx(
            float(torch.linalg.vector_norm(params[name].double())), rel=1e-13)
    raw = random_directions(params, seed=1, norm="none", model=net, num=1).vectors[0]
    g = torch.Generator().manual_seed(1)
    expected = torch.randn(tuple(params["0.weight"].shape), generator=g, dtype=torch.float64)
    assert torch.equal(raw["0.weight"], expected)  # exact: the first draw of the seeded generator


def test_seeded_reproducible_and_the_global_rng_untouched():
    params = params_of(conv_bn_net())
    state = torch.get_rng_state()
    a = random_directions(params, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = random_directions(params, seed=7)
    c = random_directions(params, seed=8)
    for name in params:
        assert torch.equal(a.vectors[1][name], b.vectors[1][name])  # exact: same seed
    assert not torch.equal(a.vectors[0]["0.weight"], c.vectors[0]["0.weight"])
    assert not torch.equal(a.vectors[0]["0.weight"], a.vectors[1]["0.weight"])


def test_which_parameters_are_bias_or_bn():
    net = conv_bn_net()
    params = params_of(net)
    # without the model: Li et al.'s rule, tensors of at most one dimension
    assert bn_bias_names(params) == ["0.bias", "1.weight", "1.bias", "4.bias"]
    ln = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    assert bn_bias_names(dict(ln.named_parameters()), ln) == ["0.bias", "1.weight", "1.bias"]
    dirs = random_directions(params, seed=0, bn_bias=["4.bias"], num=1)
    assert dirs.vectors[0]["4.bias"].abs().sum() == 0
    assert dirs.vectors[0]["0.bias"].abs().sum() > 0  # not named: filter-normalised entries
    assert dirs.definition["bn_bias_rule"] == "names"


def test_definition_is_json_and_bad_input_is_refused():
    params = params_of(conv_bn_net())
    dirs = random_directions(params, seed=2, num=1)
    assert json.loads(json.dumps(dirs.definition))["seed"] == 2
    with pytest.raises(ValueError, match="num must be 1"):
        random_directions(params, num=3)
    with pytest.raises(ValueError, match="norm must be one of"):
        random_directions(params, norm="filters")
    with pytest.raises(ValueError, match="bn_bias names parameter 'nope'"):
        random_directions(params, bn_bias=["nope"])
