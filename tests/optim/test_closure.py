"""``step(closure)`` of the optimizers defined here: same update as backward + step()."""

import pytest
import torch
from torch import nn

from landscape.optim import create_optimizer
from landscape.optim._closure import closure_loss

CASES = {
    "grda": {"c": 0.01, "mu": 0.6, "l2": 1e-3},
    "sgd-decoupled": {"momentum": 0.9, "weight_decay": 0.1},
    "rmsprop-decoupled": {"weight_decay": 0.1},
}


def _setup(name):
    torch.manual_seed(0)
    model = nn.Linear(4, 3).double()
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    kw = dict(CASES[name])
    opt = create_optimizer(name.split("-")[0], model.parameters(), lr=0.05, **kw)
    return model, opt, lambda: ((model(x) - y) ** 2).mean()


@pytest.mark.parametrize("name", list(CASES))
def test_step_with_closure_matches_backward_then_step(name):
    model_a, opt_a, loss_a = _setup(name)
    model_b, opt_b, loss_b = _setup(name)
    for _ in range(3):
        opt_a.zero_grad()
        expected = loss_a()
        expected.backward()
        assert opt_a.step() is None

        def closure():
            opt_b.zero_grad()
            loss = loss_b()
            loss.backward()
            return loss

        got = opt_b.step(closure)
        assert torch.equal(got.detach(), expected.detach())
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt_a.state_dict()["state"].keys() == opt_b.state_dict()["state"].keys()


def test_closure_loss_enables_gradients_under_no_grad():
    w = torch.tensor([1.0, -2.0], requires_grad=True)

    def closure():
        loss = (w**3).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = closure_loss(closure)
    assert loss.requires_grad and loss.item() == -7.0
    assert w.grad.tolist() == [3.0, 12.0]
    assert closure_loss(None) is None
