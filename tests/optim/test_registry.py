import pytest
import torch
from torch import nn

from landscape.optim import GRDA, create_optimizer, list_optimizers, optimizer_entry

OPTIONS = {
    "sgd": {"momentum": 0.9, "nesterov": True},
    "rmsprop": {"momentum": 0.5, "centered": True},
    "adam": {"betas": [0.8, 0.99]},
    "grda": {"c": 1e-3, "mu": 0.6},
}


def _problem(seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(5, 2).double()
    x = torch.randn(16, 5, dtype=torch.float64)
    y = torch.randn(16, 2, dtype=torch.float64)
    return model, x, y


def _run(name, steps=5, lr=0.01, **kw):
    model, x, y = _problem()
    opt = create_optimizer(name, model.parameters(), lr=lr, **kw)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()]), opt


def test_registry_lists_the_issue_names():
    assert set(list_optimizers()) == {
        "sgd", "adam", "adamw", "amsgrad", "rmsprop", "adagrad", "adadelta", "grda"
    }


@pytest.mark.parametrize("name", list_optimizers())
def test_every_optimizer_trains_and_round_trips(name):
    w0, _ = _run(name, steps=0)
    w, opt = _run(name, **OPTIONS.get(name, {}))
    assert not torch.equal(w, w0) and torch.isfinite(w).all()
    assert opt.state_dict()["param_groups"]


@pytest.mark.parametrize("name", list_optimizers())
def test_every_optimizer_takes_l2_or_weight_decay_not_both(name):
    with pytest.raises(ValueError, match="both l2=0.1 and weight_decay=0.2"):
        _run(name, l2=0.1, weight_decay=0.2)
    if name != "adamw":
        plain, _ = _run(name)
        with_l2, _ = _run(name, l2=0.5)
        assert not torch.equal(plain, with_l2)
    if name != "grda":
        plain, _ = _run(name)
        with_wd, _ = _run(name, weight_decay=0.5)
        assert not torch.equal(plain, with_wd)


def test_l2_and_weight_decay_coincide_for_plain_sgd():
    a, _ = _run("sgd", lr=0.1, l2=0.3)
    b, _ = _run("sgd", lr=0.1, weight_decay=0.3)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_l2_and_weight_decay_differ_for_adam():
    a, _ = _run("adam", lr=0.1, l2=0.3)
    b, _ = _run("adam", lr=0.1, weight_decay=0.3)
    assert (a - b).abs().max() > 1e-3


def test_adam_weight_decay_is_adamw_and_l2_is_coupled():
    a, opt = _run("adam", lr=0.1, weight_decay=0.3)
    assert isinstance(opt, torch.optim.AdamW)
    model, x, y = _problem()
    ref = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.3)
    for _ in range(5):
        ref.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        ref.step()
    assert torch.equal(a, torch.cat([p.detach().flatten() for p in model.parameters()]))
    _, opt = _run("adam", l2=0.3)
    assert type(opt) is torch.optim.Adam and opt.param_groups[0]["weight_decay"] == 0.3


def test_decoupled_sgd_with_momentum_matches_the_formula():
    model, x, y = _problem()
    opt = create_optimizer("sgd", model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.2)
    w = model.weight.detach().clone()
    opt.zero_grad()
    ((model(x) - y) ** 2).mean().backward()
    g = model.weight.grad.clone()
    opt.step()
    torch.testing.assert_close(model.weight.detach(), w * (1 - 0.1 * 0.2) - 0.1 * g)
    assert opt.state_dict()["param_groups"][0]["decoupled_weight_decay"] == 0.2


def test_amsgrad_and_grda_types():
    _, opt = _run("amsgrad")
    assert opt.param_groups[0]["amsgrad"] is True
    _, opt = _run("grda", l2=0.1, c=1e-3, mu=0.6)
    assert isinstance(opt, GRDA) and opt.param_groups[0]["l2"] == 0.1


@pytest.mark.parametrize(
    ("name", "kw", "match"),
    [
        ("nadam", {}, "unknown optimizer 'nadam'; choose one of: adadelta"),
        ("adam", {"momentum": 0.9}, r"'adam' has no option\(s\) \['momentum'\]"),
        ("adamw", {"l2": 0.1}, "for Adam with L2 use --optimizer adam"),
        ("grda", {"weight_decay": 0.1}, "takes no decoupled weight decay"),
        ("sgd", {"lr": 0}, "lr must be a positive finite number, got 0"),
        ("sgd", {"l2": -1}, "l2 must be a finite number >= 0, got -1"),
        ("sgd", {"nesterov": True}, "optimizer 'sgd': Nesterov"),
        ("grda", {"mu": 2.0}, "mu must be in"),
    ],
)
def test_errors(name, kw, match):
    kw = {"lr": 0.1, **kw}
    with pytest.raises(ValueError, match=match):
        create_optimizer(name, [nn.Parameter(torch.zeros(2))], **kw)


def test_entry_lookup():
    assert optimizer_entry("sgd").options == ("momentum", "nesterov", "dampening")
