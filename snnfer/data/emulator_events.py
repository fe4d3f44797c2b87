"""Turn per-pixel, per-substep event counts into one time-sorted event array, vectorised.

The emulator's recursion (:mod:`snnfer.data.emulator_model`) leaves, for a chunk of ``S``
substeps, signed counts ``k[s, y, x]`` and what places the ``|k|`` events inside the substep.
Event ``i`` (0-based) of a pixel lies at fraction ``f_i = a + i * b`` of the substep:

- ``"linear"``: the difference to the memorised level goes linearly from ``d0`` to ``d1``
  within the substep, so the ``(i + 1)``-th threshold ``th`` is crossed at
  ``((i + 1) th - d0) / (d1 - d0)``: ``a = (th - d0) / (d1 - d0)``, ``b = th / (d1 - d0)``;
- ``"uniform"``: ``f_i = (i + 1) / k`` (v2e's rule), ``a = b = 1 / k``;
- ``"fraction"``: ``a`` and ``b`` are given directly (after refractory thinning).

``a`` and ``b`` are clamped per pixel so that all ``f_i`` lie in [0, 1]. Speed comes from never
touching events in Python: the per-event index and rank come from two cumulative sums, event
offsets are integer µs inside their substep, each substep is sorted with numpy's O(n) radix
sort on 16-bit keys (substeps up to 65.5 ms; longer ones use a comparison sort), and the
packed 13-byte output is written through three strided views. Shot-noise events sit at the
fraction ``noise_frac`` of their substep.
"""

from __future__ import annotations

import numpy as np
import torch

from snnfer.data.events import EVENT_DTYPE, SensorSize, empty_events

__all__ = ["expand_crossings"]


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().reshape(-1).cpu().numpy()


def _split_index(idx: np.ndarray, hw: int) -> tuple[np.ndarray, np.ndarray]:
    """``divmod(idx, hw)`` via a float multiply (exact: the +0.5 keeps multiples of ``hw``
    away from rounding down); integer division is several times slower in numpy."""
    step = ((idx + 0.5) * (1.0 / hw)).astype(np.intp)
    return step, idx - step * hw


def _records(counts, first, span, thr_table, mode, hw):
    """Signal-event records: flat index, |k|, ON flag, a, b."""
    c = _np(counts)
    idx = np.flatnonzero(c != 0)
    ks = c[idx]
    on = ks > 0
    k = np.abs(ks).astype(np.intp)
    if mode == "uniform":
        a = np.reciprocal(k.astype(np.float32))
        return idx, k, on, a, a.copy()
    f0, sp = _np(first)[idx], _np(span)[idx]
    if mode == "fraction":
        return idx, k, on, f0, sp
    # signed threshold of each record from the table [-thr_n | +thr_p] at ON * hw + pixel
    thr = thr_table[_split_index(idx, hw)[1] + on * hw]
    inv = np.reciprocal(sp, where=sp != 0, out=np.zeros_like(sp))
    b = thr * inv
    a = thr - f0
    a *= inv
    a[sp == 0] = 1.0  # no change within the substep: the events sit at its end
    return idx, k, on, a, b


def _add_noise(idx, k, on, a, b, noise, noise_frac, hw):
    nz = _np(noise)
    n_idx = np.flatnonzero(nz)
    if not n_idx.size:
        return idx, k, on, a, b
    idx = np.concatenate([idx, n_idx])
    order = np.argsort(_split_index(idx, hw)[0], kind="stable")  # substep-major again
    return (idx[order], np.concatenate([k, np.ones(n_idx.size, k.dtype)])[order],
            np.concatenate([on, nz[n_idx] > 0])[order],
            np.concatenate([a, _np(noise_frac)[n_idx].astype(np.float32)])[order],
            np.concatenate([b, np.zeros(n_idx.size, np.float32)])[order])


