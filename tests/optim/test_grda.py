import copy
import math

import pytest
import torch
from torch import nn

from landscape.optim import GRDA, grda_threshold, soft_threshold, threshold_increment
from landscape.testing.optim import ReferenceGRDA


def _net(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    net.extra = nn.Parameter(torch.randn(5))     # grad None at some steps
    net.frozen = nn.Parameter(torch.randn(3), requires_grad=False)
    return net.to(dtype)


def _grads(net, step, seed=0):
    g = torch.Generator().manual_seed(1000 * seed + step)
    for name, p in net.named_parameters():
        if not p.requires_grad or (name == "extra" and step % 3 == 1):
            p.grad = None
        else:
            p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)


def test_one_and_two_steps_by_hand():
    # lr = 1/16 and mu = 3/4 make lr**(mu + 1/2) = 2**-5 exact; lr * g below are exact too
    w = nn.Parameter(torch.tensor([1.0, -0.3, 0.02, 0.0], dtype=torch.float64))
    opt = GRDA([w], lr=0.0625, c=3.2, mu=0.75)
    # step 1: a = w0 - g / 16; L1 = 3.2 * 2**-5 * (1 - 0) = 0.1
    w.grad = torch.tensor([1.6, 0.0, 0.0, -0.8], dtype=torch.float64)
    opt.step()
    a1 = torch.tensor([0.9, -0.3, 0.02, 0.05], dtype=torch.float64)
    assert torch.equal(opt.state[w]["accumulator"], a1)  # exact: 1 - 0.1 rounds as the literal
    assert opt.state[w]["threshold"] == pytest.approx(0.1, abs=1e-15)
    torch.testing.assert_close(w.detach(), torch.tensor([0.8, -0.2, 0.0, 0.0], dtype=torch.float64))
    assert (w[2:] == 0).all()                     # |a| <= L: exactly zero
    # step 2: L2 = 0.1 + 3.2 * 2**-5 * (2**0.75 - 1)
    w.grad = torch.tensor([0.0, 3.2, 0.0, -8.0], dtype=torch.float64)
    opt.step()
    L2 = 0.1 + 0.1 * (2**0.75 - 1)
    assert opt.state[w]["threshold"] == pytest.approx(L2, abs=1e-15)
    a2 = torch.tensor([0.9, -0.5, 0.02, 0.55], dtype=torch.float64)
    torch.testing.assert_close(opt.state[w]["accumulator"], a2, rtol=0, atol=1e-15)
    expected = torch.sign(a2) * (a2.abs() - L2).clamp(min=0)
    torch.testing.assert_close(w.detach(), expected, rtol=0, atol=1e-15)
    assert w[2] == 0 and opt.state[w]["step"] == 2


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_foreach_matches_reference_float64(l2):
    fast, ref = _net(), _net()
    kw = dict(lr=0.05, c=0.5, mu=0.55, l2=l2)
    of, orf = GRDA(fast.parameters(), **kw), ReferenceGRDA(ref.parameters(), **kw)
    for step in range(7):
        if step == 4:
            for o in (of, orf):
                o.param_groups[0]["lr"] = 0.01        # a learning-rate drop
        _grads(fast, step)
        _grads(ref, step)
        of.step()
        orf.step()
        for (n, p), q in zip(fast.named_parameters(), ref.parameters()):
            assert torch.equal(p, q), n
    assert len(of.state) == len(orf.state) > 0
    for p, q in zip(fast.parameters(), ref.parameters()):
        assert (p in of.state) == (q in orf.state)
        if p in of.state:
            sf, sr = of.state[p], orf.state[q]
            assert sf["step"] == sr["step"] and sf["threshold"] == sr["threshold"]
            assert torch.equal(sf["accumulator"], sr["accumulator"])
    assert fast.frozen not in of.state
    assert of.state[fast.extra]["step"] == 7 - len([s for s in range(7) if s % 3 == 1])
    assert (fast[0].weight == 0).any()               # the threshold is active


def test_mixed_dtypes_in_one_group_match_reference():
    """One multi-tensor add over float32 and float64 parameters, each thresholded in its dtype."""
    def params():
        g = torch.Generator().manual_seed(3)
        return [nn.Parameter(torch.randn(7, generator=g, dtype=torch.float64)),
                nn.Parameter(torch.randn(3, 4, generator=g).float())]

    fast, ref = params(), params()
    kw = dict(lr=0.1, c=2.0, mu=0.6)
    of, orf = GRDA(fast, **kw), ReferenceGRDA(ref, **kw)
    for step in range(4):
        for ps in (fast, ref):
            g = torch.Generator().manual_seed(step)
            for p in ps:
                p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)
        of.step()
        orf.step()
        for p, q in zip(fast, ref):
            assert p.dtype == q.dtype and torch.equal(p, q)  # exact: same ops, same dtype
    assert (fast[0] == 0).any() and (fast[1] == 0).any()


def test_c_zero_is_plain_sgd_bit_for_bit():
    a, b = _net(dtype=torch.float32), _net(dtype=torch.float32)
    oa = GRDA(a.parameters(), lr=0.1, c=0.0, mu=0.51)
    ob = torch.optim.SGD(b.parameters(), lr=0.1)
    for step in range(5):
        _grads(a, step)
        _grads(b, step)
        oa.step()
        ob.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_sparsity_never_decreases_with_c():
    zeros = []
    for c in [0.0, 1e-3, 1e-2, 3e-2, 1e-1]:
        net = _net()
        opt = GRDA(net.parameters(), lr=0.1, c=c, mu=0.6)
        for step in range(6):
            _grads(net, step)
            opt.step()
        zeros.append(sum(int((p == 0).sum()) for p in net.parameters() if p.requires_grad))
    assert zeros == sorted(zeros) and zeros[-1] > zeros[0]


