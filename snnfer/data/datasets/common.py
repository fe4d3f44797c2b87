"""Shared machinery of the dataset loaders: event caching, annotation columns, frame stacks.

* :class:`EventDataset` - base of every loader whose samples are event streams: it reads (or
  converts) the events of a sample, caches them on disk, applies the event augmentation and
  the representation (events -> ``[T, C, H, W]``).
* :class:`DiskCache` - an on-disk cache of converted events / decoded frames keyed on the
  source file (path, size, modification time) and the conversion parameters; files are
  written atomically.
* :func:`column_index` - case/space-insensitive lookup of annotation columns with a
  :class:`DatasetError` naming the file, the missing column and the columns present.
"""

from __future__ import annotations

import abc
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnfer.atomic import atomic_path
from snnfer.data.base import FERDataset
from snnfer.errors import ArgumentError, DatasetError

__all__ = [
    "DiskCache",
    "apply_augment",
    "check_root",
    "EventDataset",
    "column_index",
    "default_representation",
    "frames_to_tensor",
    "norm_name",
    "sample_indices",
    "source_signature",
]

Events = np.ndarray
SensorSize = tuple[int, int]
Representation = Callable[[Events, SensorSize], torch.Tensor]
Augmentation = Callable[[Events, SensorSize], Any]


def norm_name(name: str) -> str:
    """Column/label name normalised for matching: lower case, runs of non-alphanumerics
    removed (``"Estimated Emotion"``, ``"estimated_emotion"`` -> ``"estimatedemotion"``)."""
    return re.sub(r"[^0-9a-z]+", "", str(name).lower())


def column_index(header: Sequence[str], column: str, source: str | os.PathLike,
                 aliases: Iterable[str] = ()) -> int:
    """Index of ``column`` (or an alias) in ``header``; :class:`DatasetError` if absent."""
    normed = [norm_name(h) for h in header]
    for name in (column, *aliases):
        if norm_name(name) in normed:
            return normed.index(norm_name(name))
    present = ", ".join(repr(str(h)) for h in header if str(h).strip()) or "none"
    raise DatasetError(f"{source}: missing annotation column {column!r} (expected columns "
                       f"include {column!r}; found {present})")


def sample_indices(n: int, count: int) -> np.ndarray:
    """``count`` frame indices spread uniformly over ``n`` frames (repeats when n < count)."""
    if n < 1 or count < 1:
        raise ArgumentError(f"need n >= 1 frames and count >= 1, got n={n}, count={count}")
    return np.round(np.linspace(0, n - 1, count)).astype(np.int64)


