"""Random directions with filter normalisation (Li et al. 2018, Sec. 4).

Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets".

Draw ``g ~ N(0, I)`` shaped like the parameters ``w`` (float64, from a ``torch.Generator``
seeded with ``seed``: the global RNG is never touched), then, per tensor:

* ``norm="filter"`` (Li et al.): for every output filter / neuron ``i`` of a weight tensor
  (the slices along dimension 0: rows of a Linear weight ``[out, in]``, output channels of a
  Conv weight ``[out, in, *k]``), ``d_i = g_i * ||w_i|| / ||g_i||``, so every filter of the
  direction has the norm of the same filter of the weights (a filter pruned to zero stays
  zero);
* ``norm="layer"``: ``d = g * ||w|| / ||g||`` per tensor;
* ``norm="none"``: ``d = g``.

Bias and normalisation-layer (BatchNorm ...) entries get ``d = 0`` (Li et al.'s default: the
surface moves only the weights), or, with ``include_bn_bias=True``, ``d = g * ||w|| / ||g||``,
normalised by their own norm (``g`` itself under ``norm="none"``). Every tensor gets its
Gaussian draw whichever way it is treated, in parameter order and direction by direction, so
the weight entries of a direction do not depend on ``include_bn_bias``.

The directions are kept at this natural scale: not orthogonalised, not unit norm (two
Gaussian directions in high dimension are nearly orthogonal, as Li et al. note).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from landscape._types import ParamDict
from landscape.surface.directions import SurfaceDirections

__all__ = ["NORMS", "bn_bias_names", "random_directions"]

NORMS = ("filter", "layer", "none")

_NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def bn_bias_names(params: Mapping[str, Tensor], model: nn.Module | None = None) -> list[str]:
    """The parameters treated as bias / normalisation-layer entries.

    With ``model``: every parameter of a normalisation layer (BatchNorm, InstanceNorm,
    GroupNorm, LayerNorm) and every parameter registered under the name ``bias``. Without:
    Li et al.'s rule, every tensor with at most one dimension.

    >>> net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    >>> bn_bias_names(dict(net.named_parameters()), net)
    ['0.bias', '1.weight', '1.bias']
    """
    if model is None:
        return [n for n, t in params.items() if t.dim() <= 1]
    chosen = set()
    for mod_name, module in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        for p_name, _ in module.named_parameters(recurse=False):
            if isinstance(module, _NORM_LAYERS) or p_name == "bias":
                chosen.add(prefix + p_name)
    return [n for n in params if n in chosen]


def _unit_filters(g: Tensor, w: Tensor) -> Tensor:
    """Rescale every slice along dimension 0 of ``g`` to the norm of that slice of ``w``."""
    if g.dim() == 0:
        return _rescaled(g, w)
    gn = torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1)
    wn = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1)
    factor = torch.where(gn > 0, wn / torch.where(gn > 0, gn, 1.0), 0.0)
    return g * factor.view(-1, *([1] * (g.dim() - 1)))


def _rescaled(g: Tensor, w: Tensor) -> Tensor:
    gn = torch.linalg.vector_norm(g)
    return g * (torch.linalg.vector_norm(w) / gn) if gn > 0 else torch.zeros_like(g)


def random_directions(
    params: Mapping[str, Tensor],
    *,
    num: int = 2,
    seed: int = 0,
    norm: str = "filter",
    include_bn_bias: bool = False,
    model: nn.Module | None = None,
    bn_bias: Iterable[str] | None = None,
) -> SurfaceDirections:
    """Seeded Gaussian directions, filter-normalised as in Li et al. 2018 (module docstring).

    Which parameters count as bias / BatchNorm: the names in ``bn_bias`` when given; else,
    with ``model``, those of :func:`bn_bias_names` (normalisation layers' parameters and every
    ``bias``); else every tensor with at most one dimension (Li et al.'s rule).

    Args:
        params: the point, ``name -> tensor`` (also the origin of the surface).
        num: 1 (a line) or 2 (a plane).
        seed: seed of the ``torch.Generator`` (CPU, float64 draws).
        norm: ``"filter"``, ``"layer"`` or ``"none"``.
        include_bn_bias: move bias and BatchNorm entries too (normalised by their own norm)
            instead of keeping them at zero.
        model: the network, to tell bias and normalisation-layer parameters apart.
        bn_bias: explicit names of the bias / normalisation parameters.

    Returns:
        :class:`SurfaceDirections` with float64 directions at their natural scale (not
        orthonormalised); ``definition`` holds the method, seed, normalisation and the names
        treated as bias / BatchNorm.

    Raises:
        ValueError: ``num`` not 1 or 2, an unknown ``norm``, or a ``bn_bias`` name that is not
            a parameter.

    >>> w = {"fc.weight": torch.tensor([[3.0, 4.0], [0.0, 1.0]]), "fc.bias": torch.ones(2)}
    >>> d = random_directions(w, num=1, seed=0).vectors[0]
    >>> torch.linalg.vector_norm(d["fc.weight"], dim=1).round(decimals=12).tolist()
    [5.0, 1.0]
    >>> d["fc.bias"].tolist()      # a bias: zero unless include_bn_bias
    [0.0, 0.0]
    """
    if num not in (1, 2):
        raise ValueError(f"num must be 1 (a line) or 2 (a plane), got {num!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS} (Li et al. 2018 use 'filter'), got "
                         f"{norm!r}")
    if bn_bias is not None:
        special = list(bn_bias)
        unknown = [n for n in special if n not in params]
        if unknown:
            raise ValueError(f"bn_bias names parameter {unknown[0]!r}, which is not among the "
                             f"parameters ({list(params)[:5]} ...)")
        rule = "names"
    else:
        special = bn_bias_names(params, model)
        rule = "model" if model is not None else "dim<=1"
    special_set = set(special)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    vectors = []
    for _ in range(num):
        d: ParamDict = {}
        for name, w in params.items():
            g = torch.randn(tuple(w.shape), generator=gen, dtype=torch.float64)
            w64 = w.detach().to("cpu", torch.float64)
            if name in special_set:
                if not include_bn_bias:
                    g = torch.zeros_like(g)
                elif norm != "none":
                    g = _rescaled(g, w64)
            elif norm == "filter":
                g = _unit_filters(g, w64)
            elif norm == "layer":
                g = _rescaled(g, w64)
            d[name] = g.to(w.device)
        vectors.append(d)
    kind = {"filter": "filter-normalised random direction",
            "layer": "layer-normalised random direction",
            "none": "random direction"}[norm]
    definition: dict[str, Any] = {
        "method": "random", "num": int(num), "seed": int(seed), "norm": norm,
        "include_bn_bias": bool(include_bn_bias), "bn_bias_rule": rule,
        "bn_bias": [n for n in params if n in special_set],
        "draws": "torch.Generator(cpu).manual_seed(seed), float64 randn per tensor in order",
    }
    labels = tuple(f"{kind} {i + 1}" for i in range(num))
    return SurfaceDirections(tuple(vectors), params, definition, labels)
