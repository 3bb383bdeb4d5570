"""The sparsity-accuracy trade-off of finished runs (Chao et al. 2020, Fig. 4; Gale et al. 2019).

Each run directory says what it is in ``config.json`` (optimizer, its ``c``/``mu``, the
sparsifier and its options) and how it ended in ``metrics.jsonl`` (the last row: test accuracy
and the global fraction of exact zeros over all trainable parameters, biases and BatchNorm
included, the measure under which gRDA, which thresholds everything, is compared). Runs are
grouped by method:

* ``grda``: gRDA without a sparsifier, one point per ``(c, mu)``;
* ``magnitude`` / ``random``: gradual pruning, one point per target sparsity;
* ``sparse-momentum``: one point per density;
* anything else (a dense SGD/Adam run) under its optimizer's name, as a reference.

This module only reads the runs it is given (:func:`landscape.experiment.runs.find_runs`
finds them in an experiment directory); :func:`landscape.plotting.plot_tradeoff` draws the
figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from landscape.rundir import RunDir

__all__ = ["TradeoffPoint", "compare_at", "format_table", "method_of", "tradeoff_points"]

METHOD_ORDER = ("grda", "magnitude", "sparse-momentum", "random")


@dataclass(frozen=True)
class TradeoffPoint:
    """One finished run on the trade-off plot.

    Attributes:
        method: ``grda``, ``magnitude``, ``random``, ``sparse-momentum`` or an optimizer name.
        setting: what distinguishes it within the method (``c=0.001 mu=0.51``, ``target=0.9``).
        optimizer: the optimizer that trained it.
        sparsity: global fraction of exact zeros of the trainable parameters (last epoch).
        test_acc: test accuracy (last epoch).
        epoch: the last epoch.
        run: the run directory.

    >>> TradeoffPoint("random", "target=0.9", "sgd", 0.9, 0.8, 10, "r").label
    'random target=0.9'
    """

    method: str
    setting: str
    optimizer: str
    sparsity: float
    test_acc: float
    epoch: int
    run: str

    @property
    def label(self) -> str:
        """``method setting``."""
        return f"{self.method} {self.setting}".strip()

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for ``--json`` and the plotting functions)."""
        return asdict(self)


def _g(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def method_of(config: Mapping[str, Any]) -> tuple[str, str]:
    """``(method, setting)`` of a run from its ``config.json``.

    >>> method_of({"optimizer": "grda", "optimizer_args": {"c": 0.001, "mu": 0.51}, "lr": 0.1})
    ('grda', 'c=0.001 mu=0.51 lr=0.1')
    >>> method_of({"optimizer": "sgd", "prune": "sparse-momentum",
    ...            "prune_args": {"density": 0.1}})
    ('sparse-momentum', 'density=0.1')
    """
    prune = config.get("prune")
    args = config.get("prune_args") or {}
    optimizer = str(config.get("optimizer", "?"))
    if prune:
        if "target_sparsity" in args:
            setting = f"target={_g(args['target_sparsity'])}"
        elif "density" in args:
            setting = f"density={_g(args['density'])}"
        else:
            setting = " ".join(f"{k}={_g(v)}" for k, v in sorted(args.items()))
        if optimizer == "grda":
            setting = f"{setting} (grda)".strip()
        return str(prune), setting
    opts = config.get("optimizer_args") or {}
    if optimizer == "grda":
        lr = f" lr={_g(config['lr'])}" if "lr" in config else ""
        return "grda", f"c={_g(opts.get('c', '?'))} mu={_g(opts.get('mu', '?'))}{lr}"
    return optimizer, "dense"


def tradeoff_points(runs: Iterable[str | Path]) -> list[TradeoffPoint]:
    """One point per finished run, ordered by method then sparsity.

    Args:
        runs: run directories.

    Runs without a finished epoch (only the initial metrics row) are skipped.

    Raises:
        FileNotFoundError: a path is not a run directory.

    """
    points = []
    for path in map(Path, runs):
        run = RunDir(path)
        config = run.read_config()
        rows = [r for r in run.read_metrics() if r.get("epoch", 0) > 0 and "test_acc" in r]
        if not rows:
            continue
        last = rows[-1]
        method, setting = method_of(config)
        points.append(TradeoffPoint(
            method=method, setting=setting, optimizer=str(config.get("optimizer")),
            sparsity=float(last["sparsity"]["global"]), test_acc=float(last["test_acc"]),
            epoch=int(last["epoch"]), run=str(path),
        ))
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(points, key=lambda p: (order.get(p.method, len(order)), p.method, p.sparsity,
                                         p.run))


def compare_at(points: Sequence[TradeoffPoint], sparsity: float, *,
               tolerance: float = 0.02) -> dict[str, TradeoffPoint]:
    """Per method, the most accurate run whose sparsity is within ``tolerance`` of ``sparsity``.

    Methods with no run in that band are left out.

    >>> pts = [TradeoffPoint("random", "", "sgd", 0.9, 0.7, 1, "a"),
    ...        TradeoffPoint("random", "", "sgd", 0.89, 0.8, 1, "b"),
    ...        TradeoffPoint("magnitude", "", "sgd", 0.5, 0.9, 1, "c")]
    >>> {m: p.run for m, p in compare_at(pts, 0.9).items()}
    {'random': 'b'}
    """
    best: dict[str, TradeoffPoint] = {}
    for p in points:
        if abs(p.sparsity - sparsity) <= tolerance and (
                p.method not in best or p.test_acc > best[p.method].test_acc):
            best[p.method] = p
    return best


def format_table(points: Sequence[TradeoffPoint]) -> str:
    """A fixed-width table: method, setting, sparsity (%), test accuracy (%), epoch, run."""
    head = f"{'method':<16} {'setting':<28} {'sparsity %':>10} {'test acc %':>10} {'epoch':>5}  run"
    lines = [head, "-" * len(head)]
    for p in points:
        lines.append(f"{p.method:<16} {p.setting:<28} {100 * p.sparsity:>10.2f} "
                     f"{100 * p.test_acc:>10.2f} {p.epoch:>5}  {Path(p.run).name}")
    return "\n".join(lines)
