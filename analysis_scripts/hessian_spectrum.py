"""Hessian spectrum at a minimum: top-k eigenvalues (bars) and the SLQ spectral density.

    python analysis_scripts/hessian_spectrum.py RUN_OR_CHECKPOINT --top-k 10 --out figures/
"""

from pathlib import Path

from _common import check_checkpoints, label, parser, store, subject

from landscape.experiment.curvature import hessian_spectrum, hessian_topk
from landscape.plotting import plot_density, plot_topk, save_figure

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("run", metavar="RUN_OR_CHECKPOINT")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--probes", type=int, default=8)
    p.add_argument("--steps", type=int, default=80)
    args = p.parse_args()
    check_checkpoints(p, [args.run])
    s, cache = subject(args, args.run), store(args, args.run)
    top = hessian_topk(cache, s, k=args.top_k, progress=True)
    spec = hessian_spectrum(cache, s, num_probes=args.probes, num_steps=args.steps,
                            progress=True)
    print("top eigenvalues:", ", ".join(f"{v:.4g}" for v in top["eigenvalues"]))
    print(f"trace (Hutchinson): {spec['trace']:.4g}")
    out, name = Path(args.out), label(args.run)
    print(save_figure(plot_topk(top.read_all(), title=name), out / f"hessian_topk_{name}.png"))
    print(save_figure(plot_density(spec.read_all(), title=name),
                      out / f"hessian_density_{name}.png"))
