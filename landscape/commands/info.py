"""``landscape info RUN_OR_CHECKPOINT``: what a run or a checkpoint holds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from landscape.commands._cliutil import add_json_flag, emit_json
from landscape.rundir import RunDir

__all__ = ["describe", "register"]


def describe(path: str | Path) -> dict[str, Any]:
    """Summarise a run directory or a checkpoint file as a JSON-able dict.

    Raises:
        FileNotFoundError: the path does not exist or is neither a run nor a checkpoint.
        landscape.checkpoint.CheckpointError: an unreadable checkpoint.

    """
    path = Path(path)
    if path.is_dir():
        run = RunDir(path)
        config = run.read_config()
        metrics = run.read_metrics()
        return {
            "kind": "run",
            "path": str(path),
            "config": config,
            "epochs": run.epochs(),
            "last_metrics": metrics[-1] if metrics else None,
        }
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: pass a run directory or a checkpoint")
    from landscape.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    return {
        "kind": "checkpoint",
        "path": str(path),
        "model": {"name": ckpt.model_name, "kwargs": ckpt.model_kwargs},
        "epoch": ckpt.epoch,
        "step": ckpt.step,
        "num_parameters": sum(ckpt.state_dict[n].numel() for n in ckpt.param_names),
        "digest": ckpt.digest(),
        "metrics": ckpt.metrics,
        "config": ckpt.config,
    }


def _format_metrics(m: dict[str, Any] | None) -> str:
    if not m:
        return "  (none yet)"
    lines = []
    for key in sorted(m):
        value = m[key]
        if isinstance(value, dict | list):
            continue
        lines.append(f"  {key:<20} {value:.6g}" if isinstance(value, float) else
                     f"  {key:<20} {value}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    info = describe(args.path)
    if args.json:
        emit_json(info)
        return 0
    if info["kind"] == "run":
        cfg = info["config"]
        print(f"run {info['path']}")
        for key in ("model", "model_args", "dataset", "optimizer", "optimizer_args",
                    "epochs", "batch_size", "seed"):
            if key in cfg:
                print(f"  {key:<20} {cfg[key]}")
        epochs = info["epochs"]
        span = f"{epochs[0]}..{epochs[-1]} ({len(epochs)} checkpoints)" if epochs else "none"
        print(f"  {'checkpoints':<20} {span}")
        print("last metrics:")
        print(_format_metrics(info["last_metrics"]))
    else:
        print(f"checkpoint {info['path']}")
        print(f"  {'model':<20} {info['model']['name']} {info['model']['kwargs']}")
        print(f"  {'epoch':<20} {info['epoch']}")
        print(f"  {'step':<20} {info['step']}")
        print(f"  {'parameters':<20} {info['num_parameters']:,}")
        print(f"  {'digest':<20} {info['digest'][:16]}")
        print("metrics:")
        print(_format_metrics(info["metrics"]))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``landscape info``."""
    p = sub.add_parser("info", help="show a run's config, epochs and last metrics, or a checkpoint")
    p.add_argument("path", metavar="RUN_OR_CHECKPOINT")
    add_json_flag(p)
    p.set_defaults(func=_run)
