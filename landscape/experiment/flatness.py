"""A flatness table for any set of networks: curvature and loss-based sharpness side by side.

For each subject (a landscape checkpoint or run, or your own weights), on its training data
in eval mode (BatchNorm with the subject's own running statistics, never recalibrated):

* ``lambda_max`` and the top-k eigenvalues: the ``hessian.topk`` entry that ``landscape
  hessian`` asks for too;
* the trace (Hutchinson, with its standard error: the ``hessian.trace`` entry) and the share
  of the top-k in it, ``sum_i lambda_i / tr(H)``;
* epsilon-sharpness (Keskar et al. 2017): ``100 (max_{|z_i| <= eps (|w_i| + 1)} L(w + z) -
  L(w)) / (1 + L(w))`` by ``steps`` projected-gradient ascent steps from a seeded start
  (:func:`landscape.curvature.epsilon_sharpness`, a lower bound of the maximum);
* the mean loss increase at distance ``d`` along filter-normalised random directions (Li et
  al. 2018, :func:`landscape.surface.random_directions`), both signs
  (:func:`landscape.curvature.direction_increase`).

Each number is a cached entry keyed by the subject's content digest and its data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from landscape.curvature import FlatObjective, direction_increase, epsilon_sharpness
from landscape.distributed import context
from landscape.experiment.cached import Analysis, cached
from landscape.experiment.curvature import hessian_topk
from landscape.experiment.sharpness import hessian_trace
from landscape.experiment.subject import Subject
from landscape.store import Entry, Store

__all__ = ["DIRECTIONS", "EPSILON", "direction_increase_cached", "epsilon_sharpness_cached",
           "flatness_row", "flatness_table"]

EPSILON = Analysis("flatness.epsilon", 1)
"""Keskar et al. 2017's epsilon-sharpness of a subject."""
DIRECTIONS = Analysis("flatness.directions", 1,
                      lambda p: {"values": ((int(p["directions"]),), "f")})
"""Mean loss increase along filter-normalised random directions (Li et al. 2018)."""


def _mode(subject: Subject) -> dict[str, Any]:
    return {"params": None, "loss": subject.loss_name, "mode": "eval", "bn": "keep"}


def epsilon_sharpness_cached(store: Store, subject: Subject, *, epsilon: float = 1e-3,
                             steps: int = 10, seed: int = 0, split: str = "train"
                             ) -> Entry | None:
    """Epsilon-sharpness of the subject (Keskar et al. 2017), from the store or computed.

    Returns:
        The entry (``sharpness`` in percent of ``1 + L(w)``, ``loss``, ``max_loss``,
        ``epsilon``, ``steps``, ``history``); ``None`` on torchrun ranks other than 0.

    """
    key = {"epsilon": float(epsilon), "steps": int(steps), "start": 0.1, "seed": int(seed),
           **_mode(subject)}

    def compute() -> dict[str, Any]:
        began = time.perf_counter()
        obj = FlatObjective(subject.model, subject.split(split), loss_fn=subject.loss_fn)
        res = epsilon_sharpness(obj.loss_and_gradient, obj.theta, epsilon=epsilon,
                                steps=int(steps), start=0.1, seed=seed, loss_only=obj.loss)
        return {"sharpness": res.sharpness, "loss": res.loss, "max_loss": res.max_loss,
                "epsilon": res.epsilon, "steps": res.steps,
                "history": torch.tensor(res.history, dtype=torch.float64),
                "seconds": time.perf_counter() - began}

    return cached(store, EPSILON, key, compute, inputs=subject.inputs(),
                  data=subject.data_spec[split])


def _flat_directions(subject: Subject, names: Sequence[str], num: int, seed: int
                     ) -> list[torch.Tensor]:
    from landscape.surface import random_directions

    out = []
    for j in range(num):
        dirs = random_directions(subject.point, num=1, seed=seed + j, norm="filter",
                                 model=subject.model)
        out.append(torch.cat([dirs.vectors[0][n].reshape(-1) for n in names]))
    return out


