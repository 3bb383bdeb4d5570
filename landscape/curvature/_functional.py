"""Plumbing for the Hessian operator: the loss as a function of a flat parameter vector."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = [
    "FlatLoss",
    "batch_weights",
    "count_saved_bytes",
    "select_names",
]


def select_names(model: nn.Module, selection: Sequence[str] | None) -> list[str]:
    """Resolve a parameter selection to names in ``named_parameters()`` order.

    An entry selects the parameter of that exact name or every parameter under that module
    prefix (``"hidden.0"`` selects ``hidden.0.0.weight`` and ``hidden.0.0.bias``). ``None``
    selects every trainable parameter.

    Raises:
        ValueError: an entry matches nothing (the message lists the valid names).

    """
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    if selection is None:
        if not trainable:
            raise ValueError("the model has no trainable parameters (requires_grad=True)")
        return trainable
    if isinstance(selection, str):
        selection = [selection]
    chosen: set[str] = set()
    for entry in selection:
        hits = [n for n in trainable if n == entry or n.startswith(entry + ".")]
        if not hits:
            raise ValueError(
                f"parameter selection {entry!r} matches no trainable parameter; valid names: "
                f"{', '.join(trainable)}"
            )
        chosen.update(hits)
    return [n for n in trainable if n in chosen]


class FlatLoss:
    """``theta -> weight * loss(model(x; theta, fixed), y)`` for a flat vector ``theta``.

    Args:
        model: the network (used through ``torch.func.functional_call``).
        names: the parameters that ``theta`` holds, in order.
        shapes: their shapes.
        fixed: every other parameter and buffer, by name.
        loss_fn: ``(logits, targets) -> scalar mean loss``.

    """

    def __init__(
        self,
        model: nn.Module,
        names: list[str],
        shapes: list[torch.Size],
        fixed: Mapping[str, Tensor],
        loss_fn: Callable[[Tensor, Tensor], Tensor],
    ) -> None:
        self.model = model
        self.names = names
        self.shapes = shapes
        self.numels = [int(s.numel()) for s in shapes]
        self.fixed = dict(fixed)
        self.loss_fn = loss_fn

    def __call__(self, theta: Tensor, x: Tensor, y: Tensor, weight: float = 1.0) -> Tensor:
        """Return ``weight * loss`` at the flat parameters ``theta`` on one batch."""
        tensors = dict(self.fixed)
        for name, chunk, shape in zip(self.names, theta.split(self.numels), self.shapes):
            tensors[name] = chunk.view(shape)
        logits = functional_call(self.model, tensors, (x,), strict=False)
        return self.loss_fn(logits, y) * weight


@contextlib.contextmanager
def count_saved_bytes() -> Iterator[list[int]]:
    """Count the bytes autograd saves for backward inside the block (an estimate of a graph).

    Yields a one-element list whose entry grows as tensors are saved; storages shared by
    several saved tensors are counted once.
    """
    total = [0]
    seen: set[tuple[int, int]] = set()

    def pack(t: Tensor) -> Tensor:
        with contextlib.suppress(RuntimeError, NotImplementedError):
            storage = t.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in seen:
                seen.add(key)
                total[0] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield total


def batch_weights(data: Iterable[tuple[Tensor, Tensor]]) -> tuple[list[int], int]:
    """Return the batch sizes of one pass over ``data`` and their sum ``N``."""
    sizes = [int(y.shape[0]) for _, y in data]
    if not sizes or sum(sizes) == 0:
        raise ValueError("the evaluation data are empty: expected at least one (x, y) batch")
    return sizes, sum(sizes)
