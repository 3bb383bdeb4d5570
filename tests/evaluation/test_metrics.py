"""Loss and error at given parameters: fractions, batch-independent, any loss, any batches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscape.evaluation import (
    evaluate_loss_error,
    evaluate_weights,
    forward_at,
    recalibrate_bn,
)

G = torch.Generator().manual_seed(0)
X = torch.randn(37, 6, generator=G, dtype=torch.float64)
Y = torch.randint(0, 4, (37,), generator=G)


def _net(bn: bool = False) -> nn.Module:
    torch.manual_seed(3)
    layers = [nn.Linear(6, 5)] + ([nn.BatchNorm1d(5)] if bn else []) + [nn.ReLU(),
                                                                          nn.Linear(5, 4)]
    return nn.Sequential(*layers).double()


def _params(net: nn.Module, shift: float = 0.0) -> dict[str, torch.Tensor]:
    return {n: p.detach() + shift for n, p in net.named_parameters()}


def test_error_is_a_fraction_and_the_result_does_not_depend_on_batching():
    net = _net()
    params = _params(net, 0.05)
    whole = forward_at(net, params, X)
    want_loss = float(F.cross_entropy(whole, Y))
    want_error = int((whole.argmax(1) != Y).sum()) / 37
    for batch in (37, 10, 1):
        loader = DataLoader(TensorDataset(X, Y), batch_size=batch)
        loss, error = evaluate_loss_error(net, params, loader)
        # float64 sums of batch means times sizes: at most 37 roundings of the largest loss
        assert loss == pytest.approx(want_loss, rel=40 * 2.3e-16)
        assert error == want_error  # exact: a count over the same samples, divided once
    assert 0.0 < want_error < 1.0


def test_any_loss_function_and_the_model_is_left_as_it_was():
    net = _net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}

    def squared(logits, targets):  # a mean loss over the batch, as loss_fn must be
        return (logits - F.one_hot(targets, 4).to(logits)).square().sum(1).mean()

    loss, _ = evaluate_loss_error(net, _params(net), [(X[:20], Y[:20]), (X[20:], Y[20:])],
                                  loss_fn=squared)
    with torch.no_grad():
        want = float(squared(net(X), Y))
    assert loss == pytest.approx(want, rel=1e-14)
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="empty data set"):
        evaluate_loss_error(net, _params(net), [])


def test_evaluate_weights_recalibrates_batchnorm_for_the_point():
    net = _net(bn=True)
    params = _params(net, 0.1)
    loader = DataLoader(TensorDataset(X, Y), batch_size=8)
    got = evaluate_weights(net, params, loader, loader)
    buffers = recalibrate_bn(net, params, loader)
    loss, error = evaluate_loss_error(net, params, loader, buffers=buffers)
    assert got == {"train_loss": loss, "train_error": error, "test_loss": loss,
                   "test_error": error}  # exact: the same computation twice
    stale = evaluate_loss_error(net, params, loader)  # the model's own (initial) statistics
    assert stale[0] != pytest.approx(loss, rel=1e-6)
