"""Two gloo ranks under torchrun against one process: HVPs, top-k, training, curve fit, grid.

One torchrun job (``_dist_job.py``) runs every distributed check, so process start-up is paid
once; the single-process references are computed here. Tolerances: float64 throughout; sums
taken in another order (per-rank partial sums, then the all-reduce) differ by rounding only,
hence ``rtol=1e-10`` where a single process would agree bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from dist_helpers import (
    CURVE_HESSIAN,
    FIT,
    GRID,
    curve_dataset,
    eval_sets,
    hvp_problem,
    make_endpoints,
    train_config,
)

from landscape.checkpoint import load_checkpoint
from landscape.curvature import HessianOperator, lanczos
from landscape.curves import PLANE_FIELDS, evaluate_along, run_grid
from landscape.experiment.curvehessian import curvature_along
from landscape.experiment.curves import fit_curve_run, load_curve, plane_cached, plane_partial
from landscape.store import Store
from landscape.testing import dense_hessian
from landscape.train import train

HERE = Path(__file__).parent
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Prepare endpoints, a fitted curve and a half-done grid; run the 2-rank job once."""
    root = tmp_path_factory.mktemp("dist")
    start, end = make_endpoints(root)
    fit_curve_run(start, end, root / "curve_single", dataset=curve_dataset(), config=FIT)
    loaded = load_curve(root / "curve_single")
    train_set, test_set = eval_sets(loaded.dataset())
    part = plane_partial(Store(root / "store"), loaded, train_set, test_set, grid=GRID)
    run_grid(loaded.curve, loaded.model, train_set, test_set, part, grid=GRID,
             indices=[(0, 0), (2, 1)])  # an interrupted grid: the job must resume it
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", str(HERE / "_dist_job.py"), str(root)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"torchrun job failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    ranks = [torch.load(root / f"rank{r}.pt", weights_only=False) for r in range(2)]
    return root, ranks


def test_job_ran_two_gloo_ranks(job):
    _, ranks = job
    assert [(r["rank"], r["world_size"], r["backend"]) for r in ranks] == [
        (0, 2, "gloo"), (1, 2, "gloo")]


