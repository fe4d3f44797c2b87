"""Event file formats behind :func:`snnfer.data.events.read_events` / ``write_events``.

- ``.npz`` (read/write): arrays ``t, x, y, p`` and ``sensor_size`` = [W, H]; also reads a
  single ``events`` array (structured or [N, 4]).
- ``.h5`` / ``.hdf5`` (read/write): the v2e and Spiking-FER layout, dataset ``events``
  [N, 4] = (t µs, x, y, p 0/1), gzip, uint32 (int64 beyond 2^32 µs); snnfer adds the attribute
  ``sensor_size``. Also reads an ``events`` group (or the root) with t/x/y/p datasets and a
  compound ``events`` dataset; ``width``/``height`` attributes give the sensor size.
- ``.txt`` / ``.csv`` (read/write): one event per line ``t x y p`` (v2e's ``t(s) x y p``),
  ``#`` comments (``# sensor_size W H`` is parsed), optional header row naming the columns
  in any order (aliases ``timestamp``, ``polarity``), whitespace or comma separated. Time
  unit: ``time_unit="auto"`` reads a first timestamp with a decimal point or exponent as
  seconds, otherwise µs; force it with ``"s"`` / ``"us"``. Written with 6 decimals (exact µs).
- ``.aedat4`` (read/write): iniVation DV AEDAT 4.0, read via the ``aedat`` package, written
  uncompressed by :mod:`snnfer.data.aedat4`.

Every reader returns events that :func:`~snnfer.data.events.validate_events` accepts, or raises
:class:`~snnfer.errors.EventFormatError` naming the file and the reason. Writers go through
:func:`snnfer.atomic.atomic_path` so a crash never leaves a half-written file.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from snnfer.atomic import atomic_path
from snnfer.data.events import (
    SensorSize,
    _find_field,
    as_events,
    check_sensor_size,
    validate_events,
)
from snnfer.errors import ArgumentError, EventFormatError
from snnfer.optional import require

__all__ = ["READERS", "WRITERS", "read", "write"]

Raw = tuple[np.ndarray, "SensorSize | None"]
TIME_UNITS = ("auto", "s", "us")


def _suffix(path: Path) -> str:
    return path.suffix.lower()


# ----------------------------------------------------------------------------- npz
def _read_npz(path: Path, time_unit: str) -> Raw:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if {"t", "x", "y", "p"} <= keys:
                ev = as_events(_columns_struct([z[k] for k in "txyp"]), source=str(path))
            elif "events" in keys:
                ev = as_events(z["events"], source=str(path))
            else:
                raise EventFormatError(
                    f"{path}: npz has no arrays 't','x','y','p' or 'events' (has {sorted(keys)})"
                )
            size = tuple(int(v) for v in z["sensor_size"][:2]) if "sensor_size" in keys else None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, EventFormatError):
            raise
        raise EventFormatError(f"{path}: not a readable npz file ({exc})") from exc
    return ev, size


def _columns_struct(cols: list[np.ndarray]) -> np.ndarray:
    """Four columns of any numeric dtypes as one structured array (for :func:`as_events`)."""
    n = len(cols[0])
    if any(len(c) != n for c in cols):
        raise EventFormatError(f"columns have different lengths {[len(c) for c in cols]}")
    out = np.empty(n, dtype=[(f, c.dtype) for f, c in zip("txyp", cols)])
    for f, c in zip("txyp", cols):
        out[f] = c
    return out


def _write_npz(path: Path, events: np.ndarray, size: SensorSize, compressed: bool = True) -> None:
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp:
        save(tmp, t=events["t"], x=events["x"], y=events["y"], p=events["p"],
             sensor_size=np.array(size, dtype=np.int64))


# ----------------------------------------------------------------------------- hdf5
def _size_from_attrs(*objs: Any) -> SensorSize | None:
    for obj in objs:
        a = obj.attrs
        if "sensor_size" in a:
            return tuple(int(v) for v in np.asarray(a["sensor_size"]).ravel()[:2])
        for wk, hk in (("width", "height"), ("sensor_width", "sensor_height")):
            if wk in a and hk in a:
                return int(a[wk]), int(a[hk])
    return None


def _read_h5(path: Path, time_unit: str) -> Raw:
    h5py = require("h5py", "data", "reading HDF5 event files")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:  # truncated, not HDF5, unreadable
        raise EventFormatError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        if "events" in f:
            node = f["events"]
        elif all(k in f for k in "txyp"):
            node = f
        else:
            raise EventFormatError(
                f"{path}: HDF5 file has no 'events' dataset or group (has {sorted(f.keys())})"
            )
        try:
            if isinstance(node, h5py.Group):
                missing = [k for k in "txyp" if k not in node]
                if missing:
                    raise EventFormatError(f"{path}: group '{node.name}' lacks {missing}")
                ev = as_events(_columns_struct([node[k][()] for k in "txyp"]), source=str(path))
            else:
                data = node[()]
                if data.dtype.names is None and (data.ndim != 2 or data.shape[1] != 4):
                    raise EventFormatError(
                        f"{path}: dataset 'events' has shape {data.shape}, expected [N, 4] "
                        "with columns t, x, y, p"
                    )
                ev = as_events(data, source=str(path))
        except OSError as exc:  # chunk data cut off
            raise EventFormatError(f"{path}: HDF5 data unreadable ({exc})") from exc
        size = _size_from_attrs(f, node)
    return ev, size


def _write_h5(path: Path, events: np.ndarray, size: SensorSize,
              compression: str | None = "gzip") -> None:
    """v2e layout: ``events`` [N, 4] (t µs, x, y, p); uint32 like v2e while t < 2^32 µs."""
    h5py = require("h5py", "data", "writing HDF5 event files")
    t_max = int(events["t"][-1]) if events.size else 0
    dtype = np.uint32 if t_max < 2**32 else np.int64
    data = np.empty((events.size, 4), dtype=dtype)
    for i, f in enumerate("txyp"):
        data[:, i] = events[f]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("events", data=data, compression=compression if events.size else None)
        f.attrs["sensor_size"] = np.array(size, dtype=np.int64)
        f.attrs["time_unit"] = "us"
        f.attrs["columns"] = "t,x,y,p"


# ----------------------------------------------------------------------------- text
def _text_layout(path: Path) -> tuple[int, str | None, list[str] | None, str, SensorSize | None]:
    """Scan the head of a text file: (rows to skip before the data, delimiter, header column
    names or None, first timestamp token, sensor size from a ``# sensor_size W H`` comment)."""
    size, header, skip = None, None, 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh):
            s = line.strip()
            if s.startswith("#"):
                words = s.lstrip("#").replace(":", " ").replace(",", " ").split()
                if "sensor_size" in words:
                    j = words.index("sensor_size")
                    try:
                        size = (int(words[j + 1]), int(words[j + 2]))
                    except (IndexError, ValueError):
                        size = None
                continue
            if not s:
                continue
            delim = "," if "," in s else None
            tokens = [w.strip().strip("\"'") for w in s.split(delim)]
            try:
                [float(w) for w in tokens]
            except ValueError:
                if header is not None:
                    raise EventFormatError(
                        f"{path}: line {i + 1} is not numeric: {s[:60]!r}"
                    ) from None
                header, skip = tokens, i + 1
                continue
            t_col = 0 if header is None else header.index(_find_field(header, "t") or header[0])
            return skip, delim, header, tokens[t_col] if t_col < len(tokens) else "", size
    return skip, None, header, "", size


