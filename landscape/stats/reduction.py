"""Model reduction: remove dead units/channels to get a smaller dense model.

Yaguchi et al. 2018 (Sec. V) remove the units whose incoming weight vector is zero; Mehta et
al. 2019 (Sec. 5) remove the filters that are inactive by activation or by BatchNorm scale.
Both give a smaller *dense* network with the same outputs. A removed unit u of a hidden
layer still emits a constant ``k_u`` after its ReLU, folded into the next layer's bias:

* dead by activation (``max_s pooled_s <= 1e-12`` on the data): ``k_u = 0``, exact on the
  data the statistics were taken on (another input could in principle wake the unit up);
* zero incoming weights (``||w_u|| < xi``): ``k_u = relu(BN(b_u))`` (eval-mode BatchNorm of
  the bias; ``relu(b_u)`` without BatchNorm), exact up to ``xi * |x|``;
* ``|gamma_u| < 1e-3``: ``k_u = relu(beta_u)`` (BatchNorm output at the running mean),
  accurate to ``|gamma_u| * |x_hat|``.

Folding: a next Linear gets ``b += W[:, cols(u)] @ k`` (``cols(u)`` are the ``H*W``
flattened positions of channel u after a conv stack); a next Conv2d gets
``b += sum_{kh,kw} W[:, u] * k_u``, exact where the kernel does not overlap zero padding
(so exact everywhere when all removed constants are 0, the common case after Adam + L2).

Supported: :class:`landscape.models.mlp.MLP`, :class:`landscape.models.convnets.ConvNet` and
plain ``nn.Sequential`` chains of Linear/Conv2d, BatchNorm, ReLU, pooling, dropout and
flatten. Residual models are refused with a clear error (a removed channel would also have to
be removed from every tensor it is added to).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.stats.measure import count_flops, count_parameters

__all__ = ["Reduction", "plan_reduction", "reduce_model"]

_WEIGHTS = (nn.Linear, nn.Conv2d)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d)
_PASS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout,
         nn.Identity, nn.Flatten, nn.ReLU)


def _chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model as a flat list of ``(name, module)`` executed in order."""
    from landscape.models.convnets import ConvNet
    from landscape.models.mlp import MLP

    def flat(prefix: str, seq: nn.Module) -> list[tuple[str, nn.Module]]:
        out = []
        for n, m in seq.named_children():
            name = f"{prefix}.{n}" if prefix else n
            out.extend(flat(name, m) if isinstance(m, nn.Sequential) else [(name, m)])
        return out

    if isinstance(model, MLP):
        return [("", nn.Flatten()), *flat("hidden", model.hidden), ("out", model.out)]
    if isinstance(model, ConvNet):
        cls = (flat("classifier", model.classifier) if isinstance(model.classifier, nn.Sequential)
               else [("classifier", model.classifier)])
        return [*flat("features", model.features), ("", nn.Flatten()), *cls]
    if isinstance(model, nn.Sequential):
        return flat("", model)
    raise ValueError(
        f"model reduction supports MLP, ConvNet and plain nn.Sequential chains, got "
        f"{type(model).__name__}: residual models (wrn, resnet50) add tensors across layers, "
        "so their channels cannot be removed one layer at a time"
    )


