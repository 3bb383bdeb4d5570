"""Model options checked against the builder's type hints, with messages that say the fix.

A registry builder declares its options as keyword arguments with type hints (``depth: int``,
``widths: Sequence[int]``, ``activation: Literal["relu", "tanh"]``). :func:`check_options`
turns what arrived (from Python or from ``KEY=VALUE`` text already parsed into numbers,
booleans, lists and strings) into the declared type, or raises a ``ValueError`` that names the
model, the option, the expected type and an example, e.g. ``model 'mlp': option widths='abc'
is not a list of integers (e.g. widths=300,100)``.
"""

from __future__ import annotations

import inspect
import numbers
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["canonical_options", "check_options", "check_value", "describe_hint"]

_FIXED = ("num_classes", "input_shape")


def _is_int(value: Any) -> bool:
    """An integer, numpy's included, but not a boolean."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_int_list(value: Any) -> list[int] | None:
    if _is_int(value):
        return [int(value)]
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("x", ",").split(",") if p.strip()]
        if not parts or not all(p.lstrip("+-").isdigit() for p in parts):
            return None
        return [int(p) for p in parts]
    if isinstance(value, list | tuple) and value and all(_is_int(v) for v in value):
        return [int(v) for v in value]
    return None


def _args(hint: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(hint)
    return (hint,)


def describe_hint(hint: Any) -> str:
    """Return the expected type in words, e.g. ``"a list of integers"``.

    >>> describe_hint(int), describe_hint(float | None)
    ('an integer', 'a number or none')
    """
    words = []
    for h in _args(hint):
        if h is type(None):
            words.append("none")
        elif h is bool:
            words.append("a boolean")
        elif h is int:
            words.append("an integer")
        elif h is float:
            words.append("a number")
        elif h is str:
            words.append("a string")
        elif typing.get_origin(h) is typing.Literal:
            words.append(f"one of {list(typing.get_args(h))}")
        elif typing.get_origin(h) in (Sequence, list, tuple):
            words.append("a list of integers")
        else:
            raise TypeError(f"unsupported option type {h!r}: use bool, int, float, str, "
                            "Literal[...], Sequence[int] or a union of these with None")
    return " or ".join(words)


def _convert(hint: Any, value: Any) -> tuple[bool, Any]:
    """Return ``(True, converted)`` when ``value`` fits ``hint`` (one member of a union)."""
    if hint is type(None):
        return value is None, None
    if hint is bool:
        ok = isinstance(value, bool) or (_is_int(value) and value in (0, 1))
        return ok, bool(value) if ok else None
    if hint is int:
        ok = _is_int(value) or (_is_number(value) and float(value).is_integer())
        return ok, int(value) if ok else None
    if hint is float:
        return _is_number(value), float(value) if _is_number(value) else None
    if hint is str:
        return isinstance(value, str), value
    if typing.get_origin(hint) is typing.Literal:
        return value in typing.get_args(hint) and isinstance(value, str | int), value
    if typing.get_origin(hint) in (Sequence, list, tuple):
        ints = _as_int_list(value)
        return ints is not None, ints
    raise TypeError(f"unsupported option type {hint!r}")


def _example(name: str, hint: Any, default: Any) -> str:
    members = [h for h in _args(hint) if h is not type(None)]
    first = members[0] if members else hint
    if typing.get_origin(first) in (Sequence, list, tuple):
        many = isinstance(default, list | tuple) and len(default) > 1
        return f"{name}={','.join(map(str, default)) if many else '300,100'}"
    if first is bool:
        return f"{name}=true"
    if typing.get_origin(first) is typing.Literal:
        return f"{name}={typing.get_args(first)[0]}"
    if default is not inspect.Parameter.empty and default is not None:
        return f"{name}={default}"
    return {int: f"{name}=3", float: f"{name}=0.5"}.get(first, f"{name}=VALUE")


def check_value(model: str, name: str, value: Any, hint: Any, default: Any = None) -> Any:
    """Return ``value`` converted to ``hint``, or raise naming the model, option and type.

    Raises:
        ValueError: the value does not fit, e.g. ``model 'wrn': option depth='abc' is not an
            integer (e.g. depth=28)``.

    >>> check_value("mlp", "widths", "300x100", Sequence[int])
    [300, 100]
    """
    for member in _args(hint):
        ok, converted = _convert(member, value)
        if ok:
            return converted
    raise ValueError(
        f"model {model!r}: option {name}={value!r} is not {describe_hint(hint)} "
        f"(e.g. {_example(name, hint, default)})"
    )


def _signature(build: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the ``(hints, defaults)`` of a builder's options, ``num_classes``/... excluded."""
    hints = typing.get_type_hints(build)
    params = inspect.signature(build).parameters
    names = [n for n, p in params.items() if n not in _FIXED and p.kind is p.KEYWORD_ONLY]
    return {n: hints.get(n, Any) for n in names}, {n: params[n].default for n in names}


def check_options(model: str, build: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """Check and convert a registry builder's options (unknown names are the caller's job).

    Args:
        model: the registry name, for messages.
        build: the builder; its keyword-only parameters' type hints define the options.
        options: the options given.

    Returns:
        The options converted to their declared types (``widths="300,100"`` becomes
        ``[300, 100]``).

    Raises:
        ValueError: an option whose value does not fit its type.

    """
    hints, defaults = _signature(build)
    return {
        k: check_value(model, k, v, hints[k], defaults[k]) if k in hints else v
        for k, v in options.items()
    }


def canonical_options(
    model: str, build: Callable[..., Any], options: dict[str, Any]
) -> dict[str, Any]:
    """Return every option of ``build``, checked: the given ones and the defaults.

    Two spellings of one model (``mlp`` and ``mlp widths=1000``) get equal dicts, sorted by
    name and made of JSON values only (lists, not tuples).

    >>> def build(*, num_classes, input_shape, widths: Sequence[int] = (10,), bias: bool = True):
    ...     pass
    >>> canonical_options("m", build, {"widths": "3x4"})
    {'bias': True, 'widths': [3, 4]}
    """
    hints, defaults = _signature(build)
    given = check_options(model, build, options)
    out = {
        n: check_value(model, n, defaults[n], hints[n], defaults[n])
        for n in hints
        if n not in given and defaults[n] is not inspect.Parameter.empty
    }
    out.update(given)
    return dict(sorted(out.items()))
