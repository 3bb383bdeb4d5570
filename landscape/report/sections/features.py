"""Feature statistics: inactive features, universality, unit norms (cached ``features``).

Mehta et al. 2019 (inactive features, universality), Dettmers & Zettlemoyer 2019 (class
specialisation), Yaguchi et al. 2018 (norms of the units' incoming weights), at each run's
final checkpoint.
"""

from __future__ import annotations

from typing import Any

from landscape.report.blocks import Content, Figure, Missing, Section, Table
from landscape.report.context import Context, fmt
from landscape.report.provenance import join, store_flag
from landscape.report.sections import register


def _stats(entry: Any) -> dict[str, Any]:
    """The entry's statistics, with the summary's fractions (also for an older entry)."""
    from landscape.stats import feature_summary

    stats = entry.entry.read_all()
    kept = {k: v for k, v in stats["summary"].items() if not k.startswith("pct_")}
    return {**stats, "summary": {**kept, **feature_summary(stats["layers"])}}


def build(ctx: Context) -> Content | None:
    """Figures comparing the runs that have statistics, the table, and what is missing."""
    from landscape.plotting import plot_specialisation, plot_universality, plot_weight_norms
    from landscape.stats import sparsity_rows

    exp = ctx.exp
    found: dict[str, tuple[Any, dict[str, Any]]] = {}
    missing = []
    for run in exp.runs:
        final = run.final_epoch
        entries = [e for e in exp.find("features") if e.roles.get("checkpoint") is not None
                   and e.roles["checkpoint"].run is run and e.roles["checkpoint"].epoch == final
                   and e.params.get("xi", 1e-6) == 1e-6]
        if entries:
            found[run.name] = (entries[-1], _stats(entries[-1]))
        elif final is not None:
            missing.append(Missing(f"feature statistics of {run.name} epoch {final}",
                                   join("landscape", "features", run.path, *store_flag(exp))))
    if not found:
        return Content(missing=missing) if missing else None
    stats = {name: s for name, (_, s) in found.items()}
    sources = [(e.anchor, e.key[:12]) for e, _ in found.values()]
    rows = []
    for name, (entry, st) in found.items():
        for r in sparsity_rows(st):
            rows.append([name, str(r["layer"]), str(r["features"]),
                         ctx.cite(entry, fmt(100 * r["dead_activation_fraction"], ".1f")),
                         ctx.cite(entry, fmt(100 * r["dead_scale_fraction"], ".1f")),
                         ctx.cite(entry, fmt(100 * r["zero_weights_fraction"], ".1f")),
                         ctx.cite(entry, fmt(r["mean_universality_pct"], ".1f"))])
    table = Table(["run", "layer", "features", "inactive by activation (%)",
                   "inactive by BatchNorm scale (%)", "zero incoming weights (%)",
                   "mean universality (%)"], rows,
                  caption="Inactive features per layer at each run's final checkpoint, as "
                          "in Mehta et al. 2019, Tables 1-2 (a dash: the layer has no "
                          "BatchNorm or weight layer feeding it).")
    figures = [
        Figure(caption="Per layer, the share of features against their universality (the "
                       "share of classes a feature fires for; dead features at 0%), "
                       "comparing the runs (Mehta et al. 2019, Fig. 3).",
               png=ctx.static(plot_universality, stats), alt="universality histograms",
               sources=sources),
        Figure(caption="Per layer, the share of features against their class specialisation "
                       "(Dettmers & Zettlemoyer 2019, Fig. 3).",
               png=ctx.static(plot_specialisation, stats), alt="specialisation histograms",
               sources=sources),
        Figure(caption="Per layer, the L2 norms of the units' incoming weight vectors on a "
                       "log axis, fitted to the occupied range (Yaguchi et al. 2018, Fig. 5): "
                       "units pruned to zero sit far left of the rest.",
               png=ctx.static(plot_weight_norms, stats), alt="unit-norm histograms",
               sources=sources),
    ]
    return Content(blocks=[table, *figures], missing=missing)


SECTION = register(Section("features", "Feature statistics", build))