@dataclass
class Reduction:
    """A reduced model and what it cost.

    Attributes:
        model: the smaller dense model (a deep copy of the original, same class).
        removed: weight layer name -> indices of removed units/channels.
        params_before: trainable parameters of the original.
        params_after: trainable parameters of the reduced model.
        flops_before: FLOPs per sample of the original (``count_flops``).
        flops_after: FLOPs per sample of the reduced model.
        exact: ``False`` when a nonzero constant was folded into a zero-padded conv (then the
            outputs differ near the borders; check them with ``compare_outputs``).

    """

    model: nn.Module
    removed: dict[str, Tensor]
    params_before: int
    params_after: int
    flops_before: int
    flops_after: int
    exact: bool = True
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-able numbers: removed units per layer, parameters and FLOPs before/after."""
        return {
            "removed": {k: int(v.numel()) for k, v in self.removed.items()},
            "params_before": self.params_before,
            "params_after": self.params_after,
            "flops_before": self.flops_before,
            "flops_after": self.flops_after,
            "exact": self.exact,
        }


def _slice_out(m: nn.Module, keep: Tensor) -> None:
    m.weight = nn.Parameter(m.weight.detach()[keep].clone(), m.weight.requires_grad)
    if m.bias is not None:
        m.bias = nn.Parameter(m.bias.detach()[keep].clone(), m.bias.requires_grad)
    if isinstance(m, nn.Linear):
        m.out_features = int(keep.numel())
    else:
        m.out_channels = int(keep.numel())


def _slice_in(m: nn.Module, keep: Tensor) -> None:
    m.weight = nn.Parameter(m.weight.detach()[:, keep].clone(), m.weight.requires_grad)
    if isinstance(m, nn.Linear):
        m.in_features = int(keep.numel())
    else:
        m.in_channels = int(keep.numel())


def _slice_bn(bn: nn.Module, keep: Tensor) -> None:
    if bn.weight is not None:
        bn.weight = nn.Parameter(bn.weight.detach()[keep].clone())
        bn.bias = nn.Parameter(bn.bias.detach()[keep].clone())
    if bn.running_mean is not None:
        bn.running_mean = bn.running_mean[keep].clone()
        bn.running_var = bn.running_var[keep].clone()
    bn.num_features = int(keep.numel())


def _bn_eval(bn: nn.Module | None, x: Tensor) -> Tensor:
    """Eval-mode BatchNorm of a per-unit value ``x``."""
    if bn is None:
        return x
    if bn.running_mean is not None:
        x = (x - bn.running_mean.double()) / torch.sqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        x = x * bn.weight.detach().double() + bn.bias.detach().double()
    return x


def plan_reduction(
    model: nn.Module,
    stats: Mapping[str, Any],
    *,
    by: tuple[str, ...] = ("activation", "scale", "weights"),
) -> dict[str, dict[str, Tensor]]:
    """Which units to remove per weight layer, and the constant each one still emits.

    Args:
        model: the analysed network.
        stats: the output of :func:`landscape.stats.features.layer_statistics`.
        by: criteria to use: ``"activation"`` (dead on the data), ``"scale"`` (|gamma|
            below threshold) and/or ``"weights"`` (incoming weight norm below xi).

    Returns:
        ``weight layer -> {"remove": bool [F], "constant": float64 [F]}`` (constants per the
        module docstring; 0 for kept units).

    """
    unknown = set(by) - {"activation", "scale", "weights"}
    if unknown:
        raise ValueError(f"by must name 'activation', 'scale' or 'weights', got {sorted(unknown)}")
    modules = dict(model.named_modules())
    plan: dict[str, dict[str, Tensor]] = {}
    for e in stats["layers"].values():
        layer = str(e["weight_layer"])
        if not layer:
            continue
        f = int(e["num_features"])
        remove = torch.zeros(f, dtype=torch.bool)
        const = torch.zeros(f, dtype=torch.float64)
        bn = modules.get(str(e["batchnorm"])) if e["batchnorm"] else None
        if "scale" in by and "dead_scale" in e:
            mask = torch.as_tensor(np.asarray(e["dead_scale"], dtype=bool))
            remove |= mask
            const = torch.where(mask, bn.bias.detach().double().cpu().clamp_min(0), const)
        if "weights" in by and "zero_weights" in e:
            mask = torch.as_tensor(np.asarray(e["zero_weights"], dtype=bool))
            remove |= mask
            lin = modules[layer]
            b = (lin.bias.detach().double().cpu() if lin.bias is not None
                 else torch.zeros(f, dtype=torch.float64))
            const = torch.where(mask, _bn_eval(_cpu(bn), b).clamp_min(0), const)
        if "activation" in by:
            mask = torch.as_tensor(np.asarray(e["dead_activation"], dtype=bool))
            remove |= mask
            const = torch.where(mask, torch.zeros_like(const), const)
        if remove.any():
            plan[layer] = {"remove": remove, "constant": const}
    return plan


def _cpu(bn: nn.Module | None) -> nn.Module | None:
    return None if bn is None else copy.deepcopy(bn).cpu()


def reduce_model(
    model: nn.Module, plan: Mapping[str, Mapping[str, Tensor]], *, example: Tensor
) -> Reduction:
    """Remove the planned units/channels and return a smaller dense copy of ``model``.

    Args:
        model: an MLP, ConvNet or ``nn.Sequential`` chain (left unchanged).
        plan: ``weight layer -> {"remove": bool [F], "constant": float64 [F] (optional)}``,
            e.g. from :func:`plan_reduction`.
        example: an input batch (at least one sample) used to find spatial sizes and count
            FLOPs.

    Raises:
        ValueError: unsupported model, an unknown layer, a mask of the wrong size, a layer
            not followed by ReLU, or a plan that removes every unit of a layer.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> red = reduce_model(net, {"0": {"remove": torch.tensor([True, False, True])}},
    ...                    example=torch.zeros(1, 2))
    >>> red.params_before, red.params_after
    (13, 5)
    """
    reduced = copy.deepcopy(model).eval()
    chain = _chain(reduced)
    names = [n for n, _ in chain]
    for layer in plan:
        if layer not in names or not isinstance(chain[names.index(layer)][1], _WEIGHTS):
            weights = [n for n, m in chain if isinstance(m, _WEIGHTS)]
            raise ValueError(f"no Linear/Conv2d layer {layer!r} in the chain; layers: {weights}")
    with torch.no_grad():
        x = example[:1]
        for _, m in chain:
            x = x.flatten(1) if isinstance(m, nn.Flatten) else m(x)
        if not torch.allclose(x, reduced(example[:1]), rtol=1e-5, atol=1e-6):
            raise ValueError(
                f"{type(model).__name__}.forward does more than run its layers in order; "
                "model reduction supports plain layer chains only"
            )
    exact, notes, removed = True, [], {}
    for i, (name, m) in enumerate(chain):
        if name not in plan:
            continue
        remove = torch.as_tensor(plan[name]["remove"], dtype=torch.bool).cpu()
        n_out = m.weight.shape[0]
        if remove.shape != (n_out,):
            raise ValueError(
                f"plan for {name!r} has a mask of shape {tuple(remove.shape)}; the layer has "
                f"{n_out} units: build the plan from statistics of this model"
            )
        if remove.all():
            raise ValueError(f"plan removes all {n_out} units of {name!r}: the net would be cut")
        const = plan[name].get("constant")
        const = (torch.zeros(n_out, dtype=torch.float64) if const is None
                 else torch.as_tensor(const, dtype=torch.float64).cpu())
        j, bn = i + 1, None
        if j < len(chain) and isinstance(chain[j][1], _BNS):
            bn, j = chain[j][1], j + 1
        if j >= len(chain) or not isinstance(chain[j][1], nn.ReLU):
            raise ValueError(f"{name!r} is not followed by [BatchNorm] + ReLU: cannot remove units")
        k = j + 1
        while k < len(chain) and isinstance(chain[k][1], _PASS):
            k += 1
        if k >= len(chain) or not isinstance(chain[k][1], _WEIGHTS):
            raise ValueError(f"after {name!r} comes {chain[k][1] if k < len(chain) else 'nothing'}"
                             ", expected pooling/dropout then a Linear/Conv2d layer")
        nxt = chain[k][1]
        n_in = nxt.weight.shape[1]
        if n_in % n_out:
            raise ValueError(f"{chain[k][0]!r} takes {n_in} inputs, not a multiple of the "
                             f"{n_out} units of {name!r}")
        spatial = n_in // n_out if isinstance(nxt, nn.Linear) else 1
        idx_rm = remove.nonzero().flatten()
        keep_units = (~remove).nonzero().flatten()
        dev, dt = nxt.weight.device, nxt.weight.dtype
        w = nxt.weight.detach()
        if isinstance(nxt, nn.Linear):
            cols = (idx_rm[:, None] * spatial + torch.arange(spatial)).flatten()
            kc = const[idx_rm].repeat_interleave(spatial).to(dev, dt)
            shift = w[:, cols.to(dev)] @ kc
            keep = (keep_units[:, None] * spatial + torch.arange(spatial)).flatten()
        else:
            shift = (w[:, idx_rm.to(dev)].sum(dim=(2, 3)) @ const[idx_rm].to(dev, dt))
            keep = keep_units
            if bool(shift.ne(0).any()) and any(int(p) != 0 for p in nxt.padding):
                exact = False
                notes.append(f"nonzero constants of {name!r} folded into padded {chain[k][0]!r}")
        if bool(shift.ne(0).any()):
            if nxt.bias is None:
                nxt.bias = nn.Parameter(torch.zeros(w.shape[0], device=dev, dtype=dt))
            with torch.no_grad():
                nxt.bias += shift
        _slice_in(nxt, keep.to(dev))
        _slice_out(m, keep_units.to(m.weight.device))
        if bn is not None:
            _slice_bn(bn, keep_units.to(m.weight.device))
        removed[name] = idx_rm
    return Reduction(
        model=reduced,
        removed=removed,
        params_before=count_parameters(model),
        params_after=count_parameters(reduced),
        flops_before=count_flops(model, example),
        flops_after=count_flops(reduced, example),
        exact=exact,
        notes=notes,
    )
