"""Videos / frame folders -> event files: one clip (:class:`ClipConverter`) or a whole tree
(:func:`convert_folder`, the ``snnfer convert`` command).

The pipeline is the CS3D paper's preprocessing (cs3d.txt §IV-A): face crop and rotation
(optional, :class:`~snnfer.data.faces.FaceAligner`), grayscale, resize to 112 x 112, then the
V2E pixel model (:class:`~snnfer.data.emulator.DVSEmulator`). Every clip is emulated by a
fresh emulator with the same seed - one simulated sensor with one fixed threshold pattern -
so a clip's events do not depend on the order, sharding or number of workers.

Folder conversion mirrors the input tree (``IN/a/b.mp4 -> OUT/a/b.h5``; a frame folder
``IN/a/clip/`` -> ``OUT/a/clip.h5``), is resumable (finished outputs are skipped; outputs are
written atomically, so an interrupted run leaves no partial file), records unreadable or
face-less inputs in ``OUT/conversion_report.json`` and carries on.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnfer.atomic import atomic_write_text
from snnfer.errors import ArgumentError, DatasetError, VideoError

__all__ = [
    "ClipConverter",
    "ConversionReport",
    "convert_folder",
    "find_clips",
    "output_path",
    "parse_shard",
    "report_name",
    "select_shard",
]

EVENT_FORMATS = ("h5", "npz")


@dataclass(frozen=True)
class ClipConverter:
    """Convert one clip (video file, frame folder or frame array) to events.

    Args:
        align_faces: crop/rotate the face with :class:`FaceAligner` (else center square crop).
        size: output side in pixels (the CS3D paper: 112); ``None`` keeps the native frames.
        preset: :class:`DVSEmulator` preset (``clean``, ``noisy``, ``v2e-default``).
        fps: frame rate for frame folders / override of the container rate (CASME II: 200).
        seed: emulator seed (the same for every clip: one simulated sensor).
        margin: face-crop margin (fraction of the face side), with ``align_faces``.
        emulator_options: overrides of the preset's parameters.
    """

    align_faces: bool = False
    size: int | None = 112
    preset: str = "clean"
    fps: float | None = None
    seed: int = 0
    margin: float = 0.2
    emulator_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.size is not None and self.size < 8:
            raise ArgumentError(f"size must be >= 8 pixels or None, got {self.size}")
        if self.fps is not None and not self.fps > 0:
            raise ArgumentError(f"fps must be positive, got {self.fps}")
        self.emulator()  # unknown preset / bad option: fail now, not per clip

    def params(self) -> dict[str, Any]:
        """The settings, for cache keys and reports."""
        return asdict(self)

    def emulator(self):
        """A fresh :class:`DVSEmulator` of this converter's preset and seed."""
        from snnfer.data.emulator import DVSEmulator

        return DVSEmulator.from_preset(self.preset, seed=self.seed, **self.emulator_options)

    def prepare(self, frames: np.ndarray, source: str | None = None) -> np.ndarray:
        """uint8 frames -> grayscale ``[N, size, size]`` (face-aligned or center-cropped)."""
        from snnfer.data.video import to_grayscale

        if self.align_faces:
            from snnfer.data.faces import FaceAligner

            side = self.size or min(frames.shape[1:3])
            return FaceAligner(size=side, grayscale=True, margin=self.margin)(frames, source)
        gray = to_grayscale(frames)
        if self.size is None:
            return gray
        import cv2

        h, w = gray.shape[1:]
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        interp = cv2.INTER_AREA if s > self.size else cv2.INTER_LINEAR
        return np.stack([cv2.resize(f[y0:y0 + s, x0:x0 + s], (self.size, self.size),
                                    interpolation=interp) for f in gray])

    def frames_to_events(self, frames: np.ndarray, fps: float, source: str | None = None
                         ) -> tuple[np.ndarray, tuple[int, int]]:
        """Events of a uint8 clip ``[N, H, W(, 3)]`` recorded at ``fps``: ``(events, (W, H))``."""
        if len(frames) < 2:
            where = f"{source}: " if source else ""
            raise VideoError(f"{where}a clip needs at least 2 frames to make events, got "
                             f"{len(frames)}")
        gray = self.prepare(frames, source)
        emu = self.emulator()
        events = emu(gray.astype(np.float32), np.arange(len(gray)) / float(fps))
        return events, (gray.shape[2], gray.shape[1])

    def __call__(self, path: str | os.PathLike) -> tuple[np.ndarray, tuple[int, int]]:
        """Read the video / frame folder ``path`` and convert it."""
        from snnfer.data.video import read_video

        frames, fps = read_video(path, fps=self.fps)
        return self.frames_to_events(frames, fps, str(path))


