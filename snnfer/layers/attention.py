"""Spatial-temporal joint attention of CS3D (paper §III-C, Fig. 2-3, Alg. 1-2, Eq. 3).

All three blocks take and return the Conv3d layout ``[B, C, T, H, W]``. Each exposes
``weights(x)``, the attention map it applies (for inspection and plots).

Residual form: a block with ``residual=True`` returns ``x + gamma * (x * M(x))`` where
``M`` is its sigmoid map and ``gamma`` a learnable scalar initialised to ``init_scale``
(1 gives the paper's plain residual ``x + x * M(x)``; 0 makes the block an exact
identity at initialisation, ReZero/LayerScale style, e.g. to insert it into a trained
network). With ``residual=False`` it returns ``x * M(x)``.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.fastpath.blocks import attention_forward, supports_attention
from snnfer.layers.validation import check_positive_int

__all__ = ["JointAttention", "SpatialAttention", "TemporalAttention"]


def _odd(owner: str, name: str, value: object) -> int:
    v = check_positive_int(owner, name, value)
    if v % 2 == 0:
        raise ArgumentError(f"{owner}: {name} must be odd (same padding), got {v}")
    return v


class _ResidualGate(nn.Module, metaclass=abc.ABCMeta):
    """``x * M(x)``, optionally with the residual ``x + gamma * x * M(x)``."""

    def __init__(self, residual: bool, init_scale: float) -> None:
        super().__init__()
        self.residual = bool(residual)
        if self.residual:
            self.gamma = nn.Parameter(torch.tensor(float(init_scale)))
        else:
            self.register_parameter("gamma", None)

    def _check(self, x: Tensor, channels: int | None = None) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor) or x.dim() != 5:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputShapeError(f"{name}: expected [B, C, T, H, W] (Conv3d layout), got {shape}")
        if channels is not None and x.shape[1] != channels:
            raise InputShapeError(f"{name}: built for C={channels} channels, got input of "
                                  f"shape {tuple(x.shape)} ([B, C, T, H, W])")

    @abc.abstractmethod
    def weights(self, x: Tensor) -> Tensor:
        """The attention map ``M(x)``, broadcastable against ``x``."""

    execution: str = "fast"
    """``"fast"``: one fused multiplication (:mod:`snnfer.fastpath.blocks`) or
    ``"reference"``; see :func:`snnfer.fastpath.set_execution`."""

    def forward(self, x: Tensor) -> Tensor:
        if supports_attention(self, x):
            return attention_forward(self, x)
        gated = x * self.weights(x)
        return x + self.gamma * gated if self.residual else gated

    def extra_repr(self) -> str:
        return f"residual={self.residual}"


class TemporalAttention(_ResidualGate):
    """Temporal attention (TA), CS3D §III-C, Fig. 2 / Algorithm 1 (after TA-SNN, EHOA).

    Per time step, spatial global average and max pooling squeeze ``[B, C, T, H, W]``
    to two descriptors ``[B, C, T]``; a shared temporal convolution stack
    ``Conv1d(C, C/r, k) -> ReLU -> Conv1d(C/r, 1, k)`` (over the time axis, no bias)
    scores each step from both; the two scores are fused by element-wise max and a
    sigmoid gives the per-time-step weights ``M_t`` ``[B, 1, T, 1, 1]``, applied with
    the residual of the module docstring. Convolving over time (``k=3``) instead of
    TA-SNN's fixed-size ``T -> T/r -> T`` MLP lets the block run on any ``T``.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 3,
                 residual: bool = True, init_scale: float = 1.0) -> None:
        super().__init__(residual, init_scale)
        owner = "TemporalAttention"
        self.channels = check_positive_int(owner, "channels", channels)
        reduction = check_positive_int(owner, "reduction", reduction)
        k = _odd(owner, "kernel_size", kernel_size)
        hidden = max(channels // reduction, 1)
        self.score = nn.Sequential(
            nn.Conv1d(channels, hidden, k, padding=k // 2, bias=False),
            nn.ReLU(),
            nn.Conv1d(hidden, 1, k, padding=k // 2, bias=False),
        )

    def weights(self, x: Tensor) -> Tensor:
        """Per-time-step weights ``M_t`` in (0, 1), shape ``[B, 1, T, 1, 1]``."""
        self._check(x, self.channels)
        avg = x.mean(dim=(3, 4))
        mx = x.amax(dim=(3, 4))
        s = torch.maximum(self.score(avg), self.score(mx))
        return torch.sigmoid(s)[..., None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, " + super().extra_repr()


class SpatialAttention(_ResidualGate):
    """Spatial attention (SA), CS3D §III-C, Fig. 3 / Algorithm 2 (after scSE, CBAM, EHOA).

    Average and max pooling along the channel axis squeeze ``[B, C, T, H, W]`` to
    ``[B, 2, T, H, W]``; a local ``k x k`` convolution (``k=7``, applied to every time
    step, i.e. a ``1 x k x k`` Conv3d) extracts spatial relations; a sigmoid normalises
    the map ``M_s`` ``[B, 1, T, H, W]`` that modulates every location, applied with the
    residual of the module docstring.
    """

    def __init__(self, kernel_size: int = 7, residual: bool = True,
                 init_scale: float = 1.0) -> None:
        super().__init__(residual, init_scale)
        k = _odd("SpatialAttention", "kernel_size", kernel_size)
        self.kernel_size = k
        self.conv = nn.Conv3d(2, 1, (1, k, k), padding=(0, k // 2, k // 2))

    def weights(self, x: Tensor) -> Tensor:
        """Per-location weights ``M_s`` in (0, 1), shape ``[B, 1, T, H, W]``."""
        self._check(x)
        squeezed = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(squeezed))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, " + super().extra_repr()


class JointAttention(nn.Module):
    """Spatial-temporal joint attention, CS3D §III-C, Eq. 3: TA first, then SA, residual.

    ``y = x + gamma * SA(TA(x))`` -- temporal weighting before spatial emphasis, with a
    residual connection around the whole (``gamma`` as in the module docstring). The
    inner blocks are gates without their own residual (``inner_residual=False``,
    snnfer's reading of Eq. 3: ``SA(TA(x)) = (x * M_t) * M_s(x * M_t)``); set
    ``inner_residual=True`` to give TA and SA their standalone residuals as well.
    """

    def __init__(self, channels: int, reduction: int = 16, temporal_kernel: int = 3,
                 spatial_kernel: int = 7, inner_residual: bool = False,
                 init_scale: float = 1.0) -> None:
        super().__init__()
        self.temporal = TemporalAttention(channels, reduction, temporal_kernel,
                                          residual=inner_residual)
        self.spatial = SpatialAttention(spatial_kernel, residual=inner_residual)
        self.gamma = nn.Parameter(torch.tensor(float(init_scale)))

    execution: str = "fast"
    """``"fast"``: ``x * (1 + gamma f_t f_s)`` in one pass (:mod:`snnfer.fastpath.blocks`)
    or ``"reference"``; see :func:`snnfer.fastpath.set_execution`."""

    def forward(self, x: Tensor) -> Tensor:
        """``x`` is ``[B, C, T, H, W]``; returns the same shape."""
        if supports_attention(self, x):
            return attention_forward(self, x)
        return x + self.gamma * self.spatial(self.temporal(x))
