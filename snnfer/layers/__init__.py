"""Building blocks shared by snnfer's models (one idea per module).

>>> import torch
>>> from snnfer.layers import FactorizedConv3d, JointAttention, MultiPool
>>> x = torch.randn(2, 8, 4, 16, 16)                    # [B, C, T, H, W]
>>> y = FactorizedConv3d(8, 16, neuron="ssn")(x)        # CS3D §III-B
>>> MultiPool(16, kernel_size=(1, 2, 2))(y).shape        # CS3D Fig. 1
torch.Size([2, 16, 4, 8, 8])
>>> JointAttention(16, reduction=4)(y).shape              # CS3D §III-C, Eq. 3
torch.Size([2, 16, 4, 16, 16])
"""

from snnfer.layers.activation import ActivationSpec, FeatureActivation, build_activation
from snnfer.layers.attention import JointAttention, SpatialAttention, TemporalAttention
from snnfer.layers.factorized_conv import FactorizedConv3d
from snnfer.layers.frame_encoder import FrameEncoder
from snnfer.layers.multipool import MultiPool
from snnfer.layers.time_folded import TimeFolded
from snnfer.layers.validation import as_triple, check_clip, check_positive_int, pooled_size

__all__ = [
    "ActivationSpec",
    "FactorizedConv3d",
    "FeatureActivation",
    "FrameEncoder",
    "JointAttention",
    "MultiPool",
    "SpatialAttention",
    "TemporalAttention",
    "TimeFolded",
    "as_triple",
    "build_activation",
    "check_clip",
    "check_positive_int",
    "pooled_size",
]
