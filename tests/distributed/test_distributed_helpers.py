"""Single-process behaviour of the distributed helpers: identities, shards and clear errors."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.curvature import DistributedHessian
from landscape.data import EvalSet
from landscape.distributed import (
    DataParallel,
    ShardedBatches,
    context,
    destroy,
    init_from_env,
    reduce_gradients_,
    shard_evalset,
    shard_range,
    weighted_means,
)


@pytest.fixture
def fresh_context(monkeypatch):
    """Forget the cached context before and after (environment changes in the test)."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    destroy()
    yield monkeypatch
    destroy()


def test_single_process_needs_no_process_group(fresh_context):
    ctx = context()
    assert (ctx.rank, ctx.world_size, ctx.backend, ctx.distributed, ctx.is_main) == (
        0, 1, None, False, True)
    assert not torch.distributed.is_initialized()


def test_bad_environment_is_refused(fresh_context):
    fresh_context.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        init_from_env()
    fresh_context.setenv("WORLD_SIZE", "2")
    fresh_context.setenv("RANK", "2")
    with pytest.raises(ValueError, match="need 0 <= RANK < WORLD_SIZE"):
        init_from_env()


@pytest.mark.parametrize("n, world", [(5, 2), (16, 3), (2, 2), (7, 1), (3, 4)])
def test_shards_cover_the_sequence_in_order(n, world):
    ranges = [shard_range(n, r, world) for r in range(world)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in pairwise(ranges))
    sizes = [b - a for a, b in ranges]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="need 0 <= rank < world_size"):
        shard_range(n, world, world)


def test_sliced_minibatches_reassemble_the_global_batch():
    batches = [(torch.arange(16.0), torch.arange(16)), (torch.arange(13.0), torch.arange(13))]
    slices = [[y for _, y in ShardedBatches(batches, rank=r, world_size=3)] for r in range(3)]
    for b, (_, y) in enumerate(batches):
        assert torch.equal(torch.cat([slices[r][b] for r in range(3)]), y)
    sb = ShardedBatches(batches, rank=2, world_size=3)
    sizes = [(sb.local_size, sb.global_size) for _ in sb]
    assert sizes == [(5, 16), (4, 13)] and sb.local_total == 9


def test_evalset_shards_keep_spec_and_refuse_empty_ranks():
    data = EvalSet.from_tensors(torch.arange(10.0)[:, None], torch.arange(10), batch_size=4)
    assert shard_evalset(data, rank=0, world_size=1) is data
    shard = shard_evalset(data, rank=1, world_size=3)
    assert shard.y.tolist() == [4, 5, 6] and shard.spec() == data.spec()
    assert shard.batch_sizes == [3] and shard.shard == (1, 3)
    with pytest.raises(ValueError, match="cannot shard 10 samples over 11 ranks"):
        shard_evalset(data, rank=0, world_size=11)


def test_single_process_helpers_are_identities():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    dp = DataParallel(net)
    loss, objective, size = dp.loss(*next(iter(dp.batches([(x, y)]))))
    assert objective is loss and size == 5 and torch.equal(loss, F.cross_entropy(net(x), y))
    objective.backward()
    before = [p.grad.clone() for p in net.parameters()]
    reduce_gradients_(net.parameters(), 1.0)
    assert all(torch.equal(a, p.grad) for a, p in zip(before, net.parameters()))
    assert weighted_means({"loss": 0.1, "error": 3.0}, 7) == {"loss": 0.1, "error": 3.0}
    assert dp.evaluator(len) is len


def test_sync_batchnorm_needs_cuda():
    with pytest.raises(ValueError, match="sync_batchnorm needs CUDA"):
        DataParallel(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), sync_batchnorm=True)


def test_distributed_hessian_in_one_process_is_the_hessian():
    torch.manual_seed(1)
    net = nn.Linear(3, 2).double()
    x, y = torch.randn(7, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1, 0, 0])
    data = EvalSet.from_tensors(x, y, batch_size=3)
    from landscape.curvature import HessianOperator

    ref, op = HessianOperator(net, data), DistributedHessian(net, data)
    v = torch.randn(op.dim, 2, dtype=torch.float64)
    assert torch.equal(op @ v, ref @ v) and op.weight == 1.0 and op.num_samples == 7
    assert op.loss_value == ref.loss_value


def test_single_process_curve_hooks_are_the_plain_computations(tmp_path, fresh_context):
    from dist_helpers import FIT, curve_dataset, eval_sets, make_endpoints

    from landscape.curves import evaluate_along
    from landscape.distributed import map_round_robin
    from landscape.experiment.curves import fit_curve_run, plane_cached, plane_distributed
    from landscape.store import Store

    start, end = make_endpoints(tmp_path)
    loaded = fit_curve_run(start, end, tmp_path / "curve", dataset=curve_dataset(), config=FIT)
    train_set, test_set = eval_sets(loaded.dataset())
    plain = evaluate_along(loaded.curve, loaded.model, train_set, test_set, points=3)
    hooked = evaluate_along(loaded.curve, loaded.model, train_set, test_set, points=3,
                            map_jobs=map_round_robin)
    for part in ("curve", "line"):
        assert hooked[part]["barrier"] == plain[part]["barrier"]
        assert torch.equal(torch.as_tensor(hooked[part]["test_loss"]),
                           torch.as_tensor(plain[part]["test_loss"]))
    ref = plane_cached(Store(tmp_path / "a"), loaded, train_set, test_set, grid=2)
    part = plane_distributed(Store(tmp_path / "b"), loaded, train_set, test_set, grid=2,
                             indices=[(0, 1)])  # one process: indices are honoured
    assert part["computed"] == 1 and not part["complete"]
    out = plane_distributed(Store(tmp_path / "b"), loaded, train_set, test_set, grid=2)
    assert out["complete"] and out["computed"] == 3 and out["key"] == ref["key"]
    assert torch.equal(torch.as_tensor(out["train_loss"]), torch.as_tensor(ref["train_loss"]))
