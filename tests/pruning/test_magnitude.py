import pytest
import torch
from pruning_helpers import make_model, run_loop, watch_dense
from torch import nn

from landscape.optim import create_optimizer
from landscape.pruning import MagnitudePruning, RandomPruning, cubic_sparsity
from landscape.train import create_sparsifier, list_sparsifiers

SCHED = dict(begin_step=2, end_step=10, frequency=2)


def test_registered():
    assert {"magnitude", "random", "sparse-momentum"} <= set(list_sparsifiers())
    assert isinstance(create_sparsifier("magnitude", target_sparsity=0.5), MagnitudePruning)
    assert isinstance(create_sparsifier("random", density=0.5), RandomPruning)


def test_cubic_schedule_closed_form():
    kw = dict(initial=0.1, final=0.9, begin=10, end=50, frequency=10)
    assert cubic_sparsity(0, **kw) == cubic_sparsity(9, **kw) == 0.1
    assert cubic_sparsity(10, **kw) == pytest.approx(0.1)
    for k in range(5):
        expected = 0.9 + (0.1 - 0.9) * (1 - k / 4) ** 3
        assert cubic_sparsity(10 + 10 * k, **kw) == pytest.approx(expected, abs=1e-15)
    assert cubic_sparsity(50, **kw) == cubic_sparsity(1000, **kw) == 0.9
    values = [cubic_sparsity(t, **kw) for t in range(60)]
    assert values == sorted(values)
    # n = (end - begin) // dt = 2: the target is reached at 10 + 2 * 15 = 40 <= end
    assert cubic_sparsity(40, initial=0.0, final=0.8, begin=10, end=50, frequency=15) == 0.8
    # one-shot: begin == end
    assert cubic_sparsity(7, initial=0.0, final=0.8, begin=7, end=7, frequency=3) == 0.8


@pytest.mark.parametrize("cls", [MagnitudePruning, RandomPruning])
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_sparsity_follows_schedule_and_pruned_stay_zero(cls, scope):
    model = make_model()
    opt = create_optimizer("sgd", model.parameters(), lr=0.1, momentum=0.9)
    sp = cls(target_sparsity=0.8, scope=scope, **SCHED)
    sp.bind(model, opt, 4, 4)
    assert set(sp.masks) == {"hidden.0.0.weight", "hidden.1.0.weight", "out.weight"}
    history = []

    def check(step):
        masks = {n: m.clone() for n, m in sp.masks.items()}
        for n, p in sp.params.items():
            assert (p[~masks[n]] == 0).all(), f"pruned weight of {n} is not zero at {step}"
        # biases and BatchNorm: exactly what the optimizer step left
        dense = untouched_after_step()
        assert dense and all(torch.equal(p, dense[n]) for n, p in model.named_parameters()
                             if n in dense)
        # momentum of pruned weights is zero
        for n, p in sp.params.items():
            assert (opt.state[p]["momentum_buffer"][~masks[n]] == 0).all()
        if history:
            for n in masks:   # never regrows
                assert not (masks[n] & ~history[-1][n]).any()
        history.append(masks)
        # the mask holds the value of the last scheduled step (none yet: dense)
        done = [t for t in range(step + 1) if sp.is_pruning_step(t)]
        s = sp.schedule(done[-1]) if done else 0.0
        if scope == "layer":
            for m in masks.values():
                assert m.numel() - int(m.sum()) == round(s * m.numel())
        else:
            total = sum(m.numel() for m in masks.values())
            assert total - sum(int(m.sum()) for m in masks.values()) == round(s * total)

    untouched_after_step = watch_dense(model, opt, sp)
    run_loop(model, opt, sp, epochs=4, check=check)
    assert sp.pruned_at == [2, 4, 6, 8, 10]
    # global fraction over the prunable weights: each layer rounds round(0.8 * numel) on its
    # own; the exact per-layer counts are asserted in check() and just below
    assert sp.sparsity == pytest.approx(0.8, abs=1e-2)
    if scope == "layer":
        for m in sp.masks.values():
            assert m.numel() - int(m.sum()) == round(0.8 * m.numel())


def test_layer_sparsity_exact_at_every_pruning_step():
    model = make_model()
    opt = create_optimizer("sgd", model.parameters(), lr=0.1)
    sp = MagnitudePruning(target_sparsity=0.7, initial_sparsity=0.1, begin_step=0, end_step=12,
                          frequency=3)
    sp.bind(model, opt, 4, 4)
    seen = {}

    def check(step):
        if sp.is_pruning_step(step):
            seen[step] = {n: m.numel() - int(m.sum()) for n, m in sp.masks.items()}

    run_loop(model, opt, sp, epochs=4, check=check)
    assert sorted(seen) == [3, 6, 9, 12]
    for step, zeros in seen.items():
        s = 0.7 + (0.1 - 0.7) * (1 - step / 12) ** 3
        for n, z in zeros.items():
            assert z == round(s * sp.masks[n].numel()), (step, n)


def test_magnitude_prunes_the_smallest():
    lin = nn.Linear(5, 4, bias=False).double()
    values = torch.randperm(20, generator=torch.Generator().manual_seed(0)).double() - 9.5
    with torch.no_grad():
        lin.weight.copy_(values.view(4, 5))
    sp = MagnitudePruning(target_sparsity=0.4, begin_step=0, end_step=0)
    sp.bind(lin, torch.optim.SGD(lin.parameters(), lr=0.1), 1, 1)
    kept = values.abs()[sp.masks["weight"].flatten()]
    dropped = values.abs()[~sp.masks["weight"].flatten()]
    assert dropped.numel() == 8 and dropped.max() < kept.min()
    assert (lin.weight.flatten()[~sp.masks["weight"].flatten()] == 0).all()


