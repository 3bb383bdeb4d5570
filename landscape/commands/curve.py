"""landscape curve fit|eval|plane|hessian: mode connectivity (Garipov et al. 2018).

'curve fit A B --out DIR' fits a quadratic Bezier curve (or a chain) of low loss between two
networks into a resumable run directory. A and B are landscape checkpoints, run directories
(--start-epoch/--end-epoch), or your own weights (a plain state_dict .pt/.pth or a
.safetensors file) with the model named by --model or --model-file (both endpoints share the
model and the data flags). 'curve eval DIR' gives the loss and error along the curve and along
the straight line, and their barriers (Garipov et al. 2018); 'curve plane DIR' the loss and
error over the plane through the bends (Chao et al. 2020, Fig. 5); 'curve hessian DIR' the
top-k Hessian eigenvalues and trace along the curve and the line. Results are cached in the
result store; errors are fractions in --json, percent in the printed text and the figures.
"""

from __future__ import annotations

import argparse
from typing import Any

from landscape.commands._args import (
    add_data_flags,
    add_model_flags,
    add_output_flags,
    data_options,
    model_options,
    open_store,
)
from landscape.commands._cliutil import (
    emit_json,
    int_at_least,
    positive_float,
    short_label,
    show_progress,
    write_figure,
)

__all__ = ["register"]


def _is_main() -> bool:
    """Join the torchrun process group if there is one; whether this rank reports."""
    from landscape.distributed import context

    return context().is_main


def _progress(args: argparse.Namespace) -> bool:
    return show_progress(args) and _is_main()


def _fit(args: argparse.Namespace) -> int:
    from landscape.experiment.curves import CurveFitConfig, fit_curve_run
    from landscape.experiment.subject import resolve_subject

    main = _is_main()  # torchrun: every rank fits slices of each minibatch, rank 0 writes
    cfg = CurveFitConfig(
        degree=args.degree, kind=args.kind, epochs=args.epochs, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, batch_size=args.batch_size,
        seed=args.seed, augment=args.augment,
    )
    model, data = model_options(args), data_options(args)
    splits = ("train",) if args.data_file else ()  # registry data: the fit's own loader
    start, end = (resolve_subject(target, epoch=epoch, model=model, data=data, splits=splits)
                  for target, epoch in ((args.start, args.start_epoch),
                                        (args.end, args.end_epoch)))
    loaded = fit_curve_run(start, end, args.out, config=cfg, resume=args.resume,
                           progress=_progress(args))
    if not main:
        return 0
    from landscape.rundir import RunDir

    rows = RunDir(args.out).read_metrics()
    last = rows[-1] if rows else None
    if args.json:
        emit_json({"out": str(args.out), "epochs": loaded.epoch, "last": last})
        return 0
    last = last or {}
    error = last.get("train_error")
    print(f"curve fitted: {args.out} ({loaded.curve.kind}, degree {loaded.curve.degree}, "
          f"{loaded.epoch} epochs); last epoch train loss {last.get('train_loss', 'n/a')}"
          + (f", error {100 * error:.2f}%" if isinstance(error, float) else ""))
    return 0


def _load(args: argparse.Namespace) -> Any:
    from landscape.devices import resolve_device
    from landscape.experiment.curves import load_curve

    _is_main()
    return load_curve(args.curve_dir, epoch=args.epoch, device=resolve_device(args.device),
                      batch_size=args.batch_size, data_root=args.data_root)


def _eval(args: argparse.Namespace) -> int:
    from landscape.distributed import map_round_robin
    from landscape.experiment.curves import along_cached

    store = open_store(args.store, args.curve_dir)
    loaded = _load(args)
    # torchrun: the values of t are spread over the ranks, rank 0 stores
    entry = along_cached(store, loaded, points=args.points, progress=_progress(args),
                         map_jobs=map_round_robin)
    if entry is None:  # torchrun, rank > 0
        return 0
    result = entry.read_all()
    figures: list[str] = []
    if args.figures:
        from landscape.plotting.curves import plot_along

        figures.append(write_figure(args.figures, "curve_along.png", plot_along, result))
    summary: dict[str, Any] = {"key": entry.key, "cached": entry.cached, "store": str(store.root),
                               "epoch": loaded.epoch, "figures": figures}
    for part in ("curve", "line"):
        r = result[part]
        summary[part] = {k: r[k] for k in ("barrier", "test_error_barrier", "length")}
        summary[part].update({f"{k}_max": float(r[k].max()) for k in ("train_loss", "test_error")})
    summary["endpoints"] = {k: [float(result["curve"][k][0]), float(result["curve"][k][-1])]
                            for k in ("train_loss", "train_error", "test_loss", "test_error")}
    if args.json:
        summary["t"] = result["t"]
        summary["along"] = {p: {k: result[p][k] for k in ("train_loss", "train_error",
                                                            "test_loss", "test_error")}
                            for p in ("curve", "line")}
        emit_json(summary)
        return 0
    print(f"curve {args.curve_dir} (epoch {loaded.epoch}), {args.points} points, "
          f"{'from the store' if entry.cached else 'computed'} [{entry.key[:12]}]")
    for part in ("curve", "line"):
        s = summary[part]
        print(f"  {part:<5} barrier {s['barrier']:.4g}  max test error "
              f"{100 * s['test_error_max']:.2f}%  length {s['length']:.4g}")
    for path in figures:
        print(f"  figure {path}")
    return 0


