"""Training curves: test accuracy and sparsity per epoch (Chao et al. 2020, Fig. 3)."""

from __future__ import annotations

from landscape.report.blocks import Content, Figure, Section, Table
from landscape.report.context import Context, fmt
from landscape.report.sections import register


def build(ctx: Context) -> Content | None:
    """The training figure, with the per-epoch numbers behind it."""
    from landscape.plotting import plot_training

    runs = [r for r in ctx.exp.runs if r.metrics]
    if not runs:
        return None
    rows = []
    for run in runs:
        for m in run.metrics:
            rows.append([run.name, str(m["epoch"]),
                         ctx.cite_run(run, fmt(100 * m["test_acc"], ".2f")),
                         ctx.cite_run(run, fmt(m.get("train_loss"))),
                         ctx.cite_run(run, fmt(100 * m["sparsity"]["global"], ".2f"))])
    data = Table(["run", "epoch", "test acc (%)", "train loss", "exact zeros (%)"], rows)
    return Content(blocks=[Figure(
        caption="Test accuracy (left, from epoch 1; the axis is fitted to the trained epochs "
                "so that a gap of one point shows) and the share of exactly-zero weights "
                "(right) per epoch, as in Chao et al. 2020, Fig. 3. The legend gives each "
                "run's final accuracy and sparsity.",
        png=ctx.static(plot_training, {r.name: r.metrics for r in runs}),
        alt="test accuracy and sparsity per epoch", data=data)])


SECTION = register(Section("training", "Training curves", build))
