"""The sparsity-accuracy trade-off of the runs (Chao et al. 2020, Fig. 4; Gale et al. 2019)."""

from __future__ import annotations

from landscape.report.blocks import Content, Figure, Section, Table
from landscape.report.context import Context, fmt
from landscape.report.sections import register


def build(ctx: Context) -> Content | None:
    """Test accuracy against sparsity, one marker per finished run."""
    from landscape.plotting import plot_tradeoff
    from landscape.pruning import tradeoff_points

    points = tradeoff_points([r.path for r in ctx.exp.runs])
    if not points:
        return None
    runs = {str(r.path): r for r in ctx.exp.runs}
    rows = [[p.method, p.setting or "-", str(p.epoch),
             ctx.cite_run(runs[str(p.run)], fmt(100 * p.sparsity, ".2f")),
             ctx.cite_run(runs[str(p.run)], fmt(100 * p.test_acc, ".2f")),
             runs[str(p.run)].name] for p in points]
    return Content(blocks=[Figure(
        caption="Test accuracy against the share of exactly-zero weights at each run's last "
                "epoch, one series per method (gRDA as unjoined crosses, dense runs as dotted "
                "lines), as in Chao et al. 2020, Fig. 4 and Gale et al. 2019, Fig. 1.",
        png=ctx.static(plot_tradeoff, points), alt="accuracy against sparsity",
        data=Table(["method", "setting", "epoch", "sparsity (%)", "test acc (%)", "run"],
                   rows))])


SECTION = register(Section("tradeoff", "Sparsity-accuracy trade-off", build))
