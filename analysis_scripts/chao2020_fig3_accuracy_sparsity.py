"""Chao et al. 2020, Fig. 3: test accuracy and sparsity against epoch, one line per run.

    python analysis_scripts/chao2020_fig3_accuracy_sparsity.py RUN [RUN ...] --out figures/
"""

from pathlib import Path

from _common import check_runs, label, metrics, parser

from landscape.plotting import plot_training, save_figure

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", metavar="RUN")
    args = p.parse_args()
    check_runs(p, args.runs)
    fig = plot_training({label(r): metrics(r) for r in args.runs})
    print(save_figure(fig, Path(args.out) / "chao2020_fig3_accuracy_sparsity.png"))
