"""All-reduce helpers with exact weighting; each is the identity in a single process.

A mean over ``N`` samples split into rank shards of ``n_r`` samples is the weighted sum of the
shard means (Chao et al. 2020 ran ImageNet on two GPUs this way):

    mean = sum_r (n_r / N) * mean_r,

so a rank multiplies its local mean (a loss, a gradient, a Hessian-vector product) by
``n_r / N`` and the ranks sum with one all-reduce. Averaging the shard means instead would be
wrong whenever the shards differ in size (an uneven last minibatch, ``N`` not divisible by the
world size).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from landscape.distributed.context import context

__all__ = [
    "all_gather_objects",
    "all_reduce_",
    "all_reduce_floats",
    "broadcast_object",
    "reduce_gradients_",
    "weighted_mean",
    "weighted_means",
]


def _comm_device(t: Tensor | None = None) -> torch.device:
    if context().backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return t.device if t is not None else torch.device("cpu")


def all_reduce_(t: Tensor) -> Tensor:
    """Sum ``t`` over the ranks in place and return it (identity in a single process).

    >>> all_reduce_(torch.ones(2)).tolist()    # one process: unchanged
    [1.0, 1.0]
    """
    if not context().distributed:
        return t
    dev = _comm_device(t)
    if t.device == dev:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t
    buf = t.to(dev)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    t.copy_(buf)
    return t


def all_reduce_floats(values: Sequence[float]) -> list[float]:
    """Sum Python numbers over the ranks, in float64 (one collective for all of them).

    >>> all_reduce_floats([1.5, 2])
    [1.5, 2.0]
    """
    if not context().distributed:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu()]


def weighted_mean(local_mean: float, local_count: int) -> tuple[float, int]:
    """``(sum_r n_r * mean_r / N, N)``: the global mean of per-rank means of ``n_r`` samples.

    >>> weighted_mean(0.25, 4)
    (0.25, 4)
    """
    total, count = all_reduce_floats([float(local_mean) * local_count, local_count])
    return (total / count if count else float("nan")), int(count)


def weighted_means(values: dict[str, float], local_count: int) -> dict[str, float]:
    """Global means of several per-rank means over ``local_count`` samples (one collective).

    In a single process ``values`` is returned unchanged (no rounding).

    >>> weighted_means({"loss": 0.5, "error": 10.0}, 3)
    {'loss': 0.5, 'error': 10.0}
    """
    if not context().distributed:
        return dict(values)
    keys = list(values)
    sums = all_reduce_floats([float(values[k]) * local_count for k in keys] + [local_count])
    count = sums[-1]
    return {k: (s / count if count else float("nan")) for k, s in zip(keys, sums)}


def reduce_gradients_(params: Iterable[Tensor], weight: float) -> None:
    """Replace each ``p.grad`` by ``sum_r weight_r * p.grad_r`` (one flat all-reduce).

    With ``weight = n_r / B`` and local gradients of the mean loss over a rank's ``n_r``
    samples, the result is the gradient of the mean over the global batch of ``B`` samples.
    A parameter without a gradient contributes zeros (and receives the sum).

    Args:
        params: the parameters (every rank passes them in the same order).
        weight: this rank's weight ``n_r / B``.

    """
    params = [p for p in params if p.requires_grad]
    if not context().distributed:
        if weight != 1.0:
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(weight)
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads]) * weight
    all_reduce_(flat)
    for p, chunk in zip(params, flat.split([p.numel() for p in params])):
        p.grad = chunk.view_as(p).to(p.dtype).clone()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (small picklable values only).

    >>> broadcast_object({"done": 3})
    {'done': 3}
    """
    if not context().distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (small picklable values only).

    >>> all_gather_objects(7)
    [7]
    """
    if not context().distributed:
        return [obj]
    out: list[Any] = [None] * context().world_size
    dist.all_gather_object(out, obj)
    return out
