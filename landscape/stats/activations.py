"""The hooked pass behind the feature statistics: pooled activations and class mass.

A *feature* is a unit of a linear layer or a channel of a conv layer, observed at the output
of an ``nn.ReLU``. One pass over evaluation batches (eval mode, unaugmented, no grad) with
forward hooks on the ReLUs (see :mod:`landscape.stats._hooks`, which also handles a ReLU
module called several times per forward, as in torchvision's ResNet) records, per feature f:

* ``pooled[s, f] = max over spatial positions of |a_f(x_s)|`` for every sample s
  (Mehta et al. 2019, Sec. 2.1). Memory is O(samples x features), never
  O(samples x activations);
* ``class_mass[c, f] = sum over samples s of class c, and over spatial positions, of
  |a_f(x_s)|`` (Dettmers & Zettlemoyer 2019, Sec. 5.2; summed over spatial positions, i.e.
  the total activity).

The batches are any re-iterable of ``(x, y)`` pairs (a list, an
:class:`~landscape.data.EvalSet`, a ``torch.utils.data.DataLoader``): ``x`` is moved to the
model's device (and a floating ``x`` to its parameters' dtype), ``y`` holds integer class
labels. The number of classes is given, or inferred as ``max(label) + 1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from landscape.stats._hooks import Site, find_sites, site_counter_hooks

__all__ = [
    "FeaturePass", "check_reiterable", "feature_pass", "first_inputs", "iter_feature_batches",
]

Batches = Iterable[tuple[Tensor, Tensor]]


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


def check_reiterable(batches: object) -> None:
    """Refuse a one-shot iterator (a generator): the statistics iterate the batches twice.

    Raises:
        TypeError: ``batches`` is its own iterator.

    >>> check_reiterable([(1, 2)])
    >>> check_reiterable(iter([(1, 2)]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: the batches are a one-shot iterator (list_iterator): pass a re-iterable ...
    """
    if iter(batches) is batches:  # type: ignore[call-overload]
        raise TypeError(
            f"the batches are a one-shot iterator ({type(batches).__name__}): pass a "
            "re-iterable of (x, y) batches (a list, an EvalSet or a DataLoader), e.g. "
            "list(batches)"
        )


def first_inputs(batches: Batches) -> Tensor:
    """The inputs of the first batch (for the probe pass that finds the sites).

    Raises:
        ValueError: no batch, or an empty first batch.

    """
    for x, _ in batches:
        if x.shape[0] == 0:
            break
        return x
    raise ValueError("the evaluation data are empty: feature statistics need samples")


def _placement(model: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    for t in (*model.parameters(), *model.buffers()):
        return t.device, (t.dtype if t.is_floating_point() else None)
    return None, None


def _to_model(x: Tensor, device: torch.device | None, dtype: torch.dtype | None) -> Tensor:
    if device is None:
        return x
    if dtype is not None and x.is_floating_point():
        return x.to(device=device, dtype=dtype)
    return x.to(device)


def _labels(y: Tensor, index: int, num_classes: int | None) -> Tensor:
    if y.dim() != 1 or y.is_floating_point() or y.is_complex():
        raise ValueError(
            f"batch {index} has labels of shape {tuple(y.shape)} and dtype {y.dtype}: feature "
            "statistics need one integer class label per sample"
        )
    low, high = int(y.min()), int(y.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        c = "C" if num_classes is None else str(num_classes)
        raise ValueError(
            f"labels must lie in [0, {c}), batch {index} has labels in [{low}, {high}]: pass "
            "num_classes= the data's class count"
        )
    return y


def iter_feature_batches(
    model: nn.Module,
    batches: Batches,
    sites: list[Site],
    num_classes: int | None,
    *,
    only: Iterable[int] | None = None,
    progress: bool = False,
) -> Iterator[tuple[int, dict[str, Tensor], dict[str, Tensor], Tensor]]:
    """Yield ``(batch index, pooled [B, F], class mass [C, F], labels [B])`` per batch.

    Everything yielded is on the CPU; pooled per site, class mass (float64) per site. The
    model runs in eval mode under ``no_grad`` (its mode is restored afterwards). Only the
    batches listed in ``only`` are computed (all by default), so a streamed pass can resume.
    Without ``num_classes``, each batch's mass has ``max(label in batch) + 1`` rows.

    Raises:
        ValueError: labels that are not one integer per sample, or outside
            ``[0, num_classes)``.

    """
    wanted = None if only is None else set(only)
    device, dtype = _placement(model)
    pooled: dict[str, Tensor] = {}
    mass: dict[str, Tensor] = {}
    current: list[Tensor] = []
    rows: list[int] = [0]

    def sink(index: int, out: Tensor) -> None:
        site = sites[index]
        a = out.detach().abs().flatten(2) if out.dim() > 2 else out.detach().abs()[:, :, None]
        pooled[site.name] = a.amax(dim=2).cpu()
        m = torch.zeros(rows[0], a.shape[1], dtype=torch.float64, device=a.device)
        mass[site.name] = m.index_add_(0, current[0], a.sum(dim=2, dtype=torch.float64)).cpu()

    handles, counters = site_counter_hooks(model, sites, sink)
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm import tqdm

        total = len(wanted) if wanted is not None else (
            len(batches) if hasattr(batches, "__len__") else None)  # type: ignore[arg-type]
        bar = tqdm(total=total, desc="feature pass", unit="batch")
    try:
        with torch.no_grad():
            for i, (x, y) in enumerate(batches):
                if wanted is not None and i not in wanted:
                    continue
                y = _labels(y, i, num_classes)
                rows[0] = int(num_classes) if num_classes is not None else int(y.max()) + 1
                for k in counters:
                    counters[k] = 0
                x = _to_model(x, device, dtype)
                current[:] = [y.to(x.device)]
                pooled.clear()
                mass.clear()
                model(x)
                if bar is not None:
                    bar.update(1)
                yield i, dict(pooled), dict(mass), y.detach().to("cpu", torch.int64)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        if bar is not None:
            bar.close()


def _grow(mass: Tensor, rows: int) -> Tensor:
    if mass.shape[0] >= rows:
        return mass
    return torch.cat([mass, mass.new_zeros(rows - mass.shape[0], mass.shape[1])])


def feature_pass(
    model: nn.Module,
    batches: Batches,
    *,
    num_classes: int | None = None,
    progress: bool = False,
) -> FeaturePass:
    """One hooked pass over ``batches``: pooled activations and class mass of every feature.

    The model is put in eval mode for the pass (BatchNorm uses running statistics, dropout
    is off) and restored afterwards. Each batch's pooled ``[B, F]`` block is copied to the
    host as soon as it is computed, so device memory holds one batch of activations.

    Args:
        model: the network.
        batches: re-iterable ``(x, y)`` batches, unaugmented (an ``EvalSet``, a list, a
            ``DataLoader``); iterated once for a probe and once for the pass.
        num_classes: C; default ``max(label) + 1`` over the data.
        progress: show a tqdm bar on stderr.

    Raises:
        TypeError: ``batches`` is a one-shot iterator.
        ValueError: empty data, a label outside ``[0, num_classes)``, or no ReLU module.

    >>> net = nn.Sequential(nn.Linear(1, 2), nn.ReLU())
    >>> loader = torch.utils.data.DataLoader(
    ...     torch.utils.data.TensorDataset(torch.ones(5, 1), torch.tensor([0, 1, 1, 0, 2])),
    ...     batch_size=2)
    >>> fp = feature_pass(net, loader)
    >>> fp.pooled["1"].shape, fp.num_classes, fp.labels.tolist()
    (torch.Size([5, 2]), 3, [0, 1, 1, 0, 2])
    """
    check_reiterable(batches)
    sites = find_sites(model, _to_model(first_inputs(batches)[:2], *_placement(model)))
    blocks: dict[str, list[Tensor]] = {s.name: [] for s in sites}
    mass = {s.name: torch.zeros(num_classes or 0, s.num_features, dtype=torch.float64)
            for s in sites}
    labels: list[Tensor] = []
    for _, p, m, y in iter_feature_batches(model, batches, sites, num_classes,
                                           progress=progress):
        labels.append(y)
        for name in blocks:
            blocks[name].append(p[name])
            mass[name] = _grow(mass[name], m[name].shape[0])
            mass[name][: m[name].shape[0]] += m[name]
    if not labels:
        raise ValueError("the evaluation data are empty: feature statistics need samples")
    c = int(num_classes) if num_classes is not None else max(v.shape[0] for v in mass.values())
    return FeaturePass(
        sites=sites,
        pooled={name: torch.cat(b) for name, b in blocks.items()},
        class_mass={name: _grow(v, c) for name, v in mass.items()},
        labels=torch.cat(labels),
        num_classes=c,
    )
