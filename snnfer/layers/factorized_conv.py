"""Factorized 3-D convolution block of CS3D (paper §III-B)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from snnfer.errors import ArgumentError
from snnfer.fastpath.factorized import factorized_forward, supports_factorized
from snnfer.layers.activation import ActivationSpec, build_activation
from snnfer.layers.validation import as_triple, check_positive_int

__all__ = ["FactorizedConv3d"]


class FactorizedConv3d(nn.Module):
    """A 3-D convolution factorized into temporal and spatial depth-wise parts (§III-B).

    Layout ``[B, C, T, H, W]`` in and out. With ``k`` the kernel size::

        y = act1(BN1(PW1(DW_t(x))))        DW_t: k x 1 x 1, groups=c_in   (temporal)
        y = BN2(PW2(DW_s(y)))              DW_s: 1 x k x k, groups=c_out  (spatial)
        out = act2(y + shortcut(x))        shortcut: identity, or a 1x1x1 conv when
                                           c_in != c_out or stride != 1

    ``PW`` are point-wise (1x1x1) convolutions that mix channels; the activations are
    the model's neurons (SSN by default, paper §III-A), built with ``time_dim=2``.
    The residual sum enters the second neuron (ResNet ordering), so the block output is
    a neuron output -- sparse soft spikes with the SSN -- which is what the next
    layer's energy estimate sees. ``stride`` ``(s_t, s_h, s_w)`` is applied by the
    temporal (``s_t``) and spatial (``s_h, s_w``) depth-wise convolutions. Convolutions
    have no bias (each PW is followed by BN, which absorbs it). The projection shortcut
    is a plain 1x1x1 convolution: that is the build whose thop count (4.241 G for the
    C3D stack) matches the paper's 4.26 G; a BN on it would add 0.085 G (4.326 G).

    At ``c_in=c_out=C`` this costs ``C*k + C*C + C*k*k + C*C`` MACs per output voxel
    instead of ``C*C*k^3`` for the dense 3x3x3 conv (thop: the C3D stack drops from
    21.28 G to 4.24 G MACs at 3x16x112x112, paper Table IV "4.26 G").
    """

    def __init__(self, c_in: int, c_out: int, k: int = 3,
                 stride: int | tuple[int, int, int] = 1, neuron: ActivationSpec = "ssn",
                 neuron_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        for name, v in (("c_in", c_in), ("c_out", c_out), ("k", k)):
            check_positive_int("FactorizedConv3d", name, v)
        if k % 2 == 0:
            raise ArgumentError(f"FactorizedConv3d: k must be odd (same padding), got {k}")
        st, sh, sw = as_triple("FactorizedConv3d", "stride", stride)
        p = k // 2
        kw = dict(neuron_kwargs or {})
        self.c_in, self.c_out, self.k, self.stride = c_in, c_out, k, (st, sh, sw)
        self.dw_temporal = nn.Conv3d(c_in, c_in, (k, 1, 1), stride=(st, 1, 1),
                                     padding=(p, 0, 0), groups=c_in, bias=False)
        self.pw1 = nn.Conv3d(c_in, c_out, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(c_out)
        self.act1 = build_activation(neuron, time_dim=2, channels=c_out, **kw)
        self.dw_spatial = nn.Conv3d(c_out, c_out, (1, k, k), stride=(1, sh, sw),
                                    padding=(0, p, p), groups=c_out, bias=False)
        self.pw2 = nn.Conv3d(c_out, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(c_out)
        if c_in != c_out or (st, sh, sw) != (1, 1, 1):
            self.shortcut: nn.Module = nn.Conv3d(c_in, c_out, 1, stride=(st, sh, sw),
                                                 bias=False)
        else:
            self.shortcut = nn.Identity()
        self.act2 = build_activation(neuron, time_dim=2, channels=c_out, **kw)

    execution: str = "fast"
    """``"fast"`` (channels-last fused path when it applies, :mod:`snnfer.fastpath`) or
    ``"reference"`` (the code below); see :func:`snnfer.fastpath.set_execution`."""

    def forward(self, x: Tensor) -> Tensor:
        """``x`` is ``[B, c_in, T, H, W]``; returns ``[B, c_out, T', H', W']``."""
        if supports_factorized(self, x):
            return factorized_forward(self, x)
        return self.forward_reference(x)

    def forward_reference(self, x: Tensor) -> Tensor:
        """The block as written in §III-B, module by module (any layout, any neuron)."""
        y = self.act1(self.bn1(self.pw1(self.dw_temporal(x))))
        y = self.bn2(self.pw2(self.dw_spatial(y)))
        return self.act2(y + self.shortcut(x))

    def extra_repr(self) -> str:
        return f"{self.c_in}, {self.c_out}, k={self.k}, stride={self.stride}"
