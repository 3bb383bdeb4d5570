"""Loss and error along a curve and along the straight line (Chao et al. 2020, Fig. 5).

For each ``t`` in ``points`` equally spaced values of ``[0, 1]`` (61 by default, as Garipov
et al. 2018) the weights ``phi(t)`` get their own BatchNorm statistics
(:func:`landscape.evaluation.recalibrate_bn`, one pass over the training data), then the mean
loss and the error (a fraction) on the training and test sets are measured
(:func:`landscape.evaluation.evaluate_loss_error`). The same is done for the straight line
``(1 - t) w_0 + t w_1`` between the same endpoints. Reported:

    barrier = max_t L_train(phi(t)) - max(L_train(phi(0)), L_train(phi(1)))
    segment lengths ||phi(t_{i+1}) - phi(t_i)||_2 and their sum (the curve's length)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from landscape.curves.bezier import Curve
from landscape.evaluation import LossFn, evaluate_weights

__all__ = ["JobMap", "barrier", "evaluate_along"]

JobMap = Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]]
"""``map_jobs(fn, jobs)``: the results ``[fn(job) for job in jobs]``, however they are run."""


def barrier(losses: Any) -> float:
    """``max_t L(t) - max(L(0), L(1))`` for losses sampled along a path (endpoints included).

    >>> barrier([0.25, 1.0, 0.5])
    0.5
    >>> barrier([0.25, 0.125, 0.5])    # no hill: the maximum is an endpoint
    0.0
    """
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"expected a 1-d sequence of at least 2 losses, got shape {values.shape}")
    return float(values.max() - max(values[0], values[-1]))


def _serial(fn: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
    return [fn(job) for job in jobs]


@torch.no_grad()
def _summary(rows: list[dict[str, float]], path: Curve, ts: np.ndarray) -> dict[str, Any]:
    """Arrays of the per-``t`` values, segment lengths, length and barriers of one path."""
    result: dict[str, Any] = {k: np.asarray([r[k] for r in rows]) for k in rows[0]}
    lengths, prev = [], path.vector(float(ts[0]))
    for t in ts[1:]:  # two weight vectors in memory at a time
        vec = path.vector(float(t))
        lengths.append(float(torch.linalg.vector_norm((vec - prev).double())))
        prev = vec
    result["segment_lengths"] = np.asarray(lengths)
    result["length"] = float(np.sum(result["segment_lengths"]))
    result["barrier"] = barrier(result["train_loss"])
    if "test_error" in result:
        result["test_error_barrier"] = barrier(result["test_error"])
    return result


def evaluate_along(
    curve: Curve,
    model: nn.Module,
    train: Iterable[tuple[Tensor, Tensor]],
    test: Iterable[tuple[Tensor, Tensor]] | None = None,
    *,
    points: int = 61,
    line: bool = True,
    loss_fn: LossFn = F.cross_entropy,
    progress: bool = False,
    map_jobs: JobMap | None = None,
) -> dict[str, Any]:
    """Evaluate the curve (and the straight line) at ``points`` equally spaced ``t``.

    Every weight vector gets exact BatchNorm statistics before it is evaluated.

    Args:
        curve: the fitted curve.
        model: a network of the curve's architecture (parameters are not used).
        train: training data (unaugmented, re-iterable: an ``EvalSet``, a ``DataLoader``),
            also used for the BatchNorm pass.
        test: test data, or ``None``.
        points: number of values of ``t`` (endpoints included), >= 2.
        line: also evaluate the straight line between the endpoints.
        loss_fn: ``(logits, targets) -> mean loss over the batch``.
        progress: show a progress bar on stderr.
        map_jobs: ``map_jobs(fn, jobs) -> [fn(job) for job in jobs]``, how the evaluations
            (one per path and ``t``) are run; default: one after the other in this process.
            :func:`landscape.distributed.map_round_robin` spreads them over torchrun ranks.

    Returns:
        ``{"t": array, "curve": {...}, "line": {...}}``; each part holds arrays
        ``train_loss``, ``train_error`` (and ``test_loss``, ``test_error``; errors are
        fractions), ``segment_lengths`` and the scalars ``length``, ``barrier``,
        ``test_error_barrier``.

    Raises:
        ValueError: ``points < 2``.

    """
    if int(points) != points or points < 2:
        raise ValueError(f"points must be an integer >= 2 (61 by default), got {points!r}")
    ts = np.linspace(0.0, 1.0, int(points))
    paths = {"curve": curve, **({"line": curve.line()} if line else {})}
    # The line shares the curve's endpoints (t = 0 and 1 are the same weights): evaluate
    # them once, for the curve, and reuse the rows.
    last = len(ts) - 1
    jobs = [(part, i) for part in paths for i in range(len(ts))
            if part == "curve" or 0 < i < last]
    with tqdm(total=len(jobs), desc="points along the curve", disable=not progress,
              leave=False) as bar:

        def run(job: tuple[str, int]) -> dict[str, float]:
            part, i = job
            with torch.no_grad():
                values = evaluate_weights(model, paths[part].point(float(ts[i])), train, test,
                                          loss_fn=loss_fn)
            bar.update(1)
            return values

        rows = dict(zip(jobs, (map_jobs or _serial)(run, jobs)))
    for i in (0, last):
        rows.setdefault(("line", i), rows[("curve", i)])
    out: dict[str, Any] = {"t": ts}
    for part, path in paths.items():
        out[part] = _summary([rows[(part, i)] for i in range(len(ts))], path, ts)
    return out