def _read_text(path: Path, time_unit: str) -> Raw:
    skip, delim, header, first_t, size = _text_layout(path)
    if not first_t:
        return as_events(np.zeros((0, 4))), size
    order = [0, 1, 2, 3]
    if header is not None:
        names = [_find_field(header, f) for f in "txyp"]
        if None in names:
            raise EventFormatError(
                f"{path}: header {header} does not name all of the t, x, y, p columns"
            )
        order = [header.index(n) for n in names]
    try:
        data = np.loadtxt(path, comments="#", delimiter=delim, skiprows=skip, ndmin=2,
                          usecols=order, dtype=np.float64)
    except ValueError as exc:
        raise EventFormatError(f"{path}: malformed event text ({exc})") from exc
    unit = time_unit
    if unit == "auto":
        unit = "s" if any(c in first_t for c in ".eE") else "us"
    t = np.rint(data[:, 0] * 1e6) if unit == "s" else data[:, 0]
    cols = [t, data[:, 1], data[:, 2], data[:, 3]]
    return as_events(_columns_struct(cols), source=str(path)), size


def _write_text(path: Path, events: np.ndarray, size: SensorSize, time_unit: str = "s") -> None:
    """v2e-style ``t x y p`` lines; ``time_unit="s"`` (6 decimals, exact µs) or ``"us"``."""
    if time_unit not in ("s", "us"):
        raise ArgumentError(f"time_unit must be 's' or 'us', got {time_unit!r}")
    delim = "," if _suffix(path) == ".csv" else " "
    buf = io.StringIO()
    buf.write(f"# snnfer events: columns t x y p; t in {time_unit}; p 1=ON 0=OFF\n")
    buf.write(f"# sensor_size {size[0]} {size[1]}\n")
    t = events["t"]
    if time_unit == "s":
        secs, us = np.divmod(t, 1_000_000)
        tcol = np.char.add(np.char.add(secs.astype(str), "."),
                           np.char.zfill(us.astype(str), 6))
    else:
        tcol = t.astype(str)
    rows = np.stack([tcol, events["x"].astype(str), events["y"].astype(str),
                     events["p"].astype(str)], axis=1) if events.size else np.zeros((0, 4), str)
    np.savetxt(buf, rows, fmt="%s", delimiter=delim)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")


