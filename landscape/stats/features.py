"""Feature statistics after every ReLU: dead units, universality, class specialisation (DESIGN 4.7).

A *feature* is a unit of a linear layer or a channel of a conv layer, observed at the output
of an ``nn.ReLU``. One pass over a data split (eval mode, unaugmented, no grad) with forward
hooks on the ReLUs (see :mod:`landscape.stats._hooks`, which also handles a ReLU module
called several times per forward, as in torchvision's ResNet) records, per feature f:

* ``pooled[s, f] = max over spatial positions of |a_f(x_s)|`` for every sample s
  (seed 001, Sec. 2.1). Memory is O(samples x features), never O(samples x activations).
* ``class_mass[c, f] = sum over samples s of class c, and over spatial positions, of
  |a_f(x_s)|`` (seed 002, Sec. 5.2; we sum over spatial positions, i.e. the total activity).

From these, with ``M_f = max_s pooled[s, f]``:

* inactive by activation: ``M_f <= 1e-12`` (seed 001, Sec. 2.1);
* inactive by scale: ``|gamma_f| < 1e-3`` of the BatchNorm whose output is the ReLU input;
* universality ``U_f = 100 * #{s : pooled[s, f] / M_f > 1e-3} / N`` and selectivity
  ``100 - U_f`` (seed 001, Sec. 3, Fig. 3). A feature with ``M_f = 0`` has ``U_f = 0``
  (no sample exceeds the threshold), so dead features sit at 0% universality as in Fig. 3;
* class specialisation ``max_c class_mass[c, f] / sum_c class_mass[c, f]`` in ``[1/C, 1]``
  (seed 002, Fig. 3). A feature silent on every sample has no class profile: its
  specialisation is NaN, excluded from the histograms and counted as ``silent``;
* group weight sparsity: the L2 norm of each feature's incoming weight vector (the Linear /
  Conv layer feeding the ReLU or its BatchNorm); zero when below ``xi`` (seed 000, Sec. II-B).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.data import EvalSet
from landscape.stats._hooks import Site, find_sites, site_counter_hooks
from landscape.stats.sparsity import group_sparsity, weight_sparsity

__all__ = [
    "ACTIVATION_THRESHOLD",
    "GAMMA_THRESHOLD",
    "UNIVERSALITY_THRESHOLD",
    "FeaturePass",
    "class_specialisation",
    "feature_pass",
    "feature_statistics",
    "format_sparsity_table",
    "inactive_by_activation",
    "inactive_by_scale",
    "iter_feature_batches",
    "layer_statistics",
    "sparsity_rows",
    "universality",
]

ACTIVATION_THRESHOLD = 1e-12
GAMMA_THRESHOLD = 1e-3
UNIVERSALITY_THRESHOLD = 1e-3


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

    ``U_f = 100 * mean_s [pooled[s, f] / max_s pooled[s, f] > threshold]``, computed as
    ``pooled > threshold * max`` so a feature that is zero everywhere gets 0 (not NaN).

    Args:
        pooled: ``[N, F]`` pooled activations.
        threshold: relative threshold (seed 001 uses 1e-3).

    Returns:
        ``[F]`` float64 percentages in ``[0, 100]``.

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

    >>> class_specialisation(torch.tensor([[1.0, 3.0, 0.0], [1.0, 1.0, 0.0]])).tolist()
    [0.5, 0.75, nan]
    """
    if class_mass.dim() != 2:
        raise ValueError(f"class_mass must be [C, F], got shape {tuple(class_mass.shape)}")
    total = class_mass.sum(dim=0)
    spec = class_mass.amax(dim=0) / total
    return torch.where(total > 0, spec, torch.full_like(spec, float("nan")))


