"""Models built on snnfer's neuron layer, and the registry.

Importing this package registers every model:

>>> from snnfer.models import create_model, list_models
>>> model = create_model("cs3d", num_classes=7, in_channels=2, preset="small")
>>> model.default_input_shape
(16, 2, 48, 48)
>>> [m for m in list_models() if m.startswith("c")]
['c3d', 'c3d_attention', 'c3d_factorized', 'c3d_ssn', 'cs3d']
"""

from snnfer.fastpath.fuse import fuse_for_inference
from snnfer.models import c3d, cs3d, recurrent, spiking_fer, transformer  # noqa: F401 (register)
from snnfer.models.c3d import C3DNet
from snnfer.models.common import ClipClassifier
from snnfer.models.recurrent import RecurrentClassifier
from snnfer.models.registry import create_model, list_models, model_entrypoint, register_model
from snnfer.models.spiking_fer import SEWResNet18
from snnfer.models.transformer import TransformerClassifier

__all__ = [
    "C3DNet",
    "ClipClassifier",
    "RecurrentClassifier",
    "SEWResNet18",
    "TransformerClassifier",
    "create_model",
    "fuse_for_inference",
    "list_models",
    "model_entrypoint",
    "register_model",
]

# --- HEC-Net family and the SEEN baseline (issue 6); importing registers them -------------
from snnfer.models.hecnet import TABLE2_ROWS, HECNet, HECNetStream
from snnfer.models.seen import SEEN

__all__ += ["SEEN", "TABLE2_ROWS", "HECNet", "HECNetStream"]
# --- end of HEC-Net family ----------------------------------------------------------------