def frames_to_tensor(frames: np.ndarray, size: int | tuple[int, int] | None = None
                     ) -> torch.Tensor:
    """uint8 ``[T, H, W]`` / ``[T, H, W, C]`` frames -> float32 ``[T, C, H, W]`` in [0, 1].

    ``size`` (side or ``(H, W)``) resizes with area averaging (downscaling) or bilinear.
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(x.shape[-2:]) != hw:
            mode = "area" if x.shape[-2] >= hw[0] and x.shape[-1] >= hw[1] else "bilinear"
            kw = {} if mode == "area" else {"align_corners": False}
            x = torch.nn.functional.interpolate(x, size=hw, mode=mode, **kw).clamp_(0, 1)
    return x.contiguous()


def default_representation(frames: int = 16, channels: int = 2) -> Representation:
    """The default events -> ``[T, C, H, W]`` map: ``frames`` equal time bins of the clip with
    ``channels`` = 2 (OFF, ON counts: the small preset), 1 (all events) or 3 (the CS3D paper's
    3-channel frames, :class:`~snnfer.data.transforms.ToThreeChannelFrames`)."""
    from snnfer.data import transforms

    if channels == 2:
        return transforms.ToCountFrames(n_bins=frames)
    if channels == 1:
        return transforms.ToCountFrames(n_bins=frames, polarity="merge")
    if channels == 3:
        return transforms.ToThreeChannelFrames(n_bins=frames)
    raise ArgumentError(f"channels must be 1, 2 or 3 for the default representation, got "
                        f"{channels}; pass transform= for other inputs")


def apply_augment(augment: Augmentation | None, events: Events, size: SensorSize,
                  transform: Representation) -> torch.Tensor:
    """``transform`` with ``augment`` applied before it (event stage, the default) or after it
    (callables whose ``stage`` is ``"tensor"``, e.g. a ``Compose`` of tensor transforms)."""
    if augment is None:
        return transform(events, size)
    if getattr(augment, "stage", "events") == "tensor":
        return augment(transform(events, size))
    out = augment(events, size)
    events, size = out if isinstance(out, tuple) else (out, size)
    return transform(events, size)


def source_signature(source: str | os.PathLike) -> dict[str, Any]:
    """Identity of a file or frame folder for cache keys: path, sizes, modification times."""
    p = Path(source)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise DatasetError(f"source {p} does not exist") from exc
    if p.is_dir():  # a frame folder: its files' names, sizes and times
        files = sorted(q for q in p.iterdir() if q.is_file())
        return {"path": str(p.resolve()), "files": [
            (q.name, q.stat().st_size, q.stat().st_mtime_ns) for q in files]}
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class DiskCache:
    """On-disk cache of converted samples (``<dir>/<stem>-<key>.npz``).

    The key hashes the source's resolved path, size and modification time (every file for a
    frame folder) together with the conversion ``params``, so a changed source or setting
    never returns stale data. Files are written atomically (temp file + rename).
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def path_for(self, source: str | os.PathLike, params: dict[str, Any]) -> Path:
        blob = json.dumps({"source": source_signature(source), "params": params},
                          sort_keys=True, default=str)
        key = hashlib.sha1(blob.encode()).hexdigest()[:20]
        stem = re.sub(r"[^0-9A-Za-z_.-]+", "_", Path(source).stem)[:60]
        return self.directory / f"{stem}-{key}.npz"

    def events(self, source: str | os.PathLike, params: dict[str, Any],
               create: Callable[[], tuple[Events, SensorSize]]) -> tuple[Events, SensorSize]:
        """Cached events of ``source`` under ``params``, creating (and storing) them if needed."""
        from snnfer.data.events import read_events, write_events

        path = self.path_for(source, params)
        if path.is_file():
            return read_events(path, allow_empty=True)
        events, size = create()
        write_events(path, events, size)
        return events, size

    def arrays(self, source: str | os.PathLike, params: dict[str, Any],
               create: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Cached named arrays (e.g. decoded frame stacks) of ``source`` under ``params``."""
        path = self.path_for(source, params)
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        arrays = create()
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return arrays


class EventDataset(FERDataset):
    """A FER dataset whose samples are event streams.

    Subclasses fill ``classes``/``samples`` and implement :meth:`read_sample_events`.
    ``load(i)`` returns ``transform(augment(events), sensor_size)``, a float32
    ``[T, C, H, W]`` tensor; ``transform=None`` uses :func:`default_representation`.
    ``augment`` is a ``snnfer.data.transforms`` augmentation (or ``Compose``): event-stage
    ones get ``(events, sensor_size)`` before the representation, tensor-stage ones the
    ``[T, C, H, W]`` tensor after it.
    """

    cache_params: dict[str, Any] = {}

    def __init__(self, transform: Representation | None = None,
                 augment: Augmentation | None = None,
                 cache_dir: str | os.PathLike | None = None):
        self.transform = transform if transform is not None else default_representation()
        self.augment = augment
        self.cache = DiskCache(cache_dir) if cache_dir is not None else None

    @abc.abstractmethod
    def read_sample_events(self, index: int) -> tuple[Events, SensorSize]:
        """Read or convert the events of sample ``index`` (no caching)."""

    def events(self, index: int) -> tuple[Events, SensorSize]:
        """``(events, sensor_size)`` of sample ``index``, from the cache when enabled."""
        if self.cache is None or self.samples[index].path is None:
            return self.read_sample_events(index)
        params = {"loader": type(self).__name__, **self.cache_params,
                  **self.samples[index].extra.get("cache_params", {})}
        return self.cache.events(self.samples[index].path, params,
                                        lambda: self.read_sample_events(index))

    def load(self, index: int) -> torch.Tensor:
        events, size = self.events(index)
        return apply_augment(self.augment, events, size, self.transform)


def check_root(root: str | os.PathLike, what: str) -> Path:
    """``root`` as a Path, or :class:`DatasetError` if it is not an existing folder."""
    p = Path(root)
    if not p.is_dir():
        raise DatasetError(f"{what} folder {p} does not exist or is not a folder")
    return p
