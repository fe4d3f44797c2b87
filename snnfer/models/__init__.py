"""Models built on snnfer's neuron layer, and the registry.

>>> from snnfer.models import create_model, list_models
"""

from snnfer.models.registry import create_model, list_models, model_entrypoint, register_model

__all__ = ["create_model", "list_models", "model_entrypoint", "register_model"]
