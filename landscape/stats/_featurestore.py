"""Feature statistics through the result store (private plumbing for the CLI and scripts).

Two entries per (checkpoint, dataset split):

* ``features.pass``: the raw per-batch arrays of the hooked pass, *streamed* into a
  :class:`landscape.store.Partial` one batch at a time (pooled ``[B, F]`` and class mass
  ``[C, F]`` per ReLU site), so a killed pass resumes at the first unwritten batch;
* ``features``: every statistic of :func:`landscape.stats.features.layer_statistics`,
  computed from the finished pass and cached with ``get_or_compute``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from landscape.data import EvalSet
from landscape.stats._hooks import find_sites
from landscape.stats.features import (
    ACTIVATION_THRESHOLD,
    GAMMA_THRESHOLD,
    UNIVERSALITY_THRESHOLD,
    FeaturePass,
    iter_feature_batches,
    layer_statistics,
)

__all__ = ["PASS_NAME", "STATS_NAME", "stored_feature_pass", "stored_feature_statistics"]

PASS_NAME = "features.pass"
STATS_NAME = "features"
VERSION = 1


def stored_feature_pass(
    store: Any,
    model: nn.Module,
    data: EvalSet,
    *,
    inputs: dict[str, str],
    num_classes: int,
    progress: bool = False,
) -> FeaturePass:
    """:func:`landscape.stats.feature_pass`, streamed batch by batch into the store."""
    sites = find_sites(model, next(iter(data))[0][:2])
    nb, bs, c = len(data), data.batch_size, int(num_classes)
    dtype = str(data.dtype).removeprefix("torch.")
    fields: dict[str, tuple[tuple[int, ...], str]] = {}
    for s in sites:
        fields[f"pooled.{s.name}"] = ((nb, bs, s.num_features), dtype)
        fields[f"mass.{s.name}"] = ((nb, c, s.num_features), "float64")
    params = {"num_classes": c, "batch_size": bs, "sites": [s.name for s in sites]}
    part = store.partial(PASS_NAME, params, inputs, dataset=data.spec(), version=VERSION,
                         fields=fields, grid=(nb,))
    pending = [int(i[0]) for i in part.pending()]
    if pending:
        for i, pooled, mass in iter_feature_batches(model, data, sites, c, batches=pending,
                                                    progress=progress):
            values = {}
            for s in sites:
                p = pooled[s.name].numpy()
                if p.shape[0] < bs:  # the last, smaller batch: pad (trimmed when read)
                    p = np.concatenate([p, np.zeros((bs - p.shape[0], p.shape[1]), p.dtype)])
                values[f"pooled.{s.name}"] = p
                values[f"mass.{s.name}"] = mass[s.name].numpy()
            part.write((i,), **values)
    entry = part.finalize()
    n = data.num_samples
    return FeaturePass(
        sites=sites,
        pooled={s.name: torch.from_numpy(
            np.asarray(entry[f"pooled.{s.name}"]).reshape(nb * bs, -1)[:n].copy())
            for s in sites},
        class_mass={s.name: torch.from_numpy(np.asarray(entry[f"mass.{s.name}"]).sum(axis=0))
                    for s in sites},
        labels=data.y.detach().cpu(),
        num_classes=c,
    )


def stored_feature_statistics(
    store: Any,
    model: nn.Module,
    data: EvalSet,
    *,
    inputs: dict[str, str],
    num_classes: int,
    xi: float = 1e-6,
    progress: bool = False,
):
    """The cached ``features`` entry (computing the streamed pass first when needed)."""
    params = {
        "num_classes": int(num_classes),
        "xi": float(xi),
        "activation_threshold": ACTIVATION_THRESHOLD,
        "gamma_threshold": GAMMA_THRESHOLD,
        "universality_threshold": UNIVERSALITY_THRESHOLD,
    }

    def compute() -> dict[str, Any]:
        fp = stored_feature_pass(store, model, data, inputs=inputs, num_classes=num_classes,
                                 progress=progress)
        return layer_statistics(fp, model, xi=xi)

    return store.get_or_compute(STATS_NAME, params, inputs, compute, dataset=data.spec(),
                                version=VERSION, schema={"num_classes": ((), "iu"),
                                                         "num_samples": ((), "iu")})
