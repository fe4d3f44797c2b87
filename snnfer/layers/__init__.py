"""Building blocks shared by snnfer's models (one idea per module): CS3D's factorized
convolution, pooling and attention (cs3d.txt §III), HEC-Net's blocks (hec-net.txt) and a
2D ResNet trunk.

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

__all__: list[str] = [
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

# --- HEC-Net blocks (hec-net.txt) and the shared 2D ResNet trunk ---------------------------
from snnfer.layers.fusion import CrossModalGate, TemporalTransformer, sinusoidal_positions
from snnfer.layers.multiscale import MultiScalePerception
from snnfer.layers.pyramid import TemporalPyramidAlignment
from snnfer.layers.resnet2d import BasicBlock, FrameWise, ResNet2d, activation_factory
from snnfer.layers.stfe import STFE
from snnfer.layers.temporal_shift import TemporalShift, temporal_shift
from snnfer.layers.topk_attention import DualTopKAttention, softmax_attention, topk_softmax
from snnfer.layers.window_attention import WindowCrossAttention, window_merge, window_partition

__all__ += [
    "STFE",
    "BasicBlock",
    "CrossModalGate",
    "DualTopKAttention",
    "FrameWise",
    "MultiScalePerception",
    "ResNet2d",
    "TemporalPyramidAlignment",
    "TemporalShift",
    "TemporalTransformer",
    "WindowCrossAttention",
    "activation_factory",
    "sinusoidal_positions",
    "softmax_attention",
    "temporal_shift",
    "topk_softmax",
    "window_merge",
    "window_partition",
]
# --- end of HEC-Net blocks -----------------------------------------------------------------
