"""Sharpness over training: top-k eigenvalues, trace and the gradient's share, epoch by epoch.

For every saved epoch of one or several runs (Cohen et al. 2021, "Gradient Descent on Neural
Networks Typically Occurs at the Edge of Stability": does the sharpness ``lambda_1`` rise to
the stability limit of the learning rate?):

* the top-k Hessian eigenpairs: the ``hessian.topk`` entry that ``landscape hessian`` and
  ``landscape project`` ask for too (same key), Lanczos at epoch ``e`` started from the
  eigenvectors of the previous epoch and one random vector (:func:`warm_start`; not part of
  the key: the same residual tolerance, so the same answer to it);
* the trace by Hutchinson's estimator with its standard error (``hessian.trace``);
* the share of the full-batch gradient in the top-k eigenspace (Gur-Ari et al. 2018,
  ``hessian.gradient``), beside its random baseline ``k / P``;
* the principal angles and the overlap ``||V_{e-1}^T V_e||_F^2 / k`` between the top-k
  eigenspaces of consecutive epochs (read from the stored eigenvectors);
* the learning rate of the epoch that ended at the checkpoint (its schedule and the run's
  config) and, for SGD, the stability limit of a quadratic: ``2 / lr`` without momentum,
  ``2 (1 + beta) / lr`` with heavy-ball momentum ``beta`` and ``2 (1 + beta) / ((1 + 2 beta)
  lr)`` with Nesterov's (Cohen et al. 2021, Sec. 3 and App. A); dampening ``tau`` scales
  ``lr`` by ``1 - tau``.

Each number is a cached entry per checkpoint (inputs: its content digest; data: the split's
identity), so a second call computes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from landscape.curvature import hutchinson, principal_angles, subspace_overlap, subspace_share
from landscape.distributed import context
from landscape.experiment.cached import Analysis, cached
from landscape.experiment.curvature import hessian_operator, hessian_topk
from landscape.experiment.subject import DataOptions, Subject, at_checkpoint, resolve_subject
from landscape.rundir import RunDir
from landscape.store import Entry, Store

__all__ = ["GRADIENT", "TRACE", "gradient_share", "hessian_trace", "sharpness_over_training",
           "stability_limit", "topk_overlap", "warm_start"]

TRACE = Analysis("hessian.trace", 1, lambda p: {"samples": ((int(p["probes"]),), "f")})
"""Hutchinson's trace (Rademacher probes) with its standard error and the samples."""
GRADIENT = Analysis("hessian.gradient", 1, lambda p: {"per_vector": ((int(p["k"]),), "f")})
"""The full-batch gradient's share in the top-k eigenspace of a ``hessian.topk`` question."""


def warm_start(previous: Tensor, *, seed: int = 0) -> Tensor:
    """A Lanczos start ``[P, k + 1]``: a neighbour's eigenvectors and one seeded random vector.

    Krylov spaces of vectors without a component along an eigenvector never find it, and a
    start that spans an invariant subspace (up to the tolerance) is accepted as it is: the
    previous top-k eigenvectors alone would miss an eigenvalue that rose from outside their
    span to the top (exactly so when the eigenvectors do not turn, e.g. a diagonal Hessian).
    The random vector gives the start a component along every eigenvector, as a cold start
    has, while most of its weight stays on the previous top-k.

    One previous vector ``v`` (``k = 1``) gives the single start ``(v + r) / ||v + r||``: what
    Lanczos would start from with the block ``[v, r]`` when it is not near-invariant, and a
    block of two vectors for one eigenpair gains nothing.

    Args:
        previous: ``[k, P]`` rows (as stored) or ``[P, k]`` columns of eigenvectors.
        seed: seed of the random vector.

    >>> warm_start(torch.eye(5)[:2]).shape, warm_start(torch.eye(5)[:1]).shape
    (torch.Size([5, 3]), torch.Size([5, 1]))
    """
    rows = previous if previous.shape[0] <= previous.shape[-1] else previous.T
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 1)
    extra = torch.randn(rows.shape[1], generator=gen, dtype=torch.float64)
    extra = (extra / extra.norm()).to(rows)
    if rows.shape[0] == 1:
        one = rows[0] / rows[0].norm() + extra
        return (one / one.norm())[:, None]
    return torch.cat([rows, extra[None]]).T


