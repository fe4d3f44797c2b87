"""Models built on snnfer's neuron layer, and the registry.

>>> from snnfer.models import create_model, list_models
"""

from snnfer.models.registry import create_model, list_models, model_entrypoint, register_model

__all__ = ["create_model", "list_models", "model_entrypoint", "register_model"]

# --- HEC-Net family and the SEEN baseline (issue 6); importing registers them -------------
from snnfer.models.hecnet import TABLE2_ROWS, HECNet, HECNetStream
from snnfer.models.seen import SEEN

__all__ += ["SEEN", "TABLE2_ROWS", "HECNet", "HECNetStream"]
# --- end of HEC-Net family ----------------------------------------------------------------
