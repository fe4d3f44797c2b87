"""Multi-Pool layer of CS3D (paper §III, Fig. 1): parallel pooling branches, fused."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError
from snnfer.layers.validation import as_triple, check_positive_int

__all__ = ["MultiPool"]

_FUSIONS = ("mix", "concat")


class MultiPool(nn.Module):
    """Average and max pooling in parallel over the same 3-D window, fused into one map.

    The CS3D paper (§III, Fig. 1) places a Multi-Pool layer after the factorized stack
    to "enrich the feature representation" without saying how the branches are fused.
    snnfer's fusion (``fusion="mix"``, the default) is a learned per-channel convex
    combination -- mixed pooling (Lee, Gallagher & Tu, AISTATS 2016)::

        y[:, c] = a_c * avg(x)[:, c] + (1 - a_c) * max(x)[:, c],  (a_c, 1 - a_c) = softmax(w_c)

    with ``w`` initialised to zero, so the layer starts as the mean of the two
    branches; each channel then learns whether it wants the global (average) or the
    salient (max) response. It keeps the channel count and adds ``2 * channels``
    parameters and no MACs. ``fusion="concat"`` instead concatenates the branches
    (``2C`` channels) and projects back to ``C`` with a 1x1x1 convolution and BN
    (``2C * C`` MACs per output voxel).

    Layout ``[B, C, T, H, W]``; ``kernel_size``/``stride`` as in ``nn.MaxPool3d``
    (``stride`` defaults to the kernel).
    """

    def __init__(self, channels: int, kernel_size: int | tuple[int, int, int] = 2,
                 stride: int | tuple[int, int, int] | None = None, fusion: str = "mix") -> None:
        super().__init__()
        check_positive_int("MultiPool", "channels", channels)
        if fusion not in _FUSIONS:
            raise ArgumentError(f"MultiPool: fusion must be one of {_FUSIONS}, got {fusion!r}")
        kernel = as_triple("MultiPool", "kernel_size", kernel_size)
        step = kernel if stride is None else as_triple("MultiPool", "stride", stride)
        self.channels, self.fusion = channels, fusion
        self.avg = nn.AvgPool3d(kernel, step)
        self.max = nn.MaxPool3d(kernel, step)
        if fusion == "mix":
            self.mix_logits = nn.Parameter(torch.zeros(2, channels))
        else:
            self.project = nn.Sequential(
                nn.Conv3d(2 * channels, channels, 1, bias=False), nn.BatchNorm3d(channels)
            )

    def mix_weights(self) -> Tensor:
        """``[2, C]``: weights of the average (row 0) and max (row 1) branches."""
        return torch.softmax(self.mix_logits, dim=0)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` is ``[B, C, T, H, W]``; returns the pooled ``[B, C, T', H', W']``."""
        if x.dim() != 5 or x.shape[1] != self.channels:
            raise InputShapeError(f"MultiPool: expected [B, C, T, H, W] with C={self.channels}, "
                                  f"got shape {tuple(x.shape)}")
        avg, mx = self.avg(x), self.max(x)
        if self.fusion == "concat":
            return self.project(torch.cat([avg, mx], dim=1))
        a = self.mix_weights().to(x.dtype).reshape(2, 1, -1, 1, 1, 1)
        return a[0] * avg + a[1] * mx

    def extra_repr(self) -> str:
        return f"channels={self.channels}, fusion={self.fusion!r}"
