"""Model registry: ``create_model(name, **kw)``, ``list_models()``."""

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

__all__ = ["ModelEntry", "create_model", "list_models", "model_entry", "register_model"]