def expand_crossings(
    counts: torch.Tensor,
    first: torch.Tensor,
    span: torch.Tensor,
    t_us: np.ndarray,
    sensor_size: SensorSize,
    *,
    thr_table: np.ndarray | None = None,
    mode: str = "linear",
    noise: torch.Tensor | None = None,
    noise_frac: torch.Tensor | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Events of ``S`` substeps, sorted by time.

    ``counts`` [S, H, W] signed (+ON / -OFF); ``first``/``span`` [S, H, W] (``d0`` and
    ``d1 - d0``, or ``a`` and ``b`` for ``mode="fraction"``); ``t_us`` [S + 1] integer µs
    substep boundaries; ``thr_table`` = concat(-neg thresholds, pos thresholds) flattened
    (``"linear"`` mode); ``noise`` [S, H, W] int8 in {-1, 0, 1} shot-noise events placed at
    fraction ``noise_frac`` of their substep. ``out``: a uint8 buffer of exactly
    ``n_events * 13`` bytes to write into (the returned array is then a view of it).
    """
    s_n, h, w = counts.shape
    hw = h * w
    idx, k, on, a, b = _records(counts, first, span, thr_table, mode, hw)
    if noise is not None:
        idx, k, on, a, b = _add_noise(idx, k, on, a, b, noise, noise_frac, hw)
    if idx.size == 0:
        return empty_events()
    step, pix = _split_index(idx, hw)
    dt = np.diff(t_us)
    # per record: clamp so that a + i b stays in [0, 1], then scale to µs (+0.5 to round)
    np.clip(a, 0.0, 1.0, out=a)
    np.clip(b, 0.0, None, out=b)
    np.minimum(b, (1 - a) / np.maximum(k - 1, 1), out=b)
    scale = np.float32(dt[0]) if dt.min() == dt.max() else dt[step].astype(np.float32)
    a *= scale
    a += np.float32(0.5)
    b *= scale
    # per event: its record (cumsum of start flags) and rank in it (cumsum of ones reset at
    # each start), then the offset in µs inside the substep
    n_events = int(k.sum())
    ends = np.cumsum(k)
    starts = ends - k
    rec = np.zeros(n_events, dtype=np.intp)  # intp: numpy gathers fastest with it
    rec[starts[1:]] = 1
    np.cumsum(rec, out=rec)
    rank = np.ones(n_events, dtype=np.int32)
    rank[0] = 0
    rank[starts[1:]] = 1 - k[:-1]
    np.cumsum(rank, dtype=np.int32, out=rank)
    offset = rank.astype(np.float32)
    offset *= b[rec]
    offset += a[rec]
    offset = offset.astype(np.int64 if dt.max() > np.iinfo(np.uint16).max else np.uint16)
    # the packed output, written through strided views of a byte buffer: x | y << 16 | p << 32
    # as one uint64 at byte 8 of each event (its 3 high bytes spill into the next event's t,
    # which is written afterwards), then t (int64 at byte 0); the last event gets x|y, p alone
    item = EVENT_DTYPE.itemsize
    if out is None:
        buf = np.empty(n_events * item + 3, dtype=np.uint8)
    elif out.dtype != np.uint8 or out.size < n_events * item:
        raise ValueError(f"out must be a uint8 buffer of {n_events * item} bytes")
    else:
        buf = out
    pix = pix.astype(np.uint32)
    row = ((pix + np.float32(0.5)) * np.float32(1.0 / w)).astype(np.uint32)
    payload = (pix - row * np.uint32(w)).astype(np.uint64)
    payload |= row.astype(np.uint64) << np.uint64(16)
    payload |= on.astype(np.uint64) << np.uint64(32)
    # sort each substep by offset (events are substep-major already)
    bounds = np.concatenate([[0], ends])[np.searchsorted(step, np.arange(s_n + 1))]
    steps = np.flatnonzero(bounds[1:] > bounds[:-1])
    src = np.empty(n_events, dtype=np.intp)
    sorted_offset = np.empty_like(offset)
    for s in steps:
        lo, hi = bounds[s], bounds[s + 1]
        order = np.argsort(offset[lo:hi], kind="stable")
        np.take(rec[lo:hi], order, out=src[lo:hi])
        np.take(offset[lo:hi], order, out=sorted_offset[lo:hi])
    last = n_events - 1
    np.take(payload, src[:last], out=np.ndarray((last,), np.uint64, buf, 8, (item,)))
    tail = int(payload[src[last]])
    np.ndarray((1,), np.uint32, buf, last * item + 8)[0] = tail & 0xFFFFFFFF
    np.ndarray((1,), np.uint8, buf, last * item + 12)[0] = tail >> 32
    t_view = np.ndarray((n_events,), np.int64, buf, 0, (item,))
    for s in steps:
        lo, hi = bounds[s], bounds[s + 1]
        np.add(sorted_offset[lo:hi], t_us[s], out=t_view[lo:hi], casting="unsafe")
    return buf[:n_events * item].view(EVENT_DTYPE)
