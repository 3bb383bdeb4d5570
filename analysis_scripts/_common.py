"""Plumbing shared by the analysis scripts: arguments, subjects, the store, runs.

Each script only composes library calls: it computes nothing the library does not, and
everything expensive goes through the result store, so a rerun only redraws.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.commands._args import open_store
from landscape.devices import resolve_device
from landscape.experiment.subject import DataOptions, Subject, resolve_subject
from landscape.rundir import RunDir, resolve_checkpoint
from landscape.store import Store


def check_runs(p: argparse.ArgumentParser, paths: list[str]) -> None:
    """Exit with a clear message (status 2) unless every path is a run with metrics."""
    for path in paths:
        try:
            RunDir(path).read_config()
        except (FileNotFoundError, ValueError) as exc:
            p.error(str(exc))
        if not RunDir(path).read_metrics():
            p.error(f"run {path} has no metrics yet: train it first")


def check_checkpoints(p: argparse.ArgumentParser, paths: list[str]) -> None:
    """Exit with a clear message unless every path is a checkpoint or a run with one."""
    for path in paths:
        try:
            resolve_checkpoint(path)
        except (FileNotFoundError, ValueError) as exc:
            p.error(str(exc))


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every script shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default="figures", help="folder of the figures (default figures/)")
    p.add_argument("--store", help="result store (default: the store beside the first run)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size")
    return p


def data(args: argparse.Namespace, *, subset: int | None = None) -> DataOptions:
    """The runs' own data, in evaluation batches of ``--batch-size`` on ``--device``."""
    return DataOptions(batch_size=args.batch_size, subset=subset,
                       device=resolve_device(args.device))


def subject(args: argparse.Namespace, run_or_checkpoint: str | Path,
            splits: tuple[str, ...] = ("train",)) -> Subject:
    """The network at a checkpoint (a run's last by default) with its run's data."""
    return resolve_subject(run_or_checkpoint, data=data(args), splits=splits)


def store(args: argparse.Namespace, near: str | Path) -> Store:
    """``--store``, else the default store of the run at ``near``."""
    return open_store(args.store, near)


def label(run: str | Path) -> str:
    """A run's directory name, used as its label in figures."""
    return Path(run).name


def metrics(run: str | Path) -> list[dict]:
    """The run's metric rows."""
    return RunDir(run).read_metrics()
