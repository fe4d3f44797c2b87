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


def _add_noise(idx, k, on, a, b, noise, hw):
    n_idx, n_on, n_frac = noise
    if not n_idx.size:
        return idx, k, on, a, b
    idx = np.concatenate([idx, n_idx])
    order = np.argsort(_split_index(idx, hw)[0], kind="stable")  # substep-major again
    return (idx[order], np.concatenate([k, np.ones(n_idx.size, k.dtype)])[order],
            np.concatenate([on, n_on])[order],
            np.concatenate([a, n_frac.astype(np.float32)])[order],
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
    noise: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Events of ``S`` substeps, sorted by time.

    ``counts`` [S, H, W] signed (+ON / -OFF); ``first``/``span`` [S, H, W] (``d0`` and
    ``d1 - d0``, or ``a`` and ``b`` for ``mode="fraction"``); ``t_us`` [S + 1] integer µs
    substep boundaries; ``thr_table`` = concat(-neg thresholds, pos thresholds) flattened
    (``"linear"`` mode); ``noise`` = (flat index, ON flag, fraction of the substep) of
    shot-noise events. ``out``: a uint8 buffer of exactly
    ``n_events * 13`` bytes to write into (the returned array is then a view of it).
    """
    s_n, h, w = counts.shape
    hw = h * w
    idx, k, on, a, b = _records(counts, first, span, thr_table, mode, hw)
    if noise is not None:
        idx, k, on, a, b = _add_noise(idx, k, on, a, b, noise, hw)
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
    payload = _payload_table(w, h)[pix + on * hw]
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
    _write_payload(buf, payload, src)
    t_view = _field(buf, n_events, np.int64, 0)
    for s in steps:
        lo, hi = bounds[s], bounds[s + 1]
        np.add(sorted_offset[lo:hi], t_us[s], out=t_view[lo:hi], casting="unsafe")
    return buf[:n_events * item].view(EVENT_DTYPE)


def _ragged_arange(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), via one cumulative sum."""
    total = int(lengths.sum())
    out = np.ones(total, dtype=np.intp)
    block = np.cumsum(lengths) - lengths
    out[0] = starts[0]
    out[block[1:]] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(out, out=out)


def expand_slots(
    counts: torch.Tensor,
    t_us: np.ndarray,
    sensor_size: SensorSize,
    *,
    noise: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Events with v2e's timestamp rule, generated already sorted (no per-event sort).

    In a substep of length ``dt`` whose busiest pixel has ``K`` events, the ``i``-th event of
    every pixel is stamped ``t0 + (i + 1) dt / K`` (v2e ``EventEmulator``: one ``linspace``
    of ``K`` times per frame); shot noise goes to the substep end. Records are ordered by
    descending count inside each substep, so the pixels having an ``i``-th event are a prefix
    and the output is a concatenation of contiguous blocks, one per (substep, slot).
    """
    s_n, h, w = counts.shape
    hw = h * w
    c = _np(counts)
    idx = np.flatnonzero(c != 0)
    rec_bounds = np.searchsorted(idx, np.arange(s_n + 1) * hw)  # records of each substep
    per_step = np.diff(rec_bounds)
    step = np.repeat(np.arange(s_n), per_step)
    ks = c[idx]
    k = np.abs(ks).astype(np.intp)
    payload = _payload_table(w, h)[idx - step * hw + (ks > 0) * hw]
    k_max = int(k.max()) if k.size else 0
    if k_max < 256:  # descending count inside each substep: one-byte radix sort per substep
        key = (255 - k).astype(np.uint8)
        order = np.empty(len(k), dtype=np.intp)
        for s in np.flatnonzero(per_step):
            lo, hi = rec_bounds[s], rec_bounds[s + 1]
            order[lo:hi] = np.argsort(key[lo:hi], kind="stable")
            order[lo:hi] += lo
    else:
        order = np.lexsort((-k, step))
    k, payload = k[order], payload[order]
    # slot blocks: count of records with k > i, per substep and slot i
    hist = np.bincount(step * (k_max + 1) + k, minlength=s_n * (k_max + 1))
    at_least = hist.reshape(s_n, k_max + 1)[:, ::-1].cumsum(1)[:, ::-1]
    layers = at_least[:, 1:]  # [S, k_max]: records with k > i
    blk_s, blk_i = np.nonzero(layers)
    lengths = layers[blk_s, blk_i]
    blk_start = rec_bounds[blk_s]
    k_step = (layers > 0).sum(1)
    dt = np.diff(t_us)
    blk_t = t_us[:-1][blk_s] + np.rint((blk_i + 1) * dt[blk_s] / np.maximum(k_step[blk_s], 1))
    if noise is not None and noise[0].size:  # one more block per substep, at its end
        n_idx, n_on = noise[0], noise[1]
        n_step = np.searchsorted(np.arange(1, s_n + 1) * hw, n_idx, side="right")
        n_len = np.bincount(n_step, minlength=s_n)
        n_blk = np.flatnonzero(n_len)
        base = len(payload)
        payload = np.concatenate(
            [payload, _payload_table(w, h)[n_idx - n_step * hw + n_on * hw]])
        blk_s = np.concatenate([blk_s, n_blk])
        order = np.argsort(blk_s, kind="stable")  # noise block last in its substep
        blk_s = blk_s[order]
        lengths = np.concatenate([lengths, n_len[n_blk]])[order]
        blk_start = np.concatenate([blk_start, base + np.cumsum(n_len)[n_blk] - n_len[n_blk]])[
            order]
        blk_t = np.concatenate([blk_t, t_us[1:][n_blk].astype(np.float64)])[order]
    n_events = int(lengths.sum())
    if n_events == 0:
        return empty_events()
    buf = np.empty(n_events * EVENT_DTYPE.itemsize + 3, np.uint8) if out is None else out
    _write_payload(buf, payload, _ragged_arange(blk_start, lengths))
    times = np.zeros(n_events, dtype=np.int64)  # block times spread by a cumulative sum
    blk_t = blk_t.astype(np.int64)
    times[np.cumsum(lengths)[:-1]] = np.diff(blk_t)
    times[0] = blk_t[0]
    np.cumsum(times, out=_field(buf, n_events, np.int64, 0))
    return buf[:n_events * EVENT_DTYPE.itemsize].view(EVENT_DTYPE)


_PAYLOADS: dict[tuple[int, int], np.ndarray] = {}


def _payload_table(w: int, h: int) -> np.ndarray:
    """``x | y << 16 | p << 32`` (bytes 8-12 of an event) for index ``p * H * W + y * W + x``."""
    if (w, h) not in _PAYLOADS:
        pix = np.arange(w * h, dtype=np.uint64)
        xy = (pix % np.uint64(w)) | (pix // np.uint64(w)) << np.uint64(16)
        _PAYLOADS[(w, h)] = np.concatenate([xy, xy | np.uint64(1) << np.uint64(32)])
    return _PAYLOADS[(w, h)]


def _field(buf: np.ndarray, n: int, dtype, offset: int) -> np.ndarray:
    """Strided view of one field of ``n`` packed 13-byte events in ``buf``."""
    return np.ndarray((n,), dtype, buf, offset, (EVENT_DTYPE.itemsize,))


def _write_payload(buf: np.ndarray, payload: np.ndarray, src: np.ndarray) -> None:
    """Bytes 8-12 of each event from ``payload[src]``: one unaligned uint64 store per event
    (its top 3 bytes spill into the next event's t, which the caller writes afterwards);
    the last event gets its 5 bytes alone so nothing is written past it."""
    item, last = EVENT_DTYPE.itemsize, len(src) - 1
    np.take(payload, src[:last], out=_field(buf, last, np.uint64, 8))
    tail = int(payload[src[last]])
    np.ndarray((1,), np.uint32, buf, last * item + 8)[0] = tail & 0xFFFFFFFF
    np.ndarray((1,), np.uint8, buf, last * item + 12)[0] = tail >> 32
