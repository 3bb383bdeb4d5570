"""The epoch runner: resume equals no stop, checkpoint before metrics, lr and RNG per epoch."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.optim import EpochRunner, LossNotFinite, Step, create_schedule
from landscape.seeding import derive_seed, generator

X = torch.randn(23, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
Y = torch.randint(0, 3, (23,), generator=torch.Generator().manual_seed(1))


def _net() -> nn.Module:
    torch.manual_seed(5)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3)).double()


def _batches(epoch: int):
    """Minibatches of 5 (the last of 3), in an order drawn from (0, "order", epoch)."""
    order = torch.randperm(23, generator=generator(0, "order", epoch))
    return [(X[order[i:i + 5]], Y[order[i:i + 5]]) for i in range(0, 23, 5)]


def _step(net: nn.Module):
    def step(epoch, k, x, y):
        out = net(x)
        loss = F.cross_entropy(out, y)
        return Step(loss, loss, int(y.shape[0]), (out.argmax(1) != y).sum())
    return step


def _setup(epochs=4):
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = create_schedule("garipov", base_lr=0.1, epochs=epochs)
    return net, opt, EpochRunner(opt, sched, epochs=epochs, seed=7, model=net)


def test_resume_from_an_epoch_equals_the_run_that_never_stopped():
    net, opt, runner = _setup()
    saved = {}

    def checkpoint(stats, row):
        saved[stats.epoch] = (copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict()),
                              stats.step, dict(row))

    rows = []
    torch.manual_seed(123)  # whatever the caller's stream holds must not matter
    steps = runner.run(_step(net), _batches, checkpoint=checkpoint,
                       record=lambda stats, row: rows.append(dict(row)))
    assert steps == 4 * 5 and [r["epoch"] for r in rows] == [1, 2, 3, 4]

    net2, opt2, runner2 = _setup()
    state, ostate, step, _ = saved[2]
    net2.load_state_dict(state)
    opt2.load_state_dict(ostate)
    rows2 = []
    torch.manual_seed(456)
    assert runner2.run(_step(net2), _batches, start_epoch=2, start_step=step,
                       record=lambda stats, row: rows2.append(dict(row))) == 20
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)  # exact: same kernels on the same data in the same order
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in part]
             for part in (rows[2:], rows2)]
    assert strip[0] == strip[1] and len(strip[0]) == 2


def test_checkpoint_comes_before_the_metrics_row_and_a_failed_checkpoint_stops_it():
    net, _, runner = _setup(epochs=2)
    calls = []
    runner.run(_step(net), _batches,
               end_epoch=lambda s: calls.append(("end", s.epoch)) or {"epoch": s.epoch},
               checkpoint=lambda s, row: calls.append(("checkpoint", row["epoch"])),
               record=lambda s, row: calls.append(("record", row["epoch"])))
    assert calls == [("end", 1), ("checkpoint", 1), ("record", 1),
                     ("end", 2), ("checkpoint", 2), ("record", 2)]

    def disk_full(stats, row):
        raise OSError("disk full")

    recorded = []
    net, _, runner = _setup(epochs=2)
    with pytest.raises(OSError, match="disk full"):
        runner.run(_step(net), _batches, checkpoint=disk_full,
                   record=lambda s, row: recorded.append(row))
    assert recorded == []  # never a metrics row without its checkpoint


def test_learning_rate_per_epoch_comes_from_the_schedule():
    net, opt, runner = _setup(epochs=4)
    seen = {}

    def step(epoch, k, x, y):
        seen.setdefault(epoch, {g["lr"] for g in opt.param_groups})
        return _step(net)(epoch, k, x, y)

    rows = []
    runner.run(step, _batches, record=lambda s, row: rows.append(row))
    sched = create_schedule("garipov", base_lr=0.1, epochs=4)
    assert seen == {e: {sched(e)} for e in range(4)}
    assert [r["lr"] for r in rows] == [sched(e) for e in range(4)]


def test_global_stream_is_reseeded_per_epoch_from_seed_stream_epoch_and_restored():
    net = nn.Linear(4, 3).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    runner = EpochRunner(opt, lambda e: 0.01, epochs=3, seed=11, stream="dropout")
    draws = {}

    def step(epoch, k, x, y):
        draws[(epoch, k)] = float(torch.rand(()))  # what dropout would draw from
        loss = F.cross_entropy(net(x), y)
        return Step(loss, loss, int(y.shape[0]))

    torch.manual_seed(99)
    before = torch.get_rng_state()
    runner.run(step, _batches)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's stream is untouched
    for e in range(3):
        want = torch.rand((), generator=torch.Generator().manual_seed(
            derive_seed(11, "dropout", e)))
        assert draws[(e, 0)] == float(want)
    assert draws[(0, 0)] != draws[(1, 0)]


def test_epoch_means_are_weighted_by_batch_size_and_errors_are_fractions():
    net = nn.Linear(4, 3).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)  # lr 0: the weights stay, the sums are known
    runner = EpochRunner(opt, lambda e: 0.0, epochs=1, seed=0)
    rows = []
    runner.run(_step(net), _batches(0), record=lambda s, row: rows.append(row))
    with torch.no_grad():
        out = net(X)
    # the per-batch means times sizes, summed in float64: a few roundings of the total
    assert rows[0]["loss"] == pytest.approx(float(F.cross_entropy(out, Y)), rel=1e-14)
    assert rows[0]["error"] == float((out.argmax(1) != Y).sum()) / 23
    assert rows[0]["samples"] == 23 and rows[0]["step"] == 5
    doubled = []
    runner.run(_step(net), _batches(0), reduce=lambda sums: 2 * sums,
               record=lambda s, row: doubled.append(row))
    assert doubled[0]["samples"] == 46 and doubled[0]["loss"] == rows[0]["loss"]


def test_a_non_finite_loss_stops_before_the_checkpoint():
    net = nn.Linear(4, 3).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    saved = []

    def step(epoch, k, x, y):
        loss = F.cross_entropy(net(x), y) * (float("nan") if (epoch, k) == (1, 1) else 1.0)
        return Step(loss, loss, int(y.shape[0]))

    runner = EpochRunner(opt, lambda e: 0.1, epochs=3, seed=0, desc="toy")
    with pytest.raises(LossNotFinite, match=r"toy: the loss became non-finite \(nan\) at epoch "
                                            r"2 \(by step 7, lr 0.1\)"):
        runner.run(step, _batches, checkpoint=lambda s, row: saved.append(s.epoch))
    assert saved == [1]
    # reading the flag every 4 steps (as on an accelerator): found at the next read
    runner = EpochRunner(opt, lambda e: 0.1, epochs=3, seed=0, desc="toy", sync_every=4)
    with pytest.raises(LossNotFinite, match=r"by step 8"):
        runner.run(step, _batches)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        EpochRunner(opt, lambda e: 0.1, epochs=0, seed=0)
