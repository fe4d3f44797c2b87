"""Event-level augmentations: ``t(events, sensor_size) -> (events, sensor_size)``.

The set Spiking-FER trains with (Barchid et al. 2023, §4; /work/shared/REFERENCE.md):
EventDrop (Gu et al., IJCAI 2021: identity / drop by time / drop by area / random drop),
horizontal flip, polarity flip, background-activity noise and time reversal. Inputs are never
modified in place; outputs are valid, time-sorted event arrays.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from snnfer.data.events import EVENT_DTYPE, SensorSize, check_sensor_size
from snnfer.data.transforms.base import SeededTransform
from snnfer.errors import ArgumentError

__all__ = [
    "BackgroundNoise",
    "DropByArea",
    "DropByTime",
    "DropRandom",
    "EventDrop",
    "FlipHorizontal",
    "FlipPolarity",
    "TimeReversal",
]

Range = float | tuple[float, float]
BACKGROUND_SEVERITY = (0.005, 0.01, 0.03, 0.10, 0.2)
"""Fraction of noise events added per severity 1-5 (Spiking-FER; severity 5 adds 20 %)."""


def _check_range(value: Range, name: str, lo: float, hi: float) -> tuple[float, float]:
    a, b = (value, value) if np.isscalar(value) else tuple(value)
    if not (lo <= a <= b <= hi):
        raise ArgumentError(f"{name} must be a value or (min, max) within [{lo}, {hi}], "
                            f"got {value!r}")
    return float(a), float(b)


def _check_p(p: float, name: str) -> None:
    if not 0 <= p <= 1:
        raise ArgumentError(f"{name}: p must be in [0, 1], got {p}")


@dataclass
class _EventAug(SeededTransform, abc.ABC):
    stage: ClassVar[str] = "events"

    def __call__(self, events: np.ndarray, sensor_size: Any) -> tuple[np.ndarray, SensorSize]:
        size = check_sensor_size(sensor_size)
        if events.dtype != EVENT_DTYPE:
            raise ArgumentError(f"{type(self).__name__}: events must be EVENT_DTYPE, "
                                f"got {events.dtype}")
        if len(events) == 0:
            return events, size
        return self.apply(events, size, self.rng()), size

    @abc.abstractmethod
    def apply(self, events: np.ndarray, size: SensorSize,
              rng: np.random.Generator) -> np.ndarray:
        """The augmentation proper, on a non-empty validated array."""


@dataclass
class DropByTime(_EventAug):
    """Drop the events of one random time interval lasting ``ratio`` of the stream."""

    ratio: Range = (0.1, 0.9)

    def __post_init__(self) -> None:
        _check_range(self.ratio, "DropByTime ratio", 0.0, 1.0)

    def apply(self, events, size, rng):
        a, b = _check_range(self.ratio, "ratio", 0.0, 1.0)
        t = events["t"]
        length = (t[-1] - t[0]) * rng.uniform(a, b)
        start = rng.uniform(t[0], t[-1] - length) if t[-1] - length > t[0] else float(t[0])
        return events[(t < start) | (t > start + length)]


@dataclass
class DropByArea(_EventAug):
    """Drop the events inside a random box of ``ratio * W`` by ``ratio * H`` pixels."""

    ratio: Range = (0.05, 0.25)

    def __post_init__(self) -> None:
        _check_range(self.ratio, "DropByArea ratio", 0.0, 1.0)

    def apply(self, events, size, rng):
        w, h = size
        r = rng.uniform(*_check_range(self.ratio, "ratio", 0.0, 1.0))
        bw, bh = int(w * r), int(h * r)
        x0, y0 = rng.integers(0, w - bw + 1), rng.integers(0, h - bh + 1)
        x, y = events["x"], events["y"]
        inside = (x >= x0) & (x < x0 + bw) & (y >= y0) & (y < y0 + bh)
        return events[~inside]


@dataclass
class DropRandom(_EventAug):
    """Drop ``round(ratio * n)`` events chosen uniformly without replacement."""

    ratio: Range = (0.1, 0.9)

    def __post_init__(self) -> None:
        _check_range(self.ratio, "DropRandom ratio", 0.0, 1.0)

    def apply(self, events, size, rng):
        r = rng.uniform(*_check_range(self.ratio, "ratio", 0.0, 1.0))
        n_drop = int(round(r * len(events)))
        keep = np.ones(len(events), bool)
        keep[rng.choice(len(events), n_drop, replace=False)] = False
        return events[keep]


@dataclass
class EventDrop(_EventAug):
    """EventDrop (Gu et al. 2021): with equal probability identity, :class:`DropByTime`,
    :class:`DropByArea` or :class:`DropRandom` with the given ratio ranges."""

    time_ratio: Range = (0.1, 0.9)
    area_ratio: Range = (0.05, 0.25)
    random_ratio: Range = (0.1, 0.9)

    def __post_init__(self) -> None:
        self._drops = (None, DropByTime(self.time_ratio), DropByArea(self.area_ratio),
                       DropRandom(self.random_ratio))

    def apply(self, events, size, rng):
        drop = self._drops[int(rng.integers(0, 4))]
        return events if drop is None else drop.apply(events, size, rng)


@dataclass
class FlipHorizontal(_EventAug):
    """Mirror left-right (``x -> W - 1 - x``) with probability ``p``."""

    p: float = 0.5

    def __post_init__(self) -> None:
        _check_p(self.p, "FlipHorizontal")

    def apply(self, events, size, rng):
        if rng.random() >= self.p:
            return events
        out = events.copy()
        out["x"] = size[0] - 1 - events["x"]
        return out


@dataclass
class FlipPolarity(_EventAug):
    """Invert the polarity of each event independently with probability ``p`` (tonic's and
    Spiking-FER's rule); ``p=1`` swaps ON and OFF everywhere."""

    p: float = 0.2

    def __post_init__(self) -> None:
        _check_p(self.p, "FlipPolarity")

    def apply(self, events, size, rng):
        out = events.copy()
        flip = rng.random(len(events)) < self.p
        out["p"][flip] = 1 - events["p"][flip]
        return out


@dataclass
class TimeReversal(_EventAug):
    """With probability ``p`` play the stream backwards: ``t -> t_last - t + t_first``, order
    reversed and polarity inverted (a brightening seen backwards is a darkening)."""

    p: float = 0.2

    def __post_init__(self) -> None:
        _check_p(self.p, "TimeReversal")

    def apply(self, events, size, rng):
        if rng.random() >= self.p:
            return events
        out = events[::-1].copy()
        out["t"] = events["t"][-1] + events["t"][0] - out["t"]
        out["p"] = 1 - out["p"]
        return out


@dataclass
class BackgroundNoise(_EventAug):
    """Add uniformly distributed background-activity events (random pixel, polarity and time
    within the stream): ``fraction * n`` of them, or the Spiking-FER ``severity`` 1-5
    (:data:`BACKGROUND_SEVERITY`), applied with probability ``p``."""

    severity: int | None = 5
    fraction: float | None = None
    p: float = 1.0

    def __post_init__(self) -> None:
        _check_p(self.p, "BackgroundNoise")
        if (self.severity is None) == (self.fraction is None):
            raise ArgumentError("BackgroundNoise: give exactly one of severity or fraction")
        if self.severity is not None and self.severity not in range(1, 6):
            raise ArgumentError(f"BackgroundNoise: severity must be 1..5, got {self.severity}")
        if self.fraction is not None and not self.fraction >= 0:
            raise ArgumentError(f"BackgroundNoise: fraction must be >= 0, got {self.fraction}")

    def apply(self, events, size, rng):
        if rng.random() >= self.p:
            return events
        frac = self.fraction if self.fraction is not None else BACKGROUND_SEVERITY[
            self.severity - 1]
        n = int(frac * len(events))
        noise = np.empty(n, dtype=EVENT_DTYPE)
        noise["t"] = rng.integers(events["t"][0], events["t"][-1] + 1, n)
        noise["x"] = rng.integers(0, size[0], n)
        noise["y"] = rng.integers(0, size[1], n)
        noise["p"] = rng.integers(0, 2, n)
        both = np.concatenate([events, noise])
        return both[np.argsort(both["t"], kind="stable")]
