"""Where results go: ``<run directory's parent>/store`` unless ``--store PATH``."""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.store.store import Store

__all__ = ["add_store_flag", "default_store_path", "open_store"]


def default_store_path(path: str | Path) -> Path:
    """The default store for a run directory, or a checkpoint file inside one.

    Runs side by side share one store: ``runs/sgd`` and ``runs/grda/epoch_0010.pt`` both map
    to ``runs/store``.

    >>> default_store_path("runs/sgd").as_posix(), default_store_path("runs/sgd/x.pt").as_posix()
    ('runs/store', 'runs/store')
    """
    path = Path(path)
    looks_like_file = path.is_file() or (not path.is_dir() and path.suffix != "")
    run = path.parent if looks_like_file else path
    return run.parent / "store"


def add_store_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--store PATH`` (default ``None``: the store next to the run, see ``open_store``)."""
    parser.add_argument(
        "--store", metavar="PATH", default=None,
        help="result store directory (default: a 'store' directory beside the run directory)",
    )


def open_store(args_store: str | None, near: str | Path) -> Store:
    """The store named by ``--store``, else the default store for the run at ``near``.

    Nothing is checked or created here: a read-only store serves the answers it holds, and
    :meth:`Store.get_or_compute` checks writability before it computes anything.
    """
    return Store(Path(args_store) if args_store else default_store_path(near))
