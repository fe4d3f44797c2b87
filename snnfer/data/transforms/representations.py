"""Event representations: ``rep(events, sensor_size=None) -> float32 Tensor [T, C, H, W]``.

Binning (shared by the frame representations):

- ``by="time"``: ``n_bins`` equal slices of ``[t_first, t_last]`` (every event lands in a
  bin; ``bin = (t - t_first) * T // (t_last - t_first + 1)``), or, with ``window_us``,
  consecutive windows of that length from the first event (later events are dropped);
- ``by="count"``: ``n_bins`` slices with equal event counts (bin ``i`` holds events
  ``floor(j T / n) == i``); with ``events_per_bin`` and enough events, the central
  ``n_bins`` slices of exactly that many events (Spiking-FER, Barchid et al. 2023: T = 6 of
  2,500 events; with fewer events it falls back to equal-count bins).

Polarity channels follow tonic: channel 0 = OFF (p = 0), channel 1 = ON (p = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from snnfer.data.events import SensorSize
from snnfer.data.transforms.base import resolve_sensor_size
from snnfer.errors import ArgumentError

__all__ = [
    "ToBinaryFrames",
    "ToCountFrames",
    "ToThreeChannelFrames",
    "ToVoxelGrid",
    "bin_events",
]


def bin_events(events: np.ndarray, n_bins: int, by: str = "time", window_us: float | None = None,
               events_per_bin: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(selected events, bin index of each)`` for the binning rules of this module."""
    n = len(events)
    if n == 0:
        return events, np.zeros(0, np.int64)
    if by == "time":
        t = events["t"] - events["t"][0]
        if window_us is not None:
            b = (t // float(window_us)).astype(np.int64)
            keep = b < n_bins
            return events[keep], b[keep]
        span = int(t[-1]) + 1
        return events, (t * n_bins) // span
    if events_per_bin is not None and n // events_per_bin >= n_bins:
        start = ((n // events_per_bin - n_bins) // 2) * events_per_bin
        sel = events[start:start + n_bins * events_per_bin]
        return sel, np.arange(len(sel), dtype=np.int64) // events_per_bin
    return events, (np.arange(n, dtype=np.int64) * n_bins) // n


def _accumulate(index: np.ndarray, shape: tuple[int, ...],
                weights: np.ndarray | None = None) -> torch.Tensor:
    size = int(np.prod(shape))
    counts = np.bincount(index, weights=weights, minlength=size)
    return torch.from_numpy(counts.astype(np.float32, copy=False)).reshape(shape)


@dataclass
class _Binned:
    """Fields shared by the binned frame representations."""

    n_bins: int = 16
    by: str = "time"
    sensor_size: SensorSize | None = None
    window_us: float | None = None
    events_per_bin: int | None = None
    stage: ClassVar[str] = "representation"

    def __post_init__(self) -> None:
        name = type(self).__name__
        if int(self.n_bins) < 1:
            raise ArgumentError(f"{name}: n_bins must be >= 1, got {self.n_bins}")
        if self.by not in ("time", "count"):
            raise ArgumentError(f"{name}: by must be 'time' or 'count', got {self.by!r}")
        if self.window_us is not None and (self.by != "time" or not self.window_us > 0):
            raise ArgumentError(f"{name}: window_us needs by='time' and a positive value")
        if self.events_per_bin is not None and (self.by != "count" or self.events_per_bin < 1):
            raise ArgumentError(f"{name}: events_per_bin needs by='count' and a value >= 1")

    def _bins(self, events: np.ndarray, sensor_size: Any):
        size = resolve_sensor_size(events, sensor_size, self.sensor_size, type(self).__name__)
        ev, b = bin_events(events, self.n_bins, self.by, self.window_us, self.events_per_bin)
        return ev, b, size


@dataclass
class ToCountFrames(_Binned):
    """Event counts per pixel in ``n_bins`` bins: ``[T, 2, H, W]`` (OFF, ON) or, with
    ``polarity="merge"``, ``[T, 1, H, W]``; ``binary=True`` gives 0/1 frames."""

    polarity: str = "split"
    binary: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.polarity not in ("split", "merge"):
            raise ArgumentError(f"polarity must be 'split' or 'merge', got {self.polarity!r}")

    def __call__(self, events: np.ndarray, sensor_size: Any = None) -> torch.Tensor:
        ev, b, (w, h) = self._bins(events, sensor_size)
        c = 2 if self.polarity == "split" else 1
        ch = ev["p"].astype(np.int64) if c == 2 else 0
        index = ((b * c + ch) * h + ev["y"]) * w + ev["x"]
        frames = _accumulate(index, (self.n_bins, c, h, w))
        return (frames > 0).float() if self.binary else frames


@dataclass
class ToBinaryFrames(ToCountFrames):
    """1 where a pixel had at least one event in the bin (Spiking-FER's input)."""

    binary: bool = True


@dataclass
class ToVoxelGrid:
    """Voxel grid with bilinear interpolation in time (Zhu et al., CVPR 2019, Eq. 1).

    Timestamps are scaled to ``[0, T - 1]``; each event adds its polarity (+1 ON, -1 OFF)
    times ``max(0, 1 - |t* - b|)`` to the two nearest bins ``b``: ``[T, 1, H, W]``. With
    ``polarity="split"`` ON and OFF accumulate unsigned into channels 1 and 0.
    """

    n_bins: int = 5
    sensor_size: SensorSize | None = None
    polarity: str = "signed"
    stage: ClassVar[str] = "representation"

    def __post_init__(self) -> None:
        if int(self.n_bins) < 1:
            raise ArgumentError(f"ToVoxelGrid: n_bins must be >= 1, got {self.n_bins}")
        if self.polarity not in ("signed", "split"):
            raise ArgumentError(f"polarity must be 'signed' or 'split', got {self.polarity!r}")

    def __call__(self, events: np.ndarray, sensor_size: Any = None) -> torch.Tensor:
        w, h = resolve_sensor_size(events, sensor_size, self.sensor_size, "ToVoxelGrid")
        c = 1 if self.polarity == "signed" else 2
        shape = (self.n_bins, c, h, w)
        if len(events) == 0:
            return torch.zeros(shape)
        t = (events["t"] - events["t"][0]).astype(np.float64)
        ts = t * ((self.n_bins - 1) / t[-1]) if t[-1] > 0 else np.zeros_like(t)
        lo = np.floor(ts).astype(np.int64)
        frac = ts - lo
        hi = np.minimum(lo + 1, self.n_bins - 1)
        if c == 1:
            value, ch = np.where(events["p"] > 0, 1.0, -1.0), 0
        else:
            value, ch = np.ones(len(events)), events["p"].astype(np.int64)
        pix = events["y"].astype(np.int64) * w + events["x"]
        index = np.concatenate([(lo * c + ch) * h * w + pix, (hi * c + ch) * h * w + pix])
        weights = np.concatenate([value * (1 - frac), value * frac])
        return _accumulate(index, shape, weights)


@dataclass
class ToThreeChannelFrames(_Binned):
    """3-channel frames for C3D-style networks (CS3D's input is ``3 x 16 x 112 x 112``).

    The CS3D paper (§IV-A) feeds V2E output to a C3D-derived network without naming the
    channels. ``mode="v2e"`` (default) reproduces what V2E renders as its DVS video, the
    likely input: per bin ``(clip(ON - OFF, -fs, fs) + fs) / (2 fs)`` (gray 0.5 = no events,
    ``fs = full_scale`` = 3 as in v2e's renderer) repeated on 3 channels like the RGB AVI.
    ``mode="on_off_time"`` keeps more information: ON count, OFF count and the mean time of
    the pixel's events within the bin, scaled to [0, 1] (0 where no event).
    """

    n_bins: int = 16
    mode: str = "v2e"
    full_scale: float = 3.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in ("v2e", "on_off_time"):
            raise ArgumentError(f"mode must be 'v2e' or 'on_off_time', got {self.mode!r}")
        if not self.full_scale > 0:
            raise ArgumentError(f"full_scale must be > 0, got {self.full_scale}")

    def __call__(self, events: np.ndarray, sensor_size: Any = None) -> torch.Tensor:
        ev, b, (w, h) = self._bins(events, sensor_size)
        pix = (b * h + ev["y"]) * w + ev["x"]
        shape = (self.n_bins, h, w)
        if self.mode == "v2e":
            signed = _accumulate(pix, shape, np.where(ev["p"] > 0, 1.0, -1.0))
            fs = self.full_scale
            gray = (signed.clamp(-fs, fs) + fs) / (2 * fs)
            return gray[:, None].expand(-1, 3, -1, -1).contiguous()
        on = _accumulate(pix, shape, (ev["p"] > 0).astype(np.float64))
        off = _accumulate(pix, shape, (ev["p"] == 0).astype(np.float64))
        if len(ev):  # events are time-sorted, so each bin is a contiguous run
            t = ev["t"].astype(np.float64)
            lo = np.searchsorted(b, np.arange(self.n_bins), side="left")
            hi = np.searchsorted(b, np.arange(self.n_bins), side="right")
            first = t[np.minimum(lo, len(t) - 1)]
            span = np.where(hi > lo, t[np.maximum(hi - 1, 0)] - first, 0.0)
            rel = np.where(span[b] > 0, (t - first[b]) / np.where(span[b] > 0, span[b], 1), 0.5)
            tsum = _accumulate(pix, shape, rel)
        else:
            tsum = torch.zeros(shape)
        n = on + off
        mean_t = torch.where(n > 0, tsum / n.clamp(min=1), torch.zeros_like(n))
        return torch.stack([on, off, mean_t], dim=1)
