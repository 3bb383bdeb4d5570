"""Plumbing for the Hessian operator: the loss as a function of a flat parameter vector."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = [
    "EvalBatchNorm",
    "FlatLoss",
    "batch_weights",
    "count_saved_bytes",
    "fold_batchnorm",
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


class EvalBatchNorm(nn.Module):
    """Eval-mode BatchNorm written as the per-channel affine map it is.

    ``y = x * s + (beta - mean * s)`` with ``s = gamma / sqrt(var + eps)``: the same function
    as ``F.batch_norm(..., training=False)``, with the parameter and buffer names of the
    module it replaces, but built from elementwise products whose double backward is cheap
    (PyTorch's batch-norm double backward is the general, training-mode formula).
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.eps = bn.eps
        self.weight, self.bias = bn.weight, bn.bias
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        if bn.num_batches_tracked is not None:
            self.register_buffer("num_batches_tracked", bn.num_batches_tracked)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the affine map along the channel dimension 1."""
        shape = (1, -1) + (1,) * (x.dim() - 2)
        scale = torch.rsqrt(self.running_var + self.eps)
        shift = -self.running_mean * scale
        if self.weight is not None:
            scale, shift = scale * self.weight, shift * self.weight
        if self.bias is not None:
            shift = shift + self.bias
        return x * scale.view(shape) + shift.view(shape)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return a shallow structural copy of ``model`` whose BatchNorms are :class:`EvalBatchNorm`.

    Only modules with running statistics are replaced; the copy shares every tensor with
    ``model`` and is meant for ``functional_call`` in eval mode. A model without BatchNorm
    is returned as is.
    """
    targets = [
        name for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        and m.running_mean is not None
    ]
    if not targets:
        return model
    clone = copy.copy(model)
    _copy_path_modules(clone, targets)
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = clone.get_submodule(parent_name) if parent_name else clone
        parent._modules[child] = EvalBatchNorm(parent._modules[child])
    return clone


def _copy_path_modules(root: nn.Module, targets: list[str]) -> None:
    """Shallow-copy every module on the paths to ``targets`` so the original stays intact."""
    root._modules = dict(root._modules)
    done = {""}
    for name in targets:
        parts = name.split(".")[:-1]
        for i in range(len(parts)):
            path = ".".join(parts[: i + 1])
            if path in done:
                continue
            parent = root.get_submodule(".".join(parts[:i])) if i else root
            node = copy.copy(parent._modules[parts[i]])
            node._modules = dict(node._modules)
            parent._modules[parts[i]] = node
            done.add(path)