def _mode(subject: Subject, params: Sequence[str] | None) -> dict[str, Any]:
    return {"params": list(params) if params is not None else None,
            "loss": subject.loss_name, "mode": "eval"}


def hessian_trace(store: Store, subject: Subject, *, probes: int = 100, split: str = "train",
                  params: Sequence[str] | None = None, method: str = "cached", seed: int = 0,
                  progress: bool = False) -> Entry | None:
    """Hutchinson's estimate of ``tr(H)`` (Hutchinson 1989), from the store or computed.

    Returns:
        The entry (``trace``, ``trace_stderr``, ``samples [probes]``, ``loss``,
        ``num_parameters``); ``None`` on torchrun ranks other than 0.

    Raises:
        ValueError: fewer than 2 probes (no standard error).

    """
    if int(probes) < 2:
        raise ValueError(f"the trace needs at least 2 probes (for its standard error), got "
                         f"{probes}")
    key = {"probes": int(probes), "seed": int(seed), **_mode(subject, params)}

    def compute() -> dict[str, Any]:
        began = time.perf_counter()
        op = hessian_operator(subject, split=split, params=params, method=method)
        tr = hutchinson(op, int(probes), block_size=min(int(probes), 10), seed=seed,
                        progress=progress)
        return {"trace": tr.value, "trace_stderr": tr.stderr, "samples": tr.samples.cpu(),
                "loss": float(op.loss_value), "num_parameters": int(op.dim),
                "num_products": int(tr.num_products), "seconds": time.perf_counter() - began}

    return cached(store, TRACE, key, compute, inputs=subject.inputs(),
                  data=subject.data_spec[split])


def gradient_share(store: Store, subject: Subject, top: Mapping[str, Any], *, k: int,
                   tol: float = 1e-3, split: str = "train",
                   params: Sequence[str] | None = None, method: str = "cached", seed: int = 0
                   ) -> Entry | None:
    """Share of the full-batch gradient in the top-k eigenspace ``top`` (Gur-Ari et al. 2018).

    Args:
        store: the result store.
        subject: the network at the point, its data and loss.
        top: the point's ``hessian.topk`` entry (:func:`hessian_topk` with ``k``, ``tol``,
            ``seed``, ``params``), whose question is part of this entry's key.
        k: its number of eigenpairs.
        tol: its residual tolerance.
        split: the data split of the loss.
        params: its parameter selection.
        method: HVP method (not part of the key).
        seed: its seed.

    Returns:
        The entry (``share``, ``per_vector [k]``, ``gradient_norm``, ``loss``,
        ``random_expected`` = ``k / P``); ``None`` on torchrun ranks other than 0.

    """
    key = {"k": int(k), "which": "LA", "tol": float(tol), "max_basis": None, "block_size": 1,
           "seed": int(seed), **_mode(subject, params)}

    def compute() -> dict[str, Any]:
        op = hessian_operator(subject, split=split, params=params, method=method)
        loss, grad = op.loss_and_gradient()
        vectors = torch.as_tensor(top["eigenvectors"]).to(grad.device)
        s = subspace_share(vectors, grad)
        return {"share": s.share, "per_vector": torch.tensor(s.per_vector),
                "gradient_norm": s.norm, "loss": loss, "random_expected": s.random_expected,
                "num_parameters": int(op.dim)}

    return cached(store, GRADIENT, key, compute, inputs=subject.inputs(),
                  data=subject.data_spec[split])


def _overlap_schema(p: Mapping[str, Any]) -> dict[str, Any]:
    return {"angles": ((int(p["k"]),), "f"), "overlap": ((), "f")}


OVERLAP = Analysis("hessian.overlap", 1, _overlap_schema)


