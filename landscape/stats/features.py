"""Feature statistics after every ReLU: dead units, universality, class specialisation.

From the pass of :mod:`landscape.stats.activations` (``pooled[s, f]``, the largest
``|activation|`` of feature f on sample s, and ``class_mass[c, f]``), with
``M_f = max_s pooled[s, f]``:

* inactive by activation: ``M_f <= 1e-12`` (Mehta et al. 2019, Sec. 2.1);
* inactive by scale: ``|gamma_f| < 1e-3`` of the BatchNorm whose output is the ReLU input
  (Mehta et al. 2019, Tables 1-2);
* universality ``U_f = 100 * #{s : pooled[s, f] / M_f > 1e-3} / N``, a **percentage** of
  samples as Mehta et al. 2019 define it (Sec. 3, Fig. 3), and selectivity ``100 - U_f``.
  A feature with ``M_f = 0`` has ``U_f = 0`` (no sample exceeds the threshold), so dead
  features sit at 0% universality as in their Fig. 3;
* class specialisation ``max_c class_mass[c, f] / sum_c class_mass[c, f]`` in ``[1/C, 1]``
  (Dettmers & Zettlemoyer 2019, Fig. 3). A feature silent on every sample has no class
  profile: its specialisation is NaN, excluded from the histograms and counted as ``silent``;
* group weight sparsity: the L2 norm of each feature's incoming weight vector (the Linear /
  Conv layer feeding the ReLU or its BatchNorm); zero when below ``xi`` (Yaguchi et al. 2018,
  Sec. II-B).

The shares of inactive features are **fractions** (``dead_activation_fraction`` ...);
percentages appear only in printed tables and on figure axes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.stats.activations import Batches, FeaturePass, feature_pass
from landscape.stats.sparsity import group_sparsity, weight_sparsity

__all__ = [
    "ACTIVATION_THRESHOLD",
    "GAMMA_THRESHOLD",
    "UNIVERSALITY_THRESHOLD",
    "class_specialisation",
    "feature_statistics",
    "feature_summary",
    "inactive_by_activation",
    "inactive_by_scale",
    "layer_statistics",
    "universality",
]

ACTIVATION_THRESHOLD = 1e-12
GAMMA_THRESHOLD = 1e-3
UNIVERSALITY_THRESHOLD = 1e-3
UNIVERSALITY_EDGES = np.linspace(0.0, 100.0, 11)
SPECIALISATION_EDGES = np.linspace(0.0, 1.0, 21)


def inactive_by_activation(
    pooled_max: Tensor, *, threshold: float = ACTIVATION_THRESHOLD
) -> Tensor:
    """Features whose largest pooled activation over the data is ``<= threshold``.

    >>> inactive_by_activation(torch.tensor([0.0, 1e-13, 1e-3])).tolist()
    [True, True, False]
    """
    return pooled_max <= threshold


def inactive_by_scale(gamma: Tensor, *, threshold: float = GAMMA_THRESHOLD) -> Tensor:
    """Features whose BatchNorm scale satisfies ``|gamma| < threshold``.

    >>> inactive_by_scale(torch.tensor([1e-4, -2e-3, 0.0])).tolist()
    [True, False, True]
    """
    return gamma.abs() < threshold


def universality(pooled: Tensor, *, threshold: float = UNIVERSALITY_THRESHOLD) -> Tensor:
    """Percentage of samples whose normalised pooled activation exceeds ``threshold``.

    ``U_f = 100 * mean_s [pooled[s, f] / max_s pooled[s, f] > threshold]`` (a percentage by
    Mehta et al. 2019's definition), computed as ``pooled > threshold * max`` so a feature
    that is zero everywhere gets 0 (not NaN).

    Args:
        pooled: ``[N, F]`` pooled activations.
        threshold: relative threshold (Mehta et al. 2019 use 1e-3).

    Returns:
        ``[F]`` float64 percentages in ``[0, 100]``.

    Raises:
        ValueError: ``pooled`` is not ``[N, F]`` with ``N >= 1``.

    >>> universality(torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.0, 2.0]])).tolist()
    [100.0, 0.0, 50.0]
    """
    if pooled.dim() != 2 or pooled.shape[0] == 0:
        raise ValueError(f"pooled must be [N, F] with N >= 1, got shape {tuple(pooled.shape)}")
    top = pooled.amax(dim=0, keepdim=True)
    return (pooled > threshold * top).double().mean(dim=0) * 100.0


def class_specialisation(class_mass: Tensor) -> Tensor:
    """``max_c a_fc / sum_c a_fc`` per feature; NaN for a feature with no activity at all.

    Args:
        class_mass: ``[C, F]`` non-negative activation mass per class and feature.

    Raises:
        ValueError: ``class_mass`` is not ``[C, F]``.

    >>> class_specialisation(torch.tensor([[1.0, 3.0, 0.0], [1.0, 1.0, 0.0]])).tolist()
    [0.5, 0.75, nan]
    """
    if class_mass.dim() != 2:
        raise ValueError(f"class_mass must be [C, F], got shape {tuple(class_mass.shape)}")
    total = class_mass.sum(dim=0)
    spec = class_mass.amax(dim=0) / total
    return torch.where(total > 0, spec, torch.full_like(spec, float("nan")))


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    values = values[np.isfinite(values)]
    return np.histogram(values, bins=edges)[0].astype(np.int64)


def norm_edges(norms: list[np.ndarray], *, bins: int = 48, floor: float = 1e-12) -> np.ndarray:
    """Log-spaced edges from ``floor`` to the decade above the largest norm.

    The histogram of Yaguchi et al. 2018, Fig. 5 (bimodal under Adam with L2).

    >>> norm_edges([np.array([0.5])], bins=2).tolist()
    [1e-12, 1e-06, 1.0]
    """
    top = max((float(v.max()) for v in norms if v.size), default=1.0)
    hi = np.ceil(np.log10(max(top, floor * 10)))
    return np.logspace(np.log10(floor), hi, bins + 1)


def _layer(fp: FeaturePass, s: Any, modules: Mapping[str, nn.Module], *, xi: float,
           thresholds: tuple[float, float, float], keep_pooled: bool) -> dict[str, Any]:
    act, gam, uni_t = thresholds
    pooled = fp.pooled[s.name]
    top = pooled.amax(dim=0).double()
    uni = universality(pooled, threshold=uni_t)
    spec = class_specialisation(fp.class_mass[s.name])
    entry: dict[str, Any] = {
        "batchnorm": s.batchnorm or "",
        "weight_layer": s.weight_layer or "",
        "spatial": bool(s.spatial),
        "num_features": int(s.num_features),
        "pooled_max": top.numpy(),
        "dead_activation": inactive_by_activation(top, threshold=act).numpy(),
        "universality": uni.numpy(),
        "selectivity": (100.0 - uni).numpy(),
        "class_mass": fp.class_mass[s.name].numpy(),
        "specialisation": spec.numpy(),
        "silent": int(torch.isnan(spec).sum()),
    }
    bn = modules.get(s.batchnorm) if s.batchnorm else None
    if bn is not None and getattr(bn, "weight", None) is not None:
        gamma = bn.weight.detach().double().cpu()
        entry["gamma"] = gamma.numpy()
        entry["dead_scale"] = inactive_by_scale(gamma, threshold=gam).numpy()
    if s.weight_layer:
        norm = modules[s.weight_layer].weight.detach().flatten(1).double().norm(dim=1).cpu()
        if norm.numel() == s.num_features:
            entry["weight_norm"] = norm.numpy()
            entry["zero_weights"] = (norm < xi).numpy()
    if keep_pooled:
        entry["pooled"] = pooled.numpy()
    entry["universality_hist"] = _histogram(entry["universality"], UNIVERSALITY_EDGES)
    entry["specialisation_hist"] = _histogram(entry["specialisation"], SPECIALISATION_EDGES)
    return entry


def layer_statistics(
    fp: FeaturePass,
    model: nn.Module,
    *,
    xi: float = 1e-6,
    activation_threshold: float = ACTIVATION_THRESHOLD,
    gamma_threshold: float = GAMMA_THRESHOLD,
    universality_threshold: float = UNIVERSALITY_THRESHOLD,
    keep_pooled: bool = False,
) -> dict[str, Any]:
    """All statistics of a :class:`~landscape.stats.activations.FeaturePass`, as plain arrays.

    Returns:
        A nested dict of numpy arrays and scalars, ready for the result store:
        ``{"layers": {site: {...}}, "summary": {...}, "order": [...], "edges": {...}}``.
        Per layer: ``pooled_max``, ``universality``/``selectivity`` (percentages of
        samples), ``class_mass``, ``specialisation``, ``dead_activation``, ``gamma``/
        ``dead_scale`` (when a BatchNorm feeds the ReLU), ``weight_norm``/``zero_weights``
        (when a Linear/Conv feeds it), histogram counts, and ``pooled`` itself when
        ``keep_pooled``. The summary: :func:`feature_summary` plus the global
        ``weight_sparsity`` and ``group_sparsity`` (fractions).

    """
    modules = dict(model.named_modules())
    thresholds = (activation_threshold, gamma_threshold, universality_threshold)
    layers = {s.name: _layer(fp, s, modules, xi=xi, thresholds=thresholds,
                             keep_pooled=keep_pooled) for s in fp.sites}
    edges = norm_edges([e["weight_norm"] for e in layers.values() if "weight_norm" in e])
    for entry in layers.values():
        if "weight_norm" in entry:
            entry["norm_hist"] = _histogram(np.maximum(entry["weight_norm"], edges[0]), edges)
    summary = feature_summary(layers)
    summary["weight_sparsity"] = weight_sparsity(dict(model.named_parameters()))["global"]
    summary["group_sparsity"] = group_sparsity(model, xi=xi)["global"]
    return {
        "layers": layers,
        "order": [s.name for s in fp.sites],
        "num_samples": int(fp.labels.numel()),
        "num_classes": int(fp.num_classes),
        "edges": {"universality": UNIVERSALITY_EDGES, "specialisation": SPECIALISATION_EDGES,
                  "norm": edges},
        "thresholds": {"activation": activation_threshold, "gamma": gamma_threshold,
                       "universality": universality_threshold, "xi": xi},
        "summary": summary,
    }


def feature_summary(layers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and fractions of inactive features over all layers.

    Returns:
        ``features``, ``dead_activation``, ``dead_scale``, ``zero_weights`` (counts),
        ``features_with_batchnorm``, ``features_with_weights``, and the fractions
        ``dead_activation_fraction`` (of all features), ``dead_scale_fraction`` (of those
        with a BatchNorm; NaN without any) and ``zero_weights_fraction`` (of those with a
        weight layer; NaN without any).

    >>> s = feature_summary({"r": {"num_features": 4, "dead_activation": np.array([1, 0, 0, 0])}})
    >>> s["dead_activation"], s["dead_activation_fraction"]
    (1, 0.25)
    """
    total = dead_act = dead_gamma = with_gamma = zero_w = with_w = 0
    for e in layers.values():
        total += int(e["num_features"])
        dead_act += int(np.sum(e["dead_activation"]))
        if "dead_scale" in e:
            with_gamma += int(e["num_features"])
            dead_gamma += int(np.sum(e["dead_scale"]))
        if "zero_weights" in e:
            with_w += int(e["num_features"])
            zero_w += int(np.sum(e["zero_weights"]))
    return {
        "features": total,
        "dead_activation": dead_act,
        "dead_scale": dead_gamma,
        "features_with_batchnorm": with_gamma,
        "zero_weights": zero_w,
        "features_with_weights": with_w,
        "dead_activation_fraction": dead_act / total if total else 0.0,
        "dead_scale_fraction": dead_gamma / with_gamma if with_gamma else math.nan,
        "zero_weights_fraction": zero_w / with_w if with_w else math.nan,
    }


def feature_statistics(
    model: nn.Module,
    batches: Batches,
    *,
    num_classes: int | None = None,
    xi: float = 1e-6,
    keep_pooled: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`~landscape.stats.activations.feature_pass`, then :func:`layer_statistics`.

    Args:
        model: the network.
        batches: re-iterable ``(x, y)`` batches (an ``EvalSet``, a list, a ``DataLoader``).
        num_classes: C; default ``max(label) + 1`` over the data.
        xi: a unit's incoming weights are zero below this L2 norm.
        keep_pooled: also return the ``[N, F]`` pooled activations per layer.
        progress: show a tqdm bar on stderr.

    >>> net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0], [-1.0]])), net[0].bias.zero_()
    >>> data = [(torch.tensor([[1.0]]), torch.tensor([0])),
    ...         (torch.tensor([[2.0]]), torch.tensor([1]))]
    >>> st = feature_statistics(net, data)["layers"]["1"]
    >>> st["dead_activation"].tolist(), st["universality"].tolist()
    ([False, True], [100.0, 0.0])
    """
    fp = feature_pass(model, batches, num_classes=num_classes, progress=progress)
    return layer_statistics(fp, model, xi=xi, keep_pooled=keep_pooled)
