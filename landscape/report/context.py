"""What every section builder gets: the experiment, the settings, and provenance helpers."""

from __future__ import annotations

import base64
import math
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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
        pending: the static figures to draw (:meth:`static`).
    """

    exp: Experiment
    thresholds: Thresholds = field(default_factory=Thresholds)
    dpi: int = 90
    used: dict[str, StoredEntry] = field(default_factory=dict)
    pending: list[Deferred] = field(default_factory=list)
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

    def static(self, plot: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred:
        """A static figure ``plot(*args, **kwargs)``, drawn as PNG when the page is rendered.

        The figures are drawn together at the end (:meth:`draw_static`), over several
        processes when there are several cores; the arguments are the numbers read from the
        store (``plot`` is a :mod:`landscape.plotting` function).
        """
        job = Deferred(plot, args, kwargs)
        self.pending.append(job)
        return job

    def draw_static(self, workers: int | None = None) -> None:
        """Draw every pending static figure (``workers`` processes; 1: in this process)."""
        from landscape.plotting._cache import lookup_png

        for job in self.pending:  # figures drawn before with the same numbers: no drawing
            if job.value is None:
                png = lookup_png(job.plot, job.args, job.kwargs, dpi=self.dpi)
                if png is not None:
                    job.value = base64.b64encode(png).decode("ascii")
        jobs = [j for j in self.pending if j.value is None]
        if not jobs:
            return
        if workers is None:
            workers = int(os.environ.get("LANDSCAPE_REPORT_WORKERS") or os.cpu_count() or 1)
        workers = max(1, min(workers, len(jobs)))
        values = None
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            try:  # forked workers share the loaded modules: no start-up cost
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    values = list(pool.map(_draw, [(j.plot, j.args, j.kwargs, self.dpi)
                                                   for j in jobs]))
            except (OSError, BrokenProcessPool):
                values = None  # no processes here: draw them in this one
        if values is None:
            values = [_draw((j.plot, j.args, j.kwargs, self.dpi)) for j in jobs]
        for job, value in zip(jobs, values):
            job.value = value


@dataclass
class Deferred:
    """A static figure to draw: ``plot(*args, **kwargs)``; ``value`` is its base64 PNG."""

    plot: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            raise RuntimeError("the static figures were not drawn: call draw_static() first")
        return self.value


def _draw(job: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], int]) -> str:
    """Draw one figure as base64 PNG (in a worker process or in this one)."""
    from landscape.plotting._cache import cached_png

    plot, args, kwargs, dpi = job  # a figure whose numbers did not change is not drawn again
    return base64.b64encode(cached_png(plot, args, kwargs, dpi=dpi)).decode("ascii")
