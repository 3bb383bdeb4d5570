"""Models: the registry (``create_model(name, **kw)``) and any model by one string.

``build_model(spec, **options)`` takes a registry name, ``torchvision:NAME`` or
``PATH.py:FACTORY`` and returns the model and its definition.
"""

from landscape.models import convnets as _convnets  # noqa: F401  (registers models)
from landscape.models import mlp as _mlp  # noqa: F401
from landscape.models import resnets as _resnets  # noqa: F401
from landscape.models.registry import (
    ModelEntry,
    create_model,
    list_models,
    model_entry,
    register_model,
)
from landscape.models.spec import (
    ModelSpec,
    build_model,
    list_torchvision_models,
    parse_model_spec,
)

__all__ = [
    "ModelEntry",
    "ModelSpec",
    "build_model",
    "create_model",
    "list_models",
    "list_torchvision_models",
    "model_entry",
    "parse_model_spec",
    "register_model",
]
