"""Event data pipeline: event I/O, DVS emulation, faces, representations, datasets."""

from snnfer.data.base import FERDataset, SampleInfo

__all__ = ["FERDataset", "SampleInfo"]
