"""The verdict: each claim of directional pruning judged against a threshold that can fail.

Chao et al. 2020 call a sparse minimum found by gRDA a *directional pruning* of SGD's when it
lies in SGD's valley and differs from SGD's minimum mainly along flat directions, at
comparable accuracy. :func:`judge` turns that into four criteria, each a number compared with
a threshold, and each able to fail on a case built to fail it:

============================  ==============================================================
``same_valley``               train-loss barrier of the fitted Bezier curve <= ``max_barrier``
                              (the straight line's barrier says whether the line is flat too)
``flat_directions``           share of ``w_gRDA - w_SGD`` in the top-k Hessian eigenspace at
                              ``w_SGD`` <= ``max_share_random * k / P`` and, with a baseline
                              run, <= ``max_share_baseline`` x the SGD-vs-SGD share
``sparse``                    fraction of exact zeros in gRDA's weights >= ``min_sparsity``
``comparable_accuracy``       SGD's test accuracy minus gRDA's <= ``max_accuracy_drop``
============================  ==============================================================

Every value is a fraction or a loss in nats (never a percentage).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["THRESHOLD_HELP", "Thresholds", "judge"]


@dataclass(frozen=True)
class Thresholds:
    """What counts as evidence of directional pruning, and why these defaults.

    Every criterion is judged against a yardstick that the analysis itself measures, so each
    can fail: a curve through a hill, a difference that lies in the sharp directions, a gRDA
    run with too small a ``c`` (not sparse) or too large a ``c`` (not accurate).

    Attributes:
        max_barrier: largest train-loss barrier (nats) of the fitted curve for "same valley".
            A barrier of ``b`` nats of mean cross-entropy lowers the geometric mean of the
            probability given to the correct class by a factor ``exp(-b)``: 0.1 nats is
            about 10%. Two SGD minima from different seeds (the demo's control) are joined
            by a curve below it while their straight line rises above it, so the threshold
            separates what the instrument can tell apart.
        max_share_random: largest share of ``w_gRDA - w_SGD`` in the top-k eigenspace (final
            epoch) as a multiple of ``k / P``, the expected share of a direction drawn without
            regard to curvature (``P`` parameters). Chao et al. 2020 claim the share is low;
            a difference confined to flat directions has a share far below ``k / P``, one with
            no preference about ``k / P`` (a random direction exceeds it with probability
            ~0.44 at ``k = 10``), one that follows the sharp directions far above. Default 1:
            no more in the sharp directions than a curvature-blind direction.
        max_share_baseline: with a baseline run, the largest share as a multiple of the
            share of ``w_SGD' - w_SGD`` (two SGD runs from different seeds, the ordinary
            run-to-run variation). Default 1: gRDA moves away from SGD along sharp directions
            no more than another seed of SGD does.
        min_sparsity: smallest fraction of exact zeros in gRDA's weights. SGD leaves no weight
            exactly zero; the default 0.5 asks for at least half of them (Chao et al. 2020
            report 92% on ResNet-50/ImageNet), i.e. a model at least 2x smaller.
        max_accuracy_drop: largest test-accuracy deficit of gRDA against SGD (a fraction).
            0.02 is about twice the standard error of the difference of two accuracies near
            0.93 measured on 1,000 test images (``sqrt(2 * 0.93 * 0.07 / 1000) = 0.011``):
            a smaller drop cannot be told from noise on the demo's data.

    >>> Thresholds().max_share_random
    1.0
    """

    max_barrier: float = 0.1
    max_share_random: float = 1.0
    max_share_baseline: float = 1.0
    min_sparsity: float = 0.5
    max_accuracy_drop: float = 0.02

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                flag = "--" + f.name.replace("_", "-")
                raise ValueError(
                    f"threshold {f.name} ({flag}) must be a finite number >= 0, got {value!r}"
                )
        if self.min_sparsity > 1:
            raise ValueError(f"threshold min_sparsity (--min-sparsity) is a fraction in [0, 1], "
                             f"got {self.min_sparsity!r}")


THRESHOLD_HELP: dict[str, str] = {
    "max_barrier": "largest train-loss barrier (nats) of the fitted curve; 0.1 nats lowers the "
                   "mean likelihood of the correct class by ~10%%; in the demo the straight "
                   "line between two SGD seeds rises above it, their fitted curve stays below "
                   "(default %(default)s)",
    "max_share_random": "largest share of w_gRDA - w_SGD in the top-k eigenspace, as a multiple "
                        "of k/P (the expected share of a random direction); 1: no more in "
                        "the sharp directions than a direction blind to curvature "
                        "(default %(default)s)",
    "max_share_baseline": "with --baseline-run, largest share as a multiple of the share of "
                          "the difference of two SGD runs from different seeds (default "
                          "%(default)s: no more than another SGD seed)",
    "min_sparsity": "smallest fraction of exact zeros in gRDA's weights (SGD has none; default "
                    "%(default)s: at least half)",
    "max_accuracy_drop": "largest test-accuracy deficit of gRDA against SGD, a fraction "
                         "(default %(default)s: about twice the noise of 1,000 test images)",
}


def _final_index(evidence: dict[str, Any]) -> int:
    proj, final = evidence["projection"], evidence.get("final_epoch")
    return proj["epochs"].index(final) if final is not None and "epochs" in proj else -1


def _row(name: str, value: float, op: str, threshold: float, description: str,
         finding: str, **extra: Any) -> dict[str, Any]:
    passed = value <= threshold if op == "<=" else value >= threshold  # NaN fails both
    return {"name": name, "value": float(value), "op": op, "threshold": float(threshold),
            "passed": bool(passed), "description": description, "finding": finding, **extra}


def _same_valley(conn: dict[str, Any], t: Thresholds) -> dict[str, Any]:
    curve, line = float(conn["curve_barrier"]), float(conn["line_barrier"])
    if not curve <= t.max_barrier:
        finding = (f"not connected: the fitted curve rises {curve:.3g} nats "
                   f"(the straight line {line:.3g})")
    elif line <= t.max_barrier:
        finding = (f"linearly connected: the straight line's barrier ({line:.3g} nats) is "
                   "below the threshold too")
    else:
        finding = (f"connected by the curve only: the straight line rises {line:.3g} nats, the "
                   f"fitted curve {curve:.3g}")
    return _row("same_valley", curve, "<=", t.max_barrier,
                "train-loss barrier (nats) of the fitted Bezier curve", finding,
                line_barrier=line, linear=bool(line <= t.max_barrier))


def _flat_directions(proj: dict[str, Any], at: int, t: Thresholds) -> dict[str, Any]:
    share = float(proj["share"][at])
    random = float(proj["random_expected"])
    limits = [{"yardstick": "random", "reference": random, "multiple": t.max_share_random,
               "limit": t.max_share_random * random}]
    baseline = proj.get("baseline_share")
    if baseline:
        limits.append({"yardstick": "sgd_seeds", "reference": float(baseline[at]),
                       "multiple": t.max_share_baseline,
                       "limit": t.max_share_baseline * float(baseline[at])})
    binding = min(limits, key=lambda lim: lim["limit"])
    parts = [f"{share / lim['reference']:.3g}x " + ("k/P" if lim["yardstick"] == "random"
                                                    else "the SGD-vs-SGD share")
             for lim in limits if lim["reference"] > 0]
    finding = "share " + ", ".join(parts) if parts else f"share {share:.3g}"
    if not baseline:
        finding += " (no SGD-vs-SGD baseline: pass --baseline-run for the second yardstick)"
    names = [f"{lim['multiple']:g} x " + ("k/P" if lim["yardstick"] == "random"
                                          else "the SGD-vs-SGD share") for lim in limits]
    desc = (f"share of w_gRDA - w_SGD in the top-{proj.get('top_k', 'k')} eigenspace at "
            "w_SGD, final epoch; limit "
            + (f"the smaller of {names[0]} and {names[1]}" if len(names) > 1 else names[0]))
    return _row("flat_directions", share, "<=", binding["limit"], desc, finding, limits=limits)


def judge(evidence: dict[str, Any], thresholds: Thresholds) -> dict[str, Any]:
    """Apply ``thresholds`` to the evidence; every criterion is reported with its numbers.

    Args:
        evidence: at least ``runs`` (``sgd.test_acc``; ``grda.test_acc``, ``grda.sparsity``),
            ``connectivity`` (``curve_barrier``, ``line_barrier``) and ``projection``
            (``share`` per epoch, ``random_expected``, optionally ``baseline_share``,
            ``epochs``); ``final_epoch`` picks the epoch judged (default: the last).
        thresholds: the verdict's thresholds.

    Returns:
        ``{"directional_pruning": bool, "criteria": [row, ...], "summary": str,
        "thresholds": dict}``; a row has ``name``, ``value``, ``op``, ``threshold``,
        ``passed``, ``description`` and ``finding`` (what the number means in words).

    >>> ev = {"runs": {"sgd": {"test_acc": 0.95}, "grda": {"test_acc": 0.94, "sparsity": 0.9}},
    ...       "connectivity": {"curve_barrier": 0.01, "line_barrier": 0.3},
    ...       "projection": {"share": [3e-4, 2e-5], "random_expected": 4e-5}}
    >>> v = judge(ev, Thresholds())
    >>> v["directional_pruning"], v["criteria"][0]["finding"].split(":")[0]
    (True, 'connected by the curve only')
    """
    t = thresholds
    runs = evidence["runs"]
    at = _final_index(evidence)
    drop = float(runs["sgd"]["test_acc"]) - float(runs["grda"]["test_acc"])
    sparsity = float(runs["grda"]["sparsity"])
    rows = [
        _same_valley(evidence["connectivity"], t),
        _flat_directions(evidence["projection"], at, t),
        _row("sparse", sparsity, ">=", t.min_sparsity,
             "fraction of exact zeros in gRDA's weights",
             f"{100 * sparsity:.1f}% of gRDA's weights are exactly zero"),
        _row("comparable_accuracy", drop, "<=", t.max_accuracy_drop,
             "test accuracy of SGD minus that of gRDA (a fraction)",
             "gRDA's test accuracy equals SGD's" if drop == 0 else
             f"gRDA's test accuracy is {100 * abs(drop):.2f} points "
             + ("below" if drop > 0 else "above") + " SGD's"),
    ]
    ok = all(r["passed"] for r in rows)
    def short(r: dict[str, Any]) -> str:  # "linearly connected: ..." -> "linearly connected"
        return r["finding"].split(":")[0] if r["name"] == "same_valley" else r["finding"]

    if ok:
        summary = ("gRDA performed directional pruning: "
                   + "; ".join(f"{r['name'].replace('_', ' ')} ({short(r)})" for r in rows))
    else:
        summary = ("no evidence of directional pruning at these thresholds: fails "
                   + "; ".join(f"{r['name']} ({short(r)})" for r in rows if not r["passed"]))
    return {"directional_pruning": ok, "criteria": rows, "summary": summary,
            "thresholds": asdict(thresholds)}
