"""Spatio-Temporal Feature Extraction, STFE (HEC-Net Sec. 3.1, Fig. 2): perceive and select.

One STFE per modality: a ResNet-18 trunk with a temporal shift on every block's
residual branch (perceive motion), then :class:`MultiScalePerception` and
:class:`DualTopKAttention` over the spatial positions of each frame (select the salient
ones, drop hot-pixel-like clutter). The attention output is projected (1x1 conv + BN),
added to the trunk features and passed through the stream's activation::

    F = trunk(x);   Q, K, V = MSP(F);   out = act(F + BN(W_o Attn(Q, K, V)))

``temporal_shift=False, selection=False`` is the plain ResNet-18 stream of the paper's
"w/o STFE" ablation rows (Table 2).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from snnfer.errors import ArgumentError
from snnfer.layers.multiscale import MultiScalePerception
from snnfer.layers.resnet2d import Activation, ResNet2d, conv_bn
from snnfer.layers.topk_attention import DualTopKAttention, merge_heads, split_heads

__all__ = ["STFE"]


class STFE(nn.Module):
    """TSM ResNet trunk + multi-scale perception + dual top-k selection, on ``[T, B, C, H, W]``.

    ``act`` builds every activation of the block (trunk, MSP branches, output): ReLU for
    the ANN, neurons for a spiking stream. ``num_heads`` splits the channels of Q, K, V
    into heads (top-k is taken per head and row).
    """

    def __init__(self, in_channels: int, widths: Sequence[int] = (64, 128, 256, 512),
                 blocks: Sequence[int] = (2, 2, 2, 2), out_stride: int = 32,
                 act: Activation = nn.ReLU, temporal_shift: bool = True, selection: bool = True,
                 num_heads: int = 8, k1: int | float = 0.5, k2: int | float = 0.75,
                 dilations: Sequence[int] = (1, 2, 4), branch_channels: int | None = None,
                 qk_channels: int | None = None, fold_div: int = 8) -> None:
        super().__init__()
        self.trunk = ResNet2d(in_channels, widths, blocks, out_stride, act, temporal_shift,
                              fold_div)
        self.out_channels = channels = self.trunk.out_channels
        self.temporal_shift, self.selection = bool(temporal_shift), bool(selection)
        if not selection:
            return
        qk = qk_channels or max(channels // 2, 1)
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1 \
                or qk % num_heads or channels % num_heads:
            raise ArgumentError(
                f"STFE: num_heads={num_heads!r} must be a positive int dividing the query "
                f"channels ({qk}) and the stream channels ({channels})"
            )
        self.num_heads = num_heads
        self.msp = MultiScalePerception(channels, branch_channels, qk, dilations, act)
        self.select = DualTopKAttention(k1, k2)
        self.proj = conv_bn(channels, channels, 1)
        self.out_act = act()

    def forward(self, x: Tensor) -> Tensor:
        """``[T, B, C_in, H, W] -> [T, B, C_out, h, w]`` (``h, w`` = ``H, W / out_stride``)."""
        f = self.trunk(x)
        if not self.selection:
            return f
        q, k, v = self.msp(f)
        h, w = f.shape[-2:]
        tokens = [split_heads(t.flatten(-2).transpose(-1, -2), self.num_heads) for t in (q, k, v)]
        att = merge_heads(self.select(*tokens))  # [T, B, h*w, C]
        att = att.transpose(-1, -2).unflatten(-1, (h, w))
        return self.out_act(f + self.proj(att))

    def extra_repr(self) -> str:
        return f"temporal_shift={self.temporal_shift}, selection={self.selection}"
