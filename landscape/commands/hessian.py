"""``landscape hessian CHECKPOINT --top-k K`` and ``landscape spectrum CHECKPOINT``.

Thin: resolve the subject (a landscape checkpoint or run, or your own weights with
``--model``/``--model-file``, on the run's data or on ``--dataset``/``--data-file``), ask the
store (computing when missing), print, optionally draw the figures.
"""

from __future__ import annotations

import argparse
from typing import Any

from landscape.commands._args import (
    add_output_flags,
    add_subject_flags,
    open_store,
    subject_from_args,
)
from landscape.commands._cliutil import (
    emit_json,
    int_at_least,
    positive_float,
    show_progress,
    write_figure,
)

__all__ = ["register"]

METHODS = ("cached", "reverse", "forward")  # landscape.curvature.METHODS (checked by a test)
WHICH = ("LA", "SA", "LM")  # landscape.curvature.WHICH


def _setup(args: argparse.Namespace) -> tuple[Any, Any, bool]:
    from landscape.distributed import context

    ctx = context()  # under torchrun: join the process group first (NCCL picks the GPU)
    subject = subject_from_args(args, splits=(args.split,))
    store = open_store(args.store, subject.path)
    return subject, store, show_progress(args) and ctx.is_main


def _figure(folder: str, subject: Any, what: str, plot: Any, *args: Any, **kwargs: Any) -> str:
    path = subject.path
    stem = f"{path.parent.name}_{path.stem}" if path is not None else "subject"
    return write_figure(folder, f"{stem}_{what}.png", plot, *args, **kwargs)


def _check_top_k(args: argparse.Namespace, model: Any) -> None:
    """``--top-k`` must leave room in the parameter space (named in the user's terms)."""
    from landscape.curvature._functional import select_names

    sizes = dict(model.named_parameters())
    num = sum(sizes[n].numel() for n in select_names(model, args.params))
    if args.top_k <= num - args.block_size:
        return
    room = (f"{num - 1} (one less than the {num:,} parameters)" if args.block_size == 1
            else f"{num - args.block_size} (the {num:,} parameters minus --block-size "
                 f"{args.block_size})")
    raise ValueError(f"--top-k must be between 1 and {room}, got {args.top_k}")


