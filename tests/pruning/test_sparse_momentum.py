import math

import pytest
import torch
from pruning_helpers import make_model, run_loop, watch_dense
from torch import nn

from landscape.optim import create_optimizer
from landscape.pruning import SparseMomentum, allocate_regrowth, cosine_prune_rate


def test_cosine_prune_rate():
    rates = [cosine_prune_rate(e, 4) for e in range(4)]
    for e, r in enumerate(rates):
        assert r == pytest.approx(0.25 * (1 + math.cos(math.pi * (e + 1) / 4)), abs=1e-15)
    assert rates[-1] == pytest.approx(0.0, abs=1e-15)
    assert rates == sorted(rates, reverse=True)
    assert cosine_prune_rate(0, 1000) == pytest.approx(0.5, abs=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_allocate_regrowth_is_exact_and_capped(seed):
    g = torch.Generator().manual_seed(seed)
    contrib = torch.rand(5, generator=g).tolist()
    capacity = torch.randint(0, 40, (5,), generator=g).tolist()
    total = int(sum(capacity) * 0.7)
    parts = allocate_regrowth(total, contrib, capacity)
    assert sum(parts) == total
    assert all(0 <= p <= c for p, c in zip(parts, capacity))
    # uncapped: within one of the exact proportional share
    free = allocate_regrowth(100, contrib, [1000] * 5)
    for p, c in zip(free, contrib):
        assert abs(p - 100 * c / sum(contrib)) < 1
    assert allocate_regrowth(6, [0.0, 0.0, 0.0], [9, 9, 9]) == [2, 2, 2]
    with pytest.raises(ValueError, match="cannot regrow 10 weights into layers with room for 9"):
        allocate_regrowth(10, [1.0], [9])


@pytest.mark.parametrize(("optimizer", "kw"), [
    ("sgd", {"momentum": 0.9}), ("adam", {}), ("sgd", {}), ("grda", {"c": 0.005, "mu": 0.6}),
])
def test_density_constant_and_biases_bn_dense(optimizer, kw):
    model = make_model()
    opt = create_optimizer(optimizer, model.parameters(), lr=0.05, **kw)
    sp = SparseMomentum(density=0.3)
    sp.bind(model, opt, 4, 4)
    assert set(sp.masks) == {"hidden.0.0.weight", "hidden.1.0.weight", "out.weight"}
    active = {n: int(m.sum()) for n, m in sp.masks.items()}
    assert active == {n: round(0.3 * m.numel()) for n, m in sp.masks.items()}
    total = sum(active.values())
    seen_masks = []

    def check(step):
        for n, p in sp.params.items():
            assert (p[~sp.masks[n]] == 0).all()
        # biases and BatchNorm: exactly what the optimizer step left
        dense = untouched_after_step()
        assert dense and all(torch.equal(p, dense[n]) for n, p in model.named_parameters()
                             if n in dense)
        assert sum(int(m.sum()) for m in sp.masks.values()) == total
        seen_masks.append({n: m.clone() for n, m in sp.masks.items()})

    untouched_after_step = watch_dense(model, opt, sp)
    run_loop(model, opt, sp, epochs=4, check=check)
    assert [h["epoch"] for h in sp.history] == [0, 1, 2]      # rate 0 after the last epoch
    for h in sp.history:
        assert sum(h["removed"]) == sum(h["regrown"]) > 0
    assert sum(int(m.sum()) for m in sp.masks.values()) == total
    # the masks did change: weights were pruned and regrown
    assert any(not torch.equal(seen_masks[0][n], sp.masks[n]) for n in sp.masks)
    assert sp.key == {"sgd": "momentum_buffer" if kw else None, "adam": "exp_avg",
                      "grda": None}[optimizer]


def _two_layers():
    net = nn.Sequential(nn.Linear(10, 10, bias=False), nn.Linear(10, 10, bias=False)).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    return net, opt


def test_redistribution_by_mean_momentum_and_growth_by_largest_momentum():
    net, opt = _two_layers()
    sp = SparseMomentum(density=0.2, momentum="optimizer", prune_rate=0.5)
    sp.bind(net, opt, 1, 2)
    g = torch.Generator().manual_seed(0)
    mom = {}
    for (n, p), scale in zip(sp.params.items(), (3.0, 1.0)):
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * sp.masks[n])
        m = torch.rand(p.shape, generator=g, dtype=p.dtype) * 0.1 + scale
        opt.state[p]["momentum_buffer"] = m.clone()
        mom[n] = m
    before = {n: m.clone() for n, m in sp.masks.items()}
    weights = {n: p.detach().clone() for n, p in sp.params.items()}
    sp.on_epoch_end(0)             # p = 0.5 (1 + cos(pi/2)) / 2 = 0.25
    h = sp.history[0]
    assert h["prune_rate"] == pytest.approx(0.25)
    assert h["removed"] == [5, 5]                               # round(0.25 * 20) each
    names = list(sp.masks)
    means = [float(mom[n][before[n]].mean()) for n in names]
    expected = allocate_regrowth(10, means, [100, 100])
    assert h["regrown"] == expected and expected[0] > expected[1]
    for n, k in zip(names, h["regrown"]):
        kept = before[n] & sp.masks[n]
        # pruned: the smallest |w| among the previously active
        assert weights[n].abs()[before[n] & ~kept].max() <= weights[n].abs()[kept].min()
        # grown: the k largest |M| among the weights inactive after pruning
        inactive_after_prune = ~kept
        grown = sp.masks[n] & inactive_after_prune
        assert int(grown.sum()) == k
        rest = inactive_after_prune & ~grown
        assert mom[n][grown].min() >= mom[n][rest].max()
        # pruned weights are zero, their momentum too
        assert (sp.params[n][~sp.masks[n]] == 0).all()
        lost = before[n] & ~sp.masks[n]
        assert (opt.state[sp.params[n]]["momentum_buffer"][lost] == 0).all()
    assert sum(int(m.sum()) for m in sp.masks.values()) == 40


