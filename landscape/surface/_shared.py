"""Evaluate the network's input layer once per data batch for every point of a surface.

The first Linear / Conv layer applied to the data itself is affine in its parameters:

    layer(x; W + sum_j c_j D_j, b + sum_j c_j e_j) = layer(x; W, b) + sum_j c_j layer(x; D_j, e_j)

(exact in real arithmetic, since ``layer(x; W, b) = x * W + b`` for a Linear layer and a
convolution alike). So for all the points of a pass, that layer costs ``1 + ndim`` products
per data batch instead of one per point, and every point pays only the elementwise
combination. For an MLP on images the input layer holds most of the work (784 x 300 of
the 266,200 weights of LeNet-300-100).

Mechanics: the points' parameter dicts give that layer the origin's own ``W`` and ``b``
tensors, and a ``TorchFunctionMode`` catches the one call whose weight argument *is* ``W``
(identity, not value) and answers it from the products of the current batch. Which layer:
the first Linear / Conv module called in the forward whose input shares storage with the
data batch (a view of it: the data, not a function of the parameters), called once per
forward, with an untied weight. :func:`find_input_layer` finds it on a probe batch and checks
that, at ``c = 0``, the shared forward returns exactly the plain forward's output (``W x + b +
0 * ...`` is ``W x + b`` bit for bit): a layer whose forward does anything else with its
weight is not shared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode

__all__ = [
    "InputLayerShare", "activation_bytes_per_sample", "fan_in", "find_input_layer",
]

_AFFINE = (nn.Linear, nn.modules.conv._ConvNd)


def _param_name(module: str, attr: str) -> str:
    return f"{module}.{attr}" if module else attr


class InputLayerShare(TorchFunctionMode):
    """Answer the input layer's call from ``layer(x; W, b)`` and ``layer(x; D_j, e_j)``.

    Set :attr:`coords` (floats, or a ``[ndim]`` tensor under ``vmap``) before each forward
    and call :meth:`new_batch` whenever the data batch changes.
    """

    def __init__(self, name: str, params: Mapping[str, Tensor],
                 directions: Sequence[Mapping[str, Tensor]]) -> None:
        super().__init__()
        self.name = name
        w_name, b_name = _param_name(name, "weight"), _param_name(name, "bias")
        self.names = [n for n in (w_name, b_name) if n in params]
        self.weight = params[w_name]
        self.bias = params.get(b_name)
        self.params = {n: params[n] for n in self.names}
        self.directions = [
            (d[w_name].to(self.weight.dtype),
             d[b_name].to(self.weight.dtype) if self.bias is not None else None)
            for d in directions]
        self.coords: Any = None
        self.hits = 0
        self._cache: tuple[Tensor, list[Tensor]] | None = None

    def new_batch(self) -> None:
        """Forget the products of the previous data batch."""
        self._cache = None

    def take_hits(self) -> int:
        """Calls answered since the last call of this method."""
        hits, self.hits = self.hits, 0
        return hits

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None):
        kwargs = kwargs or {}
        if len(args) < 2 or args[1] is not self.weight:
            return func(*args, **kwargs)
        self.hits += 1
        if self._cache is None:
            bias_pos = len(args) > 2
            zs = []
            for d_w, d_b in self.directions:
                a, kw = list(args), dict(kwargs)
                a[1] = d_w
                if bias_pos:
                    a[2] = d_b
                elif "bias" in kw:
                    kw["bias"] = d_b
                zs.append(func(*a, **kw))
            self._cache = (func(*args, **kwargs), zs)
        out, zs = self._cache
        if all(isinstance(c, float) for c in self.coords):  # one new tensor, then in place
            out = torch.add(out, zs[0], alpha=self.coords[0])
            for c, z in zip(self.coords[1:], zs[1:]):
                out.add_(z, alpha=c)
            return out
        for c, z in zip(self.coords, zs):  # batched coordinates (under vmap)
            out = out + c * z
        return out


def _same_storage(a: Tensor, b: Tensor) -> bool:
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. wrapped)
        return False


def fan_in(module: nn.Module) -> int:
    """Multiply-adds per output value of a Linear / Conv layer.

    >>> fan_in(nn.Linear(784, 300)), fan_in(nn.Conv2d(3, 8, 3))
    (784, 27)
    """
    if isinstance(module, nn.Linear):
        return int(module.in_features)
    weight = module.weight
    return int(weight[0].numel()) if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d) else (
        int(weight.numel() // max(1, weight.shape[1])))


@torch.no_grad()
def find_input_layer(
    model: nn.Module,
    params: Mapping[str, Tensor],
    directions: Sequence[Mapping[str, Tensor]],
    x: Tensor,
    *,
    min_fan_in: int = 0,
) -> InputLayerShare | None:
    """The :class:`InputLayerShare` of ``model``'s input layer, or ``None`` (module doc).

    Args:
        model: the network (in eval mode).
        params: the origin, ``name -> tensor``.
        directions: the directions (dicts like ``params``).
        x: a probe batch of inputs (a couple of samples suffice).
        min_fan_in: share only a layer with at least this many multiply-adds per output
            value (below, the combination of ``1 + ndim`` products costs about as much as
            the layer itself).

    """
    calls: list[tuple[str, bool]] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, _AFFINE):
            hooks.append(module.register_forward_pre_hook(
                lambda _m, inp, name=name: calls.append((name, bool(inp) and isinstance(
                    inp[0], Tensor) and _same_storage(inp[0], x)))))
    try:
        plain = functional_call(model, dict(params), (x,))
    finally:
        for h in hooks:
            h.remove()
    if not calls or not calls[0][1] or sum(n == calls[0][0] for n, _ in calls) != 1:
        return None
    name = calls[0][0]
    w_name = _param_name(name, "weight")
    if w_name not in params or fan_in(model.get_submodule(name)) < min_fan_in:
        return None
    every = list(model.named_parameters(remove_duplicate=False))
    weight = dict(every).get(w_name)
    if weight is None or sum(p is weight for _, p in every) != 1:
        return None  # a tied weight: giving the origin's tensor would move the other use too
    share = InputLayerShare(name, params, directions)
    share.coords = [0.0] * len(directions)
    rest = {k: v for k, v in params.items() if k not in share.names}
    with share:
        shared = functional_call(model, (rest, share.params), (x,))
    if share.take_hits() != 1 or not torch.equal(shared, plain):
        return None
    return share


@torch.no_grad()
def activation_bytes_per_sample(model: nn.Module, params: Mapping[str, Tensor], x: Tensor
                                ) -> int:
    """Bytes of all module outputs of one forward, per sample (a bound on what is live)."""
    total = [0]

    def count(_m: nn.Module, _inp: Any, out: Any) -> None:
        if isinstance(out, Tensor):
            total[0] += out.numel() * out.element_size()

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        functional_call(model, dict(params), (x,))
    finally:
        for h in hooks:
            h.remove()
    return max(1, total[0] // max(1, x.shape[0]))
