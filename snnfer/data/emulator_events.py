"""Turn per-pixel, per-substep event counts into one time-sorted event array, vectorised.

The emulator's recursion (``snnfer.data.emulator``) leaves, for a chunk of ``S`` substeps,
signed counts ``k[s, y, x]`` and what places the ``|k|`` events inside the substep. Event ``i``
(0-based) of a pixel lies at fraction ``f_i = a + i * b`` of the substep, clipped to [0, 1]:

- ``"linear"``: the difference to the memorised level goes linearly from ``d0`` to ``d1``
  within the substep, so the ``(i + 1)``-th threshold ``th`` is crossed at
  ``((i + 1) th - d0) / (d1 - d0)``: ``a = (th - d0) / (d1 - d0)``, ``b = th / (d1 - d0)``;
- ``"uniform"``: ``f_i = (i + 1) / k`` (v2e's rule), ``a = b = 1 / k``;
- ``"fraction"``: ``a`` and ``b`` are given directly (after refractory thinning).

Speed comes from never touching events in Python: one ``np.repeat`` expands the pixel
records, event offsets are integer µs inside their substep, and each substep is sorted with
numpy's O(n) radix sort on 16-bit keys (substeps shorter than 65.5 ms; longer ones fall back
to a comparison sort). Shot-noise events get a uniformly random time in their substep.
"""

from __future__ import annotations

import numpy as np
import torch

from snnfer.data.events import EVENT_DTYPE, SensorSize, empty_events

__all__ = ["expand_crossings"]


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().reshape(-1).cpu().numpy()


def _records(counts, first, span, thr_p, thr_n, mode, hw):
    """Pixel records of the signal events: flat index, |k|, ON flag, a, b."""
    c = _np(counts)
    idx = np.flatnonzero(c)
    ks = c[idx]
    k = np.abs(ks)
    on = ks > 0
    if mode == "uniform":
        a = (1.0 / k).astype(np.float32)
        return idx, k, on, a, a
    f0, sp = _np(first)[idx], _np(span)[idx]
    if mode == "fraction":
        return idx, k, on, f0, sp
    pix = idx % hw
    thr = np.where(on, _np(thr_p)[pix], -_np(thr_n)[pix])
    moving = sp != 0
    safe = np.where(moving, sp, np.float32(1))
    a = np.where(moving, (thr - f0) / safe, np.float32(1)).astype(np.float32)
    b = np.where(moving, thr / safe, np.float32(0)).astype(np.float32)
    return idx, k, on, a, b


def expand_crossings(
    counts: torch.Tensor,
    first: torch.Tensor,
    span: torch.Tensor,
    t_us: np.ndarray,
    sensor_size: SensorSize,
    *,
    thr_p: torch.Tensor,
    thr_n: torch.Tensor,
    mode: str = "linear",
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Events of ``S`` substeps, sorted by time.

    ``counts`` [S, H, W] signed ints (+ON / -OFF); ``first``/``span`` [S, H, W] (``d0`` and
    ``d1 - d0``, or ``a`` and ``b`` for ``mode="fraction"``); ``t_us`` [S + 1] integer µs
    substep boundaries; ``noise`` [S, H, W] int8 in {-1, 0, 1} shot-noise events.
    """
    s_n, h, w = counts.shape
    hw = h * w
    idx, k, on, a, b = _records(counts, first, span, thr_p, thr_n, mode, hw)
    if noise is not None:
        nz = _np(noise)
        n_idx = np.flatnonzero(nz)
        if n_idx.size:
            u = torch.rand(n_idx.size, generator=generator, device=generator.device
                           if generator is not None else "cpu").cpu().numpy()
            idx = np.concatenate([idx, n_idx])
            order = np.argsort(idx // hw, kind="stable")  # substep-major again
            idx = idx[order]
            k = np.concatenate([k, np.ones(n_idx.size, k.dtype)])[order]
            on = np.concatenate([on, nz[n_idx] > 0])[order]
            a = np.concatenate([a, u.astype(np.float32)])[order]
            b = np.concatenate([b, np.zeros(n_idx.size, np.float32)])[order]
    if idx.size == 0:
        return empty_events()
    n_events = int(k.sum())
    step = idx // hw
    dt = np.diff(t_us)
    # event-level expansion without Python loops: record of each event (cumsum of start
    # flags) and its rank within the record (cumsum of ones, reset at each start)
    starts = np.cumsum(k) - k
    rec = np.zeros(n_events, dtype=np.int32)
    rec[starts[1:]] = 1
    np.cumsum(rec, out=rec)
    rank = np.ones(n_events, dtype=np.int32)
    rank[0] = 0
    rank[starts[1:]] = 1 - k[:-1]
    np.cumsum(rank, out=rank)
    frac = a[rec]
    frac += rank * b[rec]
    np.clip(frac, 0.0, 1.0, out=frac)
    if dt.min() == dt.max():
        frac *= np.float32(dt[0])
    else:
        frac *= dt[step].astype(np.float32)[rec]
    big = dt.max() > np.iinfo(np.uint16).max
    offset = np.rint(frac).astype(np.int64 if big else np.uint16)
    # sort each substep by its offset (events are substep-major already)
    bounds = np.zeros(s_n + 1, dtype=np.int64)
    bounds[1:] = np.cumsum(np.bincount(step, weights=k, minlength=s_n))
    perm = np.empty(n_events, dtype=np.intp)
    out = np.empty(n_events, dtype=EVENT_DTYPE)
    t_out = out["t"]
    for s in np.flatnonzero(bounds[1:] > bounds[:-1]):
        lo, hi = bounds[s], bounds[s + 1]
        p = np.argsort(offset[lo:hi], kind="stable")
        t_out[lo:hi] = offset[lo:hi][p]
        t_out[lo:hi] += t_us[s]
        p += lo
        perm[lo:hi] = p
    src = rec[perm]
    pix = (idx - step * hw).astype(np.int32)
    out["x"] = (pix % w).astype(np.uint16)[src]
    out["y"] = (pix // w).astype(np.uint16)[src]
    out["p"] = on[src]
    return out
