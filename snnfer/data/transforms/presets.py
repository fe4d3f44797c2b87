"""Ready-made pipelines from the papers snnfer reproduces."""

from __future__ import annotations

from snnfer.data.events import SensorSize
from snnfer.data.transforms.augment_events import (
    BackgroundNoise,
    EventDrop,
    FlipHorizontal,
    FlipPolarity,
    TimeReversal,
)
from snnfer.data.transforms.augment_tensors import FaceMirror, RandomResizedCrop, Resize
from snnfer.data.transforms.base import Compose, RandomApply
from snnfer.data.transforms.representations import ToBinaryFrames

__all__ = ["spiking_fer_transforms"]


def spiking_fer_transforms(train: bool = True, sensor_size: SensorSize | None = None,
                           n_bins: int = 6, events_per_bin: int = 2500, size: int = 128,
                           crop: bool = True, seed: int | None = None) -> Compose:
    """Spiking-FER's input pipeline (Barchid et al. 2023; /work/shared/REFERENCE.md).

    Train: horizontal flip (p 0.5), background-activity noise severity 5 (p 0.5), time
    reversal (p 0.2), polarity flip (per event, p 0.2), EventDrop, binary frames of the
    central ``n_bins`` x ``events_per_bin`` events, random resized crop (or resize) to
    ``size`` (nearest), face mirror (p 0.5). Eval: binary frames and resize.
    """

    def s(k: int) -> int | None:
        return None if seed is None else seed + k

    frames = ToBinaryFrames(n_bins=n_bins, by="count", events_per_bin=events_per_bin,
                            sensor_size=sensor_size)
    if not train:
        return Compose([frames, Resize(size)])
    return Compose([
        FlipHorizontal(p=0.5, seed=s(0)),
        RandomApply(transform=BackgroundNoise(severity=5, seed=s(1)), p=0.5, seed=s(2)),
        TimeReversal(p=0.2, seed=s(3)),
        FlipPolarity(p=0.2, seed=s(4)),
        EventDrop(seed=s(5)),
        frames,
        RandomResizedCrop(size, seed=s(6)) if crop else Resize(size),
        RandomApply(transform=FaceMirror(p=1.0, seed=s(7)), p=0.5, seed=s(8)),
    ])
