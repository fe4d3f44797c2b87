"""Dataset loaders for the public FER datasets (real on-disk layouts) and folder datasets.

Every loader subclasses :class:`snnfer.data.FERDataset`: ``dataset[i] -> (x, label)`` with
``x`` a float32 ``[T, C, H, W]`` tensor (or, for SEE, a dict of modality -> tensor), and
``dataset.metadata(i)`` / ``dataset.samples[i]`` for subject, sequence, condition and more.
"""

from snnfer.data.datasets.casme2 import CASME2, CASME2_EMOTIONS, MEGC2019_CLASSES
from snnfer.data.datasets.common import (
    DiskCache,
    EventDataset,
    default_representation,
    frames_to_tensor,
)
from snnfer.data.datasets.ferdvs import FERDVS_CLASSES, FERDVS_DATASETS, FerDVS
from snnfer.data.datasets.folder import (
    ADFES_PATTERN,
    SZU_EMODAGE_PATTERN,
    EventFolder,
    VideoFolder,
)
from snnfer.data.datasets.nefer import NEFER, NEFER_CLASSES
from snnfer.data.datasets.see import LIGHTING_CONDITIONS, SEE, SEE_EMOTIONS, parse_see_sequence

__all__ = [
    "ADFES_PATTERN",
    "CASME2",
    "CASME2_EMOTIONS",
    "FERDVS_CLASSES",
    "FERDVS_DATASETS",
    "LIGHTING_CONDITIONS",
    "MEGC2019_CLASSES",
    "NEFER",
    "NEFER_CLASSES",
    "SEE",
    "SEE_EMOTIONS",
    "SZU_EMODAGE_PATTERN",
    "DiskCache",
    "EventDataset",
    "EventFolder",
    "FerDVS",
    "VideoFolder",
    "default_representation",
    "frames_to_tensor",
    "parse_see_sequence",
]
