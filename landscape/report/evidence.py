"""The evidence of directional pruning read back from the store, and its verdict.

``landscape verify`` gathers its evidence from store entries (the connectivity from
``curves.along``, the shares from ``projection.epoch``) and the runs' metrics, then applies
:func:`landscape.verify.judge`: comparisons of those numbers with thresholds, nothing more.
The verdict itself is not stored. The report therefore reads the same entries (matched to
the runs by the checkpoints' digests) and applies the same :func:`~landscape.verify.judge`:
pure arithmetic on cached numbers, so the page computes nothing and cannot disagree with
``landscape verify`` at the same thresholds. When an entry is missing there is no verdict,
only the command that would compute the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from landscape.report.gather import Experiment, Point, Run, StoredEntry
from landscape.verify import Thresholds, judge

__all__ = ["Evidence", "cached_evidence"]


@dataclass
class Evidence:
    """What the store holds for one SGD/gRDA pair, and the verdict when it is complete.

    Attributes:
        sgd, grda, baseline: the runs (baseline: an SGD run of another seed, or None).
        final_epoch: the epoch judged (the runs' common final epoch).
        report: ``landscape verify``'s report fields that the store answers (``runs``,
            ``connectivity``, ``control``, ``projection``, ``final_epoch``, ``verdict``).
        sources: field -> the store entries it was read from (for the provenance links).
        missing: what is not in the store (the verdict needs it).
    """

    sgd: Run
    grda: Run
    baseline: Run | None
    final_epoch: int | None
    report: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, list[StoredEntry]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> dict[str, Any] | None:
        """The judged verdict (``None`` when evidence is missing)."""
        return self.report.get("verdict")


def _run_summary(run: Run) -> dict[str, Any]:
    m = run.final or {}
    return {"path": str(run.path), "epoch": run.final_epoch,
            "test_acc": float(m.get("test_acc", float("nan"))),
            "train_loss": float(m.get("train_loss", float("nan"))),
            "sparsity": float((m.get("sparsity") or {}).get("global", float("nan")))}


def _along(exp: Experiment, start: Point, end: Point) -> StoredEntry | None:
    """The ``curves.along`` entry of the curve between two checkpoints (most points)."""
    found = exp.find("curves.along", start=start, end=end)
    return max(found, key=lambda e: (e.params.get("points", 0), e.summary.created_unix),
               default=None)


def _connectivity(entry: StoredEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"t": [float(t) for t in entry.read("t")]}
    for part in ("curve", "line"):
        out[f"{part}_barrier"] = float(entry.read(f"{part}/barrier"))
        out[f"{part}_train_loss"] = [float(v) for v in entry.read(f"{part}/train_loss")]
    return out


def _projection(exp: Experiment, sgd: Run, grda: Run, baseline: Run | None,
                final: int) -> tuple[dict[str, Any] | None, list[StoredEntry]]:
    """The shares per epoch from ``projection.epoch`` entries, one parameter set."""
    groups: dict[tuple[str, bool], list[StoredEntry]] = {}
    for e in exp.find("projection.epoch"):
        s, g, b = (e.roles.get(r) for r in ("sgd", "grda", "baseline"))
        if s is None or g is None or s.run is not sgd or g.run is not grda or s.epoch != g.epoch:
            continue
        if "baseline" in e.roles and (b is None or baseline is None or b.run is not baseline
                                      or b.epoch != s.epoch):
            continue
        key = (repr(sorted(e.params.items())), "baseline" in e.roles)
        groups.setdefault(key, []).append(e)
    usable = [g for g in groups.values()
              if any(e.roles["sgd"].epoch == final for e in g)]  # type: ignore[union-attr]
    if not usable:
        return None, []
    best = max(usable, key=lambda g: ("baseline" in g[0].roles, g[0].params.get("top_k", 0),
                                      len(g)))
    best = sorted({e.roles["sgd"].epoch: e for e in best}.values(),  # type: ignore[union-attr]
                  key=lambda e: e.roles["sgd"].epoch)  # type: ignore[union-attr]
    top_k = int(best[0].params["top_k"])
    num = int(best[0].read("num_parameters"))
    with_base = "baseline" in best[0].roles
    proj = {"epochs": [int(e.read("epoch")) for e in best],
            "share": [float(e.read("share")) for e in best],
            "random_share": [float(e.read("random_share")) for e in best],
            "random_expected": top_k / num, "num_parameters": num, "top_k": top_k,
            "baseline_share": [float(e.read("baseline_share")) for e in best] if with_base
            else None}
    return proj, best


def cached_evidence(exp: Experiment, sgd: Run, grda: Run, baseline: Run | None, *,
                    thresholds: Thresholds | None = None) -> Evidence:
    """Read a pair's evidence from the store and judge it (no computation).

    Args:
        exp: the gathered experiment.
        sgd: the SGD run.
        grda: the gRDA run of the same seed.
        baseline: an SGD run of another seed (the SGD-vs-SGD yardstick and control), or None.
        thresholds: the verdict's thresholds (default: ``landscape verify``'s defaults).

    """
    final = sgd.final_epoch if sgd.final_epoch == grda.final_epoch else None
    ev = Evidence(sgd=sgd, grda=grda, baseline=baseline, final_epoch=final)
    if final is None:
        ev.missing.append(f"{sgd.name} and {grda.name} end at different epochs "
                          f"({sgd.final_epoch} and {grda.final_epoch}): finish both")
        return ev
    ev.report["runs"] = {"sgd": _run_summary(sgd), "grda": _run_summary(grda)}
    if baseline is not None:
        ev.report["runs"]["baseline"] = _run_summary(baseline)
    ev.report["final_epoch"] = final
    along = _along(exp, Point(sgd, final), Point(grda, final))
    if along is None:
        ev.missing.append(f"loss along the curve from {sgd.name} to {grda.name}")
    else:
        ev.report["connectivity"] = _connectivity(along)
        ev.sources["connectivity"] = [along]
    ev.report["control"] = None
    if baseline is not None and baseline.final_epoch == final:
        control = _along(exp, Point(sgd, final), Point(baseline, final))
        if control is not None:
            ev.report["control"] = _connectivity(control)
            ev.sources["control"] = [control]
    proj, used = _projection(exp, sgd, grda, baseline, final)
    if proj is None:
        ev.missing.append(f"projection of {grda.name} - {sgd.name} at epoch {final}")
    else:
        ev.report["projection"] = proj
        ev.sources["projection"] = used
    if not ev.missing:
        ev.report["verdict"] = judge(ev.report, thresholds or Thresholds())
    return ev
