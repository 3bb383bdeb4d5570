"""Any model by one string: a registry name, ``torchvision:NAME`` or ``PATH.py:FACTORY``.

:func:`build_model` returns the model and its *definition*: a JSON-able dict that identifies
the architecture for caching (together with the tensors, see
:func:`landscape.weights.foreign_digest`). Definitions by kind:

* registry: ``{"kind": "registry", "name", "options"}``; the options are canonical: every
  option of the builder (defaults filled in, types checked), ``num_classes`` and
  ``input_shape`` included, so ``mlp`` and ``mlp widths=1000`` are one model.
* torchvision: ``{"kind": "torchvision", "name", "options", "torchvision"}``: the options
  as given (torchvision's builders take ``**kwargs``, so defaults cannot be filled in:
  ``num_classes=1000`` spelled out is another definition than leaving it out) and
  torchvision's version, whose architectures may change between releases.
* file: ``{"kind": "file", "path", "sha256", "factory", "options"}``: the resolved path,
  the SHA-256 of the file's bytes (the code that ran; modules it imports are not hashed),
  the factory's name and the options as given.

``seed`` never enters a definition: it only draws the initial values, and the tensors are
identified by their own digest.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import nn

from landscape._usercode import (
    FileSpec,
    call_factory,
    load_factory,
    parse_file_spec,
    plain_options,
)
from landscape.models._options import canonical_options, check_value
from landscape.models.registry import create_model, list_models, model_entry
from landscape.seeding import derive_seed

__all__ = ["ModelSpec", "build_model", "list_torchvision_models", "parse_model_spec"]

TORCHVISION = "torchvision:"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model string.

    Attributes:
        kind: ``"registry"``, ``"torchvision"`` or ``"file"``.
        name: the registry name, the torchvision name or the factory's name.
        path: the Python file (kind ``"file"`` only), as given.

    """

    kind: Literal["registry", "torchvision", "file"]
    name: str
    path: Path | None = None


def parse_model_spec(spec: str) -> ModelSpec:
    """Tell the three forms apart (nothing is imported or run).

    Raises:
        ValueError: an empty string, ``torchvision:`` without a name, or a ``.py`` path
            without ``:FACTORY``.

    >>> parse_model_spec("mlp"), parse_model_spec("torchvision:resnet18").kind
    (ModelSpec(kind='registry', name='mlp', path=None), 'torchvision')
    >>> parse_model_spec("nets/m.py:make")
    ModelSpec(kind='file', name='make', path=PosixPath('nets/m.py'))
    """
    spec = spec.strip()
    if spec.startswith(TORCHVISION):
        name = spec[len(TORCHVISION):]
        if not name:
            raise ValueError("torchvision: needs a model name, e.g. torchvision:resnet18")
        return ModelSpec("torchvision", name)
    if ".py" in spec:
        file = parse_file_spec(spec, what="model")
        return ModelSpec("file", file.factory, file.path)
    if not spec:
        raise ValueError("empty model name: pass a registry name (e.g. mlp), torchvision:NAME "
                         "or PATH.py:FACTORY")
    return ModelSpec("registry", spec)


def list_torchvision_models() -> list[str]:
    """Names of torchvision's classification models (imports torchvision)."""
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _seeded(seed: int | None, build: Any) -> nn.Module:
    if seed is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return build()


def _registry(name: str, seed: int | None, options: dict[str, Any]):
    try:
        entry = model_entry(name)
    except ValueError:
        hint = ""
        if name in list_torchvision_models():
            hint = f" (torchvision's is torchvision:{name})"
        raise ValueError(
            f"unknown model {name!r}{hint}; choose one of: {', '.join(list_models())}; or "
            "torchvision:NAME (any torchvision classification model) or PATH.py:FACTORY (a "
            "function in your own file)"
        ) from None
    fixed = inspect.signature(create_model).parameters
    num_classes = options.pop("num_classes", fixed["num_classes"].default)
    input_shape = options.pop("input_shape", fixed["input_shape"].default)
    model = create_model(name, num_classes=num_classes, input_shape=input_shape, seed=seed,
                         **options)
    canonical = {
        "num_classes": check_value(name, "num_classes", num_classes, int),
        "input_shape": [int(s) for s in input_shape],
        **canonical_options(name, entry.build, options),
    }
    return model, {"kind": "registry", "name": name, "options": dict(sorted(canonical.items()))}


