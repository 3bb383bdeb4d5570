"""The network at a curve point, its parameter slots resolved once (as functional_call)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.curves._forward import ParameterSlots
from landscape.evaluation import forward_at


class _Tied(nn.Module):
    """An embedding whose weight is also the output layer's (tied parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Linear(3, 4, bias=False)
        self.norm = nn.BatchNorm1d(4)
        self.out = nn.Linear(4, 3, bias=False)
        self.out.weight = nn.Parameter(self.emb.weight.detach().t().clone())
        self.back = nn.Linear(3, 4, bias=False)
        self.back.weight = self.emb.weight  # tied: one Parameter in two slots

    def forward(self, x):
        return self.out(torch.relu(self.norm(self.emb(x)))) + self.back(x).sum(1, keepdim=True)


def _params(model, seed):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(p.shape, generator=g, dtype=torch.float64).requires_grad_()
            for n, p in model.named_parameters()}


def test_slots_give_functional_calls_outputs_and_gradients_bit_for_bit():
    torch.manual_seed(0)
    model = _Tied().double().eval()
    names = [n for n, _ in model.named_parameters()]
    assert "back.weight" not in names  # the tied slot has no name of its own
    x = torch.randn(5, 3, dtype=torch.float64)
    slots = ParameterSlots(model, names)
    p1, p2 = _params(model, 1), _params(model, 1)
    got, want = slots(model, p1, x), forward_at(model, p2, x)
    assert torch.equal(got, want)  # exact: the same forward on the same tensors
    got.square().sum().backward()
    want.square().sum().backward()
    for n in names:
        assert torch.equal(p1[n].grad, p2[n].grad)  # exact: the same graph
    # the model's own parameters are back in every slot, the tied one included
    assert model.back.weight is model.emb.weight
    assert isinstance(model.emb.weight, nn.Parameter) and model.emb.weight.grad is None


def test_slots_are_restored_when_the_forward_fails_and_bad_names_are_refused():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    slots = ParameterSlots(model, ["0.weight"])
    own = model[0].weight
    with pytest.raises(RuntimeError):
        slots(model, {"0.weight": torch.zeros(3, 3)}, torch.ones(1, 2))  # shape mismatch
    assert model[0].weight is own
    with pytest.raises(ValueError, match=r"\['0.scale'\] are not parameters of the network"):
        ParameterSlots(model, ["0.weight", "0.scale"])
    with pytest.raises(ValueError, match="built for another network"):
        slots(nn.Sequential(nn.Linear(2, 2)), {"0.weight": own}, torch.ones(1, 2))