# -- folder conversion ------------------------------------------------------------------------
def find_clips(root: str | os.PathLike) -> list[Path]:
    """Videos and frame folders under ``root`` (recursive), sorted by relative path.

    A folder that directly holds images is one clip (it is not searched further).
    """
    from snnfer.data.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, natural_sort_key

    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"input folder {base} does not exist or is not a folder")
    clips: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        visible = [f for f in filenames if not f.startswith(".")]
        if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in visible) and Path(dirpath) != base:
            clips.append(Path(dirpath))
            dirnames[:] = []
            continue
        clips += [Path(dirpath) / f for f in visible if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    return sorted(clips, key=lambda p: natural_sort_key(p.relative_to(base).as_posix()))


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``; ``None`` -> ``None``."""
    if spec is None or spec == "":
        return None
    try:
        k, n = (int(v) for v in str(spec).split("/"))
    except ValueError as exc:
        raise ArgumentError(f"--shard must be K/N with integers 0 <= K < N, got {spec!r}") from exc
    if not (n >= 1 and 0 <= k < n):
        raise ArgumentError(f"--shard K/N needs N >= 1 and 0 <= K < N (K counts from 0), got "
                            f"{spec!r}")
    return k, n


def select_shard(relpaths: list[str], shard: tuple[int, int] | None) -> list[str]:
    """The items of shard ``(K, N)``: those whose CRC-32 of the relative path is K mod N.

    Hashing the path (not the position in a listing) keeps each clip in the same shard on
    every machine, even if their listings differ while files are still being copied.
    """
    if shard is None:
        return list(relpaths)
    k, n = shard
    return [r for r in relpaths if zlib.crc32(r.encode("utf-8")) % n == k]


def output_path(rel: str, out_root: Path, fmt: str) -> Path:
    """``OUT/<rel without its video suffix>.<fmt>`` (frame folders get the suffix appended)."""
    from snnfer.data.video import VIDEO_SUFFIXES

    p = Path(rel)
    stem = p.with_suffix("") if p.suffix.lower() in VIDEO_SUFFIXES else p
    return out_root / f"{stem.as_posix()}.{fmt}"


@dataclass
class ConversionReport:
    """What a folder conversion did; saved as ``conversion_report[.shard-K-of-N].json``."""

    input: str
    output: str
    settings: dict[str, Any]
    shard: str | None = None
    total: int = 0
    converted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    events: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def all_failed(self) -> bool:
        """True if clips were attempted and none could be converted."""
        return bool(self.failed) and not self.converted and not self.skipped

    def summary(self) -> str:
        """A few human-readable lines (the failures listed one per line)."""
        lines = [f"{self.total} clip(s): {len(self.converted)} converted, {len(self.skipped)} "
                 f"already done, {len(self.failed)} failed ({self.events} events, "
                 f"{self.elapsed_s:.1f} s)"]
        lines += [f"  failed {f['input']}: {f['error']}: {f['message']}" for f in self.failed]
        return "\n".join(lines)


def _convert_one(job: tuple[ClipConverter, str, str, str]) -> dict[str, Any]:
    """Worker: convert one clip; exceptions become a failure record (the run continues)."""
    from snnfer.data.events import write_events

    converter, src, dst, rel = job
    try:
        events, size = converter(src)
        write_events(dst, events, size)
        return {"input": rel, "ok": True, "events": int(len(events))}
    except Exception as exc:  # a corrupt clip must not stop a corpus-sized run
        return {"input": rel, "ok": False, "error": type(exc).__name__, "message": str(exc)}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def report_name(shard: tuple[int, int] | None) -> str:
    """``conversion_report.json``, or one file per shard so parallel shards never collide."""
    if shard is None:
        return "conversion_report.json"
    return f"conversion_report.shard-{shard[0]}-of-{shard[1]}.json"


def convert_folder(
    in_root: str | os.PathLike,
    out_root: str | os.PathLike,
    converter: ClipConverter | None = None,
    fmt: str = "h5",
    workers: int = 1,
    shard: tuple[int, int] | str | None = None,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> ConversionReport:
    """Convert every video / frame folder under ``in_root`` to ``fmt`` event files.

    Resumable: outputs that exist are skipped. Failures are collected, not raised; the
    report is written to ``out_root`` (see :func:`report_name`) even when interrupted.
    """
    if fmt not in EVENT_FORMATS:
        raise ArgumentError(f"format must be one of {EVENT_FORMATS}, got {fmt!r}")
    if workers < 1:
        raise ArgumentError(f"workers must be >= 1, got {workers}")
    converter = converter or ClipConverter()
    shard = parse_shard(shard) if isinstance(shard, str) or shard is None else shard
    base, out = Path(in_root), Path(out_root)
    clips = find_clips(base)
    if not clips:
        raise DatasetError(f"no videos or frame folders found under {base}")
    rels = select_shard([c.relative_to(base).as_posix() for c in clips], shard)
    report = ConversionReport(input=str(base), output=str(out), settings=converter.params(),
                              shard=None if shard is None else f"{shard[0]}/{shard[1]}",
                              total=len(rels))
    jobs = []
    for rel in rels:
        dst = output_path(rel, out, fmt)
        if dst.is_file():
            report.skipped.append(rel)
        else:
            jobs.append((converter, str(base / rel), str(dst), rel))
    start = time.perf_counter()
    try:
        for result in _run(jobs, workers, progress):
            if result["ok"]:
                report.converted.append(result["input"])
                report.events += result["events"]
            else:
                report.failed.append({k: result[k] for k in ("input", "error", "message")})
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.elapsed_s = round(time.perf_counter() - start, 3)
        report.converted.sort()
        report.failed.sort(key=lambda f: f["input"])
        atomic_write_text(out / report_name(shard), json.dumps(asdict(report), indent=2))
    return report


def _run(jobs: list, workers: int, progress: bool):
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), unit="clip", disable=not progress, desc="convert")
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                yield _convert_one(job)
                bar.update()
            return
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                 initializer=_init_worker) as pool:
            for result in pool.map(_convert_one, jobs, chunksize=1):
                yield result
                bar.update()
    finally:
        bar.close()
