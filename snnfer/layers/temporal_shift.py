"""Temporal Shift Module (TSM; Lin, Gan & Han, ICCV 2019), HEC-Net Sec. 3.1.1.

TSM exchanges information between neighbouring frames of a 2D network at zero
parameters and zero multiply-accumulates: of the ``C`` channels, the first
``C // fold_div`` take the value of the *next* frame (``out[t] = x[t + 1]``), the next
``C // fold_div`` the value of the *previous* frame (``out[t] = x[t - 1]``), the rest are
unchanged, and the frames shifted in from outside the clip are zeros. This is the
ordering of the reference implementation (mit-han-lab/temporal-shift-module). HEC-Net
places it on the residual branch of every ResNet block (TSM's ``blockres`` mode).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError

__all__ = ["TemporalShift", "temporal_shift"]


def temporal_shift(x: Tensor, fold_div: int = 8, time_dim: int = 0, channel_dim: int = 2) -> Tensor:
    """Shift ``C // fold_div`` channels one step back and as many one step forward in time.

    ``x`` has time on ``time_dim`` and channels on ``channel_dim`` (default ``[T, B, C, ...]``,
    snnfer's multi-step layout; ``[B, T, C, H, W]`` is ``time_dim=1``). Returns a new
    tensor; ``x`` is not modified. Raises :class:`InputShapeError` when there are fewer
    channels than ``fold_div`` (the shift would silently do nothing).
    """
    if isinstance(fold_div, bool) or not isinstance(fold_div, int) or fold_div < 2:
        raise ArgumentError(f"temporal_shift: fold_div must be an int >= 2, got {fold_div!r}")
    nd = x.dim()
    if not (-nd <= time_dim < nd and -nd <= channel_dim < nd):
        raise InputShapeError(
            f"temporal_shift: time_dim={time_dim} / channel_dim={channel_dim} out of range for "
            f"input of shape {tuple(x.shape)}"
        )
    td, cd = time_dim % nd, channel_dim % nd
    if td == cd:
        raise ArgumentError("temporal_shift: time_dim and channel_dim must differ")
    channels = x.shape[cd]
    fold = channels // fold_div
    if fold == 0:
        raise InputShapeError(
            f"temporal_shift: input of shape {tuple(x.shape)} has {channels} channels on dim "
            f"{cd}, fewer than fold_div={fold_div}; nothing would be shifted"
        )
    out = torch.zeros_like(x)
    steps = x.shape[td]
    # channels [0, fold): out[t] = x[t + 1]; channels [fold, 2 fold): out[t] = x[t - 1]
    future = x.narrow(cd, 0, fold).narrow(td, 1, steps - 1)
    out.narrow(cd, 0, fold).narrow(td, 0, steps - 1).copy_(future)
    past = x.narrow(cd, fold, fold).narrow(td, 0, steps - 1)
    out.narrow(cd, fold, fold).narrow(td, 1, steps - 1).copy_(past)
    out.narrow(cd, 2 * fold, channels - 2 * fold).copy_(x.narrow(cd, 2 * fold, channels - 2 * fold))
    return out


class TemporalShift(nn.Module):
    """:func:`temporal_shift` as a module (no parameters, no MACs).

    >>> tsm = TemporalShift()                      # [T, B, C, H, W], 1/8 each way
    >>> tsm(torch.rand(4, 2, 16, 3, 3)).shape
    torch.Size([4, 2, 16, 3, 3])
    """

    def __init__(self, fold_div: int = 8, time_dim: int = 0, channel_dim: int = 2) -> None:
        super().__init__()
        if isinstance(fold_div, bool) or not isinstance(fold_div, int) or fold_div < 2:
            raise ArgumentError(f"TemporalShift: fold_div must be an int >= 2, got {fold_div!r}")
        self.fold_div, self.time_dim, self.channel_dim = fold_div, time_dim, channel_dim

    def forward(self, x: Tensor) -> Tensor:
        """Shift ``x`` along time (see :func:`temporal_shift`)."""
        return temporal_shift(x, self.fold_div, self.time_dim, self.channel_dim)

    def extra_repr(self) -> str:
        return f"fold_div={self.fold_div}, time_dim={self.time_dim}, channel_dim={self.channel_dim}"
