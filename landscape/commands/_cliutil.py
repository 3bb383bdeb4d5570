"""Helpers shared by the subcommands: JSON output, devices, ``KEY=VALUE`` options."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "add_device_flag",
    "add_json_flag",
    "add_progress_flag",
    "emit_json",
    "int_at_least",
    "parse_kv",
    "parse_value",
    "positive_float",
    "resolve_device",
    "show_progress",
    "to_jsonable",
]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``: print one JSON object on stdout instead of the human report."""
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (for scripts)"
    )


def add_progress_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--no-progress`` (progress bars go to stderr, and only when it is a terminal)."""
    parser.add_argument(
        "--no-progress", action="store_true",
        help="no progress bars (they are shown on stderr only when it is a terminal)",
    )


def show_progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: stderr is a terminal, no ``--json``/``--no-progress``."""
    quiet = getattr(args, "json", False) or getattr(args, "no_progress", False)
    return not quiet and sys.stderr.isatty()


def int_at_least(low: int) -> Any:
    """An ``argparse`` type: an integer >= ``low`` (argparse names the flag in its error).

    >>> int_at_least(2)("21")
    21
    >>> int_at_least(2)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 2, got '0'
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def positive_float(text: str) -> float:
    """An ``argparse`` type: a finite number > 0.

    >>> positive_float("1e-3")
    0.001
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def resolve_device(name: Any) -> Any:
    """:func:`landscape.devices.resolve_device` (imports torch when called, not before)."""
    from landscape.devices import resolve_device as resolve

    return resolve(name)


def add_device_flag(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """Add ``--device`` (``auto`` picks CUDA when present)."""
    parser.add_argument(
        "--device", default=default,
        help="cpu, cuda, cuda:N, or auto (CUDA when present; default %(default)s)",
    )


def parse_value(text: str) -> Any:
    """Parse a command-line value: bool, int, float, comma list, or string.

    >>> parse_value("true"), parse_value("3"), parse_value("0.5"), parse_value("300,100")
    (True, 3, 0.5, [300, 100])
    """
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    if "," in text:
        return [parse_value(t) for t in text.split(",") if t]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_kv(items: list[str] | None) -> dict[str, Any]:
    """Parse ``["widths=1000", "batchnorm=true"]`` into a dict.

    Raises:
        ValueError: an item without ``=``.

    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {item!r} (e.g. widths=300,100)")
        out[key.replace("-", "_")] = parse_value(value)
    return out


def to_jsonable(obj: Any) -> Any:
    """Convert tensors, numpy values, paths and non-finite floats into JSON-able values."""
    # a tensor or an array exists only if its library was imported: none is imported here
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if torch is not None and isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if np is not None and isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if np is not None and isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def short_label(label: str) -> str:
    """A subject's short name: ``sgd epoch 8`` for a run's checkpoint, else the file's name.

    >>> short_label("runs/sgd epoch 8"), short_label("weights/net.pt")
    ('sgd epoch 8', 'net.pt')
    """
    head, sep, epoch = label.rpartition(" epoch ")
    return f"{Path(head).name} epoch {epoch}" if sep else Path(label).name


def write_figure(folder: str | Path, name: str, plot: Callable[..., Any], *args: Any,
                 **kwargs: Any) -> str:
    """Write ``plot(*args, **kwargs)`` to ``folder/name`` and return the path.

    Through the figure cache (:func:`landscape.plotting._cache.save_plot`): a figure whose
    numbers and plotting code are unchanged is copied, not drawn again.
    """
    from landscape.plotting._cache import save_plot

    return str(save_plot(Path(folder) / name, plot, *args, **kwargs))


def emit_json(obj: Any) -> None:
    """Print ``obj`` as one JSON object on stdout."""
    json.dump(to_jsonable(obj), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()
