"""Video-to-events DVS emulator: the V2E pixel model, vectorised in torch over all pixels.

Implements the pixel model of V2E (Hu, Liu, Delbruck, "v2e: From Video Frames to Realistic
DVS Events", CVPRW 2021, §3 and Fig. 3), written from the paper and its documentation. Per
frame interval, for every pixel at once:

1. luma (BT.601) and lin-log intensity: linear below 20 DN with slope ln(20)/20, ``ln(I)``
   above (continuous at 20 DN) — ``lin_log=False`` takes frames that are already log intensity;
2. optional temporal upsampling (frame-interpolation networks such as SuperSloMo are not
   available): the interval is split into substeps by linear interpolation in log intensity
   (``upsample=int``, or ``"auto"``: as many substeps as needed for the largest per-pixel log
   change per substep to stay below ``upsample_max_change``, default the smaller threshold,
   capped at ``max_upsample``). Default 1: with ``timestamps="linear"`` event times already
   follow the linear-in-log change, so substeps only refine the low-pass filter, noise and
   refractory period;
3. photoreceptor low-pass: first-order IIR with ``tau = 1 / (2 pi cutoff_hz)``, update
   ``eps = inten01 * dt / tau`` clamped to 1, ``inten01 = (I + 20) / 275`` (darker is slower);
4. change detector: per-pixel thresholds ~ N(pos_thres / neg_thres, sigma_thres) clamped at
   0.01; ``k = floor(|diff| / threshold)`` events per substep, memorised level moved by
   ``k * threshold``; timestamps interpolated within the substep — ``timestamps="linear"``
   (default) puts event ``i`` where the linearly interpolated difference crosses ``(i + 1)``
   thresholds, ``"uniform"`` at ``t_prev + (i + 1) dt / k`` for a pixel with ``k`` events,
   ``"v2e"`` at ``t_prev + (i + 1) dt / K`` with ``K`` the largest count of any pixel (what
   v2e's ``EventEmulator`` does; the fastest: its output needs no sorting);
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

from snnfer.data.emulator_model import LIN_LOG_DN, expand_jobs, simulate_chunk
from snnfer.data.events import SensorSize, concat_events, empty_events
from snnfer.errors import ArgumentError, InputShapeError, UnknownNameError

__all__ = ["PRESETS", "DVSEmulator", "lin_log"]


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


_LIN_LOG_U8 = lin_log(torch.arange(256, dtype=torch.float32)).numpy()
_INTEN01_U8 = ((np.arange(256) + 20) / 275).astype(np.float32)  # v2e's rescale_intensity_frame


def _inten01(dn: Any) -> torch.Tensor:
    """v2e's intensity scale ``(I + 20) / 275`` of DN frames (uint8 numpy or float tensor)."""
    if isinstance(dn, np.ndarray):
        return torch.from_numpy(np.take(_INTEN01_U8, dn))
    return (dn.clamp(0, 255) + 20) / 275


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
        upsample: int | str = 1,
        max_upsample: int = 16,
        upsample_max_change: float | None = None,
        timestamps: str = "linear",
        workers: int | None = None,
        chunk_pixels: int | None = None,
        expand_pixels: int = 1 << 22,
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
        if timestamps not in ("linear", "uniform", "v2e"):
            raise ArgumentError(
                f"timestamps must be 'linear', 'uniform' or 'v2e', got {timestamps!r}")
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
        self.chunk_pixels = chunk_pixels  # pixels x frames simulated at once (None: auto)
        self.expand_pixels = int(expand_pixels)  # ... kept (12 B each) before expanding
        if workers is not None and int(workers) < 1:
            raise ArgumentError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.reset()

    def expand_workers(self) -> int:
        """Threads turning counts into events: ``workers``, else torch's thread count (1 in
        DataLoader workers), at most 8."""
        return int(self.workers) if self.workers else max(1, min(8, torch.get_num_threads()))

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
        self._t_last_us = torch.full((h, w), -math.inf, dtype=torch.float64)  # CPU bookkeeping
        self._log_prev = log_frame.clone()
        self._lp = log_frame.clone()
        self._base = log_frame.clone()
        self._t_prev_s = float(t_s)

    # ------------------------------------------------------------------ input checks
    def _as_log_frames(self, frames: Any) -> tuple[torch.Tensor, Any]:
        """Log intensities ``[N, H, W]`` and the DN intensities they came from (uint8 numpy,
        float tensor, or None for log input). 8-bit frames go through a 256-entry table."""
        x = frames if torch.is_tensor(frames) else np.asarray(frames)
        if x.ndim == 4 and x.shape[-1] == 3:
            x = _luma(torch.as_tensor(x).to(self.device, torch.float32))
        elif x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3:
            raise InputShapeError(
                f"frames must be [N, H, W] or [N, H, W, 3], got shape {tuple(x.shape)}"
            )
        if x.dtype in (np.bool_, torch.bool) or (x.dtype.kind == "c" if isinstance(
                x, np.ndarray) else x.is_complex()):
            raise ArgumentError(f"frames must be numeric intensities, got dtype {x.dtype}")
        if self.sensor_size is not None and (x.shape[2], x.shape[1]) != self.sensor_size:
            raise InputShapeError(
                f"frame size (W, H) = ({x.shape[2]}, {x.shape[1]}) differs from the stream's "
                f"{self.sensor_size}; call reset() for a new clip"
            )
        if self.lin_log and isinstance(x, np.ndarray) and x.dtype == np.uint8:
            return torch.from_numpy(np.take(_LIN_LOG_U8, x)).to(self.device), x
        x = torch.as_tensor(x).to(self.device, torch.float32)
        return (lin_log(x), x) if self.lin_log else (x, None)

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
        logs, dn = self._as_log_frames(frames)
        t = self._check_times(timestamps_s, logs.shape[0])
        if logs.shape[0] == 0:
            return empty_events()
        if self._base is None:
            self._init_pixels(logs[0], t[0])
            logs, t = logs[1:], t[1:]
            dn = None if dn is None else dn[1:]
        h, w = logs.shape[1:]
        if self.chunk_pixels is None:  # ~2^18 pixel-substeps, at least 8 frames
            per_chunk = max(8, (1 << 18) // (h * w))
        else:
            per_chunk = max(1, self.chunk_pixels // (h * w))
        out, jobs, pending, start = [], [], 0, 0
        while start < logs.shape[0]:
            stop = start + per_chunk
            sub_logs, sub_t = self._substeps(logs[start:stop], t[start:stop])
            inten01 = None  # v2e's intensity scale, from the frames unless upsampled
            if (dn is not None and sub_logs.shape[0] == stop - start
                    and (self.cutoff_hz > 0 or self.shot_noise_rate_hz > 0)):
                inten01 = _inten01(dn[start:stop]).to(self.device)
            start = stop
            jobs += simulate_chunk(self, sub_logs, sub_t, inten01)
            pending += sub_logs.shape[0] * h * w
            if pending >= self.expand_pixels or start >= logs.shape[0]:
                out.append(expand_jobs(jobs, self.expand_workers()))
                jobs, pending = [], 0
        return concat_events(out)

    # ------------------------------------------------------------------ pixel model
    def _substeps(self, logs: torch.Tensor, t: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Linear-in-log temporal upsampling: substep targets ``[S, H, W]`` and end times."""
        if logs.shape[0] == 0:
            return logs, t
        prev = torch.cat([self._log_prev[None], logs[:-1]])
        self._log_prev = logs[-1].clone()
        if self.upsample == 1:
            return logs, t
        if self.upsample == "auto":
            change = (logs - prev).abs().amax(dim=(1, 2)).cpu().numpy()
            n = np.clip(np.ceil(change / self.upsample_max_change - 1e-9), 1, self.max_upsample)
        else:
            n = np.full(logs.shape[0], self.upsample, dtype=np.float64)
        n = n.astype(np.int64)
        if n.max() == 1:
            return logs, t
        idx = np.repeat(np.arange(len(n)), n)
        frac = (np.arange(idx.size) - np.repeat(np.cumsum(n) - n, n) + 1) / n[idx]
        t_prev = np.concatenate([[self._t_prev_s], t[:-1]])
        t_sub = t_prev[idx] + frac * (t - t_prev)[idx]
        idx_t = torch.as_tensor(idx, device=logs.device)
        fr = torch.as_tensor(frac, dtype=torch.float32, device=logs.device)[:, None, None]
        return torch.lerp(prev[idx_t], logs[idx_t], fr), t_sub
