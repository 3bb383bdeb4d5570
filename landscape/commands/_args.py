"""The flags every analysis command shares, with one meaning and one default everywhere.

* the subject: ``CHECKPOINT`` (a landscape checkpoint, a run directory with ``--epoch``, or a
  plain ``state_dict``/``.safetensors`` file with ``--model``/``--model-file``), its data
  (``--dataset``/``--dataset-args``/``--data-root``, or ``--data-file``), ``--batch-size``,
  ``--subset``, ``--dtype``, ``--device``;
* the output: ``--store DIR``, ``--figures DIR``, ``--json``, ``--no-progress``;
* ``--at-epochs E [E ...]`` wherever a command takes a list of epochs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from landscape.commands._cliutil import (
    add_device_flag,
    add_json_flag,
    add_progress_flag,
    int_at_least,
    parse_kv,
    resolve_device,
)

__all__ = [
    "STORE_ENV",
    "add_data_flags",
    "add_epochs_flag",
    "add_figures_flag",
    "add_model_flags",
    "add_output_flags",
    "add_store_flag",
    "add_subject_flags",
    "data_options",
    "model_options",
    "open_store",
    "store_path",
    "subject_from_args",
]

STORE_ENV = "LANDSCAPE_STORE"

_TARGET_HELP = ("a landscape checkpoint, a run directory (its last epoch, or --epoch), or a "
                "plain state_dict (.pt/.pth) or .safetensors file of your own network (name its "
                "model with --model or --model-file)")


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--model-args``, ``--model-file`` (for plain weights files)."""
    g = parser.add_argument_group("model of a plain state_dict / .safetensors file")
    g.add_argument("--model", metavar="NAME",
                   help="a registry model (landscape.models.list_models()) or torchvision:NAME "
                        "(any torchvision classification model, built without weights)")
    g.add_argument("--model-args", nargs="*", metavar="KEY=VALUE",
                   help="model options, e.g. num_classes=10 (torchvision) or widths=300,100")
    g.add_argument("--model-file", metavar="PATH.py:FACTORY",
                   help="your own model: FACTORY(**model-args) defined in PATH.py returns the "
                        "nn.Module. This RUNS the code in PATH.py (as importing it would): "
                        "only name files you trust")


def add_data_flags(parser: argparse.ArgumentParser, *, subset: bool = True,
                   batch_size: bool = True) -> None:
    """The data flags: registry dataset, image folder or data file; batch size, subset, dtype.

    ``batch_size=False`` leaves ``--batch-size`` to the command (``curve fit``: minibatches).
    """
    g = parser.add_argument_group("data (default: the run's own dataset)")
    g.add_argument("--dataset", metavar="NAME",
                   help="a registry dataset (landscape.data.list_datasets()), e.g. mnist5k, "
                        "cifar10, or imagefolder with --data-root DIR")
    g.add_argument("--dataset-args", nargs="*", metavar="KEY=VALUE",
                   help="dataset options, e.g. size=32 (imagefolder)")
    g.add_argument("--data-root", metavar="DIR", help="where file-backed datasets live")
    g.add_argument("--data-file", metavar="PATH.py:FACTORY",
                   help="your own evaluation data: FACTORY(**data-args) in PATH.py returns "
                        "re-iterable (x, y) batches, or {'train': ..., 'test': ...}. This RUNS "
                        "the code in PATH.py: only name files you trust")
    g.add_argument("--data-args", nargs="*", metavar="KEY=VALUE",
                   help="options of the --data-file factory")
    if batch_size:
        g.add_argument("--batch-size", type=int_at_least(1), default=1000,
                       help="samples per evaluation batch of a registry dataset (default 1000)")
    if subset:
        g.add_argument("--subset", type=int_at_least(1),
                       help="a fixed random subset of N samples of each split (default: all)")
    g.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="floating dtype of the parameters and inputs (default float32)")


def add_subject_flags(parser: argparse.ArgumentParser, *, name: str = "checkpoint",
                      metavar: str = "CHECKPOINT", subset: bool = True) -> None:
    """The subject positional, ``--epoch``, the model flags and the data flags."""
    parser.add_argument(name, metavar=metavar, help=_TARGET_HELP)
    parser.add_argument("--epoch", type=int_at_least(0),
                        help="with a run directory: its checkpoint of this epoch (default: last)")
    add_model_flags(parser)
    add_data_flags(parser, subset=subset)


