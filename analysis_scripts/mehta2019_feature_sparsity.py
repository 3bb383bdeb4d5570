"""Mehta et al. 2019, Tables 1-2 and Fig. 3 and related feature statistics, per run.

Per-layer % of features inactive by activation and by BatchNorm scale (table, Mehta et al.
2019, Tables 1-2), universality histograms (their Fig. 3), class-specialisation histograms
(Dettmers & Zettlemoyer 2019, Fig. 3) and unit weight-norm histograms (Yaguchi et al. 2018,
Fig. 5).

    python analysis_scripts/mehta2019_feature_sparsity.py RUN [RUN ...] --out figures/
"""

from pathlib import Path

from _common import check_checkpoints, label, parser, store, subject

from landscape.experiment.features import feature_statistics_cached
from landscape.plotting import (
    plot_sparsity_table,
    plot_specialisation,
    plot_universality,
    plot_weight_norms,
    save_figure,
)
from landscape.stats import format_sparsity_table, sparsity_rows

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN_OR_CHECKPOINT")
    args = p.parse_args()
    check_checkpoints(p, args.runs)
    stats = {label(run): feature_statistics_cached(store(args, run), subject(args, run),
                                                   progress=True).stats
             for run in args.runs}
    for name, st in stats.items():
        print(f"{name}\n{format_sparsity_table(st)}\n")
    out = Path(args.out)
    print(save_figure(plot_sparsity_table({k: sparsity_rows(v) for k, v in stats.items()}),
                      out / "mehta2019_table_sparsity.png"))
    for name, plot in (("mehta2019_fig3_universality", plot_universality),
                       ("dettmers2019_fig3_specialisation", plot_specialisation),
                       ("yaguchi2018_fig5_unit_norms", plot_weight_norms)):
        print(save_figure(plot(stats), out / f"{name}.png"))
