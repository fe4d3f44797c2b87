"""Run a per-frame (stateless) module on a sequence by folding time into the batch."""

from __future__ import annotations

from torch import Tensor, nn

from snnfer.errors import InputShapeError

__all__ = ["TimeFolded"]


class TimeFolded(nn.Module):
    """Apply ``module`` to every frame of ``[T, B, ...]`` (or ``[B, T, ...]``) at once.

    The first two axes are merged into one batch axis, the module runs once on
    ``[T*B, ...]`` and the result is split back into ``[T, B, ...]``. Use it for
    stateless layers (convolution, BN, pooling, linear) between multi-step neurons;
    op counters see one call over all ``T*B`` frames.
    """

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise InputShapeError(f"TimeFolded: expected [T, B, ...] with at least 3 axes, "
                                  f"got shape {tuple(x.shape)}")
        y = self.module(x.flatten(0, 1))
        return y.unflatten(0, x.shape[:2])
