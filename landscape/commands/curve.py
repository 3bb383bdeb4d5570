"""``landscape curve fit|eval|plane``: mode connectivity from the command line (thin)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from landscape._cliutil import (
    add_device_flag,
    add_json_flag,
    add_progress_flag,
    emit_json,
    int_at_least,
    parse_kv,
    positive_float,
    resolve_device,
    show_progress,
)
from landscape.checkpoint import load_checkpoint
from landscape.curves.fit import CurveFitConfig, LoadedCurve, fit_curve, load_curve
from landscape.curves.results import along_cached
from landscape.data import Dataset, EvalSet, dataset_from_config
from landscape.rundir import RunDir, resolve_checkpoint

__all__ = ["register"]


def _progress(args: argparse.Namespace) -> bool:
    return show_progress(args) and _is_main()


def _is_main() -> bool:
    """Join the torchrun process group if there is one; whether this rank reports."""
    from landscape.distributed import context

    return context().is_main


def _fit_dataset(args: argparse.Namespace, start: Path) -> Dataset:
    """``--dataset`` if given, else the dataset the start checkpoint was trained on."""
    return dataset_from_config(load_checkpoint(start).config, name=args.dataset,
                               options=parse_kv(args.dataset_args), root=args.data_root)


def _fit(args: argparse.Namespace) -> int:
    main = _is_main()  # torchrun: every rank fits slices of each minibatch, rank 0 writes
    cfg = CurveFitConfig(
        degree=args.degree, kind=args.kind, epochs=args.epochs, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, batch_size=args.batch_size,
        seed=args.seed, augment=args.augment,
    )
    start = resolve_checkpoint(args.start, args.start_epoch)
    end = resolve_checkpoint(args.end, args.end_epoch)
    loaded = fit_curve(start, end, args.out, dataset=_fit_dataset(args, start), config=cfg,
                       device=resolve_device(args.device), resume=args.resume,
                       progress=_progress(args))
    if not main:
        return 0
    rows = RunDir(args.out).read_metrics()
    summary = {"out": str(args.out), "epochs": loaded.epoch, "last": rows[-1] if rows else None}
    if args.json:
        emit_json(summary)
    else:
        last = summary["last"] or {}
        print(f"curve fitted: {args.out} ({loaded.curve.kind}, degree {loaded.curve.degree}, "
              f"{loaded.epoch} epochs); last epoch train loss {last.get('train_loss', 'n/a')}")
    return 0


def _load(args: argparse.Namespace) -> tuple[LoadedCurve, EvalSet, EvalSet]:
    _is_main()
    device = resolve_device(args.device)
    loaded = load_curve(args.curve_dir, epoch=args.epoch, device=device)
    overrides = {"root": args.data_root} if args.data_root else {}
    dataset = loaded.dataset(**overrides)
    dtype = loaded.curve.start.dtype
    train = EvalSet(dataset, "train", batch_size=args.batch_size, device=device, dtype=dtype)
    test = EvalSet(dataset, "test", batch_size=args.batch_size, device=device, dtype=dtype)
    return loaded, train, test


def _eval(args: argparse.Namespace) -> int:
    from landscape.distributed import CollectiveStore, context, map_round_robin
    from landscape.store import open_store

    store = open_store(args.store, args.curve_dir)
    loaded, train, test = _load(args)
    if context().distributed:  # torchrun: values of t spread over the ranks, rank 0 stores
        store = CollectiveStore(store)
    entry = along_cached(store, loaded, train, test, points=args.points,
                         progress=_progress(args), map_jobs=map_round_robin)
    if entry is None:  # torchrun, rank > 0
        return 0
    result = entry.read_all()
    if args.figure:
        from landscape.plotting.curves import plot_along

        plot_along(result, args.figure)
    summary: dict[str, Any] = {"key": entry.key, "cached": entry.cached, "epoch": loaded.epoch,
                               "figure": args.figure}
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
        print(f"  {part:<5} barrier {s['barrier']:.4g}  max test error {s['test_error_max']:.2f}%"
              f"  length {s['length']:.4g}")
    return 0


def _plane(args: argparse.Namespace) -> int:
    from landscape.distributed import plane_distributed
    from landscape.store import open_store

    store = open_store(args.store, args.curve_dir)
    loaded, train, test = _load(args)
    # one process: plane_cached; torchrun: points spread over the ranks, rank 0 writes
    res = plane_distributed(store, loaded, train, test, grid=args.grid, margin=args.margin,
                            progress=_progress(args))
    if res is None:  # torchrun, rank > 0
        return 0
    if args.figure and res["complete"]:
        from landscape.plotting.curves import plot_plane

        plot_plane(res, args.figure)
    if args.json:
        emit_json({k: v for k, v in res.items() if k != "done"} | {"figure": args.figure})
        return 0
    print(f"plane of {args.curve_dir}: {int(res['done'].sum())}/{res['done'].size} points done "
          f"({res['computed']} computed now) [{res['key'][:12]}]")
    print(f"  dx {res['dx']:.4g}  dy {res['dy']:.4g}  bends {res['bends'].round(3).tolist()}")
    print(f"  min train loss {float(res['train_loss'].min()):.4g}, "
          f"min test error {float(res['test_error'].min()):.2f}%")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("curve_dir", metavar="CURVE_DIR", help="directory of `landscape curve fit`")
    p.add_argument("--epoch", type=int, default=None, help="curve checkpoint (default: last)")
    p.add_argument("--batch-size", type=int_at_least(1), default=1000,
                   help="evaluation batch size")
    p.add_argument("--data-root", default=None, help="where file-backed datasets live")
    p.add_argument("--figure", default=None, metavar="PATH", help="also draw the figure here")
    from landscape.store import add_store_flag

    add_store_flag(p)
    add_device_flag(p)
    add_progress_flag(p)
    add_json_flag(p)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape curve fit|eval|plane``."""
    p = sub.add_parser("curve", help="mode connectivity: fit a curve, evaluate it, its plane")
    csub = p.add_subparsers(dest="curve_command", metavar="ACTION", required=True)

    fit = csub.add_parser("fit", help="fit a Bezier curve (or chain) between two checkpoints")
    fit.add_argument("start", metavar="A_CHECKPOINT", help="checkpoint or run directory")
    fit.add_argument("end", metavar="B_CHECKPOINT", help="checkpoint or run directory")
    fit.add_argument("--start-epoch", type=int, default=None,
                     help="epoch of A when it is a run directory (default: last)")
    fit.add_argument("--end-epoch", type=int, default=None,
                     help="epoch of B when it is a run directory (default: last)")
    fit.add_argument("--out", required=True, help="the curve's run directory")
    g = fit.add_argument_group("curve")
    g.add_argument("--degree", type=int_at_least(2), default=2,
                   help="K (2: quadratic, default)")
    g.add_argument("--kind", choices=("bezier", "chain"), default="bezier")
    g = fit.add_argument_group("optimisation (SGD, seed 004 / Garipov schedule)")
    g.add_argument("--epochs", type=int_at_least(1), default=10)
    g.add_argument("--lr", type=positive_float, default=0.1)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, default=0.0,
                   help="wd of the 0.5 * wd * ||phi(t)||^2 term")
    g.add_argument("--batch-size", type=int_at_least(1), default=128)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--augment", choices=("crop_flip", "crop", "flip"), default=None)
    g.add_argument("--resume", action="store_true", help="continue the fit in --out")
    g = fit.add_argument_group("data (default: the start checkpoint's)")
    g.add_argument("--dataset", default=None)
    g.add_argument("--dataset-args", nargs="*", default=[], metavar="KEY=VALUE")
    g.add_argument("--data-root", default=None)
    add_device_flag(fit)
    add_progress_flag(fit)
    add_json_flag(fit)
    fit.set_defaults(func=_fit)

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
