"""Video-to-events DVS emulator: the V2E pixel model, vectorised in torch over all pixels.

Implements the pixel model of V2E (Hu, Liu, Delbruck, "v2e: From Video Frames to Realistic
DVS Events", CVPRW 2021, §3 and Fig. 3), written from the paper and its documentation. Per
frame interval, for every pixel at once:

1. luma (BT.601) and lin-log intensity: linear below 20 DN with slope ln(20)/20, ``ln(I)``
   above (continuous at 20 DN) — ``lin_log=False`` takes frames that are already log intensity;
2. optional temporal upsampling: the interval is split into substeps by linear interpolation
   in log intensity (``upsample=int`` or ``"auto"``: as many substeps as needed for the
   largest per-pixel log change per substep to stay below ``upsample_max_change``, default
   the smaller threshold, capped at ``max_upsample``);
3. photoreceptor low-pass: first-order IIR with ``tau = 1 / (2 pi cutoff_hz)``, update
   ``eps = inten01 * dt / tau`` clamped to 1, ``inten01 = (I + 20) / 275`` (darker is slower);
4. change detector: per-pixel thresholds ~ N(pos_thres / neg_thres, sigma_thres) clamped at
   0.01; ``k = floor(|diff| / threshold)`` events per substep, memorised level moved by
   ``k * threshold``; timestamps interpolated within the substep — ``timestamps="linear"``
   puts event ``i`` where the linearly interpolated difference crosses ``(i + 1)``
   thresholds, ``"uniform"`` at ``t_prev + (i + 1) dt / k`` (v2e's rule);
5. refractory period: events of a pixel closer than ``refractory_period_s`` to its previous
   event are dropped (the memorised level moves only by emitted events, as in v2e);
6. leak: the memorised level drops by ``dt * leak_rate_hz * r * (1 - leak_jitter_fraction *
   randn) * pos_thres`` where ``r`` is a per-pixel log-normal rate factor
   (``noise_rate_cov_decades``), so a static pixel emits ON events at ``leak_rate_hz * r``;
7. shot noise: per substep ON (OFF) probability ``(rate / 2) dt ((0.25 - 1) inten01 + 1)``
   times nominal / actual threshold; a noise event resets the memorised level.

Presets (:data:`PRESETS`) use v2e's parameter names and values. Everything random comes from
one ``torch.Generator`` seeded with ``seed``; :meth:`DVSEmulator.reset` re-seeds it, so a
clip always gives the same events.

>>> import numpy as np
>>> emu = DVSEmulator.from_preset("clean", seed=0)
>>> frames = np.linspace(50, 120, 5)[:, None, None] * np.ones((5, 4, 6))
>>> ev = emu(frames, np.arange(5) / 30)
>>> emu.sensor_size, ev.dtype.names
((6, 4), ('t', 'x', 'y', 'p'))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from snnfer.data.emulator_events import expand_crossings
from snnfer.data.events import SensorSize, concat_events, empty_events
from snnfer.errors import ArgumentError, InputShapeError, UnknownNameError

__all__ = ["PRESETS", "DVSEmulator", "lin_log"]

LIN_LOG_DN = 20.0
SHOT_NOISE_INTEN_FACTOR = 0.25
_TOL = 1e-6  # a change within 1e-6 threshold of a crossing counts (float rounding guard)

_PRESET_KEYS = ("pos_thres", "neg_thres", "sigma_thres", "cutoff_hz", "leak_rate_hz",
                "shot_noise_rate_hz", "refractory_period_s", "leak_jitter_fraction",
                "noise_rate_cov_decades")
PRESETS: dict[str, dict[str, float]] = {
    name: dict(zip(_PRESET_KEYS, values))
    for name, values in {
        "clean": (0.2, 0.2, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        "noisy": (0.2, 0.2, 0.05, 30.0, 0.1, 5.0, 0.0, 0.1, 0.1),
        "v2e-default": (0.2, 0.2, 0.03, 300.0, 0.01, 0.001, 0.0005, 0.1, 0.1),
    }.items()
}
"""v2e's ``--dvs_params clean|noisy`` and its command-line defaults (``v2e-default``)."""