def _plane(args: argparse.Namespace) -> int:
    from landscape.experiment.curves import plane_distributed

    store = open_store(args.store, args.curve_dir)
    loaded = _load(args)
    # one process: plane_cached; torchrun: points spread over the ranks, rank 0 writes
    res = plane_distributed(store, loaded, grid=args.grid, margin=args.margin,
                            progress=_progress(args))
    if res is None:  # torchrun, rank > 0
        return 0
    figures: list[str] = []
    if args.figures and res["complete"]:
        from landscape.plotting.curves import plot_plane

        figures.append(write_figure(args.figures, "curve_plane.png", plot_plane, res))
    if args.json:
        emit_json({k: v for k, v in res.items() if k != "done"}
                  | {"store": str(store.root), "figures": figures})
        return 0
    print(f"plane of {args.curve_dir}: {int(res['done'].sum())}/{res['done'].size} points done "
          f"({res['computed']} computed now) [{res['key'][:12]}]")
    print(f"  dx {res['dx']:.4g}  dy {res['dy']:.4g}  bends {res['bends'].round(3).tolist()}")
    print(f"  min train loss {float(res['train_loss'].min()):.4g}, "
          f"min test error {100 * float(res['test_error'].min()):.2f}%")
    for path in figures:
        print(f"  figure {path}")
    return 0


def _short(record: dict[str, Any]) -> str:
    """An endpoint's short name: ``sgd epoch 8`` for a run's checkpoint, else the file name."""
    return short_label(str(record.get("label") or record.get("path") or "?"))


