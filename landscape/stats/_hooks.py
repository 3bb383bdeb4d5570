"""Finding the features that follow a ReLU, and what feeds them (private plumbing).

A *site* is one call of an ``nn.ReLU`` module during one forward pass. Most models call each
ReLU module once, but torchvision's ResNet reuses one module up to three times per block, so
a site is ``(module, k)``: the k-th call of that module within a forward pass. Sites are found
by one probe forward pass with hooks on every leaf module that record, for every call, the
input tensor and the output tensor together with their in-place version counters. The
module that *fed* a ReLU is the call whose output (tensor and version) is exactly the ReLU's
input: an in-place ``out += identity`` between a BatchNorm and the ReLU bumps the version, so
the residual ReLU is correctly found to have no BatchNorm feeding it. Walking the same
relation one step further back from a BatchNorm finds the Linear/Conv layer whose output
units are the features (their incoming weight vectors give the group-sparsity norms).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["Site", "find_sites", "site_counter_hooks"]

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class Site:
    """One ReLU call per forward pass whose output features are analysed.

    Attributes:
        name: ``relu_module_name`` or ``relu_module_name@k`` when the module is called
            several times per forward pass (k counts from 0 in call order).
        module: name of the ``nn.ReLU`` module.
        call: k, the call index within one forward pass.
        num_features: size of dimension 1 of the ReLU output (units or channels).
        spatial: ``True`` for conv feature maps (outputs with more than 2 dimensions).
        batchnorm: name of the BatchNorm module whose output is the ReLU input, or ``None``.
        weight_layer: name of the Linear/Conv layer whose output feeds the ReLU (directly or
            through that BatchNorm), or ``None`` (e.g. after a residual addition).

    """

    name: str
    module: str
    call: int
    num_features: int
    spatial: bool
    batchnorm: str | None
    weight_layer: str | None


@dataclass(eq=False)
class _Call:
    name: str
    module: nn.Module
    inputs: tuple[tuple[Tensor, int], ...]
    output: tuple[Tensor, int] | None


def _same(a: tuple[Tensor, int], b: tuple[Tensor, int]) -> bool:
    return a[0] is b[0] and a[1] == b[1]


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


def find_sites(model: nn.Module, example: Tensor) -> list[Site]:
    """Run ``model`` once on ``example`` (eval mode, no grad) and return its ReLU sites.

    Raises:
        ValueError: the model has no ``nn.ReLU`` module, or a ReLU output has fewer than 2
            dimensions.

    """
    calls: list[_Call] = []
    handles = []

    def pre(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            ins = tuple((a, a._version) for a in args if isinstance(a, Tensor))
            calls.append(_Call(name, module, ins, None))

        return hook

    def post(module: nn.Module, args: tuple, out) -> None:
        # The matching pre-hook call is the last one of this module still without an output.
        for c in reversed(calls):
            if c.module is module and c.output is None:
                c.output = (out, out._version) if isinstance(out, Tensor) else None
                break

    for name, m in _leaves(model):
        handles.append(m.register_forward_pre_hook(pre(name)))
        handles.append(m.register_forward_hook(post))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    relu_calls = [i for i, c in enumerate(calls) if isinstance(c.module, nn.ReLU)]
    if not relu_calls:
        raise ValueError(
            f"{type(model).__name__} has no nn.ReLU module: feature statistics are taken after "
            "ReLU modules (a functional F.relu cannot be hooked; use nn.ReLU in the model)"
        )
    per_module: dict[str, int] = {}
    for i in relu_calls:
        per_module[calls[i].name] = per_module.get(calls[i].name, 0) + 1

    def producer(index: int | None) -> int | None:
        if index is None or not calls[index].inputs:
            return None
        wanted = calls[index].inputs[0]
        for j in range(index - 1, -1, -1):
            if calls[j].output is not None and _same(calls[j].output, wanted):
                return j
        return None

    sites: list[Site] = []
    seen: dict[str, int] = {}
    for i in relu_calls:
        c = calls[i]
        k = seen.get(c.name, 0)
        seen[c.name] = k + 1
        out = c.output[0] if c.output is not None else None
        if out is None or out.dim() < 2:
            raise ValueError(
                f"ReLU {c.name!r} produced {None if out is None else tuple(out.shape)}; "
                "expected a batch of units [B, F] or feature maps [B, C, ...]"
            )
        bn = weight = None
        p = producer(i)
        if p is not None and isinstance(calls[p].module, _BATCHNORMS):
            bn = calls[p].name
            p = producer(p)
        if p is not None and isinstance(calls[p].module, _WEIGHT_LAYERS):
            weight = calls[p].name
        name = c.name if per_module[c.name] == 1 else f"{c.name}@{k}"
        sites.append(Site(name, c.name, k, int(out.shape[1]), out.dim() > 2, bn, weight))
    return sites


def site_counter_hooks(
    model: nn.Module, sites: list[Site], sink
) -> tuple[list, dict[str, int]]:
    """Register forward hooks that call ``sink(site_index, relu_output)`` for every site.

    Returns:
        ``(handles, counters)``: remove the handles when done; reset ``counters`` (module name
        -> calls so far) to zero before each forward pass.

    """
    modules = dict(model.named_modules())
    by_module: dict[str, dict[int, int]] = {}
    for idx, s in enumerate(sites):
        by_module.setdefault(s.module, {})[s.call] = idx
    counters = {name: 0 for name in by_module}
    handles = []
    for name, calls in by_module.items():

        def hook(module: nn.Module, args: tuple, out: Tensor, name=name, calls=calls) -> None:
            k = counters[name]
            counters[name] = k + 1
            if k in calls:
                sink(calls[k], out)

        handles.append(modules[name].register_forward_hook(hook))
    return handles, counters
