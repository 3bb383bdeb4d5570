"""One torchrun job (2 gloo ranks) running every distributed check; results go to files.

Usage: ``python -m torch.distributed.run --standalone --nproc-per-node 2 _dist_job.py DIR``
where ``DIR`` holds ``end1.pt``, ``end2.pt``, ``curve_single/`` and ``store/`` (made by the test).
Each rank writes ``DIR/rank<R>.pt``; rank 0 writes the run and curve directories.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

from dist_helpers import (  # noqa: E402
    CURVE_HESSIAN,
    FIT,
    GRID,
    curve_dataset,
    eval_sets,
    hvp_problem,
    train_config,
)

from landscape.cli import main as cli_main  # noqa: E402
from landscape.curvature import DistributedHessian, lanczos  # noqa: E402
from landscape.distributed import (  # noqa: E402
    destroy,
    init_from_env,
)
from landscape.experiment.curvehessian import curvature_along  # noqa: E402
from landscape.experiment.curves import (  # noqa: E402
    fit_curve_run,
    load_curve,
    plane_distributed,
)
from landscape.store import Store  # noqa: E402
from landscape.train import train  # noqa: E402


class _Interrupted(Exception):
    pass


def main(root: Path) -> None:
    ctx = init_from_env()
    res: dict = {"rank": ctx.rank, "world_size": ctx.world_size, "backend": ctx.backend}
    model, data, block = hvp_problem()
    op = DistributedHessian(model, data)
    res["hv"] = op @ block
    res["loss"] = op.loss_value
    res["loss2"], res["grad"] = op.loss_and_gradient()
    res["num_samples"] = op.num_samples
    eig = lanczos(op, 3, tol=1e-10)
    res["eigenvalues"], res["eigenvectors"] = eig.eigenvalues, eig.eigenvectors

    def stop(epoch: int, step: int) -> None:
        if epoch == 1:
            raise _Interrupted

    with contextlib.suppress(_Interrupted):  # interrupted in epoch 2, then resumed
        train(train_config(2), root / "run", progress=False, on_step=stop)
    train(train_config(2), root / "run", resume=True, progress=False)

    fit_curve_run(root / "end1.pt", root / "end2.pt", root / "curve_dist",
                  dataset=curve_dataset(), config=FIT)

    loaded = load_curve(root / "curve_single")
    train_set, test_set = eval_sets(loaded.dataset())
    out = plane_distributed(Store(root / "store"), loaded, train_set, test_set, grid=GRID,
                            margin=0.2)
    res["plane"] = out

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res["cli_rc"] = cli_main(["hessian", str(root / "run"), "--top-k", "2", "--dtype",
                                  "float64", "--tol", "1e-8", "--batch-size", "7",
                                  "--store", str(root / "cli_store"), "--json"])
    res["cli_stdout"] = buf.getvalue()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res["eval_rc"] = cli_main(["curve", "eval", str(root / "curve_single"), "--points", "4",
                                   "--batch-size", "15", "--store", str(root / "cli_store"),
                                   "--json"])
    res["eval_stdout"] = buf.getvalue()
    res["curve_hessian"] = curvature_along(Store(root / "hessian_store"), loaded, train_set,
                                           **CURVE_HESSIAN)
    torch.save(res, root / f"rank{ctx.rank}.pt")
    destroy()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