@dataclass
class FeaturePass:
    """Raw per-feature arrays of one pass, per ReLU site (in forward order).

    Attributes:
        sites: the ReLU sites (:class:`landscape.stats._hooks.Site`).
        pooled: site name -> ``[N, F]`` pooled ``|activation|`` per sample (on the CPU).
        class_mass: site name -> ``[C, F]`` float64 activation mass per class.
        labels: ``[N]`` the labels of the samples, in pass order.
        num_classes: C.

    """

    sites: list[Site]
    pooled: dict[str, Tensor]
    class_mass: dict[str, Tensor]
    labels: Tensor
    num_classes: int


def iter_feature_batches(
    model: nn.Module,
    data: EvalSet,
    sites: list[Site],
    num_classes: int,
    *,
    batches: list[int] | None = None,
    progress: bool = False,
) -> Iterator[tuple[int, dict[str, Tensor], dict[str, Tensor]]]:
    """Yield ``(batch index, pooled [B, F] per site, class mass [C, F] per site)`` on the CPU.

    The model runs in eval mode under ``no_grad`` (its mode is restored afterwards). Only the
    batches listed in ``batches`` are computed (all by default), so a streamed pass can resume.
    """
    wanted = set(range(len(data)) if batches is None else batches)
    pooled: dict[str, Tensor] = {}
    mass: dict[str, Tensor] = {}
    labels: list[Tensor] = []

    def sink(index: int, out: Tensor) -> None:
        site = sites[index]
        a = out.detach().abs().flatten(2) if out.dim() > 2 else out.detach().abs()[:, :, None]
        pooled[site.name] = a.amax(dim=2).cpu()
        m = torch.zeros(num_classes, a.shape[1], dtype=torch.float64, device=a.device)
        mass[site.name] = m.index_add_(0, labels[0], a.sum(dim=2, dtype=torch.float64)).cpu()

    handles, counters = site_counter_hooks(model, sites, sink)
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(wanted), desc="features", unit="batch")
    try:
        with torch.no_grad():
            for i, (x, y) in enumerate(data):
                if i not in wanted:
                    continue
                for k in counters:
                    counters[k] = 0
                labels[:] = [y]
                pooled.clear()
                mass.clear()
                model(x)
                if bar is not None:
                    bar.update(1)
                yield i, dict(pooled), dict(mass)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        if bar is not None:
            bar.close()


def feature_pass(
    model: nn.Module,
    data: EvalSet,
    *,
    num_classes: int | None = None,
    progress: bool = False,
) -> FeaturePass:
    """One hooked pass over ``data``: pooled activations and class mass of every feature.

    The model is put in eval mode for the pass (BatchNorm uses running statistics, dropout
    is off) and restored afterwards. Each batch's pooled ``[B, F]`` block is copied to the
    host as soon as it is computed, so device memory holds one batch of activations.

    Args:
        model: the network (on ``data.device``).
        data: the split to pass over (e.g. ``EvalSet(ds, "train")``), unaugmented.
        num_classes: C; default ``max(label) + 1``.
        progress: show a tqdm bar on stderr.

    Raises:
        ValueError: empty data, a label outside ``[0, num_classes)``, or no ReLU module.

    """
    n = data.num_samples
    if n == 0:
        raise ValueError("the evaluation set is empty: feature statistics need samples")
    labels = data.y.detach().to("cpu", torch.int64)
    c = int(num_classes) if num_classes is not None else int(labels.max()) + 1
    if int(labels.min()) < 0 or int(labels.max()) >= c:
        raise ValueError(
            f"labels must lie in [0, {c}), got range [{int(labels.min())}, {int(labels.max())}]"
            ": pass num_classes= the dataset's class count"
        )
    sites = find_sites(model, next(iter(data))[0][:2])
    pooled = {s.name: torch.empty(n, s.num_features, dtype=data.dtype) for s in sites}
    mass = {s.name: torch.zeros(c, s.num_features, dtype=torch.float64) for s in sites}
    start = 0
    for _, p, m in iter_feature_batches(model, data, sites, c, progress=progress):
        b = next(iter(p.values())).shape[0]
        for name in pooled:
            pooled[name][start : start + b] = p[name]
            mass[name] += m[name]
        start += b
    return FeaturePass(sites, pooled, mass, labels, c)


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    values = values[np.isfinite(values)]
    return np.histogram(values, bins=edges)[0].astype(np.int64)


