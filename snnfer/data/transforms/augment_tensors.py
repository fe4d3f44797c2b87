"""Tensor-level augmentations on a representation ``[T, C, H, W]`` (the same draw for every
time step, so motion stays coherent): face mirror, flip, resize and random resized crop, as
Spiking-FER applies them after building frames (nearest-neighbour, 128 x 128)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from snnfer.data.transforms.base import SeededTransform
from snnfer.errors import ArgumentError, InputShapeError

__all__ = ["FaceMirror", "RandomFlipTensor", "RandomResizedCrop", "Resize"]


def _check4d(x: torch.Tensor, who: str) -> None:
    if not torch.is_tensor(x) or x.ndim != 4:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise InputShapeError(f"{who}: expected a [T, C, H, W] tensor, got {shape}")


def _size2(size: int | tuple[int, int], who: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ArgumentError(f"{who}: size must be positive (H, W), got {size!r}")
    return int(h), int(w)


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    kw = {} if mode in ("nearest", "nearest-exact", "area") else {"align_corners": False}
    return F.interpolate(x.float(), size=size, mode=mode, **kw).to(x.dtype)


@dataclass
class Resize:
    """Resize every frame to ``size`` (H, W) with ``mode`` (nearest keeps binary frames
    binary)."""

    size: int | tuple[int, int] = 128
    mode: str = "nearest"
    stage: ClassVar[str] = "tensor"

    def __post_init__(self) -> None:
        self._hw = _size2(self.size, "Resize")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check4d(x, "Resize")
        return _resize(x, self._hw, self.mode)


@dataclass
class RandomFlipTensor(SeededTransform):
    """Flip all frames left-right with probability ``p``."""

    p: float = 0.5
    stage: ClassVar[str] = "tensor"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check4d(x, "RandomFlipTensor")
        return x.flip(-1) if self.rng().random() < self.p else x


@dataclass
class FaceMirror(SeededTransform):
    """With probability ``p`` replace one half of the face by the mirror image of the other
    (left or right chosen with equal probability; Spiking-FER's face mirroring)."""

    p: float = 0.5
    stage: ClassVar[str] = "tensor"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check4d(x, "FaceMirror")
        rng = self.rng()
        if rng.random() >= self.p:
            return x
        w = x.shape[-1]
        half = w // 2
        out = x.clone()
        if rng.random() < 0.5:  # keep the left half, mirror it onto the right
            out[..., w - half:] = x[..., :half].flip(-1)
        else:
            out[..., :half] = x[..., w - half:].flip(-1)
        return out


@dataclass
class RandomResizedCrop(SeededTransform):
    """Crop a random area (``scale`` of the frame, aspect ``ratio``) and resize it to ``size``
    — torchvision's rule (10 tries, then a centre crop), same box for all frames."""

    size: int | tuple[int, int] = 128
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    mode: str = "nearest"
    stage: ClassVar[str] = "tensor"

    def __post_init__(self) -> None:
        self._hw = _size2(self.size, "RandomResizedCrop")
        if not (0 < self.scale[0] <= self.scale[1] <= 1):
            raise ArgumentError(f"RandomResizedCrop: scale must be 0 < a <= b <= 1, "
                                f"got {self.scale}")
        if not (0 < self.ratio[0] <= self.ratio[1]):
            raise ArgumentError(f"RandomResizedCrop: ratio must be 0 < a <= b, got {self.ratio}")

    def box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """A random crop box ``(top, left, h, w)`` for a ``height`` x ``width`` frame."""
        rng = self.rng()
        area = height * width
        log_r = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_r))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                return top, int(rng.integers(0, width - w + 1)), h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        _check4d(x, "RandomResizedCrop")
        top, left, h, w = self.box(x.shape[-2], x.shape[-1])
        return _resize(x[..., top:top + h, left:left + w], self._hw, self.mode)
