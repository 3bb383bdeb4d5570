"""The store's exceptions and its one-line warnings.

A :class:`StoreWarning` is printed as one line on stderr, ``landscape store: <message>``,
without the source line the :mod:`warnings` module prints by default (it points into this
library and tells a user nothing). Other warnings are formatted as before.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = [
    "CorruptEntryError",
    "NotAStoreError",
    "StoreError",
    "StoreVersionError",
    "StoreWarning",
    "report",
]


class StoreError(ValueError):
    """The store cannot answer as asked (a version conflict, a corrupt entry, bad fields)."""


class CorruptEntryError(StoreError):
    """An entry file that is damaged, incomplete, or not what its question asks for."""


class StoreVersionError(StoreError):
    """An entry or store written by a newer store format or analysis schema than this code."""


class NotAStoreError(StoreError):
    """A directory that is not a result store (no marker, no entries): never written into."""


class StoreWarning(UserWarning):
    """A problem the store worked around (a corrupt entry moved aside and recomputed)."""


_format_default = warnings.formatwarning


def _format(message: Any, category: type[Warning], filename: str, lineno: int,
            line: str | None = None) -> str:
    if isinstance(category, type) and issubclass(category, StoreWarning):
        return "landscape store: " + " ".join(str(message).split()) + "\n"
    return _format_default(message, category, filename, lineno, line)


if getattr(warnings.formatwarning, "__module__", None) != __name__:  # once, even on reload
    warnings.formatwarning = _format


def report(message: str) -> None:
    """Warn with a :class:`StoreWarning` (one line on stderr)."""
    warnings.warn(" ".join(message.split()), StoreWarning, stacklevel=3)
