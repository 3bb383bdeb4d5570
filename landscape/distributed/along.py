"""Loss and error along a curve (DESIGN 4.4) with the values of ``t`` spread over the ranks.

:func:`landscape.curves.evaluate_along` evaluates ``points`` weight vectors ``phi(t)`` on the
curve and as many on the straight line, each with its own BatchNorm pass. Here the ``2 *
points`` evaluations are dealt round-robin over the ranks, every one computed exactly as in one
process (:func:`landscape.curves.evaluate_weights`, whole data sets), then all-gathered and
assembled on every rank into the same dictionary, with

    barrier = max_t L_train(phi(t)) - max(L_train(phi(0)), L_train(phi(1)))

and the segment lengths ``||phi(t_{i+1}) - phi(t_i)||``. Values are bit-identical to one
process; in one process this *is* :func:`evaluate_along`.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.curves import Curve, barrier, evaluate_along, evaluate_weights
from landscape.distributed.collectives import all_gather_objects
from landscape.distributed.context import context
from landscape.distributed.shard import round_robin

__all__ = ["evaluate_along_distributed"]


@torch.no_grad()
def _lengths(curve: Curve, ts: np.ndarray) -> np.ndarray:
    vecs = [curve.vector(float(t)) for t in ts]
    return np.asarray([float(torch.linalg.vector_norm((b - a).double()))
                       for a, b in pairwise(vecs)])


def evaluate_along_distributed(
    curve: Curve,
    model: nn.Module,
    train: Iterable[tuple[Tensor, Tensor]],
    test: Iterable[tuple[Tensor, Tensor]] | None = None,
    *,
    points: int = 61,
    line: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`landscape.curves.evaluate_along` with its points spread over the ranks.

    Every rank passes the same arguments and gets the same result.

    Raises:
        ValueError: ``points < 2``.

    """
    ctx = context()
    if not ctx.distributed:
        return evaluate_along(curve, model, train, test, points=points, line=line,
                              progress=progress)
    if int(points) != points or points < 2:
        raise ValueError(f"points must be an integer >= 2 (61 by default), got {points!r}")
    ts = np.linspace(0.0, 1.0, int(points))
    paths = {"curve": curve, **({"line": curve.line()} if line else {})}
    jobs = [(part, i) for part in paths for i in range(len(ts))]
    mine = {}
    with torch.no_grad():
        for part, i in round_robin(jobs, ctx.rank, ctx.world_size):
            path = paths[part]
            mine[(part, i)] = evaluate_weights(model, path.split(path.vector(float(ts[i]))),
                                               train, test)
    values: dict[tuple[str, int], dict[str, float]] = {}
    for share in all_gather_objects(mine):
        values.update(share)
    out: dict[str, Any] = {"t": ts}
    for part, path in paths.items():
        keys = list(values[(part, 0)])
        res: dict[str, Any] = {k: np.asarray([values[(part, i)][k] for i in range(len(ts))])
                               for k in keys}
        res["segment_lengths"] = _lengths(path, ts)
        res["length"] = float(np.sum(res["segment_lengths"]))
        res["barrier"] = barrier(res["train_loss"])
        if "test_error" in res:
            res["test_error_barrier"] = barrier(res["test_error"])
        out[part] = res
    return out