def _torchvision(name: str, seed: int | None, options: dict[str, Any]):
    import torchvision
    import torchvision.models as tvm

    label = f"model 'torchvision:{name}'"
    names = list_torchvision_models()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        raise ValueError(
            f"torchvision {torchvision.__version__} has no classification model {name!r}"
            f"{'; did you mean ' + ' or '.join(close) + '?' if close else ''} "
            f"(its {len(names)} models: {', '.join(names)})"
        )
    for key in ("weights", "weights_backbone"):
        if key in options:
            raise ValueError(
                f"{label}: option {key} is not accepted: no weights are fetched; load a "
                "state_dict or .safetensors file into the model instead"
            )
    plain = plain_options(options, label=label)
    try:
        model = _seeded(seed, lambda: tvm.get_model(name, weights=None, **options))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{label}: torchvision.models.get_model({name!r}, weights=None, "
            f"**{plain}) failed: {exc}; see torchvision's documentation of {name} for its "
            "options (e.g. num_classes=10)"
        ) from exc
    definition = {"kind": "torchvision", "name": name, "options": plain,
                  "torchvision": torchvision.__version__}
    return model, definition


def _file(file: FileSpec, seed: int | None, options: dict[str, Any]):
    label = f"model factory {file}"
    plain = plain_options(options, label=label)
    factory, digest = load_factory(file, what="model")
    model = _seeded(seed, lambda: call_factory(factory, options, label=label))
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{label} returned a {type(model).__name__}, not a torch.nn.Module: return the "
            "model itself (e.g. `return MyNet(**options)`)"
        )
    definition = {"kind": "file", "path": str(file.path.resolve()), "sha256": digest,
                  "factory": file.factory, "options": plain}
    return model, definition


def build_model(
    spec: str, *, seed: int | None = None, **options: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """Build a model from a string and return ``(model, definition)``.

    ``PATH.py:FACTORY`` runs that file's code (that is how the model gets defined, and why
    only a file the user names is ever run): the file is executed as a module and
    ``FACTORY(**options)`` must return an ``nn.Module``.

    Args:
        spec: a registry name (``"mlp"``), ``"torchvision:NAME"`` (any torchvision
            classification model, built by ``torchvision.models.get_model(NAME,
            weights=None, **options)``: no weights are fetched) or ``"PATH.py:FACTORY"``.
        seed: when given, the initial values are drawn from a generator derived from
            ``(seed, "init")`` without touching the global random stream (as in
            :func:`landscape.models.create_model`); not part of the definition.
        **options: for a registry model, ``num_classes``, ``input_shape`` and its options;
            for the others, the keyword arguments of the builder (``num_classes=10`` ...).
            They must be plain values (numbers, strings, booleans, lists, none).

    Returns:
        The model (in training mode, on the CPU, as built) and its JSON-able definition (see
        the module docstring).

    Raises:
        ValueError: unknown registry or torchvision name, a bad option (named), a factory
            the file does not define, a path that is a directory.
        FileNotFoundError: the model file does not exist.
        RuntimeError: running the file or the factory raised.
        TypeError: the factory is not callable or did not return an ``nn.Module``.

    >>> model, d = build_model("mlp", widths="4", input_shape=(1, 2, 2), num_classes=3)
    >>> d["options"]["widths"], d["options"]["input_shape"]
    ([4], [1, 2, 2])
    """
    parsed = parse_model_spec(spec)
    options = dict(options)
    if parsed.kind == "registry":
        return _registry(parsed.name, seed, options)
    if parsed.kind == "torchvision":
        return _torchvision(parsed.name, seed, options)
    return _file(FileSpec(cast(Path, parsed.path), parsed.name), seed, options)
