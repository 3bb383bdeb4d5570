"""Feature statistics of a subject, through the result store.

Two cached analyses per (subject, data split):

* ``features.pass``: the raw per-batch arrays of the hooked pass
  (:func:`landscape.stats.iter_feature_batches`), *streamed* into a store partial one batch
  at a time (pooled ``[B, F]`` and class mass ``[C, F]`` per ReLU site), so a killed pass
  resumes at the first unwritten batch;
* ``features``: every statistic of :func:`landscape.stats.layer_statistics`, computed from the
  finished pass.

Both are keyed by the subject's digest (``{"checkpoint": digest}``) and its split's data
identity. The summary's inactive shares are fractions; an entry stored before they were
(with percentages) is answered with the fractions recomputed from its per-layer arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from landscape.experiment.cached import Analysis, cached, cached_grid
from landscape.experiment.subject import Batches, Subject
from landscape.stats import (
    FeaturePass,
    feature_pass,
    feature_summary,
    find_sites,
    layer_statistics,
)
from landscape.stats.activations import check_reiterable, first_inputs, iter_feature_batches
from landscape.stats.features import (
    ACTIVATION_THRESHOLD,
    GAMMA_THRESHOLD,
    UNIVERSALITY_THRESHOLD,
)
from landscape.store import Entry, Store

__all__ = [
    "FEATURES",
    "FEATURE_PASS",
    "BatchLayout",
    "CachedFeatures",
    "feature_pass_cached",
    "feature_statistics_cached",
    "survey",
]

FEATURE_PASS = Analysis("features.pass", version=1)
FEATURES = Analysis("features", version=1, schema=lambda p: {
    "num_classes": ((), "iu"), "num_samples": ((), "iu")})


@dataclass(frozen=True)
class BatchLayout:
    """How evaluation batches are laid out: their sizes and the labels in pass order.

    Attributes:
        sizes: samples per batch, in iteration order.
        labels: ``[N]`` int64 labels on the CPU.

    """

    sizes: tuple[int, ...]
    labels: Tensor

    @property
    def batch_size(self) -> int:
        """The largest batch (every batch is padded to it in the stored pass)."""
        return max(self.sizes)

    @property
    def num_classes(self) -> int:
        """``max(label) + 1``: the class count when nothing else says it."""
        return int(self.labels.max()) + 1


def survey(batches: Batches) -> BatchLayout:
    """One pass over the batches' labels (no model): sizes and labels.

    Raises:
        TypeError: one-shot iterator.
        ValueError: no samples.

    >>> survey([(torch.zeros(2, 1), torch.tensor([0, 2])), (torch.zeros(1, 1), torch.tensor([1]))])
    BatchLayout(sizes=(2, 1), labels=tensor([0, 2, 1]))
    """
    check_reiterable(batches)
    sizes, labels = [], []
    for _, y in batches:
        sizes.append(int(y.shape[0]))
        labels.append(y.detach().to("cpu", torch.int64).reshape(-1))
    if not sizes or sum(sizes) == 0:
        raise ValueError("the evaluation data are empty: feature statistics need samples")
    return BatchLayout(tuple(sizes), torch.cat(labels))


def _stored_pass(store: Store, model: nn.Module, batches: Batches, *, inputs: dict[str, str],
                 data: Any, num_classes: int, layout: BatchLayout, progress: bool
                 ) -> FeaturePass:
    """The pass, streamed batch by batch into the store's partial entry (resumable)."""
    device = next(iter(model.parameters())).device
    sites = find_sites(model, first_inputs(batches)[:2].to(device))
    nb, bs, c = len(layout.sizes), layout.batch_size, int(num_classes)
    dtype = str(next(iter(model.parameters())).dtype).removeprefix("torch.")
    fields: dict[str, tuple[tuple[int, ...], str]] = {}
    for s in sites:
        fields[f"pooled.{s.name}"] = ((nb, bs, s.num_features), dtype)
        fields[f"mass.{s.name}"] = ((nb, c, s.num_features), "float64")
    params = {"num_classes": c, "batch_size": bs, "sites": [s.name for s in sites]}
    part = cached_grid(store, FEATURE_PASS, params, inputs=inputs, data=data, fields=fields,
                       grid=(nb,))
    if part is None:  # a torchrun rank other than 0: compute without the store
        return feature_pass(model, batches, num_classes=c, progress=progress)
    starts = np.concatenate([[0], np.cumsum(layout.sizes)])
    pending = [int(i[0]) for i in part.pending()]
    for i, pooled, mass, y in iter_feature_batches(model, batches, sites, c, only=pending,
                                                   progress=progress):
        if i >= nb or not torch.equal(y, layout.labels[starts[i]:starts[i + 1]]):
            raise RuntimeError(
                f"batch {i} differs between two passes over the same data (a shuffling "
                "DataLoader?): cached feature statistics need batches in a fixed order"
            )
        values = {}
        for s in sites:
            p = pooled[s.name].numpy()
            if p.shape[0] < bs:  # a smaller batch: padded here, trimmed when read
                p = np.concatenate([p, np.zeros((bs - p.shape[0], p.shape[1]), p.dtype)])
            values[f"pooled.{s.name}"] = p
            values[f"mass.{s.name}"] = mass[s.name].numpy()
        part.write((i,), **values)
    entry = part.finalize()

    def pooled_of(name: str) -> Tensor:
        blocks = np.asarray(entry[f"pooled.{name}"])
        return torch.from_numpy(np.concatenate([blocks[i, :b] for i, b in
                                                enumerate(layout.sizes)]))

    return FeaturePass(
        sites=sites,
        pooled={s.name: pooled_of(s.name) for s in sites},
        class_mass={s.name: torch.from_numpy(np.asarray(entry[f"mass.{s.name}"]).sum(axis=0))
                    for s in sites},
        labels=layout.labels,
        num_classes=c,
    )


