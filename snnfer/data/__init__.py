"""Event data pipeline: event I/O, DVS emulation, faces, representations, datasets."""

from snnfer.data.base import FERDataset, SampleInfo
from snnfer.data.convert import ClipConverter, convert_folder
from snnfer.data.datasets import (
    CASME2,
    NEFER,
    SEE,
    EventFolder,
    FerDVS,
    VideoFolder,
)
from snnfer.data.emulator import PRESETS as EMULATOR_PRESETS
from snnfer.data.emulator import DVSEmulator
from snnfer.data.events import (
    EVENT_DTYPE,
    as_events,
    concat_events,
    make_events,
    read_events,
    validate_events,
    write_events,
)
from snnfer.data.faces import FaceAligner
from snnfer.data.synthetic import SyntheticFER, SyntheticSEE
from snnfer.data.video import read_video

__all__ = [
    "CASME2",
    "EMULATOR_PRESETS",
    "EVENT_DTYPE",
    "NEFER",
    "SEE",
    "ClipConverter",
    "DVSEmulator",
    "EventFolder",
    "FERDataset",
    "FaceAligner",
    "FerDVS",
    "SampleInfo",
    "SyntheticFER",
    "SyntheticSEE",
    "VideoFolder",
    "as_events",
    "concat_events",
    "convert_folder",
    "make_events",
    "read_video",
    "read_events",
    "validate_events",
    "write_events",
]
