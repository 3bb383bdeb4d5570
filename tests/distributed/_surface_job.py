"""The torchrun job (2 gloo ranks) of the surface checks; each rank's results go to a file.

Usage: ``python -m torch.distributed.run --standalone --nproc-per-node 2 _surface_job.py DIR``
where ``DIR`` holds the runs ``sgd/`` and ``grda/`` and a half-filled ``store/`` (made by
``test_surface_torchrun.py``). Each rank writes ``DIR/surface_rank<R>.pt``.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiment"))

from surface_problem import subject  # noqa: E402

from landscape.cli import main as cli_main  # noqa: E402
from landscape.distributed import destroy, init_from_env  # noqa: E402
from landscape.experiment.surface import random_basis, surface_cached  # noqa: E402
from landscape.store import Store  # noqa: E402

GRID = (5, 4)
CLI = ["--directions", "minima", "--top-k", "2", "--grid", "5", "5", "--dtype", "float64",
       "--batch-size", "16", "--per-pass", "2", "--json"]


def main(root: Path) -> None:
    ctx = init_from_env()
    res: dict = {"rank": ctx.rank, "world_size": ctx.world_size}
    s = subject(root / "sgd")
    res["grid"] = surface_cached(Store(root / "store"), s, random_basis(s, seed=3), grid=GRID,
                                 bn="recalibrate", points_per_pass=3)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res["cli_rc"] = cli_main(["surface", str(root / "sgd"), "--grda", str(root / "grda"),
                                  *CLI, "--store", str(root / "cli_store")])
    res["cli_stdout"] = buf.getvalue()
    torch.save(res, root / f"surface_rank{ctx.rank}.pt")
    destroy()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