def feature_pass_cached(store: Store, subject: Subject, *, split: str = "train",
                        num_classes: int | None = None, progress: bool = False) -> FeaturePass:
    """:func:`landscape.stats.feature_pass` of a subject's split, streamed into the store.

    Args:
        store: the result store.
        subject: the network and its data.
        split: which of the subject's splits.
        num_classes: C (default: the subject's dataset's, else ``max(label) + 1``).
        progress: show a progress bar on stderr.

    """
    batches = subject.split(split)
    layout = survey(batches)
    c = num_classes or subject.num_classes or layout.num_classes
    return _stored_pass(store, subject.model, batches, inputs=subject.inputs(),
                        data=subject.data_spec[split], num_classes=c, layout=layout,
                        progress=progress)


@dataclass(frozen=True)
class CachedFeatures:
    """The statistics of a subject, and where they came from.

    Attributes:
        stats: :func:`landscape.stats.layer_statistics`'s dict (numpy arrays).
        key: the store key of the ``features`` entry.
        cached: whether the entry was in the store already.
        entry: the store entry (``None`` on torchrun ranks other than 0).

    """

    stats: dict[str, Any]
    key: str
    cached: bool
    entry: Entry | None


def _fractions(stats: dict[str, Any]) -> dict[str, Any]:
    """The summary with fractions, also for an entry stored with percentages."""
    kept = {k: v for k, v in stats["summary"].items() if not k.startswith("pct_")}
    return {**stats, "summary": {**kept, **feature_summary(stats["layers"])}}


def feature_statistics_cached(
    store: Store,
    subject: Subject,
    *,
    split: str = "train",
    num_classes: int | None = None,
    xi: float = 1e-6,
    progress: bool = False,
) -> CachedFeatures:
    """The cached ``features`` entry of a subject's split (computing the pass when needed).

    Args:
        store: the result store.
        subject: the network and its data.
        split: which of the subject's splits (``"train"`` as in the papers).
        num_classes: C (default: the subject's dataset's, else ``max(label) + 1``).
        xi: a unit's incoming weights are zero below this L2 norm.
        progress: show a progress bar on stderr.

    Returns:
        The statistics with the entry's key and whether it was cached.

    """
    batches = subject.split(split)
    layout = None if (num_classes or subject.num_classes) else survey(batches)
    c = int(num_classes or subject.num_classes or layout.num_classes)  # type: ignore[union-attr]
    params = {
        "num_classes": c,
        "xi": float(xi),
        "activation_threshold": ACTIVATION_THRESHOLD,
        "gamma_threshold": GAMMA_THRESHOLD,
        "universality_threshold": UNIVERSALITY_THRESHOLD,
    }

    def compute() -> dict[str, Any]:
        fp = _stored_pass(store, subject.model, batches, inputs=subject.inputs(),
                          data=subject.data_spec[split], num_classes=c,
                          layout=layout or survey(batches), progress=progress)
        return layer_statistics(fp, subject.model, xi=xi)

    entry = cached(store, FEATURES, params, compute, inputs=subject.inputs(),
                   data=subject.data_spec[split])
    if entry is None:
        stats = compute()
        return CachedFeatures(_fractions(stats), "", False, None)
    return CachedFeatures(_fractions(entry.read_all()), entry.key, bool(entry.cached), entry)
