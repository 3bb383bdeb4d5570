"""The network evaluated at a curve's point, with its parameter slots looked up once.

``torch.func.functional_call`` puts the given tensors into the modules' parameter slots for
the duration of a call, then restores them; on every call it resolves each name to its
module, looks for tied parameters and enters several context managers, which for a small
network costs as much per step as the arithmetic of building ``phi(t)``. A curve fit
evaluates one network thousands of times with the same names, so :class:`ParameterSlots`
resolves them once (tied parameters included: every slot holding the same ``Parameter``
gets the same tensor, as ``functional_call(..., tie_weights=True)`` does) and swaps the
slots directly: the same forward code on the same tensors, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

__all__ = ["ParameterSlots"]


class ParameterSlots:
    """``model(x)`` with some of its parameters replaced, like ``functional_call``.

    Args:
        model: the network.
        names: the parameter names that calls will replace (``named_parameters()`` names).

    Raises:
        ValueError: a name that is not a parameter of ``model``.

    >>> import torch
    >>> net = nn.Linear(2, 1, bias=False)
    >>> slots = ParameterSlots(net, ["weight"])
    >>> slots(net, {"weight": torch.tensor([[1.0, 2.0]])}, torch.ones(1, 2)).item()
    3.0
    """

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        owners: dict[int, list[tuple[nn.Module, str]]] = {}
        by_name: dict[str, int] = {}
        for name, param in model.named_parameters(remove_duplicate=False):
            prefix, _, attr = name.rpartition(".")
            owners.setdefault(id(param), []).append((model.get_submodule(prefix), attr))
            by_name[name] = id(param)
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"{missing} are not parameters of the network "
                             f"({type(model).__name__}): expected names of its "
                             "named_parameters()")
        self.model = model
        self.slots = [(n, owners[by_name[n]]) for n in names]

    def __call__(self, model: nn.Module, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """Return ``model(x)`` with ``params`` in the parameter slots (restored after)."""
        if model is not self.model:
            raise ValueError("ParameterSlots was built for another network")
        saved = []
        try:
            for name, slots in self.slots:
                tensor = params[name]
                for module, attr in slots:
                    saved.append((module, attr, module._parameters[attr]))
                    module._parameters[attr] = tensor  # what functional_call does
            return model(x)
        finally:
            for module, attr, original in reversed(saved):
                module._parameters[attr] = original
