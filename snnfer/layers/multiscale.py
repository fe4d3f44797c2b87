"""Multi-scale perception (HEC-Net Sec. 3.1.1): parallel dilated 3x3 convs -> Q, K, V.

Three parallel 3x3 convolutions with dilation ``d in {1, 2, 4}`` (receptive fields 3, 5
and 9 pixels at the cost of one 3x3 each) form a multi-scale "feature library"; 1x1
projections of that library give the motion query ``Q``, the context keys ``K`` and the
values ``V`` for :class:`~snnfer.layers.DualTopKAttention`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.layers.resnet2d import Activation, FrameWise, conv_bn

__all__ = ["MultiScalePerception"]


class MultiScalePerception(nn.Module):
    """Dilated-conv feature library and its Q/K/V projections on clips ``[T, B, C, H, W]``.

    Each branch is conv3x3(dilation d) -> BN -> activation (ReLU, or a neuron from the
    activation factory, so in a spiking stream Q, K and V are computed from spikes).
    ``branch_channels`` (default ``channels // 4``) and ``qk_channels`` (default
    ``channels // 2``) are snnfer's choices, the paper gives no widths; ``V`` keeps
    ``channels`` channels so that the attention output can be added back residually.
    """

    def __init__(self, channels: int, branch_channels: int | None = None,
                 qk_channels: int | None = None, dilations: Sequence[int] = (1, 2, 4),
                 act: Activation = nn.ReLU) -> None:
        super().__init__()
        if not dilations or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                                for d in dilations):
            raise ArgumentError(
                f"MultiScalePerception: dilations must be positive ints, got {dilations!r}"
            )
        bc = branch_channels or max(channels // 4, 1)
        qk = qk_channels or max(channels // 2, 1)
        self.channels, self.dilations = channels, tuple(dilations)
        self.branches = nn.ModuleList(
            nn.Sequential(conv_bn(channels, bc, 3, 1, d), act()) for d in self.dilations
        )
        library = bc * len(self.dilations)
        self.to_q = FrameWise(nn.Conv2d(library, qk, 1))
        self.to_k = FrameWise(nn.Conv2d(library, qk, 1))
        self.to_v = FrameWise(nn.Conv2d(library, channels, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x [T, B, C, H, W]`` -> ``(Q, K, V)``, each ``[T, B, *, H, W]``."""
        if x.dim() != 5 or x.shape[2] != self.channels:
            raise InputShapeError(
                f"MultiScalePerception: expected [T, B, {self.channels}, H, W], got "
                f"{tuple(x.shape)}"
            )
        library = torch.cat([branch(x) for branch in self.branches], dim=2)
        return self.to_q(library), self.to_k(library), self.to_v(library)

    def extra_repr(self) -> str:
        return f"dilations={self.dilations}"
