"""Event arrays: the structured dtype, construction, conversion, validation and file I/O.

An event stream is a numpy structured array of :data:`EVENT_DTYPE` (``t`` int64 µs,
``x``/``y`` uint16 pixel coordinates, ``p`` int8 polarity 0 = OFF, 1 = ON) together with the
sensor size ``(W, H)``. Timestamps are sorted (non-decreasing) and non-negative.

>>> ev = make_events([0, 10, 20], [1, 2, 3], [0, 0, 1], [1, 0, 1])
>>> validate_events(ev, (4, 2)) is ev
True

Files are read and written by :func:`read_events` / :func:`write_events`, which dispatch on the
suffix (``.npz``, ``.h5``/``.hdf5``, ``.txt``/``.csv``, ``.aedat4``); the format code lives
in :mod:`snnfer.data.event_io`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from snnfer.errors import ArgumentError, EventFormatError

__all__ = [
    "EVENT_DTYPE",
    "SensorSize",
    "as_events",
    "check_sensor_size",
    "concat_events",
    "empty_events",
    "make_events",
    "read_events",
    "validate_events",
    "write_events",
]

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.uint16), ("y", np.uint16), ("p", np.int8)])
"""Structured dtype of an event: ``t`` (int64, µs), ``x``, ``y`` (uint16), ``p`` (int8, 0/1)."""

SensorSize = tuple[int, int]

_FIELD_ALIASES = {
    "t": ("t", "ts", "timestamp", "timestamps", "time"),
    "x": ("x",),
    "y": ("y",),
    "p": ("p", "polarity", "pol", "on"),
}


def empty_events(n: int = 0) -> np.ndarray:
    """An uninitialised (``n > 0``) or empty event array of :data:`EVENT_DTYPE`."""
    return np.empty(n, dtype=EVENT_DTYPE) if n else np.zeros(0, dtype=EVENT_DTYPE)


def concat_events(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate :data:`EVENT_DTYPE` arrays (as bytes: numpy's structured concatenate of
    the packed 13-byte dtype is ~30x slower)."""
    parts = [p for p in parts if p.size]
    if not parts:
        return empty_events()
    if len(parts) == 1:
        return parts[0]
    for p in parts:
        if p.dtype != EVENT_DTYPE:
            raise EventFormatError(f"concat_events: dtype {p.dtype} is not EVENT_DTYPE")
    return np.concatenate([np.ascontiguousarray(p).view(np.uint8) for p in parts]).view(
        EVENT_DTYPE)


def check_sensor_size(sensor_size: Any, name: str = "sensor_size") -> SensorSize:
    """Return ``sensor_size`` as ``(W, H)`` ints or raise :class:`ArgumentError`."""
    try:
        w, h = (int(v) for v in sensor_size)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{name} must be (W, H), got {sensor_size!r}") from exc
    if w <= 0 or h <= 0 or w > 65536 or h > 65536:
        raise ArgumentError(f"{name} must be positive (W, H) up to 65536, got {sensor_size!r}")
    return w, h


