"""Plumbing shared by the analysis scripts: arguments, data of a run, the store, figures.

Each script only composes library calls: it computes nothing the library does not, and
everything expensive goes through the result store, so a rerun only redraws.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from landscape._cliutil import resolve_device
from landscape.checkpoint import checkpoint_digest, load_checkpoint
from landscape.data import Dataset, EvalSet, dataset_from_config
from landscape.rundir import RunDir, resolve_checkpoint
from landscape.store import Store, open_store


def check_runs(p: argparse.ArgumentParser, paths: list[str]) -> None:
    """Exit with a clear message (status 2) unless every path is a run with metrics."""
    for path in paths:
        try:
            RunDir(path).read_config()
        except FileNotFoundError as exc:
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
    p.add_argument("--store", help="result store (default: a store beside the first run)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--batch-size", type=int, default=1000, help="evaluation batch size")
    return p


@dataclass
class Context:
    """A run's data on the analysis device, and the store."""

    dataset: Dataset
    train: EvalSet
    test: EvalSet
    store: Store
    device: torch.device


def context(args: argparse.Namespace, run_or_checkpoint: str | Path) -> Context:
    """Data of the run (as its config records it), evaluation sets, and the store."""
    path = resolve_checkpoint(run_or_checkpoint)
    config = load_checkpoint(path).config
    dataset = dataset_from_config(config)
    device = resolve_device(args.device)
    return Context(
        dataset=dataset,
        train=EvalSet(dataset, "train", batch_size=args.batch_size, device=device),
        test=EvalSet(dataset, "test", batch_size=args.batch_size, device=device),
        store=open_store(args.store, Path(run_or_checkpoint)),
        device=device,
    )


def model_at(run_or_checkpoint: str | Path, device: torch.device):
    """``(model, inputs)`` at a checkpoint (a run's last by default) for cached analyses."""
    path = resolve_checkpoint(run_or_checkpoint)
    return load_checkpoint(path).build_model(device), {"checkpoint": checkpoint_digest(path)}


def label(run: str | Path) -> str:
    """A run's directory name, used as its label in figures."""
    return Path(run).name


def metrics(run: str | Path) -> list[dict]:
    """The run's metric rows."""
    return RunDir(run).read_metrics()
