"""What every section builder gets: the experiment, the settings, and provenance helpers."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

from landscape.report.blocks import Value
from landscape.report.evidence import Evidence, cached_evidence
from landscape.report.gather import Experiment, Run, StoredEntry
from landscape.report.provenance import entry_command, train_command
from landscape.verify import Thresholds

__all__ = ["Context", "fmt"]


def fmt(x: Any, spec: str = ".4g") -> str:
    """A number as text (``nan``/``inf`` spelled out, ``-`` for None).

    >>> fmt(0.123456), fmt(float("nan")), fmt(None), fmt(3, "d")
    ('0.1235', 'nan', '-', '3')
    """
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return format(x, spec)


@dataclass
class Context:
    """The experiment and the helpers a section uses to cite where each number comes from.

    Attributes:
        exp: the gathered experiment.
        thresholds: the verdict's thresholds.
        dpi: resolution of the static figures.
        used: the store entries cited so far (the page lists their provenance).
    """

    exp: Experiment
    thresholds: Thresholds = field(default_factory=Thresholds)
    dpi: int = 90
    used: dict[str, StoredEntry] = field(default_factory=dict)
    _commands: dict[str, str] = field(default_factory=dict)
    _evidence: dict[tuple[str, str], Evidence] = field(default_factory=dict)

    def command(self, entry: StoredEntry) -> str:
        """The command that asks the entry's question (memoised)."""
        if entry.key not in self._commands:
            self._commands[entry.key] = entry_command(self.exp, entry)
        return self._commands[entry.key]

    def cite(self, entry: StoredEntry, text: str) -> Value:
        """A value read from ``entry``: linked to its provenance row, the command as tooltip."""
        self.used[entry.key] = entry
        return Value(text, entry.anchor, f"store key {entry.key}\n{self.command(entry)}")

    def cite_run(self, run: Run, text: str, what: str = "metrics.jsonl") -> Value:
        """A value from a run's own files (its metrics or config)."""
        return Value(text, run.anchor, f"{run.path / what}\n{train_command(run)}")

    def evidence(self, sgd: Run, grda: Run, baseline: Run | None) -> Evidence:
        """The pair's cached evidence and verdict (read once, shared by the sections)."""
        key = (sgd.name, grda.name)
        if key not in self._evidence:
            self._evidence[key] = cached_evidence(self.exp, sgd, grda, baseline,
                                                  thresholds=self.thresholds)
        return self._evidence[key]

    def png(self, fig: Any) -> str:
        """A matplotlib figure as base64 PNG (the figure is closed)."""
        from landscape.plotting._style import figure_png

        return base64.b64encode(figure_png(fig, dpi=self.dpi)).decode("ascii")