def lin_log(intensity: torch.Tensor, threshold: float = LIN_LOG_DN) -> torch.Tensor:
    """V2E lin-log mapping: ``I * ln(thr) / thr`` for ``I <= thr`` DN, else ``ln(I)``."""
    x = intensity.clamp_min(0)
    return torch.where(x <= threshold, x * (math.log(threshold) / threshold),
                       torch.log(x.clamp_min(threshold)))


def _inverse_lin_log(log_i: torch.Tensor, threshold: float = LIN_LOG_DN) -> torch.Tensor:
    knee = math.log(threshold)
    return torch.where(log_i <= knee, log_i * (threshold / knee), torch.exp(log_i.clamp_max(20)))


def _luma(frames: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB frames ``[..., 3]`` (the weights OpenCV's RGB2GRAY uses)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=frames.dtype, device=frames.device)
    return (frames * w).sum(-1)


class DVSEmulator:
    """V2E DVS pixel model (see the module docstring). ``emulator(frames, timestamps_s)``
    converts a clip; ``step(frame, t)`` / ``steps(frames, ts)`` stream a long video.

    ``frames``: ``[N, H, W]`` (or ``[N, H, W, 3]`` RGB, converted to luma) uint8 or float in
    8-bit DN (0-255); ``timestamps_s``: ``[N]`` non-decreasing, non-negative seconds. Returns
    :data:`~snnfer.data.events.EVENT_DTYPE` events (t in µs, sorted); ``sensor_size`` is
    ``(W, H)`` once a frame was seen.
    """

    def __init__(
        self,
        pos_thres: float = 0.2,
        neg_thres: float = 0.2,
        sigma_thres: float = 0.03,
        cutoff_hz: float = 300.0,
        leak_rate_hz: float = 0.01,
        shot_noise_rate_hz: float = 0.001,
        refractory_period_s: float = 0.0005,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        leak_jitter_fraction: float = 0.1,
        noise_rate_cov_decades: float = 0.1,
        lin_log: bool = True,
        upsample: int | str = "auto",
        max_upsample: int = 16,
        upsample_max_change: float | None = None,
        timestamps: str = "linear",
        chunk_pixels: int = 1 << 18,
    ) -> None:
        for name, v in (("pos_thres", pos_thres), ("neg_thres", neg_thres)):
            if not v > 0:
                raise ArgumentError(f"{name} must be > 0, got {v}")
        for name, v in (("sigma_thres", sigma_thres), ("cutoff_hz", cutoff_hz),
                        ("leak_rate_hz", leak_rate_hz), ("shot_noise_rate_hz", shot_noise_rate_hz),
                        ("refractory_period_s", refractory_period_s),
                        ("leak_jitter_fraction", leak_jitter_fraction),
                        ("noise_rate_cov_decades", noise_rate_cov_decades)):
            if not (v >= 0 and math.isfinite(v)):
                raise ArgumentError(f"{name} must be finite and >= 0, got {v}")
        if not (upsample == "auto" or (isinstance(upsample, int) and upsample >= 1)):
            raise ArgumentError(f"upsample must be 'auto' or an int >= 1, got {upsample!r}")
        if int(max_upsample) < 1:
            raise ArgumentError(f"max_upsample must be >= 1, got {max_upsample}")
        if timestamps not in ("linear", "uniform"):
            raise ArgumentError(f"timestamps must be 'linear' or 'uniform', got {timestamps!r}")
        self.pos_thres, self.neg_thres, self.sigma_thres = pos_thres, neg_thres, sigma_thres
        self.cutoff_hz, self.leak_rate_hz = cutoff_hz, leak_rate_hz
        self.shot_noise_rate_hz, self.refractory_period_s = shot_noise_rate_hz, refractory_period_s
        self.leak_jitter_fraction = leak_jitter_fraction
        self.noise_rate_cov_decades = noise_rate_cov_decades
        self.lin_log, self.upsample, self.max_upsample = lin_log, upsample, int(max_upsample)
        self.upsample_max_change = (min(pos_thres, neg_thres) if upsample_max_change is None
                                    else float(upsample_max_change))
        self.timestamps, self.seed = timestamps, int(seed)
        self.device = torch.device(device)
        self.chunk_pixels = int(chunk_pixels)
        self.reset()

    # ------------------------------------------------------------------ construction/state
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> DVSEmulator:
        """An emulator with the v2e preset ``name`` (:data:`PRESETS`), ``overrides`` applied."""
        if name not in PRESETS:
            raise UnknownNameError("emulator preset", name, list(PRESETS))
        return cls(**{**PRESETS[name], **overrides})

    def config(self) -> dict[str, Any]:
        """The constructor arguments (to log or re-create the emulator)."""
        keys = ("pos_thres", "neg_thres", "sigma_thres", "cutoff_hz", "leak_rate_hz",
                "shot_noise_rate_hz", "refractory_period_s", "seed", "leak_jitter_fraction",
                "noise_rate_cov_decades", "lin_log", "upsample", "max_upsample",
                "upsample_max_change", "timestamps")
        return {k: getattr(self, k) for k in keys}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"DVSEmulator({args})"

    def reset(self) -> None:
        """Forget the stream (next frame initialises the pixels) and re-seed the generator."""
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.sensor_size: SensorSize | None = None
        self._log_prev: torch.Tensor | None = None  # unfiltered log intensity of last frame
        self._lp: torch.Tensor | None = None  # photoreceptor (low-passed) log intensity
        self._base: torch.Tensor | None = None  # memorised log intensity
        self._t_prev_s = 0.0
        self.pos_thresholds: torch.Tensor | None = None
        self.neg_thresholds: torch.Tensor | None = None

    def _init_pixels(self, log_frame: torch.Tensor, t_s: float) -> None:
        h, w = log_frame.shape
        g, dev = self.generator, self.device
        self.sensor_size = (w, h)

        def thresholds(nominal: float) -> torch.Tensor:
            thr = torch.full((h, w), nominal, device=dev)
            if self.sigma_thres > 0:
                thr += self.sigma_thres * torch.randn(h, w, generator=g, device=dev)
            return thr.clamp_min(0.01)

        self.pos_thresholds, self.neg_thresholds = thresholds(self.pos_thres), thresholds(
            self.neg_thres)
        self._rate_factor = torch.exp(
            math.log(10) * self.noise_rate_cov_decades * torch.randn(h, w, generator=g, device=dev)
        ) if self.leak_rate_hz > 0 else None
        self._t_last = torch.full((h, w), -math.inf, dtype=torch.float64, device=dev)
        self._log_prev = log_frame.clone()
        self._lp = log_frame.clone()
        self._base = log_frame.clone()
        self._t_prev_s = float(t_s)

    # ------------------------------------------------------------------ input checks
    def _as_log_frames(self, frames: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames)
        if x.ndim == 4 and x.shape[-1] == 3:
            x = _luma(x.to(self.device, torch.float32))
        elif x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3:
            raise InputShapeError(
                f"frames must be [N, H, W] or [N, H, W, 3], got shape {tuple(x.shape)}"
            )
        if x.dtype == torch.bool or x.is_complex():
            raise ArgumentError(f"frames must be numeric intensities, got dtype {x.dtype}")
        x = x.to(self.device, torch.float32)
        if self.sensor_size is not None and (x.shape[2], x.shape[1]) != self.sensor_size:
            raise InputShapeError(
                f"frame size (W, H) = ({x.shape[2]}, {x.shape[1]}) differs from the stream's "
                f"{self.sensor_size}; call reset() for a new clip"
            )
        return lin_log(x) if self.lin_log else x

    def _check_times(self, timestamps_s: Any, n: int) -> np.ndarray:
        t = np.asarray(timestamps_s, dtype=np.float64).reshape(-1)
        if t.shape[0] != n:
            raise InputShapeError(f"timestamps_s has {t.shape[0]} entries for {n} frames")
        if n and not np.all(np.isfinite(t)):
            raise ArgumentError("timestamps_s must be finite")
        if n and t.min() < 0:
            raise ArgumentError(f"timestamps_s must be >= 0, got {t.min()} at {int(t.argmin())}")
        prev = np.concatenate([[self._t_prev_s if self._base is not None else -np.inf], t])
        bad = np.flatnonzero(np.diff(prev) < 0)
        if bad.size:
            i = int(bad[0])
            raise ArgumentError(
                f"timestamps_s must be non-decreasing: frame {i} at {t[i]} s comes after "
                f"{prev[i]} s"
            )
        return t

    # ------------------------------------------------------------------ public API
    def __call__(self, frames: Any, timestamps_s: Any) -> np.ndarray:
        """Events of a whole clip (the emulator is reset first)."""
        self.reset()
        return self.steps(frames, timestamps_s)

    def step(self, frame: Any, t_s: float) -> np.ndarray:
        """Stream one frame ``[H, W]`` (or ``[H, W, 3]``) at time ``t_s``: events since the
        previous frame (none for the first frame, which initialises the pixels)."""
        f = frame if torch.is_tensor(frame) else np.asarray(frame)
        return self.steps(f[None], [t_s])

    def steps(self, frames: Any, timestamps_s: Any) -> np.ndarray:
        """Stream several frames at once (continuing the state); fastest for long videos."""
        logs = self._as_log_frames(frames)
        t = self._check_times(timestamps_s, logs.shape[0])
        if logs.shape[0] == 0:
            return empty_events()
        if self._base is None:
            self._init_pixels(logs[0], t[0])
            logs, t = logs[1:], t[1:]
        h, w = logs.shape[1:]
        per_chunk = max(1, self.chunk_pixels // (h * w))
        out, start = [], 0
        while start < logs.shape[0]:
            stop = start + per_chunk
            sub_logs, sub_t = self._substeps(logs[start:stop], t[start:stop])
            start = stop
            out.append(self._run(sub_logs, sub_t))
        return concat_events(out)

    # ------------------------------------------------------------------ pixel model
    def _substeps(self, logs: torch.Tensor, t: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Linear-in-log temporal upsampling: substep targets ``[S, H, W]`` and end times."""
        if self.upsample == 1 or logs.shape[0] == 0:
            return logs, t
        prev = torch.cat([self._log_prev[None], logs[:-1]])
        if self.upsample == "auto":
            change = (logs - prev).abs().amax(dim=(1, 2)).cpu().numpy()
            n = np.clip(np.ceil(change / self.upsample_max_change - 1e-9), 1, self.max_upsample)
        else:
            n = np.full(logs.shape[0], self.upsample, dtype=np.float64)
        n = n.astype(np.int64)
        self._log_prev = logs[-1].clone()
        if n.max() == 1:
            return logs, t
        idx = np.repeat(np.arange(len(n)), n)
        frac = (np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n) + 1) / n[idx]
        t_prev = np.concatenate([[self._t_prev_s], t[:-1]])
        t_sub = t_prev[idx] + frac * (t - t_prev)[idx]
        idx_t = torch.as_tensor(idx, device=logs.device)
        fr = torch.as_tensor(frac, dtype=torch.float32, device=logs.device)[:, None, None]
        return torch.lerp(prev[idx_t], logs[idx_t], fr), t_sub

    def _run(self, logs: torch.Tensor, t: np.ndarray) -> np.ndarray:
        """Sequential pixel recursion over substeps, then vectorised event expansion."""
        s_n = logs.shape[0]
        if self.upsample == 1:
            self._log_prev = logs[-1].clone()
        t_us = np.rint(np.concatenate([[self._t_prev_s], t]) * 1e6).astype(np.int64)
        dt_s = np.diff(np.concatenate([[self._t_prev_s], t]))
        counts = torch.zeros(logs.shape, dtype=torch.int32, device=self.device)
        first = torch.empty(logs.shape, device=self.device)  # d0, or first-event fraction
        span = torch.empty(logs.shape, device=self.device)  # d1 - d0, or event spacing
        noise = torch.zeros(logs.shape, dtype=torch.int8, device=self.device) \
            if self.shot_noise_rate_hz > 0 else None
        thr_p, thr_n, g = self.pos_thresholds, self.neg_thresholds, self.generator
        lp, base = self._lp, self._base
        refractory = self.refractory_period_s > 0
        tau = 1.0 / (2 * math.pi * self.cutoff_hz) if self.cutoff_hz > 0 else 0.0
        for j in range(s_n):
            dt = float(dt_s[j])
            need_inten = self.cutoff_hz > 0 or noise is not None
            inten01 = ((_inverse_lin_log(logs[j]) if self.lin_log else logs[j].exp()
                        ).clamp(0, 255) + 20) / 275 if need_inten else None
            lp_prev = lp
            if self.cutoff_hz > 0:
                eps = (inten01 * (dt / tau)).clamp_(max=1.0)
                lp = torch.addcmul(lp, eps, logs[j] - lp)
            else:
                lp = logs[j]
            d0 = torch.sub(lp_prev, base, out=first[j])
            if self.leak_rate_hz > 0:
                jitter = 1 - self.leak_jitter_fraction * torch.randn(
                    base.shape, generator=g, device=self.device)
                base = base - (dt * self.leak_rate_hz) * self._rate_factor * jitter * thr_p
            d1 = lp - base
            k_on = torch.floor_(d1 / thr_p + _TOL).clamp_(min=0)
            k_off = torch.floor_(-d1 / thr_n + _TOL).clamp_(min=0)
            torch.sub(d1, d0, out=span[j])
            if refractory:
                k_on, k_off = self._refractory(k_on, k_off, first[j], span[j], t_us[j], t_us[j + 1])
            counts[j] = (k_on - k_off).to(torch.int32)
            base = base + k_on * thr_p - k_off * thr_n
            if noise is not None:
                p = (self.shot_noise_rate_hz / 2 * dt) * (
                    (SHOT_NOISE_INTEN_FACTOR - 1) * inten01 + 1)
                u = torch.rand(base.shape, generator=g, device=self.device)
                on = u > 1 - p * (self.pos_thres / thr_p)
                off = u < p * (self.neg_thres / thr_n)
                noise[j] = on.to(torch.int8) - off.to(torch.int8)
                base = torch.where(on | off, lp, base)
        self._lp, self._base, self._t_prev_s = lp, base, float(t[-1])
        return expand_crossings(
            counts, first, span, t_us, self.sensor_size,
            thr_p=thr_p, thr_n=thr_n, mode="fraction" if refractory else self.timestamps,
            noise=noise, generator=g,
        )

    def _refractory(self, k_on, k_off, first, span, t0_us, t1_us):
        """Thin this substep's events to those >= ``refractory_period_s`` after the pixel's
        previous event; rewrites ``first``/``span`` as the emitted events' first fraction and
        spacing. Closed form per pixel: events ``i0, i0 + m, ...`` survive."""
        k = k_on + k_off
        sign = torch.where(k_on > 0, 1.0, -1.0)
        thr = torch.where(k_on > 0, self.pos_thresholds, -self.neg_thresholds)
        moving = span != 0
        safe = torch.where(moving, span, torch.ones_like(span))
        if self.timestamps == "uniform":
            a = torch.where(k > 0, 1 / k.clamp(min=1), torch.ones_like(k))
            b = a.clone()
        else:
            a = torch.where(moving, (thr - first) / safe, torch.ones_like(span)).clamp(0, 1)
            b = torch.where(moving, thr / safe, torch.zeros_like(span))
        dt = (t1_us - t0_us) * 1e-6
        t_first = t0_us * 1e-6 + a.double() * dt
        gap = (b.double() * dt)
        r = self.refractory_period_s
        wait = self._t_last + r - t_first
        i0 = torch.where(gap > 0, torch.ceil(wait / gap.clamp(min=1e-12)),
                         torch.where(wait > 0, math.inf, 0.0)).clamp(min=0)
        m = torch.where(gap > 0, torch.ceil(r / gap.clamp(min=1e-12)), math.inf).clamp(min=1)
        kd = k.double()
        emitted = torch.where(i0 < kd, torch.ceil((kd - i0) / m.clamp(max=1e9)), 0.0)
        emitted = torch.where(torch.isinf(m) & (emitted > 0), 1.0, emitted)
        last = t_first + (i0 + (emitted - 1) * torch.where(torch.isinf(m), 0.0, m)) * gap
        self._t_last = torch.where(emitted > 0, last, self._t_last)
        i0f = torch.where(torch.isinf(i0), 0.0, i0).float()
        first.copy_(a + i0f * b)
        span.copy_(torch.where(torch.isinf(m), 0.0, m).float() * b)
        emitted = emitted.float()
        return torch.where(sign > 0, emitted, 0.0), torch.where(sign < 0, emitted, 0.0)
