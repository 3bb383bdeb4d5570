"""Chao et al. 2020, Fig. 5: plane contours (train loss, test error) and values along the curve.

    landscape curve fit SGD_RUN GRDA_RUN --out CURVE_DIR
    python analysis_scripts/chao2020_fig5_connectivity.py CURVE_DIR --grid 21 --out figures/
"""

from pathlib import Path

from _common import parser, store

from landscape.devices import resolve_device
from landscape.experiment.curves import along_cached, load_curve, plane_cached
from landscape.plotting import plot_along, plot_plane, save_figure

if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("curve", metavar="CURVE_DIR")
    p.add_argument("--grid", type=int, default=21)
    p.add_argument("--margin", type=float, default=0.2)
    p.add_argument("--points", type=int, default=61)
    args = p.parse_args()
    curve = load_curve(args.curve, device=resolve_device(args.device),
                       batch_size=args.batch_size)
    cache = store(args, curve.config["endpoints"]["start"]["path"])
    along = along_cached(cache, curve, points=args.points, progress=True)
    plane = plane_cached(cache, curve, grid=args.grid, margin=args.margin, progress=True)
    name, out = Path(args.curve).name, Path(args.out)
    print(save_figure(plot_plane(plane), out / f"chao2020_fig5_plane_{name}.png"))
    print(save_figure(plot_along(along.read_all()), out / f"chao2020_fig5_along_{name}.png"))
    print(f"barrier: curve {along['curve']['barrier']:.4f}, line {along['line']['barrier']:.4f}")