UNIVERSALITY_EDGES = np.linspace(0.0, 100.0, 11)
SPECIALISATION_EDGES = np.linspace(0.0, 1.0, 21)


def norm_edges(norms: list[np.ndarray], *, bins: int = 48, floor: float = 1e-12) -> np.ndarray:
    """Log-spaced edges from ``floor`` to the decade above the largest norm (seed 000 Fig. 5)."""
    top = max((float(v.max()) for v in norms if v.size), default=1.0)
    hi = np.ceil(np.log10(max(top, floor * 10)))
    return np.logspace(np.log10(floor), hi, bins + 1)


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
    """All statistics of a :class:`FeaturePass`, per layer and in total, as plain arrays.

    Returns:
        A nested dict of numpy arrays and scalars, ready for the result store:
        ``{"layers": {site: {...}}, "summary": {...}, "order": [...], "edges": {...}}``.
        Per layer: ``pooled_max``, ``universality``, ``selectivity``, ``class_mass``,
        ``specialisation``, ``dead_activation``, ``gamma``/``dead_scale`` (when a BatchNorm
        feeds the ReLU), ``weight_norm``/``zero_weights`` (when a Linear/Conv feeds it),
        histogram counts, and ``pooled`` itself when ``keep_pooled``.

    """
    modules = dict(model.named_modules())
    layers: dict[str, Any] = {}
    norms_all = []
    for s in fp.sites:
        pooled = fp.pooled[s.name]
        top = pooled.amax(dim=0).double()
        uni = universality(pooled, threshold=universality_threshold)
        spec = class_specialisation(fp.class_mass[s.name])
        entry: dict[str, Any] = {
            "batchnorm": s.batchnorm or "",
            "weight_layer": s.weight_layer or "",
            "spatial": bool(s.spatial),
            "num_features": int(s.num_features),
            "pooled_max": top.numpy(),
            "dead_activation": inactive_by_activation(top, threshold=activation_threshold).numpy(),
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
            entry["dead_scale"] = inactive_by_scale(gamma, threshold=gamma_threshold).numpy()
        if s.weight_layer:
            w = modules[s.weight_layer].weight.detach()
            norm = w.flatten(1).double().norm(dim=1).cpu()
            if norm.numel() == s.num_features:
                entry["weight_norm"] = norm.numpy()
                entry["zero_weights"] = (norm < xi).numpy()
                norms_all.append(entry["weight_norm"])
        if keep_pooled:
            entry["pooled"] = pooled.numpy()
        entry["universality_hist"] = _histogram(entry["universality"], UNIVERSALITY_EDGES)
        entry["specialisation_hist"] = _histogram(entry["specialisation"], SPECIALISATION_EDGES)
        layers[s.name] = entry
    edges = norm_edges(norms_all)
    for entry in layers.values():
        if "weight_norm" in entry:
            entry["norm_hist"] = _histogram(np.maximum(entry["weight_norm"], edges[0]), edges)
    summary = _summary(layers)
    summary["weight_sparsity"] = weight_sparsity(dict(model.named_parameters()))["global"]
    summary["group_sparsity"] = group_sparsity(model, xi=xi)["global"]
    return {
        "layers": layers,
        "order": [s.name for s in fp.sites],
        "num_samples": int(fp.labels.numel()),
        "num_classes": int(fp.num_classes),
        "edges": {
            "universality": UNIVERSALITY_EDGES,
            "specialisation": SPECIALISATION_EDGES,
            "norm": edges,
        },
        "thresholds": {
            "activation": activation_threshold,
            "gamma": gamma_threshold,
            "universality": universality_threshold,
            "xi": xi,
        },
        "summary": summary,
    }


def _summary(layers: dict[str, Any]) -> dict[str, Any]:
    total = dead_act = dead_gamma = with_gamma = zero_w = with_w = 0
    for e in layers.values():
        total += e["num_features"]
        dead_act += int(e["dead_activation"].sum())
        if "dead_scale" in e:
            with_gamma += e["num_features"]
            dead_gamma += int(e["dead_scale"].sum())
        if "zero_weights" in e:
            with_w += e["num_features"]
            zero_w += int(e["zero_weights"].sum())
    return {
        "features": total,
        "dead_activation": dead_act,
        "dead_scale": dead_gamma,
        "features_with_batchnorm": with_gamma,
        "zero_weights": zero_w,
        "features_with_weights": with_w,
        "pct_dead_activation": 100.0 * dead_act / total if total else 0.0,
        "pct_dead_scale": 100.0 * dead_gamma / with_gamma if with_gamma else float("nan"),
        "pct_zero_weights": 100.0 * zero_w / with_w if with_w else float("nan"),
    }


def feature_statistics(
    model: nn.Module,
    data: EvalSet,
    *,
    num_classes: int | None = None,
    xi: float = 1e-6,
    keep_pooled: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`feature_pass` followed by :func:`layer_statistics` (see the module docstring).

    >>> net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0], [-1.0]])), net[0].bias.zero_()
    >>> data = EvalSet.from_tensors(torch.tensor([[1.0], [2.0]]), torch.tensor([0, 1]),
    ...                             batch_size=1)
    >>> st = feature_statistics(net, data)["layers"]["1"]
    >>> st["dead_activation"].tolist(), st["universality"].tolist()
    ([False, True], [100.0, 0.0])
    """
    fp = feature_pass(model, data, num_classes=num_classes, progress=progress)
    return layer_statistics(fp, model, xi=xi, keep_pooled=keep_pooled)


def sparsity_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-layer rows of a seed 001 Table 1/2 style table, plus a final ``total`` row.

    Each row: ``layer``, ``features``, ``pct_act`` (% inactive by activation), ``pct_gamma``
    (% inactive by |gamma|; NaN without BatchNorm), ``pct_weights`` (% zero incoming weight
    vectors; NaN without a weight layer), ``mean_universality``.
    """
    rows = []
    for name in stats["order"]:
        e = stats["layers"][name]
        f = int(e["num_features"])
        rows.append({
            "layer": name,
            "features": f,
            "pct_act": 100.0 * float(np.sum(e["dead_activation"])) / f,
            "pct_gamma": 100.0 * float(np.mean(e["dead_scale"])) if "dead_scale" in e
            else float("nan"),
            "pct_weights": 100.0 * float(np.mean(e["zero_weights"])) if "zero_weights" in e
            else float("nan"),
            "mean_universality": float(np.mean(e["universality"])),
        })
    s = stats["summary"]
    rows.append({
        "layer": "total",
        "features": int(s["features"]),
        "pct_act": float(s["pct_dead_activation"]),
        "pct_gamma": float(s["pct_dead_scale"]),
        "pct_weights": float(s["pct_zero_weights"]),
        "mean_universality": float(np.mean(np.concatenate(
            [stats["layers"][n]["universality"] for n in stats["order"]]))),
    })
    return rows


def format_sparsity_table(stats: dict[str, Any]) -> str:
    """The :func:`sparsity_rows` table as aligned text (``-`` where a test does not apply)."""

    def pct(v: float) -> str:
        return "-" if not np.isfinite(v) else f"{v:.1f}"

    rows = sparsity_rows(stats)
    width = max(len("layer"), *(len(r["layer"]) for r in rows))
    head = (f"{'layer':<{width}}  {'features':>8}  {'% by act':>8}  {'% by gamma':>10}  "
            f"{'% zero w':>8}  {'mean univ.':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["layer"] == "total":
            lines.append("-" * len(head))
        lines.append(
            f"{r['layer']:<{width}}  {r['features']:>8}  {pct(r['pct_act']):>8}  "
            f"{pct(r['pct_gamma']):>10}  {pct(r['pct_weights']):>8}  "
            f"{r['mean_universality']:>10.1f}"
        )
    return "\n".join(lines)