def test_distributed_hvp_equals_single_process(job):
    _, ranks = job
    model, data, block = hvp_problem()
    op = HessianOperator(model, data)
    expected = op @ block
    dense = dense_hessian(model, list(data))
    loss, grad = op.loss_and_gradient()
    for r in ranks:
        assert r["num_samples"] == 23
        torch.testing.assert_close(r["hv"], expected, **TIGHT)
        torch.testing.assert_close(r["hv"], dense @ block, rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(r["grad"], grad, **TIGHT)
        assert r["loss"] == pytest.approx(op.loss_value, rel=1e-12)
        assert r["loss2"] == pytest.approx(loss, rel=1e-12)


def test_distributed_topk_equals_single_process(job):
    _, ranks = job
    model, data, _ = hvp_problem()
    single = lanczos(HessianOperator(model, data), 3, tol=1e-10)
    exact = torch.linalg.eigvalsh(dense_hessian(model, list(data))).flip(0)[:3]
    for r in ranks:
        torch.testing.assert_close(r["eigenvalues"], single.eigenvalues, rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(r["eigenvalues"], exact, rtol=1e-9, atol=1e-11)
        overlap = (r["eigenvectors"].T @ single.eigenvectors).diagonal().abs()
        torch.testing.assert_close(overlap, torch.ones(3, dtype=torch.float64), rtol=0,
                                   atol=1e-8)
    # the same Lanczos on every rank: replicated vectors, bit for bit
    assert torch.equal(ranks[0]["eigenvectors"], ranks[1]["eigenvectors"])


def test_two_rank_training_equals_single_process(job, tmp_path):
    root, _ = job
    single = train(train_config(2), tmp_path / "run", progress=False)
    dist_run = root / "run"
    assert sorted(p.name for p in dist_run.glob("epoch_*.pt")) == [
        "epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    for epoch in (1, 2):  # epoch 2 was trained after a resume under torchrun
        a = load_checkpoint(single.checkpoint_path(epoch))
        b = load_checkpoint(dist_run / f"epoch_{epoch:04d}.pt")
        assert a.step == b.step == 4 * epoch
        for name, value in a.state_dict.items():
            torch.testing.assert_close(b.state_dict[name], value, **TIGHT, msg=name)
    rows = [json.loads(line) for line in (dist_run / "metrics.jsonl").read_text().splitlines()]
    ref = single.read_metrics()
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    for got, want in zip(rows, ref):
        for key in ("batch_loss", "train_loss", "train_acc", "test_loss", "test_acc"):
            if want[key] is None:
                assert got[key] is None
            else:
                assert got[key] == pytest.approx(want[key], rel=1e-10), key


def test_data_parallel_curve_fit_equals_single_process(job):
    root, _ = job
    a = load_curve(root / "curve_single")
    b = load_curve(root / "curve_dist")
    assert b.epoch == a.epoch == FIT.epochs
    for ma, mb in zip(a.curve.middle, b.curve.middle):
        torch.testing.assert_close(mb.detach(), ma.detach(), **TIGHT)
    assert not torch.equal(a.curve.middle[0].detach(),
                           torch.lerp(a.curve.start, a.curve.end, 0.5))  # it did train


def test_plane_grid_over_two_ranks_equals_single_process(job, tmp_path):
    root, ranks = job
    out = ranks[0]["plane"]
    assert ranks[1]["plane"] is None  # rank 0 reports and writes
    assert out["complete"] and out["computed"] == GRID * GRID - 2  # resumed, 2 were done
    loaded = load_curve(root / "curve_single")
    train_set, test_set = eval_sets(loaded.dataset())
    ref = plane_cached(Store(tmp_path / "store"), loaded, train_set, test_set, grid=GRID)
    for f in PLANE_FIELDS:
        np.testing.assert_array_equal(out[f], ref[f])  # each point computed as in one process
    assert out["key"] == ref["key"]
    entry = Store(root / "store").get(out["key"])
    assert entry is not None and not any((root / "store" / ".partial").glob("*.plog"))


def test_hessian_cli_under_torchrun(job):
    _, ranks = job
    assert [r["cli_rc"] for r in ranks] == [0, 0]
    assert ranks[1]["cli_stdout"] == ""  # only rank 0 prints
    out = json.loads(ranks[0]["cli_stdout"])
    assert not out["cached"] and len(out["eigenvalues"]) == 2 and all(out["converged"])


def test_curve_eval_cli_under_torchrun(job):
    root, ranks = job
    assert [r["eval_rc"] for r in ranks] == [0, 0] and ranks[1]["eval_stdout"] == ""
    out = json.loads(ranks[0]["eval_stdout"])
    loaded = load_curve(root / "curve_single")
    train_set, test_set = eval_sets(loaded.dataset())
    ref = evaluate_along(loaded.curve, loaded.model, train_set, test_set, points=4)
    for part in ("curve", "line"):
        assert out[part]["barrier"] == pytest.approx(ref[part]["barrier"], rel=1e-12, abs=1e-15)
        assert out[part]["length"] == pytest.approx(ref[part]["length"], rel=1e-12)
        for key in ("train_loss", "train_error", "test_loss", "test_error"):
            np.testing.assert_allclose(out["along"][part][key], ref[part][key], rtol=1e-12)


def test_curvature_along_a_curve_over_two_ranks_equals_one_process(job, tmp_path):
    root, ranks = job
    out = ranks[0]["curve_hessian"]
    assert ranks[1]["curve_hessian"] is None  # rank 0 reports and writes
    assert out["complete"] and out["computed"] == 5 + 3  # the line shares the endpoints
    loaded = load_curve(root / "curve_single")
    train_set, _ = eval_sets(loaded.dataset())
    ref = curvature_along(Store(tmp_path / "store"), loaded, train_set, **CURVE_HESSIAN)
    assert out["key"] == ref["key"]
    for part in ("curve", "line"):
        # each rank warm-starts from its own previous t: the same answer to the residual
        # tolerance (1e-10), not bit for bit; the trace and loss are the same computation
        np.testing.assert_allclose(out[part]["eigenvalues"], ref[part]["eigenvalues"],
                                   rtol=2e-10)
        np.testing.assert_allclose(out[part]["trace"], ref[part]["trace"], rtol=1e-12)
        np.testing.assert_allclose(out[part]["loss"], ref[part]["loss"], rtol=1e-12)
        assert out[part]["converged"].all()