def _column(values: Any, field: str, source: str) -> np.ndarray:
    """One field as a 1-D integer array, rejecting values the target dtype cannot hold."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise EventFormatError(f"{source}: field {field!r} must be 1-D, got shape {a.shape}")
    if a.dtype == np.bool_:
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(a) | (a != np.round(a)))
        if bad.size:
            unit = "µs" if field == "t" else "pixels" if field in "xy" else "0/1"
            raise EventFormatError(
                f"{source}: field {field!r} has non-integer value {a[bad[0]].item()} at index "
                f"{bad[0]} (dtype {a.dtype}); expected integer {unit}"
            )
        return a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise EventFormatError(
            f"{source}: field {field!r} has dtype {a.dtype}, expected an integer type"
        )
    return a


def _check_range(a: np.ndarray, field: str, lo: int, hi: int, source: str) -> None:
    if a.size == 0:
        return
    bad = np.flatnonzero((a < lo) | (a > hi))
    if bad.size:
        raise EventFormatError(
            f"{source}: field {field!r} has value {a[bad[0]]} at index {bad[0]}, "
            f"expected {lo}..{hi}"
        )


def make_events(t: Any, x: Any, y: Any, p: Any, *, source: str = "<make_events>") -> np.ndarray:
    """Build an :data:`EVENT_DTYPE` array from four equally long columns.

    ``t`` is in µs (integers, or integral floats); ``p`` is 0/1 or bool. Values that do not
    fit the field's dtype raise :class:`EventFormatError` (nothing wraps around silently).
    Sortedness is not checked here; use :func:`validate_events`.
    """
    cols = {f: _column(v, f, source) for f, v in zip("txyp", (t, x, y, p))}
    n = {f: len(c) for f, c in cols.items()}
    if len(set(n.values())) != 1:
        raise EventFormatError(f"{source}: fields have different lengths {n}")
    _check_range(cols["t"], "t", np.iinfo(np.int64).min, np.iinfo(np.int64).max, source)
    for f in "xy":
        _check_range(cols[f], f, 0, 65535, source)
    _check_range(cols["p"], "p", 0, 1, source)
    ev = empty_events(n["t"])
    for f, c in cols.items():
        ev[f] = c
    return ev


def _find_field(names: Sequence[str], field: str) -> str | None:
    lower = {n.lower(): n for n in names}
    for alias in _FIELD_ALIASES[field]:
        if alias in lower:
            return lower[alias]
    return None


def _polarity01(p: np.ndarray, source: str) -> np.ndarray:
    """Map a polarity column to 0/1: bool, {0, 1} and the signed {-1, 1} convention."""
    if p.dtype == np.bool_:
        return p.astype(np.int8)
    if p.size and p.min() < 0:
        bad = np.flatnonzero((p != -1) & (p != 1))
        if bad.size:
            raise EventFormatError(
                f"{source}: field 'p' has value {p[bad[0]]} at index {bad[0]}; "
                "expected 0/1 or -1/+1"
            )
        return (p > 0).astype(np.int8)
    return p


def as_events(data: Any, *, source: str = "<array>") -> np.ndarray:
    """Convert events in a common in-memory layout to :data:`EVENT_DTYPE`.

    Accepts an :data:`EVENT_DTYPE` array (returned unchanged), any structured array with
    fields t/x/y/p (aliases: ``timestamp``, ``ts``, ``polarity``, ``on``; e.g. tonic's or the
    ``aedat`` package's dtype), or a numeric ``[N, 4]`` array with columns ``t, x, y, p``
    (the v2e layout). Polarity given as bool or -1/+1 is mapped to 0/1.
    """
    a = np.asarray(data)
    if a.dtype == EVENT_DTYPE:
        return a
    if a.dtype.names:
        cols = []
        for f in "txyp":
            name = _find_field(a.dtype.names, f)
            if name is None:
                raise EventFormatError(
                    f"{source}: structured array has no field {f!r} (fields: {a.dtype.names})"
                )
            cols.append(a[name])
    elif a.ndim == 2 and a.shape[1] == 4:
        if a.dtype.kind not in "iufb":
            raise EventFormatError(f"{source}: [N, 4] event array has dtype {a.dtype}")
        cols = [a[:, i] for i in range(4)]
    else:
        raise EventFormatError(
            f"{source}: expected a structured event array or an [N, 4] (t, x, y, p) array, "
            f"got dtype {a.dtype} shape {a.shape}"
        )
    p = _polarity01(_column(cols[3], "p", source), source)
    return make_events(cols[0], cols[1], cols[2], p, source=source)


def validate_events(
    events: np.ndarray, sensor_size: Any, source: str = "<array>"
) -> np.ndarray:
    """Check the event-stream invariants and return ``events`` unchanged.

    Raises :class:`EventFormatError` naming ``source``, the field and the first bad index
    when the dtype is not :data:`EVENT_DTYPE`, a timestamp is negative or smaller than its
    predecessor, a coordinate lies outside ``sensor_size = (W, H)``, or a polarity is not
    0/1. An empty array is valid.
    """
    w, h = check_sensor_size(sensor_size)
    if not isinstance(events, np.ndarray):
        raise EventFormatError(f"{source}: events must be a numpy array, got {type(events)}")
    if events.dtype != EVENT_DTYPE:
        names = events.dtype.names or ()
        detail = ", ".join(
            f"{f}: {events.dtype[f] if f in names else 'missing'} (expected {EVENT_DTYPE[f]})"
            for f in EVENT_DTYPE.names
            if f not in names or events.dtype[f] != EVENT_DTYPE[f]
        )
        raise EventFormatError(
            f"{source}: wrong event dtype {events.dtype} ({detail or 'field order/padding'}); "
            "convert with snnfer.data.events.as_events()"
        )
    if events.ndim != 1:
        raise EventFormatError(f"{source}: events must be 1-D, got shape {events.shape}")
    if events.size == 0:
        return events
    t = events["t"]
    if t[0] < 0 or (t.size and t.min() < 0):
        i = int(np.argmax(t < 0))
        raise EventFormatError(f"{source}: field 't' is negative ({t[i]}) at index {i}")
    dec = np.flatnonzero(t[1:] < t[:-1])
    if dec.size:
        i = int(dec[0]) + 1
        raise EventFormatError(
            f"{source}: field 't' is not sorted: t[{i}] = {t[i]} < t[{i - 1}] = {t[i - 1]}"
        )
    for field, limit in (("x", w), ("y", h)):
        bad = np.flatnonzero(events[field] >= limit)
        if bad.size:
            i = int(bad[0])
            raise EventFormatError(
                f"{source}: field {field!r} = {events[field][i]} at index {i} is outside the "
                f"sensor (W, H) = ({w}, {h})"
            )
    bad = np.flatnonzero((events["p"] != 0) & (events["p"] != 1))
    if bad.size:
        i = int(bad[0])
        raise EventFormatError(
            f"{source}: field 'p' = {events['p'][i]} at index {i}, expected 0 or 1"
        )
    return events


def read_events(
    path: str | os.PathLike,
    *,
    sensor_size: Any = None,
    time_unit: str = "auto",
    allow_empty: bool = False,
) -> tuple[np.ndarray, SensorSize]:
    """Read an event file; return ``(events, (W, H))``, validated.

    The format follows the suffix: ``.npz``, ``.h5``/``.hdf5`` (v2e / Spiking-FER
    ``events`` [N, 4] layout and column groups), ``.txt``/``.csv`` (``t x y p`` per line;
    ``time_unit`` ``"s"``, ``"us"`` or ``"auto"``: decimals mean seconds), ``.aedat4``.
    ``sensor_size`` overrides a size stored in the file; files without one (v2e HDF5, plain
    text) get ``(max x + 1, max y + 1)``. A file without events raises
    :class:`EventFormatError` unless ``allow_empty``.
    """
    from snnfer.data import event_io

    return event_io.read(
        path, sensor_size=sensor_size, time_unit=time_unit, allow_empty=allow_empty
    )


def write_events(
    path: str | os.PathLike, events: np.ndarray, sensor_size: Any, **options: Any
) -> None:
    """Write validated ``events`` atomically in the format named by ``path``'s suffix.

    Options per format: text ``time_unit="s"`` (default, v2e's ``t(s) x y p``) or ``"us"``;
    HDF5 ``compression="gzip"``. See :mod:`snnfer.data.event_io`.
    """
    from snnfer.data import event_io

    event_io.write(path, events, sensor_size, **options)
