"""Where results go by default: a ``store`` directory beside the run directory."""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_store_path"]


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
