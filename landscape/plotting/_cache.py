"""Figures drawn once: a PNG is a pure function of the plot function and the numbers it draws.

Drawing a figure costs far more than reading the numbers behind it (constrained layout,
contours), and the demo and the report redraw the same figures every time they run. A figure
is therefore keyed by the SHA-256 of the plot function's name, the canonical bytes of its
arguments (arrays by dtype, shape and bytes; dicts by sorted keys), the resolution, the
matplotlib version and the source of the plotting package, and its PNG is kept under that
key in the user cache (``$LANDSCAPE_CACHE_DIR/figures``): the same figure is never drawn
twice, and any change of the numbers, of the drawing code or of matplotlib draws it again.
Arguments that cannot be hashed canonically (an arbitrary object) are drawn every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from landscape._io import atomic_path, atomic_write_bytes

__all__ = ["cached_png", "figure_key", "lookup_png", "save_plot"]


_KEY_PNG = re.compile(r"[0-9a-f]{64}\.png")


class _Unhashable(TypeError):
    """An argument without a canonical byte form: draw the figure every time."""


def _feed(h: Any, value: Any) -> None:
    import numpy as np

    if value is None or isinstance(value, bool | int | str):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, float):
        h.update(f"float:{value!r};".encode())  # repr round-trips; nan and inf spelled out
    elif isinstance(value, Path):
        h.update(f"path:{value};".encode())
    elif isinstance(value, Mapping):
        h.update(f"map{len(value)}{{".encode())
        for key in sorted(value, key=str):
            _feed(h, str(key))
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, list | tuple):
        h.update(f"seq{len(value)}[".encode())
        for item in value:
            _feed(h, item)
        h.update(b"]")
    elif isinstance(value, np.ndarray | np.generic) or type(value).__module__ == "torch":
        if type(value).__module__ == "torch":
            if not hasattr(value, "detach"):
                raise _Unhashable(type(value).__name__)
            value = value.detach().cpu().numpy()
        arr = np.ascontiguousarray(value)
        if arr.dtype.kind == "O":
            raise _Unhashable("object array")
        h.update(f"array:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    else:
        raise _Unhashable(type(value).__name__)


@cache
def _code_digest() -> str:
    """SHA-256 of the plotting package's source and matplotlib's version."""
    import matplotlib

    h = hashlib.sha256(f"matplotlib {matplotlib.__version__};".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def figure_key(plot: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any],
               dpi: int) -> str | None:
    """The figure's content key, or ``None`` when an argument has no canonical bytes.

    >>> import numpy as np
    >>> def plot(x, title=""): ...
    >>> a = figure_key(plot, (np.arange(3.0),), {"title": "t"}, 100)
    >>> a == figure_key(plot, (np.arange(3.0),), {"title": "t"}, 100)
    True
    >>> a == figure_key(plot, (np.arange(4.0),), {"title": "t"}, 100)
    False
    """
    h = hashlib.sha256(f"{plot.__module__}.{plot.__qualname__};dpi {dpi};{_code_digest()};"
                       .encode())
    try:
        _feed(h, list(args))
        _feed(h, dict(kwargs))
    except _Unhashable:
        return None
    return h.hexdigest()


def _cache_dir() -> Path:
    from landscape.data._cache import cache_dir

    return cache_dir() / "figures"


def _read(key: str | None) -> bytes | None:
    if key is None:
        return None
    with contextlib.suppress(OSError):
        data = (_cache_dir() / f"{key}.png").read_bytes()
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82"):
            return data  # complete PNG files only (they are written atomically anyway)
    return None


def lookup_png(plot: Callable[..., Any], args: tuple[Any, ...] = (),
               kwargs: Mapping[str, Any] | None = None, *, dpi: int = 150) -> bytes | None:
    """The PNG of an identical figure drawn before, or ``None`` (nothing is drawn)."""
    return _read(figure_key(plot, args, dict(kwargs or {}), dpi))


def cached_png(plot: Callable[..., Any], args: tuple[Any, ...] = (),
               kwargs: Mapping[str, Any] | None = None, *, dpi: int = 150) -> bytes:
    """The PNG of ``plot(*args, **kwargs)``, drawn only when no identical figure was drawn.

    A cache that cannot be read or written is skipped: the figure is drawn.
    """
    from landscape.plotting._style import figure_png

    kwargs = dict(kwargs or {})
    key = figure_key(plot, args, kwargs, dpi)
    data = _read(key)
    if data is not None:
        return data
    data = figure_png(plot(*args, **kwargs), dpi=dpi)
    path = _cache_dir() / f"{key}.png" if key is not None else None
    if path is not None:
        with contextlib.suppress(OSError):
            atomic_write_bytes(path, data)
            _prune(path.parent)
    return data


MAX_FIGURES = 2000
"""Most PNGs kept in the figure cache; the least recently written go first."""


def _prune(folder: Path) -> None:
    """Remove the oldest cached figures beyond :data:`MAX_FIGURES` (only ``<key>.png``)."""
    names = [p for p in folder.iterdir() if _KEY_PNG.fullmatch(p.name)]
    if len(names) <= MAX_FIGURES:
        return
    names.sort(key=lambda p: p.stat().st_mtime)
    for path in names[: len(names) - MAX_FIGURES]:
        with contextlib.suppress(OSError):
            path.unlink()


def save_plot(path: str | Path, plot: Callable[..., Any], *args: Any, dpi: int = 150,
              **kwargs: Any) -> Path:
    """Write ``plot(*args, **kwargs)`` as PNG to ``path``, drawing it only when it changed.

    The file is rewritten (atomically) only when its bytes differ from the figure's.
    """
    path = Path(path)
    data = cached_png(plot, args, kwargs, dpi=dpi)
    with contextlib.suppress(OSError):
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return path
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
