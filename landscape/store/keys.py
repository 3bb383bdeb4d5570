"""Content-addressed keys for the result store.

An entry's identity is the question it answers, never a file name chosen by hand:

    key = SHA-256( canonical_json({"analysis": name, "schema_version": version,
                                   "params": params, "inputs": inputs, "dataset": dataset}) )

where ``inputs`` maps a role (``"checkpoint"``, ``"a"``, ``"b"`` ...) to the content digest of
that input (:func:`landscape.checkpoint.checkpoint_digest`) and ``dataset`` is a JSON-able
dataset spec (``EvalSet.spec()``). The same question gives the same key and so the cached
answer; a changed checkpoint, parameter, dataset or schema version gives a new key.

Canonical JSON: keys sorted, no whitespace, UTF-8, floats written with ``repr`` (the shortest
string that round-trips, so ``0.1`` and ``0.1 + 1e-17`` differ exactly when the floats do),
tuples as lists, numpy scalars as Python numbers. ``1`` and ``1.0`` are different values (an
int and a float), NaN and infinities are refused (they are not JSON).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["canonical", "canonical_json", "entry_key", "question_key"]


def canonical(obj: Any, *, where: str = "params") -> Any:
    """Return ``obj`` as plain JSON values (dict/list/str/int/float/bool/None), or raise.

    Args:
        obj: a JSON-able value; tuples, numpy scalars/arrays and paths are converted.
        where: how to name the value in error messages.

    Raises:
        TypeError: a value JSON cannot hold (a tensor, an object, a non-string dict key).
        ValueError: a NaN or infinite float.

    >>> canonical({"b": (1, 2.5), "a": None})
    {'b': [1, 2.5], 'a': None}
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(
                f"{where} is {obj!r}, which JSON cannot hold: pass a finite number or a string"
            )
        return float(obj)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"{where} has key {k!r} of type {type(k).__name__}: keys must be strings"
                )
            out[k] = canonical(v, where=f"{where}[{k!r}]")
        return out
    if isinstance(obj, list | tuple):
        return [canonical(v, where=f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, PurePath):
        return str(obj)
    tolist = getattr(obj, "tolist", None)
    module = type(obj).__module__
    if tolist is not None and module == "numpy":
        return canonical(tolist(), where=where)
    raise TypeError(
        f"{where} is a {module}.{type(obj).__name__}, which is not JSON-able: pass numbers, "
        "strings, bools, None, lists or dicts (a tensor belongs in `inputs` as a digest)"
    )


def canonical_json(obj: Any, *, where: str = "params") -> str:
    """Serialise ``obj`` canonically (sorted keys, compact, exact floats).

    >>> canonical_json({"lr": 0.1, "k": 10, "names": ("a", "b")})
    '{"k":10,"lr":0.1,"names":["a","b"]}'
    """
    return json.dumps(
        canonical(obj, where=where),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def _check_question(
    name: str, params: Any, inputs: Mapping[str, str] | None, version: int
) -> dict[str, str]:
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"analysis name must be a non-empty string like 'hessian.topk', got {name!r}"
        )
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a dict of JSON-able values, got {type(params).__name__}: "
            "wrap the value, e.g. {'k': 10}"
        )
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise TypeError(f"schema version must be an int >= 1, got {version!r}")
    inputs = dict(inputs or {})
    for role, digest in inputs.items():
        if not isinstance(role, str) or not isinstance(digest, str):
            raise TypeError(
                f"inputs must map a role to a content digest string, got {role!r}: {digest!r} "
                "(use landscape.checkpoint.checkpoint_digest(path))"
            )
    return inputs


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def entry_key(
    name: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, str] | None = None,
    dataset: Any = None,
    version: int = 1,
) -> str:
    """Key of the entry answering this question (64 hex digits).

    ``inputs=None`` and ``inputs={}`` give the same key.

    >>> k = entry_key("hessian.topk", {"k": 10}, {"checkpoint": "ab12"})
    >>> len(k), k == entry_key("hessian.topk", {"k": 10}, {"checkpoint": "ab12"}, version=1)
    (64, True)
    >>> k == entry_key("hessian.topk", {"k": 11}, {"checkpoint": "ab12"})
    False
    """
    inputs = _check_question(name, params, inputs, version)
    return _digest({
        "analysis": name,
        "schema_version": version,
        "params": params,
        "inputs": inputs,
        "dataset": canonical(dataset, where="dataset"),
    })


def question_key(
    name: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, str] | None = None,
    dataset: Any = None,
) -> str:
    """Key of the question regardless of schema version (finds entries of newer versions)."""
    inputs = _check_question(name, params, inputs, 1)
    return _digest({
        "analysis": name,
        "params": params,
        "inputs": inputs,
        "dataset": canonical(dataset, where="dataset"),
    })
