"""seed 001 Tables 1-2 and Fig. 3; seed 002 Fig. 3; seed 000 Fig. 5: feature statistics.

Per-layer % of features inactive by activation and by BatchNorm scale (table), universality
histograms, class-specialisation histograms and unit weight-norm histograms, for each run.

    python analysis_scripts/seed001_feature_sparsity.py RUN [RUN ...] --out figures/
"""

from pathlib import Path

from _common import check_checkpoints, context, label, model_at, parser

from landscape.plotting import (
    plot_sparsity_table,
    plot_specialisation,
    plot_universality,
    plot_weight_norms,
    save_figure,
)
from landscape.stats._featurestore import stored_feature_statistics
from landscape.stats.features import format_sparsity_table

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN_OR_CHECKPOINT")
    args = p.parse_args()
    check_checkpoints(p, args.runs)
    stats = {}
    for run in args.runs:
        ctx = context(args, run)
        model, inputs = model_at(run, ctx.device)
        stats[label(run)] = stored_feature_statistics(
            ctx.store, model, ctx.train, inputs=inputs, num_classes=ctx.dataset.num_classes,
            progress=True,
        ).read_all()
        print(f"{label(run)}\n{format_sparsity_table(stats[label(run)])}\n")
    out = Path(args.out)
    for name, plot in (("seed001_table_sparsity", plot_sparsity_table),
                       ("seed001_fig3_universality", plot_universality),
                       ("seed002_fig3_specialisation", plot_specialisation),
                       ("seed000_fig5_unit_norms", plot_weight_norms)):
        print(save_figure(plot(stats), out / f"{name}.png"))
