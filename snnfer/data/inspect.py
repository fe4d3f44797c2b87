"""Summaries and previews of event files (what ``snnfer inspect FILE [--png F]`` prints).

>>> import numpy as np
>>> from snnfer.data.events import make_events
>>> ev = make_events([0, 500_000, 1_000_000], [0, 1, 2], [0, 0, 1], [1, 0, 1])
>>> s = event_stats(ev, (4, 2))
>>> s.n_events, s.duration_s, s.rate_hz, s.on_fraction
(3, 1.0, 3.0, 0.6666666666666666)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snnfer.atomic import atomic_path
from snnfer.data.events import SensorSize, check_sensor_size, read_events, validate_events
from snnfer.errors import ArgumentError
from snnfer.optional import require

__all__ = ["EventStats", "event_stats", "inspect_file", "save_preview_png"]


@dataclass(frozen=True)
class EventStats:
    """Summary of an event stream (times in µs as stored, durations in seconds)."""

    path: str | None
    sensor_size: SensorSize
    n_events: int
    n_on: int
    n_off: int
    t_first_us: int | None
    t_last_us: int | None
    duration_s: float
    rate_hz: float  # events per second over the stream's duration
    on_fraction: float  # n_on / n_events (polarity balance; 0.5 = balanced)
    active_pixels: int  # pixels with at least one event
    active_fraction: float
    max_pixel_events: int
    mean_pixel_rate_hz: float  # per active pixel

    def to_text(self) -> str:
        """Human-readable lines (what the CLI prints)."""
        w, h = self.sensor_size
        span = ("-" if self.t_first_us is None
                else f"{self.t_first_us} .. {self.t_last_us} us")
        lines = [
            f"file:            {self.path}" if self.path else None,
            f"sensor (W x H):  {w} x {h}",
            f"events:          {self.n_events:,}",
            f"ON / OFF:        {self.n_on:,} / {self.n_off:,} "
            f"(ON fraction {self.on_fraction:.3f})",
            f"time span:       {span}",
            f"duration:        {self.duration_s:.6f} s",
            f"event rate:      {self.rate_hz:,.1f} ev/s",
            f"active pixels:   {self.active_pixels:,} of {w * h:,} "
            f"({100 * self.active_fraction:.1f} %)",
            f"max per pixel:   {self.max_pixel_events:,} events",
            f"pixel rate:      {self.mean_pixel_rate_hz:,.2f} ev/s per active pixel",
        ]
        return "\n".join(line for line in lines if line is not None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def event_stats(events: np.ndarray, sensor_size: Any, path: str | None = None) -> EventStats:
    """Counts, duration, rate, polarity balance and pixel activity of ``events``."""
    w, h = check_sensor_size(sensor_size)
    validate_events(events, (w, h), source=path or "<array>")
    n = len(events)
    n_on = int(np.count_nonzero(events["p"]))
    t0 = int(events["t"][0]) if n else None
    t1 = int(events["t"][-1]) if n else None
    duration = (t1 - t0) / 1e6 if n else 0.0
    per_pixel = np.bincount(events["y"].astype(np.int64) * w + events["x"], minlength=w * h)
    active = int(np.count_nonzero(per_pixel))
    return EventStats(
        path=path, sensor_size=(w, h), n_events=n, n_on=n_on, n_off=n - n_on,
        t_first_us=t0, t_last_us=t1, duration_s=duration,
        rate_hz=n / duration if duration > 0 else 0.0,
        on_fraction=n_on / n if n else 0.0,
        active_pixels=active, active_fraction=active / (w * h),
        max_pixel_events=int(per_pixel.max()) if n else 0,
        mean_pixel_rate_hz=(n / active / duration) if active and duration > 0 else 0.0,
    )


def _panel(on: np.ndarray, off: np.ndarray) -> np.ndarray:
    """RGB image: white background, ON events red, OFF events blue, scaled per panel to the
    99th percentile of the non-zero counts."""
    both = np.concatenate([on[on > 0], off[off > 0]])
    scale = max(1.0, float(np.percentile(both, 99))) if both.size else 1.0
    r, b = np.clip(on / scale, 0, 1), np.clip(off / scale, 0, 1)
    return np.stack([1 - b, 1 - np.maximum(r, b), 1 - r], axis=-1)


def save_preview_png(events: np.ndarray, sensor_size: Any, path: str | os.PathLike,
                     n_frames: int = 6, title: str | None = None) -> None:
    """Write a PNG with ``n_frames`` event frames (equal time bins; ON red, OFF blue),
    atomically. Uses matplotlib's object API (no pyplot, no global backend change)."""
    require("matplotlib", "train", "PNG previews")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from snnfer.data.transforms.representations import ToCountFrames

    if n_frames < 1:
        raise ArgumentError(f"n_frames must be >= 1, got {n_frames}")
    w, h = check_sensor_size(sensor_size)
    frames = ToCountFrames(n_bins=n_frames)(events, (w, h)).numpy()
    t = events["t"]
    edges = (np.linspace(t[0], t[-1] + 1, n_frames + 1) - t[0]) / 1e3 if len(t) else None
    cols = min(n_frames, 6)
    rows = -(-n_frames // cols)
    panel_w = 2.4 * max(0.5, min(2.0, w / h))
    fig = Figure(figsize=(panel_w * cols, 2.4 * rows + (0.5 if title else 0)), dpi=100)
    FigureCanvasAgg(fig)
    for i in range(n_frames):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(_panel(frames[i, 1], frames[i, 0]), interpolation="nearest")
        label = f"{edges[i]:.1f}-{edges[i + 1]:.1f} ms" if edges is not None else "no events"
        ax.set_title(f"{label}\n{int(frames[i].sum()):,} ev", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.4 * rows + 0.5)) if title else None)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def inspect_file(path: str | os.PathLike, png: str | os.PathLike | None = None,
                 n_frames: int = 6, sensor_size: Any = None,
                 time_unit: str = "auto") -> EventStats:
    """Read an event file (empty files allowed), summarise it and optionally save a preview."""
    events, size = read_events(path, sensor_size=sensor_size, time_unit=time_unit,
                               allow_empty=True)
    stats = event_stats(events, size, path=str(path))
    if png is not None:
        save_preview_png(events, size, png, n_frames=n_frames,
                         title=f"{Path(path).name}: {stats.n_events:,} events, "
                               f"{stats.duration_s:.3f} s, ON {stats.on_fraction:.2f}")
    return stats