def _hessian(args: argparse.Namespace) -> int:
    from landscape.experiment.curvehessian import curvature_along

    store = open_store(args.store, args.curve_dir)
    loaded = _load(args)
    # torchrun: the values of t are dealt round-robin over the ranks, rank 0 writes
    res = curvature_along(store, loaded, points=args.points, k=args.top_k, tol=args.tol,
                          trace_probes=args.trace_probes, seed=args.seed,
                          line=not args.no_line, progress=_progress(args))
    if res is None:  # torchrun, rank > 0
        return 0
    ends = [_short(loaded.config["endpoints"][r]) for r in ("start", "end")]
    figures: list[str] = []
    if args.figures and res["complete"]:
        from landscape.plotting.sharpness import plot_curve_hessian

        figures.append(write_figure(args.figures, "curve_hessian.png", plot_curve_hessian, res,
                                    ends=ends))
    paths = [p for p in ("curve", "line") if p in res]
    if args.json:
        emit_json({"t": res["t"], "k": res["k"], "start": ends[0], "end": ends[1],
                   **{p: res[p] for p in paths},
                   "complete": res["complete"], "computed": res["computed"], "key": res["key"],
                   "store": str(store.root), "epoch": loaded.epoch, "figures": figures})
        return 0
    print(f"top-{res['k']} Hessian eigenvalues along {args.curve_dir} (t = 0: {ends[0]}, "
          f"t = 1: {ends[1]}), {int(res['done'].sum())}/{res['done'].size} points done "
          f"({res['computed']} computed now) [{res['key'][:12]}]")
    print(f"{'t':>6}" + "".join(f"{p + ' lambda_1':>17}{p + ' trace':>14}{p + ' loss':>12}"
                                for p in paths))
    for i, t in enumerate(res["t"]):
        print(f"{t:>6.3f}" + "".join(f"{res[p]['lambda_max'][i]:>17.4g}"
                                     f"{res[p]['trace'][i]:>14.4g}{res[p]['loss'][i]:>12.4f}"
                                     for p in paths))
    for p in paths:
        print(f"  {p}: max lambda_1 {res[p]['lambda_max_max']:.4g}")
    for path in figures:
        print(f"  figure {path}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("curve_dir", metavar="CURVE_DIR", help="directory of `landscape curve fit`")
    p.add_argument("--epoch", type=int_at_least(0), default=None,
                   help="curve checkpoint (default: last)")
    g = p.add_argument_group("data (default: the data the curve was fitted on)")
    g.add_argument("--batch-size", type=int_at_least(1), default=1000,
                   help="samples per evaluation batch of a registry dataset (default 1000)")
    g.add_argument("--data-root", default=None, metavar="DIR",
                   help="where a file-backed dataset lives now (default: as recorded)")
    add_output_flags(p)


def _add_fit(csub: argparse._SubParsersAction) -> None:
    fit = csub.add_parser(
        "fit", help="fit a Bezier curve (or chain) between two networks",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("start", metavar="A", help="first endpoint: a landscape checkpoint, a run "
                     "directory, or a state_dict/.safetensors file (with --model/--model-file)")
    fit.add_argument("end", metavar="B", help="second endpoint, same architecture")
    fit.add_argument("--start-epoch", type=int_at_least(0), default=None,
                     help="epoch of A when it is a run directory (default: last)")
    fit.add_argument("--end-epoch", type=int_at_least(0), default=None,
                     help="epoch of B when it is a run directory (default: last)")
    fit.add_argument("--out", required=True, help="the curve's run directory")
    g = fit.add_argument_group("curve")
    g.add_argument("--degree", type=int_at_least(2), default=2,
                   help="K (2: quadratic, default)")
    g.add_argument("--kind", choices=("bezier", "chain"), default="bezier")
    g = fit.add_argument_group("optimisation (SGD under Garipov et al. 2018's schedule)")
    g.add_argument("--epochs", type=int_at_least(1), default=10,
                   help="number of epochs (default 10)")
    g.add_argument("--lr", type=positive_float, default=0.1, help="base learning rate (0.1)")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (0.9)")
    g.add_argument("--weight-decay", type=float, default=0.0,
                   help="wd of the 0.5 * wd * ||phi(t)||^2 term (default 0)")
    g.add_argument("--batch-size", type=int_at_least(1), default=128,
                   help="minibatch size of a registry dataset (default 128; a --data-file "
                        "brings its own batches)")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the minibatch order, the values of t and dropout (default 0)")
    g.add_argument("--augment", choices=("crop_flip", "crop", "flip"), default=None)
    g.add_argument("--resume", action="store_true", help="continue the fit in --out")
    add_model_flags(fit)
    add_data_flags(fit, subset=False, batch_size=False)
    add_output_flags(fit, figures=False, store=False)
    fit.set_defaults(func=_fit)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape curve fit|eval|plane|hessian``."""
    p = sub.add_parser("curve", help="mode connectivity: fit a curve, evaluate it, its plane",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    csub = p.add_subparsers(dest="curve_command", metavar="ACTION", required=True)
    _add_fit(csub)

    ev = csub.add_parser("eval", help="loss and error along the curve and the straight line")
    _common(ev)
    ev.add_argument("--points", type=int_at_least(2), default=61,
                    help="values of t (default 61)")
    ev.set_defaults(func=_eval)

    pl = csub.add_parser("plane", help="loss and error over the plane through the bends")
    _common(pl)
    pl.add_argument("--grid", type=int_at_least(2), default=21,
                    help="points per axis (default 21)")
    pl.add_argument("--margin", type=float, default=0.2, help="beyond [0, 1] (default 0.2)")
    pl.set_defaults(func=_plane)

    he = csub.add_parser(
        "hessian", help="top-k Hessian eigenvalues and trace along the curve and the line",
        description="Curvature along a fitted curve: at each t the BatchNorm statistics are "
                    "recomputed (as `curve eval` does), then the top-k eigenvalues of the "
                    "training-loss Hessian (Lanczos, started from the neighbouring t) and its "
                    "trace (Hutchinson 1989); also along the straight line between the ends. "
                    "Each t is stored as soon as it is done (an interrupted run resumes); "
                    "under torchrun the t are spread over the ranks.")
    _common(he)
    he.add_argument("--points", type=int_at_least(2), default=21,
                    help="values of t (default 21)")
    he.add_argument("--top-k", type=int_at_least(1), default=5,
                    help="eigenpairs per point (default 5)")
    he.add_argument("--tol", type=positive_float, default=1e-3,
                    help="relative Ritz residual tolerance (default 1e-3)")
    he.add_argument("--trace-probes", type=int_at_least(0), default=20,
                    help="Hutchinson probes per point (0: no trace; default 20)")
    he.add_argument("--seed", type=int, default=0, help="seed of the random start and probes")
    he.add_argument("--no-line", action="store_true", help="the curve only, not the line")
    he.set_defaults(func=_hessian)
