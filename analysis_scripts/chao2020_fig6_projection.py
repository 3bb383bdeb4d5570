"""Chao et al. 2020, Fig. 6: share of w_gRDA - w_SGD in the top-k Hessian eigenspace, per epoch.

    python analysis_scripts/chao2020_fig6_projection.py SGD_RUN GRDA_RUN [GRDA_RUN ...] \
        --top-k 10 [--at-epochs 1 5 10 50 200] [--baseline-run SGD_OTHER_SEED] [--subset N] \
        --out figures/
"""

from pathlib import Path

from _common import check_runs, data, label, parser, store

from landscape.experiment.projection import projection_over_epochs
from landscape.plotting import plot_projection, save_figure

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("sgd_run", metavar="SGD_RUN")
    p.add_argument("grda_runs", nargs="+", metavar="GRDA_RUN")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--baseline-run")
    p.add_argument("--subset", type=int, help="training samples in the Hessian")
    p.add_argument("--at-epochs", type=int, nargs="+",
                   help="epochs to analyse (default: every shared epoch; one top-k each)")
    args = p.parse_args()
    check_runs(p, [args.sgd_run, *args.grda_runs])
    cache = store(args, args.sgd_run)
    results = {
        label(run): projection_over_epochs(cache, args.sgd_run, run, top_k=args.top_k,
                                           data=data(args, subset=args.subset),
                                           epochs=args.at_epochs,
                                           baseline_run=args.baseline_run, progress=True)
        for run in args.grda_runs
    }
    for name, r in results.items():
        print(name, " ".join(f"{e}:{s:.3e}" for e, s in zip(r["epochs"], r["share"])))
    print(save_figure(plot_projection(results), Path(args.out) / "chao2020_fig6_projection.png"))