# ----------------------------------------------------------------------------- aedat4
def _read_aedat4(path: Path, time_unit: str) -> Raw:
    from snnfer.data.aedat4 import read_aedat4

    return read_aedat4(path)


def _write_aedat4(path: Path, events: np.ndarray, size: SensorSize) -> None:
    from snnfer.data.aedat4 import write_aedat4

    write_aedat4(path, events, size)


READERS: dict[str, Callable[[Path, str], Raw]] = {
    ".npz": _read_npz, ".h5": _read_h5, ".hdf5": _read_h5,
    ".txt": _read_text, ".csv": _read_text, ".aedat4": _read_aedat4,
}
WRITERS: dict[str, Callable[..., None]] = {
    ".npz": _write_npz, ".h5": _write_h5, ".hdf5": _write_h5,
    ".txt": _write_text, ".csv": _write_text, ".aedat4": _write_aedat4,
}


def read(path: str | os.PathLike, *, sensor_size: Any = None, time_unit: str = "auto",
         allow_empty: bool = False) -> tuple[np.ndarray, SensorSize]:
    """Dispatch on the suffix, check the file, validate the events (see ``read_events``)."""
    p = Path(path)
    reader = READERS.get(_suffix(p))
    if reader is None:
        raise EventFormatError(
            f"{p}: unknown event file suffix {p.suffix!r}; supported: {', '.join(READERS)}"
        )
    if time_unit not in TIME_UNITS:
        raise ArgumentError(f"time_unit must be one of {TIME_UNITS}, got {time_unit!r}")
    if not p.is_file():
        raise EventFormatError(f"{p}: no such event file")
    if p.stat().st_size == 0:
        raise EventFormatError(f"{p}: file is empty (0 bytes)")
    events, stored = reader(p, time_unit)
    if events.size == 0 and not allow_empty:
        raise EventFormatError(f"{p}: file contains no events (pass allow_empty=True to accept)")
    if sensor_size is not None:
        size = check_sensor_size(sensor_size)
    elif stored is not None:
        size = check_sensor_size(stored, f"{p}: stored sensor size")
    elif events.size:
        size = (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
    else:
        raise EventFormatError(f"{p}: no events and no stored sensor size; pass sensor_size=")
    return validate_events(events, size, source=str(p)), size


def write(path: str | os.PathLike, events: np.ndarray, sensor_size: Any, **options: Any) -> None:
    """Validate and write atomically in the format of ``path``'s suffix."""
    p = Path(path)
    writer = WRITERS.get(_suffix(p))
    if writer is None:
        raise EventFormatError(
            f"{p}: unknown event file suffix {p.suffix!r}; supported: {', '.join(WRITERS)}"
        )
    size = check_sensor_size(sensor_size)
    validate_events(events, size, source=f"events for {p}")
    try:
        writer(p, events, size, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ArgumentError(f"{p}: unsupported write option(s) {sorted(options)}") from exc
        raise
