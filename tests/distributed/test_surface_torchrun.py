"""A loss surface under torchrun (2 gloo ranks) equals the single-process surface.

The pending points of a half-filled grid are dealt over the ranks in chunks of K points (one
K-point pass per rank per round) and rank 0 writes them; every point is computed as in one
process, so the grid is bitwise the single-process one. The ``minima`` plane through the CLI
takes its top eigenvector from the sharded Hessian (sums in another order: rounding only).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "experiment"))

from _surface_job import CLI, GRID  # noqa: E402
from surface_problem import make_run, subject  # noqa: E402

from landscape.cli import main as cli_main  # noqa: E402
from landscape.experiment.surface import (  # noqa: E402
    random_basis,
    surface_cached,
    surface_partial,
)
from landscape.store import Store  # noqa: E402
from landscape.surface import SurfaceEvaluator, run_surface  # noqa: E402

DONE = [(0, 0), (2, 1), (4, 3)]  # written before the job: it must resume


@contextlib.contextmanager
def one_thread():
    """The ranks' thread count here too: the same kernels, bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface_dist")
    make_run(root / "sgd")
    make_run(root / "grda", optimizer="grda", seed=1)
    s = subject(root / "sgd")
    basis = random_basis(s, seed=3)
    part = surface_partial(Store(root / "store"), s, basis, grid=GRID, bn="recalibrate")
    evaluator = SurfaceEvaluator(s.model, basis.directions, s.split("train"), s.split("test"),
                                 bn="recalibrate")
    axes = [np.linspace(-1.0, 1.0, n) for n in GRID]
    with one_thread():
        run_surface(evaluator, axes, part, indices=DONE)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE), os.environ.get("PYTHONPATH", "")])}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", str(HERE / "_surface_job.py"), str(root)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"torchrun job failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return root, [torch.load(root / f"surface_rank{r}.pt", weights_only=False)
                  for r in range(2)]


def test_two_rank_grid_equals_the_single_process_grid(job, tmp_path):
    root, ranks = job
    assert [r["world_size"] for r in ranks] == [2, 2]
    out = ranks[0]["grid"]
    assert ranks[1]["grid"] is None  # rank 0 reports and writes
    assert out["complete"] and out["computed"] == GRID[0] * GRID[1] - len(DONE)
    s = subject(root / "sgd")
    with one_thread():
        ref = surface_cached(Store(tmp_path / "store"), s, random_basis(s, seed=3), grid=GRID,
                             bn="recalibrate", points_per_pass=5)
    assert out["key"] == ref["key"]
    for field in ref["fields"]:
        # exact: each point is evaluated as in one process (strategy "loop": its values do
        # not depend on the points sharing its pass)
        np.testing.assert_array_equal(out[field], ref[field])
    assert not any((root / "store" / ".partial").glob("*.plog"))  # finalised by rank 0


def test_surface_command_under_torchrun(job, tmp_path, capsys):
    root, ranks = job
    assert [r["cli_rc"] for r in ranks] == [0, 0] and ranks[1]["cli_stdout"] == ""
    dist = json.loads(ranks[0]["cli_stdout"])
    assert not dist["cached"] and dist["computed"] == 25
    assert cli_main(["surface", str(root / "sgd"), "--grda", str(root / "grda"), *CLI,
                     "--store", str(tmp_path / "store")]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["key"] == dist["key"]  # the same top-k entry, the same question
    for field in ("train_loss", "train_error", "test_loss", "test_error"):
        # the top eigenvector of the sharded Hessian (per-rank sums, then all-reduce) and of
        # the single-process one agree to rounding amplified by the Lanczos iteration (well
        # under 1e-8 relative here); losses along it inherit that
        np.testing.assert_allclose(dist[field], single[field], rtol=1e-8, atol=1e-12)