def topk_overlap(a: Entry | Mapping[str, Any], b: Entry | Mapping[str, Any], *,
                 store: Store | None = None) -> dict[str, Any]:
    """Principal angles (radians, ascending) and overlap of two stored top-k eigenspaces.

    ``random_expected`` is ``k / P``, the expected overlap of two random subspaces. With a
    ``store`` and two store entries, the answer is itself a cached entry keyed by the two
    entries' keys (which identify the networks, data and solver settings), so asking again
    reads three numbers instead of two ``[k, P]`` eigenvector arrays.
    """

    def compute() -> dict[str, Any]:
        va, vb = torch.as_tensor(a["eigenvectors"]), torch.as_tensor(b["eigenvectors"])
        return {"overlap": subspace_overlap(va, vb),
                "angles": principal_angles(va, vb),
                "random_expected": min(va.shape) / max(va.shape)}

    if store is not None and isinstance(a, Entry) and isinstance(b, Entry):
        k = min(len(a["eigenvalues"]), len(b["eigenvalues"]))
        entry = cached(store, OVERLAP, {"k": k}, compute, inputs={"a": a.key, "b": b.key})
        if entry is not None:
            return {"overlap": float(entry["overlap"]),
                    "angles": [float(x) for x in entry["angles"]],
                    "random_expected": float(entry["random_expected"])}
    out = compute()
    return {**out, "overlap": float(out["overlap"]), "angles": out["angles"].tolist()}


def stability_limit(config: Mapping[str, Any], epoch: int) -> tuple[float | None, float | None]:
    """``(lr, limit)`` for the checkpoint of ``epoch``: the lr of the epoch that ended there.

    ``limit`` is the largest curvature along which SGD (with its momentum) is stable on a
    quadratic (module docstring); ``None`` for other optimizers, or an lr that cannot be read.

    >>> stability_limit({"optimizer": "sgd", "lr": 0.1, "epochs": 4}, 3)
    (0.1, 20.0)
    >>> round(stability_limit({"optimizer": "sgd", "lr": 0.1, "epochs": 4,
    ...                        "optimizer_args": {"momentum": 0.9}}, 0)[1], 9)
    38.0
    """
    from landscape.optim import create_schedule

    if "lr" not in config:
        return None, None
    sched = create_schedule(config.get("schedule") or "constant", base_lr=float(config["lr"]),
                            epochs=max(int(config.get("epochs") or 1), 1),
                            **dict(config.get("schedule_args") or {}))
    lr = float(sched(max(int(epoch) - 1, 0)))
    if config.get("optimizer") != "sgd" or config.get("prune"):
        return lr, None
    opts = dict(config.get("optimizer_args") or {})
    beta = float(opts.get("momentum") or 0.0)
    step = lr * (1.0 - float(opts.get("dampening") or 0.0))
    if step <= 0:
        return lr, None
    if opts.get("nesterov"):
        return lr, 2.0 * (1.0 + beta) / ((1.0 + 2.0 * beta) * step)
    return lr, 2.0 * (1.0 + beta) / step


def _epochs(runs: Sequence[Path], wanted: Sequence[int] | None) -> dict[Path, list[int]]:
    out = {}
    for run in runs:
        rd = RunDir(run)
        rd.read_config()  # a clear error for a folder that is not a run
        have = rd.epochs()
        if wanted is None:
            if not have:
                raise ValueError(f"run {run} has no checkpoint: train it first")
            out[run] = have
            continue
        missing = sorted(set(wanted) - set(have))
        if missing:
            raise ValueError(f"epochs {missing} are not checkpointed in run {run} (it has "
                             f"{have}): pass --at-epochs from those")
        out[run] = sorted(set(wanted))
    return out


def _labels(runs: Sequence[Path]) -> list[str]:
    names = [r.name for r in runs]
    return names if len(set(names)) == len(names) else [str(r) for r in runs]


def _one_epoch(store: Store, subject: Subject, previous: Entry | None, *, top_k: int,
               tol: float, trace_probes: int, seed: int, warm: bool,
               progress: bool) -> tuple[Entry, dict[str, Any]]:
    start = None
    if warm and previous is not None:  # read only when this epoch is computed
        def start() -> Tensor:
            return warm_start(torch.as_tensor(previous["eigenvectors"]), seed=seed)
    top = hessian_topk(store, subject, k=top_k, tol=tol, seed=seed, start=start,
                       progress=progress)
    grad = gradient_share(store, subject, top, k=top_k, tol=tol, seed=seed)
    row: dict[str, Any] = {
        "eigenvalues": [float(v) for v in top["eigenvalues"]],
        "converged": int(sum(bool(c) for c in top["converged"])),
        "num_products": int(top["num_products"]), "loss": float(top["loss"]),
        "gradient_share": float(grad["share"]), "gradient_norm": float(grad["gradient_norm"]),
        "num_parameters": int(top["num_parameters"]),
        "computed": not (top.cached and grad.cached),
    }
    if trace_probes:
        tr = hessian_trace(store, subject, probes=trace_probes, seed=seed, progress=progress)
        row.update(trace=float(tr["trace"]), trace_stderr=float(tr["trace_stderr"]),
                   computed=row["computed"] or not tr.cached)
    if previous is not None:
        ov = topk_overlap(previous, top, store=store)
        row.update(overlap_previous=ov["overlap"], angles_previous=ov["angles"])
    return top, row


