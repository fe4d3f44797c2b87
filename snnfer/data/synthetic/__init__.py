"""Procedurally rendered FER datasets (events from the DVS emulator), deterministic by seed.

* :class:`SyntheticFER` - face clips with FACS action-unit motion, ``[T, C, H, W]`` events.
* :class:`SyntheticSEE` - single-eye clips, RGB + events under four lighting conditions
  (the structure of the SEE loader).
"""

from snnfer.data.synthetic.base import ClipSpec, SyntheticClipDataset, emulate_mosaic
from snnfer.data.synthetic.fer import FER_ACTION_UNITS, FER_CLASSES, SyntheticFER
from snnfer.data.synthetic.see import EYE_MOTION, SyntheticSEE

__all__ = [
    "EYE_MOTION",
    "FER_ACTION_UNITS",
    "FER_CLASSES",
    "ClipSpec",
    "SyntheticClipDataset",
    "SyntheticFER",
    "SyntheticSEE",
    "emulate_mosaic",
]
