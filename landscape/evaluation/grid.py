"""Where the values of a grid of evaluations go, point by point (planes, surfaces).

A grid evaluator computes the points a sink does not have yet and writes each one as soon as
it exists, so an interrupted grid resumes where it stopped and several processes can share
the points of one grid. A sink is a result-store ``partial`` entry (durable) or a
:class:`MemoryGrid` (in memory, same interface).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

__all__ = ["GridSink", "MemoryGrid"]


class GridSink(Protocol):
    """Where grid values go: a store ``partial`` entry or a :class:`MemoryGrid`."""

    @property
    def done(self) -> np.ndarray:
        """Boolean mask of the points already written."""
        ...

    def write(self, index: tuple[int, ...], **values: float) -> None:
        """Record the values of one point (durably, for a store)."""
        ...


class MemoryGrid:
    """An in-memory :class:`GridSink` with the store's ``partial`` interface.

    >>> g = MemoryGrid((2, 2), ("train_loss",))
    >>> g.write((0, 1), train_loss=0.5)
    >>> g.done.tolist(), float(g["train_loss"][0, 1]), g.complete
    ([[False, True], [False, False]], 0.5, False)
    """

    def __init__(self, shape: tuple[int, ...], fields: Iterable[str]) -> None:
        self._done = np.zeros(shape, dtype=bool)
        self._values = {f: np.full(shape, np.nan) for f in fields}

    @property
    def done(self) -> np.ndarray:
        """Boolean mask of the points written so far (a copy)."""
        return self._done.copy()

    @property
    def complete(self) -> bool:
        """Whether every point has been written."""
        return bool(self._done.all())

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the values of each point."""
        return tuple(self._values)

    def pending(self) -> list[tuple[int, ...]]:
        """Indices of the points not written yet, in row-major order."""
        return [tuple(int(i) for i in ix) for ix in np.argwhere(~self._done)]

    def write(self, index: tuple[int, ...], **values: float) -> None:
        """Record one point's values."""
        for key, value in values.items():
            self._values[key][index] = value
        self._done[index] = True

    def __getitem__(self, field: str) -> np.ndarray:
        return self._values[field]