def direction_increase_cached(store: Store, subject: Subject, *, distance: float = 0.1,
                              directions: int = 10, seed: int = 0, split: str = "train"
                              ) -> Entry | None:
    """Mean loss increase along filter-normalised random directions, from the store or computed.

    Directions ``j = 0 .. directions - 1`` are :func:`landscape.surface.random_directions`
    with ``seed + j`` (filter normalisation; bias and BatchNorm entries zero).

    Returns:
        The entry (``increase``, ``stderr``, ``values [directions]``, ``distance``,
        ``loss``); ``None`` on torchrun ranks other than 0.

    """
    if int(directions) < 1:
        raise ValueError(f"directions must be at least 1, got {directions}")
    key = {"distance": float(distance), "directions": int(directions), "seed": int(seed),
           "norm": "filter", "bn_bias": "zero", **_mode(subject)}

    def compute() -> dict[str, Any]:
        obj = FlatObjective(subject.model, subject.split(split), loss_fn=subject.loss_fn)
        dirs = _flat_directions(subject, obj.names, int(directions), int(seed))
        res = direction_increase(obj.loss, obj.theta, dirs, distance=float(distance))
        return {"increase": res.increase, "stderr": res.stderr,
                "values": torch.tensor(res.values, dtype=torch.float64),
                "distance": res.distance, "loss": res.loss}

    return cached(store, DIRECTIONS, key, compute, inputs=subject.inputs(),
                  data=subject.data_spec[split])


def flatness_row(store: Store, subject: Subject, *, top_k: int = 10, tol: float = 1e-3,
                 trace_probes: int = 100, epsilon: float = 1e-3, steps: int = 10,
                 distance: float = 0.1, directions: int = 10, seed: int = 0,
                 progress: bool = False) -> dict[str, Any]:
    """Every flatness measure of one subject (module docstring); each a cached entry.

    Returns:
        ``{"label", "checkpoint", "lambda_max", "eigenvalues", "converged", "trace",
        "trace_stderr", "topk_trace_share", "epsilon_sharpness", "epsilon", "steps",
        "max_loss", "direction_increase", "direction_stderr", "distance", "directions",
        "loss", "num_parameters", "computed"}``.

    """
    top = hessian_topk(store, subject, k=top_k, tol=tol, seed=seed, progress=progress)
    tr = hessian_trace(store, subject, probes=trace_probes, seed=seed, progress=progress)
    eps = epsilon_sharpness_cached(store, subject, epsilon=epsilon, steps=steps, seed=seed)
    inc = direction_increase_cached(store, subject, distance=distance, directions=directions,
                                    seed=seed)
    values = [float(v) for v in top["eigenvalues"]]
    trace = float(tr["trace"])
    return {
        "label": subject.label, "checkpoint": str(subject.path), "lambda_max": values[0],
        "eigenvalues": values, "converged": int(sum(bool(c) for c in top["converged"])),
        "trace": trace, "trace_stderr": float(tr["trace_stderr"]),
        "topk_trace_share": sum(values) / trace if trace else float("nan"),
        "epsilon_sharpness": float(eps["sharpness"]), "epsilon": float(epsilon),
        "steps": int(steps), "max_loss": float(eps["max_loss"]),
        "direction_increase": float(inc["increase"]),
        "direction_stderr": float(inc["stderr"]), "distance": float(distance),
        "directions": int(directions), "loss": float(top["loss"]),
        "num_parameters": int(top["num_parameters"]),
        "computed": not all(e.cached for e in (top, tr, eps, inc)),
    }


def flatness_table(store: Store, subjects: Sequence[Subject], **options: Any
                   ) -> list[dict[str, Any]]:
    """One :func:`flatness_row` per subject, in order.

    Raises:
        ValueError: no subject.
        RuntimeError: under torchrun (each row is a single-process computation).

    """
    if not subjects:
        raise ValueError("pass at least one checkpoint or weights file")
    if context().distributed:
        raise RuntimeError("the flatness table runs in one process: run it without torchrun")
    return [flatness_row(store, s, **options) for s in subjects]