def test_dense_layer_is_not_pruned_edge_case():
    net, opt = _two_layers()
    sp = SparseMomentum(density=0.5, momentum="optimizer")
    sp.bind(net, opt, 1, 2)
    first = next(iter(sp.masks))
    sp.masks[first][:] = True                   # a dense layer: p_i = min(p, 0) = 0
    for p in sp.params.values():
        opt.state[p]["momentum_buffer"] = torch.ones_like(p)
    sp.on_epoch_end(0)
    assert sp.history[0]["removed"][0] == 0 and sp.masks[first].all()


def test_own_momentum_is_smoothed_gradient():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sp = SparseMomentum(density=0.5, beta=0.8)
    sp.bind(model, opt, 4, 2)
    assert sp.key is None
    expected = {n: torch.zeros_like(p) for n, p in sp.params.items()}
    largest = {n: 0.0 for n in sp.params}  # max |g| so far, which bounds |m|

    def check(step):
        if step > 4:            # the epoch end after step 4 zeroed the pruned weights' momentum
            return
        for n, p in sp.params.items():
            expected[n] = 0.8 * expected[n] + 0.2 * p.grad
            largest[n] = max(largest[n], float(p.grad.abs().max()))
            # m.mul_(0.8).add_(g, alpha=1 - 0.8) against 0.8 m + 0.2 g: each step rounds a few
            # times (and 1 - 0.8 differs from 0.2 by 2.8e-16), <= 3u max|g| per step, carried
            # with factor 0.8: <= 3u max|g| / 0.2 = 1.7e-15 max|g|; absolute, because the two
            # terms can cancel (float64, u = 1.1e-16)
            torch.testing.assert_close(sp.own[n], expected[n], rtol=0,
                                       atol=2e-15 * largest[n])
            # missing weights still get gradients: the growth signal
            assert (p.grad[~sp.masks[n]] != 0).any()

    run_loop(model, opt, sp, epochs=1, check=check)
    for n in sp.params:
        lost = (expected[n] != 0) & (sp.own[n] == 0)
        assert lost.any() and not (sp.masks[n] & lost).any()


def test_errors():
    with pytest.raises(ValueError, match="pass target_sparsity"):
        SparseMomentum()
    with pytest.raises(ValueError, match="prune_rate must be in"):
        SparseMomentum(density=0.1, prune_rate=2)
    with pytest.raises(ValueError, match="momentum must be one of"):
        SparseMomentum(density=0.1, momentum="nesterov")
    model = make_model()
    with pytest.raises(ValueError, match="momentum='optimizer' but SGD keeps no momentum"):
        SparseMomentum(density=0.1, momentum="optimizer").bind(
            model, torch.optim.SGD(model.parameters(), lr=0.1), 1, 1)
    sp = SparseMomentum(target_sparsity=0.9)
    sp.bind(model, torch.optim.SGD(model.parameters(), lr=0.1), 1, 1)
    with pytest.raises(ValueError, match="state is 'magnitude', this run prunes with 'sparse"):
        sp.load_state_dict({"kind": "magnitude"})


def test_weight_pruned_and_regrown_in_one_round_restarts_at_zero():
    # Algorithm 1 zeroes the pruned weights, then regrows among the zero ones: a weight pruned
    # for its small |w| but chosen again for its large |M| is active and exactly zero after.
    net, opt = _two_layers()
    sp = SparseMomentum(density=0.2, momentum="optimizer", prune_rate=0.5)
    sp.bind(net, opt, 1, 2)
    g = torch.Generator().manual_seed(1)
    back = {}
    for n, p in sp.params.items():
        with torch.no_grad():
            p.copy_((torch.rand(p.shape, generator=g, dtype=p.dtype) + 1.0) * sp.masks[n])
        idx = sp.masks[n].flatten().nonzero().squeeze(1)
        back[n] = int(idx[3])
        with torch.no_grad():
            p.view(-1)[back[n]] = 0.01                      # the smallest active |w|: pruned
        m = torch.rand(p.shape, generator=g, dtype=p.dtype)
        m.view(-1)[back[n]] = 5.0                           # the largest |M|: regrown first
        opt.state[p]["momentum_buffer"] = m
    sp.on_epoch_end(0)
    assert sp.history[0]["removed"] == [5, 5] and sp.history[0]["regrown"] == [5, 5]
    for n, p in sp.params.items():
        assert bool(sp.masks[n].view(-1)[back[n]])
        assert p.view(-1)[back[n]].item() == 0.0
        assert opt.state[p]["momentum_buffer"].view(-1)[back[n]].item() == 5.0
        # every other active weight kept its value (>= 1), every regrown one is zero
        active = p[sp.masks[n]]
        assert int((active == 0).sum()) == 5 and bool((active[active != 0] >= 1).all())
