"""Run directories: ``config.json``, ``metrics.jsonl``, ``epoch_NNNN.pt``.

Every file is written atomically; ``metrics.jsonl`` is rewritten whole on each append (it is
small: a line per epoch), so a killed process never leaves a half line behind.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from landscape._io import atomic_write_bytes, atomic_write_json

__all__ = ["RunDir", "resolve_checkpoint"]

_EPOCH_RE = re.compile(r"^epoch_(\d{4,})\.pt$")


class RunDir:
    """A training run's directory.

    >>> import tempfile
    >>> run = RunDir(tempfile.mkdtemp())
    >>> run.checkpoint_path(3).name
    'epoch_0003.pt'
    >>> run.epochs()
    []
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config_path(self) -> Path:
        """``RUN/config.json``."""
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        """``RUN/metrics.jsonl``."""
        return self.path / "metrics.jsonl"

    def exists(self) -> bool:
        """Whether this looks like a run directory (has ``config.json``)."""
        return self.config_path.is_file()

    def checkpoint_path(self, epoch: int) -> Path:
        """Path of the checkpoint after ``epoch`` epochs (0: the initialisation)."""
        return self.path / f"epoch_{int(epoch):04d}.pt"

    def epochs(self) -> list[int]:
        """Epochs with a complete checkpoint file, ascending (temporary files are ignored)."""
        if not self.path.is_dir():
            return []
        found = (_EPOCH_RE.match(p.name) for p in self.path.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def last_epoch(self) -> int | None:
        """The highest checkpointed epoch, or ``None``."""
        epochs = self.epochs()
        return epochs[-1] if epochs else None

    def read_config(self) -> dict[str, Any]:
        """The run's resolved configuration.

        Raises:
            FileNotFoundError: not a run directory.

        """
        if not self.config_path.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a run directory: it has no config.json (runs are made "
                "by `landscape train --out DIR`)"
            )
        try:
            config = json.loads(self.config_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{self.config_path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                f"{exc.msg}): it was edited or damaged; restore it from a copy, or rewrite it "
                "from a checkpoint's config (`landscape info RUN/epoch_0000.pt --json`)"
            ) from None
        if not isinstance(config, dict):
            raise ValueError(
                f"{self.config_path} holds a JSON {type(config).__name__}, not the object a "
                "run's configuration is: restore it from a copy"
            )
        return config

    def write_config(self, config: dict[str, Any]) -> None:
        """Atomically write ``config.json``."""
        atomic_write_json(self.config_path, config)

    def read_metrics(self) -> list[dict[str, Any]]:
        """All metric rows, one per epoch, in file order."""
        if not self.metrics_path.is_file():
            return []
        rows = []
        for number, line in enumerate(self.metrics_path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{self.metrics_path} line {number} is not valid JSON ({exc.msg}): the file "
                    "was edited or damaged; each checkpoint holds its epoch's metrics, so "
                    "delete the file and `landscape train ... --resume` rewrites it, or fix "
                    "that line"
                ) from None
            if not isinstance(row, dict):
                raise ValueError(
                    f"{self.metrics_path} line {number} is a JSON {type(row).__name__}, not a "
                    "metrics object: fix or delete that line"
                )
            rows.append(row)
        return rows

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Atomically replace ``metrics.jsonl`` with ``rows``."""
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        atomic_write_bytes(self.metrics_path, text.encode())

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one row (atomically, by rewriting the small file)."""
        self.write_metrics([*self.read_metrics(), row])

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop rows of epochs after ``last_epoch`` (used when resuming)."""
        rows = self.read_metrics()
        kept = [r for r in rows if int(r.get("epoch", 0)) <= last_epoch]
        if len(kept) != len(rows):
            self.write_metrics(kept)


def resolve_checkpoint(path: str | Path, epoch: int | None = None) -> Path:
    """Return the checkpoint file named by ``path``: a file, or a run's epoch (last by default).

    Raises:
        FileNotFoundError: the path does not exist, or the run lacks that epoch.
    """
    p = Path(path)
    if not p.is_dir():
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist: pass a checkpoint or a run directory")
        if epoch is not None:
            raise ValueError(f"--epoch selects a checkpoint of a run directory; {p} is a file")
        return p
    run = RunDir(p)
    epochs = run.epochs()
    if not epochs:
        raise FileNotFoundError(f"run {p} has no checkpoint yet (no epoch_NNNN.pt)")
    e = epochs[-1] if epoch is None else int(epoch)
    if e not in epochs:
        raise FileNotFoundError(f"run {p} has no checkpoint of epoch {e}; it has {epochs}")
    return run.checkpoint_path(e)
