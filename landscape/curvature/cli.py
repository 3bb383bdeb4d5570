"""``landscape hessian CHECKPOINT --top-k K`` and ``landscape spectrum CHECKPOINT``.

Thin: resolve the checkpoint and its dataset, ask the store (computing when missing), print,
optionally draw the figures. Results default to the store next to the run directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from landscape._cliutil import (
    add_device_flag,
    add_json_flag,
    add_progress_flag,
    emit_json,
    int_at_least,
    parse_kv,
    resolve_device,
    show_progress,
)
from landscape.checkpoint import checkpoint_digest, load_checkpoint
from landscape.curvature._functional import select_names
from landscape.curvature.analysis import hessian_spectrum, hessian_topk
from landscape.curvature.hessian import METHODS, HessianOperator
from landscape.curvature.lanczos import WHICH
from landscape.data import EvalSet, dataset_from_config
from landscape.distributed import CollectiveStore, DistributedHessian, context
from landscape.rundir import resolve_checkpoint
from landscape.store import add_store_flag, open_store

__all__ = ["register"]


def _setup(args: argparse.Namespace) -> tuple[Path, Any, Any, EvalSet, dict[str, str]]:
    context()  # under torchrun: join the process group first (NCCL picks this rank's GPU)
    path = resolve_checkpoint(args.checkpoint, args.epoch)
    ckpt = load_checkpoint(path)
    dataset = dataset_from_config(ckpt.config, name=args.dataset,
                                  options=parse_kv(args.dataset_args), root=args.data_root)
    device = resolve_device(args.device)
    dtype = getattr(torch, args.dtype)
    model = ckpt.build_model(device).to(dtype=dtype)
    data = EvalSet(dataset, args.split, batch_size=args.batch_size, device=device, dtype=dtype,
                   subset=args.subset)
    store = open_store(args.store, path)
    if context().distributed:  # torchrun: every rank computes on its shard, rank 0 stores
        store = CollectiveStore(store)
    return path, model, store, data, {"checkpoint": checkpoint_digest(path)}


def _operator() -> Any:
    return DistributedHessian if context().distributed else HessianOperator


def _figure(fig: Any, folder: str, path: Path, what: str) -> str:
    from landscape.plotting import save_figure

    return str(save_figure(fig, Path(folder) / f"{path.parent.name}_{path.stem}_{what}.png"))


def _check_top_k(args: argparse.Namespace, model: Any) -> None:
    """``--top-k`` must leave room in the parameter space (named in the user's terms)."""
    sizes = dict(model.named_parameters())
    num = sum(sizes[n].numel() for n in select_names(model, args.params))
    if args.top_k <= num - args.block_size:
        return
    room = (f"{num - 1} (one less than the {num:,} parameters)" if args.block_size == 1
            else f"{num - args.block_size} (the {num:,} parameters minus --block-size "
                 f"{args.block_size})")
    raise ValueError(f"--top-k must be between 1 and {room}, got {args.top_k}")


def _progress(args: argparse.Namespace) -> bool:
    return show_progress(args) and context().is_main


def _run_hessian(args: argparse.Namespace) -> int:
    path, model, store, data, inputs = _setup(args)
    _check_top_k(args, model)
    progress = _progress(args)
    entry = hessian_topk(
        store, model, data, inputs=inputs, k=args.top_k, which=args.which, tol=args.tol,
        max_basis=args.max_basis, block_size=args.block_size, params=args.params,
        method=args.method, seed=args.seed, progress=progress, operator=_operator(),
    )
    if entry is None:  # torchrun, rank > 0: rank 0 reports
        return 0
    keys = ("eigenvalues", "residuals", "converged", "num_products", "num_restarts",
            "num_parameters", "loss", "seconds")
    out: dict[str, Any] = {"checkpoint": str(path), "key": entry.key, "cached": entry.cached,
                           "store": str(store.root), **{k: entry[k] for k in keys}}
    if args.figures:
        from landscape.curvature.figures import plot_topk

        out["figures"] = [_figure(plot_topk(out), args.figures, path, "hessian_topk")]
    if args.json:
        emit_json(out)
        return 0
    state = "cached" if entry.cached else f"computed in {out['seconds']:.1f} s"
    print(f"top-{args.top_k} ({args.which}) Hessian eigenvalues of {path} "
          f"({out['num_parameters']:,} parameters, {state}, key {entry.key[:12]})")
    for i, (lam, res, ok) in enumerate(zip(out["eigenvalues"], out["residuals"],
                                           out["converged"]), 1):
        flag = "" if ok else "  (not converged)"
        print(f"  {i:3d}  {lam: .6e}   residual {res:.2e}{flag}")
    print(f"{out['num_products']} Hessian-vector products; eigenvectors [k, P] in {store.root}")
    for f in out.get("figures", []):
        print(f"wrote {f}")
    return 0


def _run_spectrum(args: argparse.Namespace) -> int:
    path, model, store, data, inputs = _setup(args)
    entry = hessian_spectrum(
        store, model, data, inputs=inputs, num_probes=args.probes, num_steps=args.steps,
        trace_probes=args.trace_probes, sigma=args.sigma, grid_size=args.grid,
        params=args.params, method=args.method, seed=args.seed, progress=_progress(args),
        operator=_operator(),
    )
    if entry is None:  # torchrun, rank > 0: rank 0 reports
        return 0
    res = entry.read_all()
    out: dict[str, Any] = {"checkpoint": str(path), "key": entry.key, "cached": entry.cached,
                           "store": str(store.root)}
    out.update({k: res[k] for k in ("trace", "trace_stderr", "slq_trace", "sigma",
                                     "num_products", "num_parameters", "loss", "seconds")
                if k in res})
    out["ritz_min"], out["ritz_max"] = float(res["nodes"].min()), float(res["nodes"].max())
    if args.figures:
        from landscape.curvature.figures import plot_density

        out["figures"] = [_figure(plot_density(res), args.figures, path, "hessian_density")]
    if args.json:
        out["grid"], out["density"] = res["grid"], res["density"]
        emit_json(out)
        return 0
    state = "cached" if entry.cached else f"computed in {out['seconds']:.1f} s"
    print(f"Hessian spectrum of {path} ({out['num_parameters']:,} parameters, {state}, "
          f"key {entry.key[:12]})")
    if "trace" in out:
        print(f"  trace (Hutchinson)   {out['trace']:.6g} +- {out['trace_stderr']:.2g}")
    print(f"  trace (SLQ)          {out['slq_trace']:.6g}")
    print(f"  Ritz values in       [{out['ritz_min']:.4g}, {out['ritz_max']:.4g}]")
    print(f"  {out['num_products']} Hessian-vector products; density in {store.root}")
    for f in out.get("figures", []):
        print(f"wrote {f}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file (or run directory)")
    p.add_argument("--epoch", type=int, help="with a run directory: its epoch (default: last)")
    data = p.add_argument_group("data")
    data.add_argument("--subset", type=int, help="a fixed random subset of N training samples")
    data.add_argument("--split", default="train", choices=["train", "test"])
    data.add_argument("--batch-size", type=int, default=1000, help="samples per HVP batch")
    data.add_argument("--dataset", help="dataset name (default: the run's)")
    data.add_argument("--dataset-args", nargs="*", metavar="KEY=VALUE")
    data.add_argument("--data-root", help="where the dataset files are")
    op = p.add_argument_group("operator")
    op.add_argument("--params", nargs="+", metavar="NAME",
                    help="parameter names or module prefixes (default: all trainable)")
    op.add_argument("--method", default="cached", choices=METHODS, help="HVP method")
    op.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    op.add_argument("--seed", type=int, default=0, help="seed of the random start/probes")
    out = p.add_argument_group("output")
    out.add_argument("--figures", metavar="DIR", help="write figures into DIR (e.g. figures/)")
    add_store_flag(out)
    add_device_flag(out)
    add_json_flag(out)
    add_progress_flag(out)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hessian`` and ``spectrum`` subcommands."""
    h = subparsers.add_parser(
        "hessian", help="top-k Hessian eigenpairs (Lanczos), cached in the store",
        description="Top-k eigenpairs of the Hessian of the mean training loss (eval mode) by "
                    "thick-restart Lanczos with full reorthogonalisation.",
    )
    _common(h)
    lz = h.add_argument_group("eigensolver")
    lz.add_argument("--top-k", type=int_at_least(1), required=True, metavar="K",
                    help="number of eigenpairs (1 to the number of parameters - 1)")
    lz.add_argument("--which", default="LA", choices=WHICH,
                    help="LA largest, SA smallest algebraic, LM largest magnitude")
    lz.add_argument("--tol", type=float, default=1e-3, help="relative Ritz residual")
    lz.add_argument("--max-basis", type=int, help="Lanczos basis size (memory bound)")
    lz.add_argument("--block-size", type=int_at_least(1), default=1,
                    help="vectors per product (block Lanczos; pays off on a GPU)")
    h.set_defaults(func=_run_hessian)
    s = subparsers.add_parser(
        "spectrum", help="Hessian trace and spectral density (SLQ), cached in the store",
        description="Stochastic Lanczos quadrature density and Hutchinson trace of the Hessian.",
    )
    _common(s)
    sl = s.add_argument_group("estimators")
    sl.add_argument("--probes", type=int, default=8, help="SLQ probes")
    sl.add_argument("--steps", type=int, default=80, help="Lanczos steps per probe")
    sl.add_argument("--trace-probes", type=int, default=100, help="Hutchinson probes (0: skip)")
    sl.add_argument("--sigma", type=float, help="Gaussian broadening of the density")
    sl.add_argument("--grid", type=int, default=1000, help="density grid points")
    s.set_defaults(func=_run_spectrum)
