"""``landscape train``: parse flags into :class:`TrainConfig` s and run them one after another.

Several optimizers and several values of ``--lr``, ``--c`` and ``--mu`` expand into a grid of
runs that share the seed (so the same initialisation and minibatch sequence), each written to
``OUT/<run_name>`` (e.g. ``OUT/sgd_m0.9``, ``OUT/grda_c0.001_mu0.51``), also when there is only
one run. ``--c``/``--mu`` apply to gRDA; ``--momentum``/``--nesterov``/``--dampening`` to the
optimizers that have them (SGD, RMSprop).
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
from pathlib import Path
from typing import Any

from landscape.commands._cliutil import add_device_flag, add_json_flag, emit_json, parse_kv

__all__ = ["build_configs", "register", "resume_command"]

# The registries' names, for the parser: `landscape --help` builds it without importing torch
# (a test checks them against landscape.optim.list_optimizers() and list_schedules()).
OPTIMIZERS = ("adadelta", "adagrad", "adam", "adamw", "amsgrad", "grda", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "drop", "garipov", "step")


def _entry(name: str) -> Any:
    """:func:`landscape.optim.optimizer_entry` (imports torch when called)."""
    from landscape.optim import optimizer_entry as entry

    return entry(name)


def _optimizer_args(name: str, args: argparse.Namespace, c: float | None,
                    mu: float | None) -> dict[str, Any]:
    options = _entry(name).options
    out: dict[str, Any] = {}
    flags = {"momentum": args.momentum, "nesterov": args.nesterov or None,
             "dampening": args.dampening, "betas": args.betas, "eps": args.eps, "c": c, "mu": mu}
    for key, value in flags.items():
        if value is not None and key in options:
            out[key] = value
    extra = parse_kv(args.optimizer_args)
    unknown = sorted(set(extra) - set(options))
    if unknown:
        raise ValueError(f"--optimizer-args {unknown} are not options of {name!r}: {list(options)}")
    return {**out, **extra}


def build_configs(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """Expand the parsed flags into ``(run name, TrainConfig)`` pairs, one per run."""
    from landscape.train import TrainConfig, run_name

    names = args.optimizer
    for flag, keys in (("--momentum", ("momentum",)), ("--nesterov", ("nesterov",)),
                       ("--dampening", ("dampening",)), ("--betas", ("betas",)),
                       ("--c", ("c",)), ("--mu", ("mu",))):
        value = getattr(args, flag.lstrip("-"))
        if value not in (None, False) and not any(
            set(keys) & set(_entry(n).options) for n in names
        ):
            raise ValueError(f"{flag} applies to none of the optimizers {names}")
    prune_args = parse_kv(args.prune_args)
    if args.target_sparsity is not None:
        prune_args["target_sparsity"] = args.target_sparsity
    if args.density is not None:
        prune_args["density"] = args.density
    base: dict[str, Any] = dict(
        model=args.model, model_args=parse_kv(args.model_args), dataset=args.dataset,
        dataset_args=parse_kv(args.dataset_args), epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, schedule=args.schedule,
        schedule_args=parse_kv(args.schedule_args), l2=args.l2 or 0.0,
        weight_decay=args.weight_decay or 0.0, device=args.device,
        augment=None if args.augment == "none" else args.augment, dtype=args.dtype,
        eval_batch_size=args.eval_batch_size, data_root=args.data_root,
        group_xi=args.group_xi, prune=args.prune, prune_args=prune_args,
    )
    extra = ("lr",) if len(args.lr) > 1 else ()
    runs: list[tuple[str, Any]] = []
    for name in names:
        grid = (itertools.product(args.c or [None], args.mu or [None]) if name == "grda"
                else [(None, None)])
        for (c, mu), lr in itertools.product(list(grid), args.lr):
            cfg = TrainConfig(optimizer=name, lr=lr,
                              optimizer_args=_optimizer_args(name, args, c, mu), **base)
            runs.append((run_name(cfg, extra=extra), cfg))
    seen = [n for n, _ in runs]
    dup = sorted({n for n in seen if seen.count(n) > 1})
    if dup:
        raise ValueError(f"two runs would share the directory name(s) {dup}: drop repeated values")
    return runs


def resume_command(args: argparse.Namespace) -> str:
    """The command line that continues these runs: the one typed, with ``--resume``.

    >>> resume_command(argparse.Namespace(argv=["train", "--model", "mlp", "--out", "my runs"]))
    "landscape train --model mlp --out 'my runs' --resume"
    """
    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(["landscape", *argv])


def _run(args: argparse.Namespace) -> int:
    from landscape.distributed import context
    from landscape.train import TrainingDiverged, train

    runs = build_configs(args)
    out = Path(args.out)
    main = context().is_main  # torchrun: join the group first; rank 0 reports
    progress = not args.json and not args.no_progress and sys.stderr.isatty() and main
    results, failed = [], []
    for name, cfg in runs:
        try:
            run = train(cfg, out / name, resume=args.resume, progress=progress)
        except KeyboardInterrupt:
            if main:
                print(f"landscape train: interrupted during {out / name}; every completed "
                      f"epoch is saved. Continue with:\n  {resume_command(args)}",
                      file=sys.stderr)
            raise
        except TrainingDiverged as exc:
            if main:
                print(f"landscape train: {exc}", file=sys.stderr)
            failed.append({"name": name, "path": str(out / name), "error": str(exc)})
            continue
        rows = run.read_metrics()
        last = rows[-1] if rows else {}
        results.append({"name": name, "path": str(run.path), "epochs": run.epochs(),
                        "final": last})
        if not args.json and main:
            print(f"{name}: {run.path} epoch {last.get('epoch')} test acc "
                  f"{last.get('test_acc', float('nan')):.4f} train loss "
                  f"{last.get('train_loss', float('nan')):.4f} sparsity "
                  f"{last.get('sparsity', {}).get('global', float('nan')):.4f} group sparsity "
                  f"{last.get('group_sparsity', {}).get('global', float('nan')):.4f}")
    if args.json and main:
        emit_json({"out": str(out), "runs": results, "failed": failed})
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape train``."""
    p = sub.add_parser(
        "train", help="train networks, checkpointing every epoch (resumable)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_argument_group("what to train")
    what.add_argument("--model", required=True, help="model name (landscape.models)")
    what.add_argument("--model-args", nargs="*", metavar="K=V", help="e.g. widths=1000 "
                      "batchnorm=true")
    what.add_argument("--dataset", required=True, help="dataset name (landscape.data)")
    what.add_argument("--dataset-args", nargs="*", metavar="K=V")
    what.add_argument("--data-root", help="directory of file-backed datasets")
    what.add_argument("--augment", default="none", choices=["none", "crop_flip", "crop", "flip"])
    what.add_argument("--out", required=True, help="parent directory of the run directories")
    opt = p.add_argument_group("optimizers (several names/values run one after another)")
    opt.add_argument("--optimizer", nargs="+", required=True, choices=OPTIMIZERS,
                     metavar="NAME", help=f"one or more of {', '.join(OPTIMIZERS)}")
    opt.add_argument("--lr", nargs="+", type=float, default=[0.1], help="base learning rate(s)")
    opt.add_argument("--momentum", type=float, help="SGD/RMSprop momentum")
    opt.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    opt.add_argument("--dampening", type=float, help="SGD dampening")
    opt.add_argument("--betas", nargs=2, type=float, metavar=("B1", "B2"), help="Adam betas")
    opt.add_argument("--eps", type=float, help="epsilon of the adaptive optimizers")
    opt.add_argument("--c", nargs="+", type=float, help="gRDA threshold scale(s) c")
    opt.add_argument("--mu", nargs="+", type=float, help="gRDA threshold exponent(s) mu")
    opt.add_argument("--optimizer-args", nargs="*", metavar="K=V", help="other options")
    reg = opt.add_mutually_exclusive_group()
    reg.add_argument("--l2", type=float, help="L2 term added to the gradient (g + l2 * w)")
    reg.add_argument("--weight-decay", type=float,
                     help="decoupled weight decay (w *= 1 - lr * wd, AdamW style)")
    opt.add_argument("--schedule", default="constant", choices=SCHEDULES)
    opt.add_argument("--schedule-args", nargs="*", metavar="K=V",
                     help="e.g. at=140 (drop), step_size=25 gamma=0.5 (step)")
    run = p.add_argument_group("run")
    run.add_argument("--epochs", type=int, default=10)
    run.add_argument("--batch-size", type=int, default=128)
    run.add_argument("--eval-batch-size", type=int, default=1000)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    run.add_argument("--group-xi", type=float, default=1e-6,
                     help="a unit is zero when its incoming weight norm is below this")
    run.add_argument("--resume", action="store_true",
                     help="continue existing runs from their last complete checkpoint")
    run.add_argument("--no-progress", action="store_true",
                     help="no progress bars (they show on a terminal only, on stderr)")
    add_device_flag(run, default="auto")
    prune = p.add_argument_group("sparsifiers (landscape.train.list_sparsifiers())")
    prune.add_argument("--prune", help="sparsifier name, e.g. magnitude, random, sparse-momentum")
    prune.add_argument("--prune-args", nargs="*", metavar="K=V")
    prune.add_argument("--target-sparsity", type=float, help="passed as prune_args")
    prune.add_argument("--density", type=float, help="passed as prune_args")
    add_json_flag(p)
    p.set_defaults(func=_run)
