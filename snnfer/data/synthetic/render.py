"""Procedural rendering primitives shared by the synthetic FER datasets.

Everything is vectorised over frames in torch: shape parameters are ``[F, 1, 1]`` tensors
(one value per frame) broadcast against a ``[H, W]`` coordinate grid, so a whole clip is
rendered in a handful of tensor operations. Shapes have anti-aliased edges about one pixel
wide (:func:`coverage`), which matters for the DVS emulator: a sub-pixel motion then changes
intensities gradually, as a real optical image would, instead of flipping pixels.

Coordinates are normalised: ``x`` and ``y`` in [-1, 1] across the image, ``y`` pointing down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Grid",
    "blend",
    "blink_profile",
    "coverage",
    "curve_band",
    "ellipse",
    "expression_envelope",
    "per_frame",
    "smooth_walk",
    "value_noise",
]


@dataclass(frozen=True)
class Grid:
    """Pixel-centre coordinates of an ``H x W`` image in [-1, 1] and the pixel pitch."""

    x: torch.Tensor  # [H, W]
    y: torch.Tensor  # [H, W]
    pixel: float     # width of one pixel in normalised units

    @classmethod
    def make(cls, height: int, width: int | None = None) -> Grid:
        width = width or height
        ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height * 2 - 1
        xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width * 2 - 1
        y, x = torch.meshgrid(ys, xs, indexing="ij")
        return cls(x=x, y=y, pixel=2.0 / min(height, width))

    def moved(self, dx: torch.Tensor, dy: torch.Tensor, angle: torch.Tensor,
              scale: torch.Tensor | float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Object coordinates ``[F, H, W]`` of an object translated by (dx, dy), rotated by
        ``angle`` (radians) and scaled, all ``[F, 1, 1]`` per frame (inverse mapping)."""
        c, s = torch.cos(angle), torch.sin(angle)
        u, v = (self.x - dx) / scale, (self.y - dy) / scale
        return c * u + s * v, -s * u + c * v


def per_frame(values) -> torch.Tensor:
    """Per-frame values ``[F]`` (or a scalar) as ``[F, 1, 1]``, to broadcast over images."""
    return torch.as_tensor(values, dtype=torch.float32).reshape(-1, 1, 1)


def coverage(signed_distance: torch.Tensor, pixel: float) -> torch.Tensor:
    """Anti-aliased inside-ness of a shape from its signed distance (negative inside)."""
    return (0.5 - signed_distance / pixel).clamp_(0.0, 1.0)


def ellipse(x: torch.Tensor, y: torch.Tensor, cx, cy, rx, ry, pixel: float) -> torch.Tensor:
    """Coverage of an axis-aligned ellipse.

    Signed distance by the first-order approximation ``k0 (k0 - 1) / k1`` with
    ``k0 = |p / r|`` and ``k1 = |p / r^2|`` (exact on the axes and near the outline), bounded
    below by the distance to the bounding box, which keeps very flat ellipses (a closing eye,
    a closed mouth) from bleeding along their long axis.
    """
    rx = torch.as_tensor(rx).clamp(min=1e-4)
    ry = torch.as_tensor(ry).clamp(min=1e-4)
    u, v = (x - cx) / rx, (y - cy) / ry
    k0 = torch.sqrt(u * u + v * v)
    k1 = torch.sqrt((u / rx) ** 2 + (v / ry) ** 2).clamp(min=1e-6)
    box = torch.maximum((x - cx).abs() - rx, (y - cy).abs() - ry)
    return coverage(torch.maximum(k0 * (k0 - 1.0) / k1, box), pixel)


def curve_band(x: torch.Tensor, y: torch.Tensor, cx, cy, half_width, thickness, bend, tilt,
               pixel: float, taper: float = 0.5) -> torch.Tensor:
    """Coverage of a thick parabolic stroke (brows, lids, lips).

    The centre line is ``y = cy + bend * u**2 + tilt * u`` with ``u = (x - cx) / half_width``
    in [-1, 1]; the thickness shrinks towards the ends by ``taper``.
    """
    u = (x - cx) / half_width
    centre = cy + bend * u * u + tilt * u
    thick = thickness * (1.0 - taper * u * u).clamp(min=0.05)
    across = coverage((y - centre).abs() - thick / 2, pixel)
    along = coverage((u.abs() - 1.0) * half_width, pixel)
    return across * along


def blend(img: torch.Tensor, value, alpha: torch.Tensor) -> torch.Tensor:
    """``img * (1 - alpha) + value * alpha`` (value: scalar, per-frame or per-channel)."""
    return img + (torch.as_tensor(value, dtype=img.dtype) - img) * alpha


def value_noise(rng: np.random.Generator, height: int, width: int, cells: int,
                octaves: int = 2) -> torch.Tensor:
    """Smooth random texture in about [-1, 1]: bicubic-upsampled random grids, summed over
    ``octaves`` (each twice as fine, half as strong)."""
    out = torch.zeros(height, width)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = cells * 2 ** o + 1
        coarse = torch.from_numpy(rng.uniform(-1, 1, (1, 1, n, n)).astype(np.float32))
        fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic",
                                               align_corners=True)[0, 0]
        out += amp * fine
        total += amp
        amp /= 2
    return out / total


def expression_envelope(n: int, onset: float, rise: float, hold: float, decay: float = 0.0
                        ) -> torch.Tensor:
    """Intensity ``[n]`` of an expression: 0 until ``onset``, a smooth (raised-cosine) rise
    over ``rise``, held for ``hold``, then released over ``decay`` (fractions of the clip)."""
    t = torch.linspace(0, 1, n)
    up = ((t - onset) / max(rise, 1e-6)).clamp(0, 1)
    env = 0.5 - 0.5 * torch.cos(math.pi * up)
    if decay > 0:
        down = ((t - onset - rise - hold) / decay).clamp(0, 1)
        env = env * (0.5 + 0.5 * torch.cos(math.pi * down))
    return env


def blink_profile(n: int, fps: float, starts_s: list[float], close_s: float = 0.1,
                  open_s: float = 0.15) -> torch.Tensor:
    """Lid closure ``[n]`` in [0, 1] for blinks starting at ``starts_s`` (fast close, slower
    reopening, as in human blinks of about 250 ms)."""
    t = torch.arange(n, dtype=torch.float32) / fps
    out = torch.zeros(n)
    for s in starts_s:
        closing = ((t - s) / close_s).clamp(0, 1)
        opening = ((t - s - close_s) / open_s).clamp(0, 1)
        out = torch.maximum(out, torch.where(t < s + close_s, closing, 1 - opening))
    return out


def smooth_walk(rng: np.random.Generator, n: int, amplitude: float, cycles: float = 1.5
                ) -> torch.Tensor:
    """A smooth random trajectory ``[n]`` within +-``amplitude``: the mean of two sinusoids
    of random phase and up to ``cycles`` periods per clip."""
    t = torch.linspace(0, 1, n)
    out = torch.zeros(n)
    for _ in range(2):
        f, phase = rng.uniform(0.3, cycles), rng.uniform(0, 2 * math.pi)
        out += torch.sin(2 * math.pi * f * t + phase)
    return amplitude * out / 2
