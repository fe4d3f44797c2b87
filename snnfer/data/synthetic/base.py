"""Base of the procedurally rendered datasets: sample grid, batched emulation, disk cache.

A synthetic dataset is a grid subjects x classes x repeats of clips. Each clip is rendered
from its own random generator (seeded by ``(seed, subject, class, repeat)``, so its frames do
not change when other clips are added), converted to events by the DVS emulator, and kept in
memory; with ``cache_dir`` the events (and RGB frames) of the whole set are stored in one
``.npz`` keyed by every generation parameter. Emulation runs on mosaics of
:data:`MOSAIC` clips placed side by side - one emulator call per mosaic instead of per clip,
which is several times faster for small frames - and the events are split back by ``x``.
The emulator's per-pixel threshold mismatch is drawn per mosaic, so events are deterministic
for a given parameter set (not per clip across different grids).
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnfer.atomic import atomic_path
from snnfer.data.base import FERDataset, SampleInfo
from snnfer.data.datasets.common import apply_augment, default_representation
from snnfer.data.synthetic.render import Grid
from snnfer.errors import ArgumentError

__all__ = ["MOSAIC", "ClipSpec", "SyntheticClipDataset", "emulate_mosaic"]

MOSAIC = 16  # clips per emulator call
_VERSION = 1  # bump when rendering changes, so old caches are not reused


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread: rendering issues many small ops, for which thread
    synchronisation costs far more than it gains (worst on a shared, busy CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class ClipSpec:
    """Which clip to render: position in the grid, condition and its random seed."""

    index: int
    subject: int
    label: int
    class_name: str
    repeat: int
    condition: str | None
    seed: tuple[int, ...]

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(list(self.seed))


def emulate_mosaic(lumas: Sequence[torch.Tensor], fps: float, emulator) -> list[np.ndarray]:
    """Events of several equally sized clips ``[N, H, W]`` (DN) from one emulator call.

    The clips are placed side by side; pixels never interact in the V2E pixel model, so each
    clip's events equal those of a separate call with the same per-pixel thresholds.
    """
    n, h, w = lumas[0].shape
    mosaic = torch.cat(list(lumas), dim=2)
    events = emulator(mosaic, np.arange(n) / float(fps))
    tile = events["x"].astype(np.int64) // w
    out = []
    for k in range(len(lumas)):
        ev = events[tile == k]  # boolean selection keeps the time order
        ev["x"] -= k * w
        out.append(ev)
    return out


class SyntheticClipDataset(FERDataset):
    """Grid of rendered clips turned into events; subclasses implement :meth:`render`.

    ``load(i)`` returns ``transform(augment(events), (size, size))`` or, when the subclass
    also renders RGB frames, ``{"event": ..., "rgb": [T, 3, H, W]}``.
    """

    modalities: tuple[str, ...] = ("event",)
    #: class name -> motion parameters; the classes a subclass can render
    motions: dict[str, dict[str, Any]] = {}

    def __init__(self, classes: Sequence[str], num_subjects: int, clips_per_class: int,
                 size: int, frames: int, num_frames: int, fps: float,
                 transform: Callable | None, augment: Callable | None, seed: int,
                 preset: str, cache_dir: str | os.PathLike | None,
                 conditions: Sequence[str] | None = None,
                 emulator_options: dict[str, Any] | None = None, channels: int = 2,
                 intensity: tuple[float, float] = (0.5, 1.0)):
        unknown = [c for c in classes if c not in self.motions]
        if unknown or len(set(classes)) < 2:
            raise ArgumentError(f"classes must be >= 2 distinct names from "
                                f"{tuple(self.motions)}, got {list(classes)}")
        lo, hi = intensity
        if not 0 < lo <= hi:
            raise ArgumentError(f"intensity must be (low, high) with 0 < low <= high, got "
                                f"{intensity}")
        self.intensity = (float(lo), float(hi))
        for name, value, low in (("num_subjects", num_subjects, 1),
                                 ("clips_per_class", clips_per_class, 1), ("size", size, 16),
                                 ("frames", frames, 1), ("num_frames", num_frames, 2)):
            if int(value) < low:
                raise ArgumentError(f"{name} must be >= {low}, got {value}")
        if not fps > 0:
            raise ArgumentError(f"fps must be positive, got {fps}")
        self.classes = list(classes)
        self.num_subjects, self.clips_per_class = int(num_subjects), int(clips_per_class)
        self.size, self.frames, self.num_frames, self.fps = int(size), int(frames), \
            int(num_frames), float(fps)
        self.seed, self.preset = int(seed), preset
        self.grid = Grid.make(self.size)
        self._geometry: dict[int, dict[str, Any]] = {}
        self.emulator_options = dict(emulator_options or {})
        self.augment = augment
        if transform is None:

            transform = default_representation(frames=self.frames, channels=channels)
        self.transform = transform
        self.specs: list[ClipSpec] = []
        self.samples = []
        for subject in range(self.num_subjects):
            for label, name in enumerate(self.classes):
                for rep in range(self.clips_per_class):
                    cond = None if not conditions else conditions[(rep + subject) % len(conditions)]
                    spec = ClipSpec(len(self.specs), subject, label, name, rep, cond,
                                    (self.seed, subject, self._class_id(name), rep))
                    self.specs.append(spec)
                    self.samples.append(SampleInfo(
                        label=label, sequence=f"s{subject:02d}_{name}_{rep:02d}",
                        subject=f"s{subject:02d}", condition=cond,
                        extra={"repeat": rep, "synthetic": type(self).__name__}))
        start = time.perf_counter()
        self.cache_path = None if cache_dir is None else self._cache_file(Path(cache_dir))
        if self.cache_path is not None and self.cache_path.is_file():
            self._load_cache(self.cache_path)
            self.generated = False
        else:
            self._generate()
            self.generated = True
            if self.cache_path is not None:
                self._save_cache(self.cache_path)
        self.build_time_s = time.perf_counter() - start

    # -- subclass API --------------------------------------------------------------------
    @abc.abstractmethod
    def render(self, spec: ClipSpec) -> tuple[torch.Tensor, np.ndarray | None]:
        """Luma ``[num_frames, size, size]`` (float DN, the emulator's input) and RGB frames
        ``[frames, 3, size, size]`` uint8 (or ``None``) of one clip."""

    @abc.abstractmethod
    def make_geometry(self, subject: int) -> dict[str, Any]:
        """The fixed appearance of ``subject`` (drawn from ``(seed, subject)``)."""

    def geometry(self, subject: int) -> dict[str, Any]:
        """The appearance of ``subject`` (computed once, fixed by the seed)."""
        if subject not in self._geometry:
            self._geometry[subject] = self.make_geometry(subject)
        return self._geometry[subject]

    def postprocess_events(self, spec: ClipSpec, events: np.ndarray) -> np.ndarray:
        """Hook to alter a clip's events after emulation (default: unchanged)."""
        return events

    def _class_id(self, name: str) -> int:
        """Stable id of a class name for seeding (independent of which classes are used)."""
        return int(hashlib.sha1(name.encode()).hexdigest()[:6], 16)

    def generation_params(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "version": _VERSION, "classes": self.classes,
                "subjects": self.num_subjects, "clips": self.clips_per_class,
                "size": self.size, "frames": self.frames, "num_frames": self.num_frames,
                "fps": self.fps, "seed": self.seed, "preset": self.preset,
                "emulator": self.emulator_options, "intensity": self.intensity}

    # -- generation ----------------------------------------------------------------------
    def _generate(self) -> None:
        with single_thread():
            self._generate_all()

    def _generate_all(self) -> None:
        from snnfer.data.emulator import DVSEmulator

        self._events: list[np.ndarray] = [None] * len(self.specs)  # type: ignore[list-item]
        self._rgb = None
        for b in range(0, len(self.specs), MOSAIC):
            batch = self.specs[b:b + MOSAIC]
            rendered = [self.render(spec) for spec in batch]
            emu = DVSEmulator.from_preset(self.preset, seed=self.seed * 7919 + b // MOSAIC,
                                          **self.emulator_options)
            events = emulate_mosaic([r[0] for r in rendered], self.fps, emu)
            for spec, ev, (_, rgb) in zip(batch, events, rendered):
                self._events[spec.index] = self.postprocess_events(spec, ev)
                if rgb is not None:
                    if self._rgb is None:
                        self._rgb = np.empty((len(self.specs), *rgb.shape), np.uint8)
                    self._rgb[spec.index] = rgb

    def _cache_file(self, directory: Path) -> Path:
        key = hashlib.sha1(json.dumps(self.generation_params(), sort_keys=True,
                                      default=str).encode()).hexdigest()[:16]
        return directory / f"{type(self).__name__}-{key}.npz"

    def _save_cache(self, path: Path) -> None:
        counts = np.array([len(e) for e in self._events], np.int64)
        allev = np.concatenate(self._events)
        arrays = {f: allev[f] for f in allev.dtype.names}
        arrays["counts"] = counts
        if self._rgb is not None:
            arrays["rgb"] = self._rgb
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    def _load_cache(self, path: Path) -> None:
        from snnfer.data.events import EVENT_DTYPE

        with np.load(path, allow_pickle=False) as data:
            allev = np.empty(len(data["t"]), EVENT_DTYPE)
            for f in EVENT_DTYPE.names:
                allev[f] = data[f]
            bounds = np.concatenate([[0], np.cumsum(data["counts"])])
            self._events = [allev[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
            self._rgb = data["rgb"] if "rgb" in data.files else None

    # -- access ----------------------------------------------------------------------------
    @property
    def sensor_size(self) -> tuple[int, int]:
        return self.size, self.size

    def events(self, index: int) -> tuple[np.ndarray, tuple[int, int]]:
        """The raw events of clip ``index`` and the sensor size."""
        return self._events[index], self.sensor_size

    def rgb_frames(self, index: int) -> np.ndarray:
        """RGB frames ``[T, 3, H, W]`` uint8 of clip ``index`` (two-modality sets only)."""
        if self._rgb is None:
            raise ArgumentError(f"{type(self).__name__} renders no RGB frames")
        return self._rgb[index]

    def load(self, index: int):
        events, size = self.events(index)
        if self._rgb is None:
            return apply_augment(self.augment, events, size, self.transform)
        x = self.transform(events, size)
        item = {"event": x, "rgb": torch.from_numpy(self._rgb[index]).float().div_(255.0)}
        return self.augment(item) if self.augment is not None else item
