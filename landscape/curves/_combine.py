"""The weighted sum ``phi = sum_j w_j theta_j`` of flat control points, per parameter tensor.

One autograd node per evaluation of a curve. Forward: the non-zero terms are folded into a
running convex combination with fused multi-tensor lerps over the parameter tensors,

    s_1 = theta_(1),   s_r = lerp(s_(r-1), theta_(r), w_(r) / (w_(1) + ... + w_(r))),

so ``phi(t)`` of a quadratic Bezier costs two passes over the P parameters (one allocation)
and a single non-zero weight is an exact copy (the endpoints bit for bit). Backward: the
gradient of a flat control point is ``w_j * dL/dphi``: the per-tensor gradients scaled into a
fresh flat tensor (:func:`scaled_flat`), which autograd hands to ``.grad`` without a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["PieceCache", "combine", "scaled_flat"]


def _pieces(flat: Tensor, sizes: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> list[Tensor]:
    if len(sizes) == 1:
        return [flat.view(shapes[0])]
    return [p.view(s) for p, s in zip(flat.split(sizes), shapes)]


class PieceCache:
    """Per-tensor views of flat vectors, kept while each vector keeps its storage.

    Building the views costs a split and a view per tensor and control point, which for a
    small network is as much as the arithmetic; a vector moved or replaced (``.to()``, a new
    tensor) has a new storage address and gets new views.
    """

    def __init__(self, sizes: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> None:
        self.sizes = [int(s) for s in sizes]
        self.shapes = [tuple(s) for s in shapes]
        self._cache: dict[int, tuple[tuple[Any, ...], list[Tensor]]] = {}

    def __call__(self, flats: Sequence[Tensor]) -> list[list[Tensor]]:
        """The views of each of ``flats`` (detached: they carry no autograd history)."""
        out = []
        for j, flat in enumerate(flats):
            key = (flat.data_ptr(), flat.device, flat.dtype, flat.shape)
            hit = self._cache.get(j)
            if hit is None or hit[0] != key:  # the old views keep the old storage alive, so
                hit = (key, _pieces(flat.detach(), self.sizes, self.shapes))  # no reuse
                self._cache[j] = hit
            out.append(hit[1])
        return out


class _Combine(torch.autograd.Function):
    """``(weights, sizes, pieces, *flat points) -> per-tensor phi`` with a fused backward."""

    @staticmethod
    def forward(ctx: Any, weights: tuple[float, ...], sizes: tuple[int, ...],
                pieces: list[list[Tensor]], *points: Tensor) -> tuple[Tensor, ...]:
        ctx.weights, ctx.sizes = weights, sizes
        terms = [(w, p) for w, p in zip(weights, pieces) if w != 0.0]
        if not terms:
            raise RuntimeError(f"all curve weights vanish ({list(weights)}): expected weights "
                               "that sum to 1")
        (total, first), rest = terms[0], terms[1:]
        if not rest:  # one point (an endpoint, a chain's knot): an exact copy
            return tuple(t.clone() for t in first)
        w, second = rest[0]
        total += w
        out = torch._foreach_lerp(first, second, w / total)
        for w, p in rest[1:]:
            total += w
            torch._foreach_lerp_(out, p, w / total)
        return tuple(out)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        out: list[Tensor | None] = [None, None, None]
        for j, w in enumerate(ctx.weights):
            if not ctx.needs_input_grad[3 + j] or w == 0.0:
                out.append(None)  # a term that did not contribute gets no gradient at all
                continue
            if len(grads) == 1:
                out.append(torch.mul(grads[0].reshape(-1), w))
                continue
            out.append(scaled_flat(grads, w, ctx.sizes))
        return tuple(out)


_PER_TENSOR = 1 << 16  # CPU: one kernel per tensor once tensors average this many elements


def scaled_flat(grads: Sequence[Tensor], weight: float, sizes: Sequence[int]) -> Tensor:
    """``weight * cat(grads)`` as a new flat tensor, in one pass or two.

    Scaling each piece straight into its slice reads and writes the vector once but costs a
    kernel per tensor; concatenating and scaling in place costs two kernels and a second
    pass. Measured on one CPU core (benchmarks/README.md): the single pass wins once the
    vector no longer stays in cache between two passes, i.e. for networks of a few large
    tensors (a 4-tensor MLP of 795k parameters: 0.27 ms against 0.37 ms), and loses for many
    small ones (30 tensors of 74k parameters in all: 0.15 ms against 0.05 ms). On an
    accelerator a launch costs more than a pass, so two kernels are used there.
    """
    flat = grads[0].new_empty(sum(sizes))
    if flat.device.type == "cpu" and flat.numel() >= _PER_TENSOR * len(grads):
        for g, piece in zip(grads, flat.split(list(sizes))):
            torch.mul(g.reshape(-1), weight, out=piece)
        return flat
    return torch.cat([g.reshape(-1) for g in grads], out=flat).mul_(weight)


def combine(
    weights: Sequence[float],
    points: Sequence[Tensor],
    sizes: Sequence[int],
    shapes: Sequence[tuple[int, ...]],
    *,
    cache: PieceCache | None = None,
) -> tuple[Tensor, ...]:
    """``sum_j weights[j] * points[j]``, cut into tensors of ``shapes``; differentiable.

    Args:
        weights: non-negative weights summing to 1 (zero terms are skipped entirely).
        points: flat vectors of length ``sum(sizes)`` (the control points).
        sizes: number of elements of each parameter tensor.
        shapes: shape of each parameter tensor.
        cache: a :class:`PieceCache` of these ``sizes`` and ``shapes`` to reuse the views.

    Returns:
        One new tensor per entry of ``shapes`` (never a view of a control point).

    Raises:
        RuntimeError: every weight is zero.

    >>> a, b = torch.zeros(3), torch.tensor([4.0, 4.0, 8.0])
    >>> [t.tolist() for t in combine([0.75, 0.25], [a, b], [2, 1], [(2,), (1, 1)])]
    [[1.0, 1.0], [[2.0]]]
    """
    pieces = (cache or PieceCache(sizes, shapes))(points)
    return _Combine.apply(tuple(float(w) for w in weights), tuple(int(s) for s in sizes),
                          pieces, *points)
