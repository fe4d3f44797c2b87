"""Event data pipeline: event I/O, DVS emulation, faces, representations, datasets."""

from snnfer.data.base import FERDataset, SampleInfo
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

__all__ = [
    "EMULATOR_PRESETS",
    "EVENT_DTYPE",
    "DVSEmulator",
    "FERDataset",
    "SampleInfo",
    "as_events",
    "concat_events",
    "make_events",
    "read_events",
    "validate_events",
    "write_events",
]
