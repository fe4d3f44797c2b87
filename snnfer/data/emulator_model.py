"""The V2E pixel recursion over a chunk of substeps (see :mod:`snnfer.data.emulator`).

Everything that does not depend on the memorised level is computed for the whole chunk at
once (intensity scaling, low-pass gains, leak and shot-noise draws); the per-substep loop
keeps only a dozen element-wise torch ops. Leak is folded out of the loop exactly: lowering
the memorised level ``B`` by ``leak_s`` is the same as raising the photoreceptor value by it,
so with ``C_s`` the cumulative leak the loop tracks ``U = B + C`` against ``lp + C`` and
converts back at the end of the chunk.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from snnfer.data.emulator_events import _np, expand_crossings, expand_slots
from snnfer.data.events import EVENT_DTYPE

if TYPE_CHECKING:  # pragma: no cover
    from snnfer.data.emulator import DVSEmulator

__all__ = ["ExpandJob", "expand_jobs", "simulate_chunk"]

LIN_LOG_DN = 20.0
SHOT_NOISE_INTEN_FACTOR = 0.25  # v2e: shot-noise rate at full intensity relative to dark
TOL = 1e-6  # a change within 1e-6 threshold of a crossing counts (float rounding guard)
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def inverse_lin_log(log_i: torch.Tensor, threshold: float = LIN_LOG_DN) -> torch.Tensor:
    """Intensity in DN from a lin-log value (inverse of :func:`snnfer.data.emulator.lin_log`)."""
    knee = math.log(threshold)
    return torch.where(log_i <= knee, log_i * (threshold / knee), torch.exp(log_i.clamp_max(20)))


def _pool(workers: int) -> ThreadPoolExecutor:
    import os

    key = (os.getpid(), workers)  # a forked DataLoader worker builds its own pool
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="snnfer-dvs")
    return _POOLS[key]


def _refractory(emu: DVSEmulator, pos, neg, first, span, t0_us: int, t1_us: int):
    """Keep only events >= ``refractory_period_s`` after the pixel's previous emitted event.

    Per pixel the substep's events sit at ``t0 + (a + i b) dt``; the survivors are
    ``i0, i0 + m, i0 + 2m, ...`` (closed form, no per-event loop; a zero spacing becomes a
    tiny one, so at most one of simultaneous events survives). ``first``/``span`` are
    overwritten with the survivors' first fraction and spacing (``mode="fraction"``).
    Computed in numpy on the pixels that have events only (few in face clips).
    """
    cpu = [x.cpu() for x in (pos, neg, first, span)]
    p_np, n_np, f_np, s_np = (_np(x) for x in cpu)
    k_all = p_np + n_np
    idx = np.flatnonzero(k_all)
    if idx.size:
        k, on = k_all[idx], p_np[idx] > 0
        dt = float(t1_us - t0_us)
        if emu.timestamps == "uniform":
            a = b = 1 / k
        elif emu.timestamps == "v2e":  # v2e: slot i of K = the most events of any pixel
            a = b = np.full(idx.size, 1 / k.max(), np.float32)
        else:  # crossing of the first threshold and its spacing, as fractions of the substep
            thr = np.where(on, _np(emu.pos_thresholds)[idx], -_np(emu.neg_thresholds)[idx])
            sp = s_np[idx]
            inv = 1 / np.where(sp == 0, np.float32(1e-30), sp)
            a = np.clip((thr - f_np[idx]) * inv, 0, 1)
            b = np.maximum(thr * inv, 0)
        r_us = emu.refractory_period_s * 1e6
        t_last = _np(emu._t_last_us)
        t_first = a * dt
        gap = np.maximum(b * dt, 1e-6)
        i0 = np.ceil(np.maximum(t_last[idx] - t0_us + r_us - t_first, 0) / gap)
        m = np.maximum(np.ceil(r_us / gap), 1)
        emitted = np.ceil(np.maximum(k - i0, 0) / m)
        t_last[idx] = np.where(emitted > 0, t0_us + t_first + (i0 + (emitted - 1) * m) * gap,
                               t_last[idx])
        f_np[idx] = a + i0 * b
        s_np[idx] = m * b
        p_np[idx] = np.where(on, emitted, 0)
        n_np[idx] = np.where(on, 0, emitted)
    if pos.device.type == "cpu":
        return pos, neg
    first.copy_(cpu[2])
    span.copy_(cpu[3])
    return cpu[0].to(pos.device), cpu[1].to(pos.device)


def _settle_last_times(emu: DVSEmulator, counts: torch.Tensor, gaps: np.ndarray,
                       t_us: np.ndarray, lo: int, hi: int) -> None:
    """v2e slots: set each pixel's last-event time from the counts of substeps [lo, hi)
    (its ``k``-th event sits at ``t0 + k * gap``), without a per-substep update."""
    if hi <= lo:
        return
    counts = counts.cpu()  # the last-event times are kept on the CPU
    order = torch.arange(1, hi - lo + 1, dtype=torch.int32)
    last1 = ((counts[lo:hi] != 0) * order[:, None, None]).amax(0)  # 1 + last active substep
    any_event = last1 > 0
    last = (last1 - 1).clamp_(min=0).long()
    k_last = counts[lo:hi].gather(0, last[None])[0].abs().double()
    t0 = torch.as_tensor(t_us[lo:hi], dtype=torch.float64)[last]
    gap = torch.as_tensor(gaps[lo:hi], dtype=torch.float64)[last]
    emu._t_last_us = torch.where(any_event, t0 + k_last * gap, emu._t_last_us)


def simulate_chunk(emu: DVSEmulator, logs: torch.Tensor, t: np.ndarray,
                   inten01: torch.Tensor | None = None) -> list[ExpandJob]:
    """Run substeps ``logs`` [S, H, W] (targets in log intensity) ending at ``t`` [S] s; return
    the event-expansion jobs (one per expansion worker)."""
    s_n, h, w = logs.shape
    dev, g = emu.device, emu.generator
    t_all = np.concatenate([[emu._t_prev_s], t])
    t_us = np.rint(t_all * 1e6).astype(np.int64)
    dt = torch.as_tensor(np.diff(t_all), dtype=torch.float32, device=dev)[:, None, None]
    thr_p, thr_n = emu.pos_thresholds, emu.neg_thresholds
    inv_p, inv_n = 1 / thr_p, -1 / thr_n

    eps = cum_leak = reset = noise = None
    if inten01 is None and (emu.cutoff_hz > 0 or emu.shot_noise_rate_hz > 0):
        # v2e: inten01 = (I + 20) / 275
        intensity = inverse_lin_log(logs) if emu.lin_log else logs.exp()
        inten01 = (intensity.clamp_(0, 255) + 20) / 275
    if emu.cutoff_hz > 0:  # first-order IIR, tau = 1 / (2 pi f_c), darker pixels slower
        eps = (inten01 * (dt * (2 * math.pi * emu.cutoff_hz))).clamp_(max=1.0)
    if emu.leak_rate_hz > 0:
        jitter = 1 - emu.leak_jitter_fraction * torch.randn(logs.shape, generator=g, device=dev)
        leak = (dt * emu.leak_rate_hz) * emu._rate_factor * jitter * thr_p
        cum_leak = leak.cumsum_(0)
    if emu.shot_noise_rate_hz > 0:
        noise, reset = _shot_noise(emu, inten01, dt, logs.shape)

    counts = torch.empty(logs.shape, device=dev)
    first = torch.empty(logs.shape, device=dev)  # d0, or first-event fraction
    span = torch.empty(logs.shape, device=dev)  # d1 - d0, or event spacing
    lp, base = emu._lp, emu._base.clone()
    lp_prev = lp
    refractory = emu.refractory_period_s > 0
    slots = emu.timestamps == "v2e"
    need_d0 = refractory or not slots  # v2e slots need only the counts
    thinned = torch.zeros((), dtype=torch.bool, device=dev)
    slot_gaps = np.zeros(s_n)  # v2e slots: slot width per substep (µs)
    settled = 0  # v2e slots + refractory: substeps whose last-event times are in _t_last_us
    r_us = emu.refractory_period_s * 1e6
    reset_steps = set() if noise is None else set((noise[0] // (h * w)).tolist())
    for s in range(s_n):
        lp = torch.addcmul(lp, eps[s], logs[s] - lp) if eps is not None else logs[s]
        lpc = lp + cum_leak[s] if cum_leak is not None else lp
        d1 = lpc - base
        if need_d0:
            d0 = torch.sub(lp_prev, base, out=first[s])
            torch.sub(d1, d0, out=span[s])
        pos = torch.addcmul(torch.full_like(d1, TOL), d1, inv_p).floor_().clamp_(min=0)
        neg = torch.addcmul(torch.full_like(d1, TOL), d1, inv_n).floor_().clamp_(min=0)
        if refractory and slots:
            k = pos + neg
            slot_gaps[s] = (t_us[s + 1] - t_us[s]) / max(1.0, float(k.max()))
            if slot_gaps[s] < r_us:  # slots narrower than R: thin exactly (rare)
                _settle_last_times(emu, counts, slot_gaps, t_us, settled, s)
                pos, neg = _refractory(emu, pos, neg, first[s], span[s], t_us[s], t_us[s + 1])
                thinned |= (pos + neg != k).any()
                settled = s + 1
        elif refractory:
            pos, neg = _refractory(emu, pos, neg, first[s], span[s], t_us[s], t_us[s + 1])
        base.addcmul_(pos, thr_p).addcmul_(neg, thr_n, value=-1)
        torch.sub(pos, neg, out=counts[s])
        if s in reset_steps:
            base = torch.where(reset[s], lpc, base)
        lp_prev = lpc
    if refractory and slots:
        _settle_last_times(emu, counts, slot_gaps, t_us, settled, s_n)
    emu._lp = lp
    emu._base = base - cum_leak[-1] if cum_leak is not None else base
    emu._t_prev_s = float(t[-1])
    mode = "fraction" if refractory else emu.timestamps
    if slots and not bool(thinned):  # v2e slots stay valid unless refractory thinned events
        mode = "v2e"
    table = np.concatenate([-_np(thr_n), _np(thr_p)]) if mode == "linear" else None
    jobs = []
    for lo, hi in _split(s_n, emu.expand_workers()):
        n = int(counts[lo:hi].abs().sum(dtype=torch.float64))
        nz = None
        if noise is not None:
            a, b = np.searchsorted(noise[0], [lo * h * w, hi * h * w])
            nz = (noise[0][a:b] - lo * h * w, noise[1][a:b], noise[2][a:b])
            n += int(b - a)
        jobs.append(ExpandJob(counts[lo:hi], first[lo:hi], span[lo:hi], t_us[lo:hi + 1],
                              (w, h), table, mode, nz, n))
    return jobs


def _shot_noise(emu: DVSEmulator, inten01: torch.Tensor, dt: torch.Tensor, shape):
    """v2e shot noise for a chunk: per substep and pixel ON if ``u > 1 - p_on``, OFF if
    ``u < p_off``, ``p = rate / 2 * dt * ((0.25 - 1) inten01 + 1)`` times nominal / actual
    threshold. Only draws within the chunk-wide bound of ``p`` can matter: when that bound is
    small they are sampled directly (binomial count, distinct pixels, uniform in the bound)
    instead of drawing a uniform number for every pixel and substep.

    Returns ``(flat index, ON flag, time fraction)`` numpy arrays and the reset mask."""
    hw = shape[1] * shape[2]
    p_base = (emu.shot_noise_rate_hz / 2) * dt  # [S, 1, 1]; the intensity factor is <= 1
    on_hi = _np(p_base * (emu.pos_thres / float(emu.pos_thresholds.min())))
    off_hi = _np(p_base * (emu.neg_thres / float(emu.neg_thresholds.min())))
    q = np.minimum(on_hi + off_hi, 1.0)  # chance that a pixel's draw can be a noise event
    if q.max() > 0.05:  # frequent: one uniform draw per pixel and substep
        u_all = _np(torch.rand(shape, generator=emu.generator, device=emu.device))
        cand = np.flatnonzero((u_all > 1 - np.repeat(on_hi, hw))
                              | (u_all < np.repeat(off_hi, hw)))
        uu = u_all[cand]
    else:  # rare: draw only the candidates (binomial count, distinct pixels), same law
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (), generator=emu.generator)))
        n = rng.binomial(hw, q)
        cand = np.concatenate([np.sort(rng.choice(hw, k, replace=False)) + s * hw
                               for s, k in enumerate(n)]) if n.sum() else np.zeros(0, np.intp)
        v = rng.random(cand.size) * np.repeat(q, n)  # uniform over [0, off) U (1 - on, 1]
        off_c = np.repeat(off_hi, n)
        uu = np.where(v < off_c, v, 1 - np.repeat(on_hi, n) + (v - off_c))
    step, pix = cand // hw, cand % hw
    p = _np(p_base)[step] * ((SHOT_NOISE_INTEN_FACTOR - 1) * _np(inten01)[cand] + 1)
    p_on = p * (emu.pos_thres / _np(emu.pos_thresholds)[pix])
    p_off = p * (emu.neg_thres / _np(emu.neg_thresholds)[pix])
    on, off = uu > 1 - p_on, uu < p_off
    keep = on | off
    if emu.timestamps == "v2e":  # v2e stamps noise at the frame time
        frac = np.ones(int(keep.sum()), np.float32)
    else:  # the same draw, rescaled, is uniform within its substep: the event's time
        frac = np.where(on, (uu - (1 - p_on)) / np.maximum(p_on, 1e-30),
                        uu / np.maximum(p_off, 1e-30))[keep].astype(np.float32)
    idx = cand[keep]
    reset = torch.zeros(shape, dtype=torch.bool, device=emu.device)
    reset.view(-1)[torch.from_numpy(idx).to(emu.device)] = True
    return (idx, on[keep], np.clip(frac, 0, 1)), reset


@dataclass
class ExpandJob:
    """What :func:`expand_crossings` needs for a run of substeps, and its event count."""

    counts: torch.Tensor
    first: torch.Tensor
    span: torch.Tensor
    t_us: np.ndarray
    size: tuple[int, int]
    table: np.ndarray | None
    mode: str
    noise: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    n_events: int


def expand_jobs(jobs: list[ExpandJob], workers: int) -> np.ndarray:
    """Expand ``jobs`` (in time order) into one pre-allocated event array, in parallel."""
    total = sum(j.n_events for j in jobs)
    item = EVENT_DTYPE.itemsize
    buf = np.empty(total * item + 3, dtype=np.uint8)  # +3: see expand_crossings' spill
    starts = np.concatenate([[0], np.cumsum([j.n_events for j in jobs])]) * item

    def run(i: int) -> None:
        j = jobs[i]
        if j.n_events and j.mode == "v2e":
            expand_slots(j.counts, j.t_us, j.size, noise=j.noise,
                         out=buf[starts[i]:starts[i + 1]])
        elif j.n_events:
            expand_crossings(j.counts, j.first, j.span, j.t_us, j.size, thr_table=j.table,
                             mode=j.mode, noise=j.noise,
                             out=buf[starts[i]:starts[i + 1]])

    if workers > 1 and len(jobs) > 1:
        list(_pool(workers).map(run, range(len(jobs))))
    else:
        for i in range(len(jobs)):
            run(i)
    return buf[:total * item].view(EVENT_DTYPE)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, n))
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