_COLUMNS = ("eigenvalues", "converged", "num_products", "loss", "gradient_share",
            "gradient_norm", "trace", "trace_stderr", "overlap_previous", "angles_previous",
            "lr", "stability_limit", "computed")


def sharpness_over_training(
    store: Store,
    runs: Sequence[str | Path],
    *,
    data: DataOptions | None = None,
    top_k: int = 10,
    epochs: Sequence[int] | None = None,
    tol: float = 1e-3,
    trace_probes: int = 100,
    seed: int = 0,
    warm: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Top-k eigenvalues, trace, gradient share and overlaps at every epoch of each run.

    Args:
        store: the result store (every number is cached there per checkpoint).
        runs: run directories (of one experiment, or any runs of the same model).
        data: the Hessian's data and device (default: each run's own training split, batches
            of 1000, on the CPU).
        top_k: eigenpairs per epoch.
        epochs: the epochs (default: every checkpointed epoch of each run).
        tol: relative Ritz residual tolerance of the eigenpairs.
        trace_probes: Hutchinson probes of the trace (0: no trace).
        seed: seed of the Lanczos start (cold) and of the probes.
        warm: start Lanczos at epoch ``e`` from the eigenvectors of epoch ``e - 1``.
        progress: show progress bars on stderr.

    Returns:
        ``{"top_k", "tol", "trace_probes", "random_expected" (k / P), "runs": {label:
        {"run", "optimizer", "epochs", "eigenvalues" [E, k], "lambda_max", "loss",
        "trace", "trace_stderr", "gradient_share", "gradient_norm", "overlap_previous",
        "angles_previous" (None at the first epoch), "lr", "stability_limit" (None but for
        SGD), "converged", "num_products", "computed"}}}``.

    Raises:
        ValueError: a path that is not a run, or an epoch missing from a run (before
            anything is computed).

    """
    paths = [Path(r) for r in runs]
    if not paths:
        raise ValueError("pass at least one run directory")
    if context().distributed:
        raise RuntimeError("sharpness over training runs in one process (each epoch's "
                           "eigenvectors start the next): run it without torchrun")
    plan = _epochs(paths, epochs)
    opts = data or DataOptions()
    out: dict[str, Any] = {"top_k": int(top_k), "tol": float(tol),
                           "trace_probes": int(trace_probes), "runs": {}}
    for label, run in zip(_labels(paths), paths):
        config = RunDir(run).read_config()
        rows: list[dict[str, Any]] = []
        subject = resolve_subject(run, epoch=plan[run][0], data=opts, splits=("train",))
        previous = None
        bar = tqdm(plan[run], desc=f"sharpness {label}", disable=not progress, leave=False)
        for epoch in bar:
            here = at_checkpoint(subject, RunDir(run).checkpoint_path(epoch))
            previous, row = _one_epoch(store, here, previous, top_k=top_k, tol=tol,
                                       trace_probes=trace_probes, seed=seed, warm=warm,
                                       progress=progress)
            row["lr"], row["stability_limit"] = stability_limit(config, epoch)
            rows.append(row)
        out["random_expected"] = top_k / rows[0]["num_parameters"]
        result: dict[str, Any] = {"run": str(run), "optimizer": config.get("optimizer"),
                                  "epochs": list(plan[run])}
        result.update({c: [r.get(c) for r in rows] for c in _COLUMNS})
        result["lambda_max"] = [r["eigenvalues"][0] for r in rows]
        result["lambda_k"] = [r["eigenvalues"][-1] for r in rows]
        out["runs"][label] = result
        out["num_parameters"] = rows[0]["num_parameters"]
    return out

