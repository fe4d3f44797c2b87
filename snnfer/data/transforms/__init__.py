"""Event representations and augmentations (tonic-style small callable dataclasses).

>>> import numpy as np
>>> from snnfer.data.events import make_events
>>> from snnfer.data.transforms import Compose, EventDrop, FlipHorizontal, ToBinaryFrames
>>> ev = make_events(np.arange(100) * 10, np.arange(100) % 8, np.arange(100) % 6,
...                  np.arange(100) % 2)
>>> pipeline = Compose([FlipHorizontal(p=0.5, seed=0), EventDrop(seed=1),
...                     ToBinaryFrames(n_bins=6, by="count", events_per_bin=10)])
>>> tuple(pipeline(ev, (8, 6)).shape)
(6, 2, 6, 8)

See :mod:`snnfer.data.transforms.base` for the stage conventions,
:mod:`~snnfer.data.transforms.representations` for the binning rules.
"""

from snnfer.data.transforms.augment_events import (
    BACKGROUND_SEVERITY,
    BackgroundNoise,
    DropByArea,
    DropByTime,
    DropRandom,
    EventDrop,
    FlipHorizontal,
    FlipPolarity,
    TimeReversal,
)
from snnfer.data.transforms.augment_tensors import (
    FaceMirror,
    RandomFlipTensor,
    RandomResizedCrop,
    Resize,
)
from snnfer.data.transforms.base import Compose, RandomApply, SeededTransform
from snnfer.data.transforms.presets import spiking_fer_transforms
from snnfer.data.transforms.representations import (
    ToBinaryFrames,
    ToCountFrames,
    ToThreeChannelFrames,
    ToVoxelGrid,
    bin_events,
)

__all__ = [
    "BACKGROUND_SEVERITY",
    "BackgroundNoise",
    "Compose",
    "DropByArea",
    "DropByTime",
    "DropRandom",
    "EventDrop",
    "FaceMirror",
    "FlipHorizontal",
    "FlipPolarity",
    "RandomApply",
    "RandomFlipTensor",
    "RandomResizedCrop",
    "Resize",
    "SeededTransform",
    "TimeReversal",
    "ToBinaryFrames",
    "ToCountFrames",
    "ToThreeChannelFrames",
    "ToVoxelGrid",
    "bin_events",
    "spiking_fer_transforms",
]