def test_threshold_after_lr_drop_matches_closed_form():
    w = nn.Parameter(torch.zeros(3, dtype=torch.float64))
    c, mu, g1, g2, n1, n2 = 0.01, 0.6, 0.1, 0.01, 5, 4
    opt = GRDA([w], lr=g1, c=c, mu=mu)
    for _ in range(n1):
        w.grad = torch.ones(3, dtype=torch.float64)
        opt.step()
    assert opt.state[w]["threshold"] == pytest.approx(grda_threshold(n1, g1, c, mu), rel=1e-13)
    opt.param_groups[0]["lr"] = g2
    for _ in range(n2):
        w.grad = torch.ones(3, dtype=torch.float64)
        opt.step()
    n = n1 + n2
    closed = c * g1 ** (mu + 0.5) * n1**mu + c * g2 ** (mu + 0.5) * (n**mu - n1**mu)
    assert opt.state[w]["threshold"] == pytest.approx(closed, rel=1e-13)
    assert closed < grda_threshold(n, g1, c, mu)


def test_state_dict_round_trip_reproduces_next_step():
    a = _net()
    oa = GRDA(a.parameters(), lr=0.05, c=0.02, mu=0.55)
    for step in range(3):
        _grads(a, step)
        oa.step()
    b = _net()
    b.load_state_dict(a.state_dict())
    ob = GRDA(b.parameters(), lr=0.05, c=0.02, mu=0.55)
    ob.load_state_dict(copy.deepcopy(oa.state_dict()))  # state_dict() aliases the state
    for step in range(3, 6):
        _grads(a, step)
        _grads(b, step)
        oa.step()
        ob.step()
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.equal(p, q)


def test_sparse_growth_with_mu_only_when_n_gamma_above_one():
    # L_n = c sqrt(gamma) (n gamma)**mu grows with mu iff n * gamma > 1
    assert grda_threshold(100, 0.1, 1e-3, 0.6) > grda_threshold(100, 0.1, 1e-3, 0.51)
    assert grda_threshold(5, 0.1, 1e-3, 0.6) < grda_threshold(5, 0.1, 1e-3, 0.51)


def test_helpers():
    assert threshold_increment(1, 0.01, 2.0, 0.75) == pytest.approx(2.0 * 0.01**1.25)
    x = torch.tensor([-3.0, -1.0, 0.5, 1.0, 2.0])
    ref = torch.sign(x) * (x.abs() - 1.0).clamp(min=0)
    assert torch.equal(soft_threshold(x, 1.0), ref)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_soft_threshold_equals_both_textbook_forms(dtype):
    """softshrink against sign(a) max(|a| - L, 0) and a - clamp(a, -L, L), ties at +-L included."""
    g = torch.Generator().manual_seed(0)
    L = 0.3
    a = torch.randn(1037, generator=g, dtype=torch.float64).to(dtype)  # odd length: scalar tail
    a[:6] = torch.tensor([L, -L, 0.0, -0.0, math.inf, -math.inf], dtype=torch.float64).to(dtype)
    out = torch.empty_like(a)
    fast = soft_threshold(a, L, out=out)
    assert fast is out
    textbook = torch.sign(a) * torch.clamp(a.abs() - L, min=0)
    clamped = a - a.clamp(-L, L)
    # exact: each form computes a - L or a + L with one rounding (L cast to the dtype once), so
    # non-zero entries agree bit for bit; zeros may differ in sign only (equal for torch.equal)
    assert torch.equal(fast, textbook) and torch.equal(fast, clamped)
    assert int((fast == 0).sum()) == int((a.abs() <= L).sum()) > 6


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"lr": -0.1}, r"lr must be a positive finite number \(e.g. 0.1\), got -0.1"),
        ({"lr": float("nan")}, "lr must be"),
        ({"c": -1e-3}, r"c must be a finite number >= 0.*got -0.001"),
        ({"mu": 1.5}, r"mu must be in the open interval \(0.5, 1\), got 1.5"),
        ({"mu": 1.0}, r"mu must be in the open interval \(0.5, 1\), got 1.0: Chao et al. 2020 "
                      r"require 1/2 < mu < 1 for the threshold to grow faster than the noise"),
        ({"mu": 0.5}, r"mu must be in the open interval \(0.5, 1\), got 0.5: Chao et al. 2020"),
        ({"mu": 0.4}, r"mu must be in the open interval \(0.5, 1\), got 0.4: Chao et al. 2020"),
        ({"mu": 0}, "mu must be in"),
        ({"l2": -1.0}, "l2 must be a finite number >= 0, got -1.0"),
    ],
)
def test_hyperparameters_validated(kw, match):
    args = {"lr": 0.1, "c": 1e-3, "mu": 0.51, **kw}
    with pytest.raises(ValueError, match=match):
        GRDA([nn.Parameter(torch.zeros(1))], **args)


def test_sparse_grad_rejected():
    w = nn.Parameter(torch.zeros(3))
    w.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        GRDA([w], lr=0.1).step()
