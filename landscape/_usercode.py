"""Run a user's Python file and call a factory in it: ``path/to/file.py:FACTORY``.

Loading such a file executes its code, with the rights of the current user: that is the
point (the file defines the user's model or data), and the reason it is only ever done for a
file the user named. The bytes are read once: the SHA-256 that identifies the file is the
hash of exactly the code that ran. Only this file is hashed, not the modules it imports.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import numbers
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FileSpec", "call_factory", "load_factory", "parse_file_spec", "plain_options"]


@dataclass(frozen=True)
class FileSpec:
    """A parsed ``PATH.py:FACTORY``.

    Attributes:
        path: the file, as given (not resolved).
        factory: the name of a callable defined in it.

    """

    path: Path
    factory: str

    def __str__(self) -> str:
        return f"{self.path}:{self.factory}"


def parse_file_spec(spec: str, *, what: str) -> FileSpec:
    """Split ``PATH.py:FACTORY``.

    Args:
        spec: the text, e.g. ``"nets/model.py:make_model"``.
        what: ``"model"`` or ``"data"``, for messages.

    Raises:
        ValueError: not of that form.

    >>> parse_file_spec("a/m.py:build", what="model")
    FileSpec(path=PosixPath('a/m.py'), factory='build')
    """
    head, sep, factory = spec.rpartition(":")
    if not sep or not head.endswith(".py") or not factory.isidentifier():
        raise ValueError(
            f"{what} file {spec!r} is not PATH.py:FACTORY: name the Python file and the "
            f"function in it that returns the {what} (e.g. {what}.py:make_{what})"
        )
    return FileSpec(Path(head).expanduser(), factory)


def load_factory(spec: FileSpec, *, what: str) -> tuple[Callable[..., Any], str]:
    """Run the file and return ``(factory, sha256 of the file's bytes)``.

    The file runs as a fresh module (its directory first on ``sys.path`` while it runs, so
    it can import its neighbours), named after its hash.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the path is a directory, or the file defines no ``FACTORY`` (the message
            lists what it defines).
        RuntimeError: running the file raised (the message names the file and the error).
        TypeError: ``FACTORY`` is not callable.

    """
    path = spec.path
    if path.is_dir():
        raise ValueError(f"{what} file {str(path)!r} is a directory: name a Python file, as in "
                         f"{what}.py:{spec.factory}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {str(path)!r} does not exist: check the path in "
                                f"{spec}")
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    name = f"_landscape_user_{what}_{digest[:16]}"
    module = types.ModuleType(name)
    module.__file__ = str(path.resolve())
    sys.modules[name] = module  # dataclasses and pickling look the module up while it runs
    sys.path.insert(0, str(path.resolve().parent))
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise RuntimeError(
            f"running {what} file {str(path)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        with contextlib.suppress(ValueError):  # unless the file removed it itself
            sys.path.remove(str(path.resolve().parent))
    factory = module.__dict__.get(spec.factory)
    if factory is None:
        defined = sorted(
            k for k, v in module.__dict__.items()
            if callable(v) and getattr(v, "__module__", None) == name and not k.startswith("_")
        )
        raise ValueError(
            f"{what} file {str(path)!r} defines no {spec.factory!r}; it defines "
            f"{defined or 'no public function or class'}: name one of them after the colon"
        )
    if not callable(factory):
        raise TypeError(
            f"{spec.factory!r} in {what} file {str(path)!r} is a {type(factory).__name__}, not "
            f"a function: name a function (or class) that returns the {what}"
        )
    return factory, digest


def call_factory(factory: Callable[..., Any], options: Mapping[str, Any], *, label: str) -> Any:
    """Call ``factory(**options)``; unknown options and errors raised inside name ``label``.

    Raises:
        ValueError: an option the factory's signature does not accept.
        RuntimeError: the factory raised (the original error is chained).

    """
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY,
                                                               p.POSITIONAL_OR_KEYWORD)]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(
                f"{label} has no option(s) {unknown}; its options are {accepted}"
            )
    try:
        return factory(**options)
    except Exception as exc:
        raise RuntimeError(f"{label} raised {type(exc).__name__}: {exc}") from exc


def _plain(value: Any, key: str, label: str) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, numbers.Integral | numbers.Real):  # numpy scalars
        return int(value) if isinstance(value, numbers.Integral) else float(value)
    if isinstance(value, list | tuple):
        return [_plain(v, key, label) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, key, label) for k, v in sorted(value.items())}
    raise ValueError(
        f"{label}: option {key}={value!r} is not a plain value (number, string, boolean, "
        "list or none); options must be plain values because they identify the result in "
        "caches"
    )


def plain_options(options: Mapping[str, Any], *, label: str) -> dict[str, Any]:
    """Return ``options`` as JSON values (tuples become lists), sorted by name.

    Raises:
        ValueError: a value that is not plain (an object, a class, a tensor ...).

    >>> plain_options({"b": (1, 2), "a": None}, label="model 'x'")
    {'a': None, 'b': [1, 2]}
    """
    return {k: _plain(v, k, label) for k, v in sorted(options.items())}
