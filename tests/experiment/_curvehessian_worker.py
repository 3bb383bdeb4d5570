"""A child process that computes the curvature along a curve, reporting each durable cell.

Usage: ``python _curvehessian_worker.py STORE POINTS``. Prints ``R`` when it starts and
``D path i`` after each grid cell is durably written; the test SIGKILLs it part-way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

from curve_toys import CURVATURE, bn_curve  # noqa: E402

import landscape.store.partial as partial_mod  # noqa: E402
from landscape.experiment.curvehessian import curvature_along  # noqa: E402
from landscape.store import Store  # noqa: E402


def main(root: Path, points: int) -> None:
    real = partial_mod.Partial.write

    def write(self, index, /, **values):
        real(self, index, **values)
        print("D", *index, flush=True)

    partial_mod.Partial.write = write
    loaded = bn_curve()
    print("R", flush=True)
    curvature_along(Store(root), loaded, points=points, **CURVATURE)
    print("F", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