def test_global_scope_ranks_across_layers():
    model = make_model(batchnorm=False)
    with torch.no_grad():
        model.out.weight.mul_(1000.0)       # the last layer's weights are all the largest
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    glob = MagnitudePruning(target_sparsity=0.5, begin_step=0, end_step=0, scope="global")
    glob.bind(model, opt, 1, 1)
    assert glob.masks["out.weight"].all()
    total = sum(m.numel() for m in glob.masks.values())
    assert total - sum(int(m.sum()) for m in glob.masks.values()) == round(0.5 * total)
    layer = MagnitudePruning(target_sparsity=0.5, begin_step=0, end_step=0)
    layer.bind(make_model(batchnorm=False), opt, 1, 1)
    assert int(layer.masks["out.weight"].sum()) == round(0.5 * 30)


def test_random_pruning_is_seeded_and_not_magnitude():
    def masks(seed):
        model = make_model()
        sp = RandomPruning(target_sparsity=0.5, begin_step=0, end_step=0, seed=seed)
        sp.bind(model, torch.optim.SGD(model.parameters(), lr=0.1), 1, 1)
        return sp.masks

    a, b, c = masks(0), masks(0), masks(1)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)
    model = make_model()
    mag = MagnitudePruning(target_sparsity=0.5, begin_step=0, end_step=0)
    mag.bind(model, torch.optim.SGD(model.parameters(), lr=0.1), 1, 1)
    assert not torch.equal(a["hidden.0.0.weight"], mag.masks["hidden.0.0.weight"])


def test_dense_first_last():
    model = make_model()
    sp = MagnitudePruning(target_sparsity=0.5, begin_step=0, end_step=0, dense_first_last=True)
    sp.bind(model, torch.optim.SGD(model.parameters(), lr=0.1), 1, 1)
    assert list(sp.masks) == ["hidden.1.0.weight"]
    assert (model.hidden[0][0].weight != 0).all() and (model.out.weight != 0).all()


@pytest.mark.parametrize(("optimizer", "kw", "key"), [
    ("adam", {}, "exp_avg"), ("grda", {"c": 0.01, "mu": 0.6}, None),
])
def test_any_optimizer_keeps_pruned_weights_zero(optimizer, kw, key):
    model = make_model()
    opt = create_optimizer(optimizer, model.parameters(), lr=0.05, **kw)
    sp = MagnitudePruning(target_sparsity=0.6, **SCHED)
    sp.bind(model, opt, 4, 3)

    def check(step):
        for n, p in sp.params.items():
            assert (p[~sp.masks[n]] == 0).all()
            if key:
                assert (opt.state[p][key][~sp.masks[n]] == 0).all()

    run_loop(model, opt, sp, epochs=3, check=check)
    # per-layer rounding of round(0.6 * numel) moves the global fraction by < 1e-2
    assert sp.sparsity == pytest.approx(0.6, abs=1e-2)


@pytest.mark.parametrize(("kw", "match"), [
    ({}, r"pass target_sparsity \(--target-sparsity\) or density"),
    ({"target_sparsity": 0.9, "density": 0.2}, "disagree"),
    ({"target_sparsity": 1.0}, r"must be in \[0, 1\)"),
    ({"target_sparsity": 0.5, "scope": "net"}, "scope must be one of"),
    ({"target_sparsity": 0.5, "frequency": 0}, "frequency must be an integer"),
    ({"target_sparsity": 0.5, "initial_sparsity": 0.7}, "initial_sparsity must be in"),
])
def test_option_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        MagnitudePruning(**kw)


def test_bind_errors_and_foreign_state():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="ends at step 50 but the run has 8 steps"):
        MagnitudePruning(target_sparsity=0.5, end_step=50).bind(model, opt, 4, 2)
    with pytest.raises(ValueError, match="pass begin_step or begin_epoch, not both"):
        MagnitudePruning(target_sparsity=0.5, begin_step=1, begin_epoch=1).bind(model, opt, 4, 2)
    with pytest.raises(ValueError, match="ends .* before it begins"):
        MagnitudePruning(target_sparsity=0.5, begin_step=6, end_step=2).bind(model, opt, 4, 2)
    with pytest.raises(ValueError, match="has no prunable weight tensor"):
        MagnitudePruning(target_sparsity=0.5).bind(nn.BatchNorm1d(3), opt, 4, 2)
    sp = RandomPruning(target_sparsity=0.5)
    sp.bind(model, opt, 4, 2)
    with pytest.raises(ValueError, match="state is 'magnitude', this run prunes with 'random'"):
        sp.load_state_dict({"kind": "magnitude"})
    state = sp.state_dict()
    state["masks"]["out.weight"] = torch.ones(2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"mask 'out.weight' should be a bool tensor of shape"):
        sp.load_state_dict(state)


def test_epoch_options_convert_to_steps():
    model = make_model()
    sp = MagnitudePruning(target_sparsity=0.5, begin_epoch=1, end_epoch=2.5, frequency=2)
    sp.bind(model, torch.optim.SGD(model.parameters(), lr=0.1), 4, 3)
    assert (sp.begin, sp.end) == (4, 10)
    default = MagnitudePruning(target_sparsity=0.5)
    default.bind(model, torch.optim.SGD(model.parameters(), lr=0.1), 8, 4)
    assert (default.begin, default.end, default.frequency) == (0, 24, 2)