def add_store_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--store DIR`` with the one default of every command (see :func:`store_path`)."""
    parser.add_argument(
        "--store", metavar="DIR", default=None,
        help=f"result store (default: ${STORE_ENV} if set, else a 'store' directory beside the "
             "run directory, or beside the weights file, or ./store)",
    )


def add_figures_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--figures DIR``: where the command's figures go (none without it)."""
    parser.add_argument("--figures", metavar="DIR",
                        help="also write the figures (PNG) into DIR")


def add_epochs_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str, *,
                    default: str = "every checkpointed epoch") -> None:
    """``--at-epochs E [E ...]``: a list of epochs (``--epochs`` is a count, in ``train``)."""
    parser.add_argument("--at-epochs", type=int_at_least(0), nargs="+", metavar="E",
                        help=f"the epochs {what} (default: {default})")


def add_output_flags(parser: argparse.ArgumentParser, *, figures: bool = True,
                     store: bool = True) -> None:
    """``--store``, ``--figures``, ``--device``, ``--no-progress``, ``--json``."""
    g = parser.add_argument_group("output")
    if store:
        add_store_flag(g)
    if figures:
        add_figures_flag(g)
    add_device_flag(g)
    add_progress_flag(g)
    add_json_flag(g)


def store_path(args_store: str | None, near: str | Path | None = None) -> Path:
    """The store directory: ``--store``, else ``$LANDSCAPE_STORE``, else beside ``near``.

    Beside ``near``: runs side by side share one store (``runs/sgd`` and
    ``runs/grda/epoch_0010.pt`` both map to ``runs/store``, also for a landscape checkpoint
    copied out of its run); a plain weights file (state_dict, safetensors) gets a ``store``
    directory beside it; with nothing near, ``./store``.
    """
    from landscape.store import default_store_path

    if args_store:
        return Path(args_store)
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV])
    if near is None:
        return Path("store")
    near = Path(near)
    if near.is_file() and not (near.parent / "config.json").is_file():
        from landscape.checkpoint import is_landscape_checkpoint

        if not is_landscape_checkpoint(near):
            return near.parent / "store"  # the user's own weights file, not a checkpoint
    return default_store_path(near)


def open_store(args_store: str | None, near: str | Path | None = None) -> Any:
    """The :class:`landscape.store.Store` of :func:`store_path` (nothing is created here)."""
    from landscape.store import Store

    return Store(store_path(args_store, near))


def model_options(args: argparse.Namespace) -> Any:
    """:class:`landscape.experiment.ModelOptions` from ``--model``/``--model-file``/args."""
    from landscape.experiment.subject import ModelOptions

    model, model_file = getattr(args, "model", None), getattr(args, "model_file", None)
    if model and model_file:
        raise ValueError("give either --model or --model-file, not both")
    return ModelOptions(spec=model_file or model,
                        options=parse_kv(getattr(args, "model_args", None)))


def data_options(args: argparse.Namespace) -> Any:
    """:class:`landscape.experiment.DataOptions` from the data flags and ``--device``."""
    import torch

    from landscape.experiment.subject import DataOptions

    return DataOptions(
        dataset=getattr(args, "dataset", None),
        options=parse_kv(getattr(args, "dataset_args", None)),
        root=getattr(args, "data_root", None),
        data_file=getattr(args, "data_file", None),
        file_options=parse_kv(getattr(args, "data_args", None)),
        batch_size=getattr(args, "batch_size", 1000),
        subset=getattr(args, "subset", None),
        device=resolve_device(getattr(args, "device", "auto")),
        dtype=getattr(torch, getattr(args, "dtype", "float32")),
    )


def subject_from_args(args: argparse.Namespace, *, splits: tuple[str, ...] = ("train",),
                      target: str | None = None, epoch: int | None = None) -> Any:
    """Resolve the command's subject (see :func:`landscape.experiment.resolve_subject`)."""
    from landscape.experiment.subject import resolve_subject

    return resolve_subject(
        target if target is not None else args.checkpoint,
        epoch=epoch if epoch is not None else getattr(args, "epoch", None),
        model=model_options(args), data=data_options(args), splits=splits,
    )