def _run_hessian(args: argparse.Namespace) -> int:
    from landscape.experiment.curvature import hessian_topk

    subject, store, progress = _setup(args)
    # on a miss, before any product; an answer from the store needs no model
    subject.check_model(lambda model: _check_top_k(args, model))
    entry = hessian_topk(
        store, subject, k=args.top_k, split=args.split, which=args.which, tol=args.tol,
        max_basis=args.max_basis, block_size=args.block_size, params=args.params,
        method=args.method, seed=args.seed, progress=progress,
    )
    if entry is None:  # torchrun, rank > 0: rank 0 reports
        return 0
    keys = ("eigenvalues", "residuals", "converged", "num_products", "num_restarts",
            "num_parameters", "loss", "seconds")
    out: dict[str, Any] = {"checkpoint": str(subject.path), "key": entry.key,
                           "cached": entry.cached, "store": str(store.root),
                           **{k: entry[k] for k in keys}}
    if args.figures:
        from landscape.plotting import plot_topk

        out["figures"] = [_figure(args.figures, subject, "hessian_topk", plot_topk, out,
                                  title=f"top-{args.top_k} Hessian eigenvalues, "
                                        f"{subject.label}")]
    if args.json:
        emit_json(out)
        return 0
    state = "from the store" if entry.cached else f"computed in {out['seconds']:.1f} s"
    print(f"top-{args.top_k} ({args.which}) Hessian eigenvalues of {subject.label} "
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
    from landscape.experiment.curvature import hessian_spectrum

    subject, store, progress = _setup(args)
    entry = hessian_spectrum(
        store, subject, split=args.split, num_probes=args.probes, num_steps=args.steps,
        trace_probes=args.trace_probes, sigma=args.sigma, grid_size=args.grid_size,
        params=args.params, method=args.method, seed=args.seed, progress=progress,
    )
    if entry is None:  # torchrun, rank > 0: rank 0 reports
        return 0
    res = entry.read_all()
    out: dict[str, Any] = {"checkpoint": str(subject.path), "key": entry.key,
                           "cached": entry.cached, "store": str(store.root)}
    out.update({k: res[k] for k in ("trace", "trace_stderr", "slq_trace", "sigma",
                                     "num_products", "num_parameters", "loss", "seconds")
                if k in res})
    out["ritz_min"], out["ritz_max"] = float(res["nodes"].min()), float(res["nodes"].max())
    if args.figures:
        from landscape.plotting import plot_density

        out["figures"] = [_figure(args.figures, subject, "hessian_density", plot_density, res,
                                  title=f"Hessian spectral density, {subject.label}")]
    if args.json:
        out["grid"], out["density"] = res["grid"], res["density"]
        emit_json(out)
        return 0
    state = "from the store" if entry.cached else f"computed in {out['seconds']:.1f} s"
    print(f"Hessian spectrum of {subject.label} ({out['num_parameters']:,} parameters, "
          f"{state}, key {entry.key[:12]})")
    if "trace" in out:
        print(f"  trace (Hutchinson)   {out['trace']:.6g} +- {out['trace_stderr']:.2g}")
    print(f"  trace (SLQ)          {out['slq_trace']:.6g}")
    print(f"  Ritz values in       [{out['ritz_min']:.4g}, {out['ritz_max']:.4g}]")
    print(f"  {out['num_products']} Hessian-vector products; density in {store.root}")
    for f in out.get("figures", []):
        print(f"wrote {f}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    add_subject_flags(p)
    p.add_argument("--split", default="train", choices=("train", "test"),
                   help="the data split of the loss (default train)")
    op = p.add_argument_group("operator")
    op.add_argument("--params", nargs="+", metavar="NAME",
                    help="parameter names or module prefixes (default: all trainable)")
    op.add_argument("--method", default="cached", choices=METHODS,
                    help="Hessian-vector product method (same answer; default cached)")
    op.add_argument("--seed", type=int, default=0, help="seed of the random start/probes")
    add_output_flags(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hessian`` and ``spectrum`` subcommands."""
    h = subparsers.add_parser(
        "hessian", help="top-k Hessian eigenpairs (Lanczos), cached in the store",
        description="Top-k eigenpairs of the Hessian of the mean loss (eval mode, exact "
                    "Hessian-vector products, Pearlmutter 1994) by thick-restart Lanczos with "
                    "full reorthogonalisation (Wu & Simon 2000; Stewart 2001).",
    )
    _common(h)
    lz = h.add_argument_group("eigensolver")
    lz.add_argument("--top-k", type=int_at_least(1), required=True, metavar="K",
                    help="number of eigenpairs (1 to the number of parameters - 1)")
    lz.add_argument("--which", default="LA", choices=WHICH,
                    help="LA largest, SA smallest algebraic, LM largest magnitude")
    lz.add_argument("--tol", type=positive_float, default=1e-3,
                    help="relative Ritz residual ||Hv - lambda v|| / |lambda| (default 1e-3)")
    lz.add_argument("--max-basis", type=int_at_least(2),
                    help="Lanczos basis size (memory bound)")
    lz.add_argument("--block-size", type=int_at_least(1), default=1,
                    help="vectors per product (block Lanczos; pays off on a GPU)")
    h.set_defaults(func=_run_hessian)
    s = subparsers.add_parser(
        "spectrum", help="Hessian trace and spectral density (SLQ), cached in the store",
        description="Stochastic Lanczos quadrature spectral density (Ghorbani et al. 2019; "
                    "Papyan 2020) and Hutchinson trace (Hutchinson 1989) of the Hessian.",
    )
    _common(s)
    sl = s.add_argument_group("estimators")
    sl.add_argument("--probes", type=int_at_least(1), default=8, help="SLQ probes (default 8)")
    sl.add_argument("--steps", type=int_at_least(2), default=80,
                    help="Lanczos steps per probe (default 80)")
    sl.add_argument("--trace-probes", type=int_at_least(0), default=100,
                    help="Hutchinson probes (0: skip; default 100)")
    sl.add_argument("--sigma", type=positive_float, help="Gaussian broadening of the density")
    sl.add_argument("--grid-size", type=int_at_least(2), default=1000,
                    help="points of the density's eigenvalue grid (default 1000)")
    s.set_defaults(func=_run_spectrum)
