"""AEDAT 4.0 (iniVation DV) event files: reading via the ``aedat`` package, writing by hand.

An AEDAT4 file is the magic line ``#!AER-DAT4.0\\r\\n``, a little-endian ``uint32`` length and
an ``IOHE`` FlatBuffer (compression, file-data-table position, XML stream description), then
packets ``uint32 stream_id, uint32 length, payload``; an event payload is a size-prefixed
``EVTS`` FlatBuffer holding a vector of 16-byte ``Event`` structs ``{int64 t; int16 x;
int16 y; bool on}`` (see the DV documentation, "AEDAT 4.0 file format", and the FlatBuffers
binary format). :func:`write_aedat4` lays those bytes out directly (uncompressed, no data
table, one ``EVTS`` stream) so snnfer needs no FlatBuffers runtime; files it writes are read
back by the ``aedat`` package (tested).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from snnfer.atomic import atomic_path
from snnfer.data.events import SensorSize, as_events
from snnfer.errors import EventFormatError
from snnfer.optional import require

__all__ = ["read_aedat4", "write_aedat4"]

MAGIC = b"#!AER-DAT4.0\r\n"
PACKET_EVENTS = 65536
_EVENT_STRUCT = np.dtype(
    {"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"],
     "offsets": [0, 8, 10, 12], "itemsize": 16}
)


def read_aedat4(path: str | os.PathLike, stream_id: int | None = None
                ) -> tuple[np.ndarray, SensorSize]:
    """Events and ``(W, H)`` of the first (or the given) ``EVTS`` stream of an AEDAT4 file.

    Timestamps stay as recorded (absolute µs since the epoch for DV recordings).
    """
    aedat = require("aedat", "data", "reading AEDAT4 files")
    try:
        decoder = aedat.Decoder(str(path))
        streams = decoder.id_to_stream()
        ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
        if stream_id is not None:
            ids = [i for i in ids if i == stream_id]
        if not ids:
            raise EventFormatError(
                f"{path}: no event stream{'' if stream_id is None else f' {stream_id}'} "
                f"(streams: {streams})"
            )
        chosen = ids[0]
        size = (int(streams[chosen]["width"]), int(streams[chosen]["height"]))
        parts = [pkt["events"] for pkt in decoder
                 if pkt["stream_id"] == chosen and "events" in pkt]
    except EventFormatError:
        raise
    except (RuntimeError, OSError, ValueError) as exc:
        raise EventFormatError(f"{path}: not a readable AEDAT4 file ({exc})") from exc
    if not parts:
        return as_events(np.zeros((0, 4), np.int64)), size
    return as_events(np.concatenate(parts), source=str(path)), size


def _ioheader(description: str) -> bytes:
    """``IOHE`` FlatBuffer: table {compression: int32 = 0, file_data_position: int64 = -1,
    description: string}, laid out front to back with every field naturally aligned."""
    text = description.encode("utf-8")
    vtable = struct.pack("<5H", 10, 20, 4, 8, 16)  # vtable size, table size, field offsets
    head = struct.pack("<I4s", 24, b"IOHE") + vtable + b"\0" * 6  # table starts at 24
    table = struct.pack("<iiqI", 24 - 8, 0, -1, 4)  # soffset to vtable, fields, string at +4
    string = struct.pack("<I", len(text)) + text + b"\0"
    return head + table + string + b"\0" * (-len(string) % 4)


def _event_packet(events: np.ndarray) -> bytes:
    """Size-prefixed ``EVTS`` FlatBuffer: table {elements: [Event]} with the vector data
    8-byte aligned (offset 32)."""
    n = len(events)
    body = struct.pack(
        "<I4s3HH iI I", 16, b"EVTS", 6, 8, 4, 0, 20 - 12, 4, n
    )  # root->20, id, vtable@12 (size 6, table 8, field @4), pad, table@20, vector@28
    data = np.zeros(n, dtype=_EVENT_STRUCT)
    data["t"] = events["t"]
    data["x"] = events["x"].astype(np.int16, copy=False) if n else 0
    data["y"] = events["y"].astype(np.int16, copy=False) if n else 0
    data["on"] = events["p"]
    payload = body + data.tobytes()
    return struct.pack("<I", len(payload)) + payload


_TYPE_DESCRIPTION = "Array of events (polarity ON/OFF)."


def _description(size: SensorSize) -> str:
    w, h = size
    return (
        '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
        '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
        '<attr key="compression" type="string">NONE</attr>'
        '<attr key="originalModuleName" type="string">snnfer</attr>'
        '<attr key="originalOutputName" type="string">events</attr>'
        f'<attr key="typeDescription" type="string">{escape(_TYPE_DESCRIPTION)}</attr>'
        '<attr key="typeIdentifier" type="string">EVTS</attr>'
        '<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
        f'<attr key="sizeX" type="int">{w}</attr><attr key="sizeY" type="int">{h}</attr>'
        '<attr key="source" type="string">snnfer</attr></node></node></node></dv>'
    )


def write_aedat4(path: str | os.PathLike, events: np.ndarray, sensor_size: SensorSize,
                 packet_events: int = PACKET_EVENTS) -> None:
    """Write ``events`` (validated :data:`~snnfer.data.events.EVENT_DTYPE`) as an
    uncompressed AEDAT4 file with one event stream (id 0), atomically."""
    w, h = sensor_size
    if w > 32767 or h > 32767:
        raise EventFormatError(f"{path}: AEDAT4 stores int16 coordinates; sensor {sensor_size}")
    header = _ioheader(_description(sensor_size))
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        fh.write(MAGIC + struct.pack("<I", len(header)) + header)
        for start in range(0, len(events), packet_events):
            packet = _event_packet(events[start:start + packet_events])
            fh.write(struct.pack("<II", 0, len(packet)) + packet)
