"""Temporal Pyramid Alignment, TPA (HEC-Net Stage 2, Sec. 3.2.2, Eq. 4): split, align, fuse.

The clip features are average-pooled in time to a pyramid of ``T, T/2, T/4`` steps
(split), every coarse level is brought back to ``T`` steps by trilinear interpolation
over ``(T, H, W)`` (align; spatial size is unchanged, so this is linear interpolation in
time), and the levels are summed with learnable weights (fuse)::

    F_tpa = sum_l  w_l * Interp_trilinear(P_l)                    (Eq. 4)

Level 0 is the input itself, so ``w = (1, 0, 0)`` is exactly the identity. ``mode=
"nearest"`` is the paper's "w/o trilinear interpolation" ablation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnfer.errors import ArgumentError, InputShapeError

__all__ = ["INTERP_MODES", "TemporalPyramidAlignment"]

INTERP_MODES = ("trilinear", "nearest")


class TemporalPyramidAlignment(nn.Module):
    """Eq. 4 on clips ``[T, B, C, H, W]``; level ``l`` has ``T // 2**l`` steps.

    ``weights`` initialises the per-level weights ``w_l`` (default uniform ``1 / levels``);
    they are learnable unless ``learnable=False``. Clips shorter than ``2 ** (levels - 1)``
    steps raise :class:`~snnfer.errors.InputShapeError`.
    """

    def __init__(self, levels: int = 3, mode: str = "trilinear",
                 weights: list[float] | tuple[float, ...] | None = None,
                 learnable: bool = True) -> None:
        super().__init__()
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ArgumentError(
                f"TemporalPyramidAlignment: levels must be an int >= 1, got {levels!r}"
            )
        if mode not in INTERP_MODES:
            raise ArgumentError(
                f"TemporalPyramidAlignment: mode must be one of {INTERP_MODES}, got {mode!r}"
            )
        init = [1.0 / levels] * levels if weights is None else [float(w) for w in weights]
        if len(init) != levels:
            raise ArgumentError(
                f"TemporalPyramidAlignment: {len(init)} weights given for {levels} levels"
            )
        self.levels, self.mode = levels, mode
        w = torch.tensor(init)
        if learnable:
            self.weights = nn.Parameter(w)
        else:
            self.register_buffer("weights", w)

    @property
    def min_frames(self) -> int:
        """Shortest clip the pyramid accepts (the coarsest level keeps >= 1 step)."""
        return 2 ** (self.levels - 1)

    def forward(self, x: Tensor) -> Tensor:
        """``[T, B, C, H, W] -> [T, B, C, H, W]``."""
        if x.dim() != 5:
            raise InputShapeError(
                f"TemporalPyramidAlignment: expected [T, B, C, H, W], got {tuple(x.shape)}"
            )
        steps = x.shape[0]
        if steps < self.min_frames:
            raise InputShapeError(
                f"TemporalPyramidAlignment: a {self.levels}-level pyramid (T, T/2, ..., "
                f"T/{self.min_frames}) needs T >= {self.min_frames} time steps, got T={steps} "
                f"(input {tuple(x.shape)})"
            )
        out = self.weights[0] * x
        if self.levels == 1:
            return out
        v = x.permute(1, 2, 0, 3, 4)  # [B, C, T, H, W]
        size = v.shape[2:]
        align = {"align_corners": False} if self.mode == "trilinear" else {}
        for level in range(1, self.levels):
            coarse = F.adaptive_avg_pool3d(v, (steps // 2 ** level, size[1], size[2]))
            up = F.interpolate(coarse, size=size, mode=self.mode, **align)
            out = out + self.weights[level] * up.permute(2, 0, 1, 3, 4)
        return out

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode!r}"
