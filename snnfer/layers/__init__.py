"""snnfer.layers: building blocks shared by models (one idea per module)."""

__all__: list[str] = []

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
