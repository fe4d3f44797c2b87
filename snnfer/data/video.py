"""Reading FER videos and image-sequence folders into uint8 frame arrays.

Videos are decoded with PyAV (preferred) or OpenCV; both wheels bundle FFmpeg, so no system
ffmpeg is needed. Image-sequence folders (``img1.jpg, img2.jpg, ..., img10.jpg``) are read in
natural order, as CASME II, SEE and NEFER store their clips. Every failure raises
:class:`snnfer.errors.VideoError` naming the file and the reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from snnfer.atomic import atomic_path
from snnfer.errors import ArgumentError, VideoError
from snnfer.optional import require

__all__ = [
    "DEFAULT_FRAME_FOLDER_FPS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "is_frame_folder",
    "is_video_file",
    "iter_video",
    "list_frames",
    "natural_sort_key",
    "read_frames",
    "read_video",
    "to_grayscale",
    "write_video",
]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".mpeg", ".mpg", ".m2v", ".wmv", ".webm", ".m4v", ".flv",
     ".mts", ".vob", ".3gp"}
)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})
DEFAULT_FRAME_FOLDER_FPS = 30.0  # image folders carry no rate; pass fps= (CASME II: 200)

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(name: str | os.PathLike) -> tuple:
    """Key that orders ``img2`` before ``img10`` (numbers compared as integers)."""
    parts = _DIGITS.split(Path(name).name if isinstance(name, Path) else str(name))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts)


def is_video_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a file with a known video suffix."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES


def _image_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]


def is_frame_folder(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder directly holding at least one image frame."""
    p = Path(path)
    return p.is_dir() and bool(_image_files(p))


def list_frames(folder: str | os.PathLike) -> list[Path]:
    """Image files of a frame folder in natural order; :class:`VideoError` if there are none."""
    p = Path(folder)
    if not p.is_dir():
        raise VideoError(f"frame folder {p} does not exist or is not a folder")
    frames = sorted(_image_files(p), key=lambda q: natural_sort_key(q.name))
    if not frames:
        raise VideoError(
            f"frame folder {p} holds no images (expected {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return frames


def to_grayscale(frames: np.ndarray) -> np.ndarray:
    """RGB ``[..., H, W, 3]`` uint8 -> luma ``[..., H, W]`` uint8 (ITU-R BT.601 weights)."""
    if frames.ndim >= 3 and frames.shape[-1] == 3:
        luma = frames[..., 0] * 0.299 + frames[..., 1] * 0.587 + frames[..., 2] * 0.114
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.asarray(frames, dtype=np.uint8)


def read_frames(paths: Sequence[str | os.PathLike], grayscale: bool = False) -> np.ndarray:
    """Decode image files into ``[N, H, W, 3]`` RGB (or ``[N, H, W]`` gray) uint8.

    All images must have the same size; an unreadable image raises :class:`VideoError`.
    """
    cv2 = require("cv2", "data", "reading image frames")
    if not paths:
        raise VideoError("no frame paths given")
    out: list[np.ndarray] = []
    for path in paths:
        flag = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
        img = cv2.imread(str(path), flag)
        if img is None:
            reason = "file does not exist" if not Path(path).exists() else "not a readable image"
            raise VideoError(f"cannot read frame {path}: {reason}")
        if not grayscale:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if out and img.shape != out[0].shape:
            raise VideoError(
                f"frame {path} has size {img.shape[1]}x{img.shape[0]} but {paths[0]} has "
                f"{out[0].shape[1]}x{out[0].shape[0]}; all frames of a clip must match"
            )
        out.append(img)
    return np.stack(out)


def _check_range(start: int, stop: int | None) -> None:
    if start < 0 or (stop is not None and stop < start):
        raise ArgumentError(f"frame range start={start}, stop={stop} must satisfy 0 <= start "
                            "<= stop")


def _pyav_frames(path: Path, grayscale: bool) -> tuple[Iterator[np.ndarray], float | None]:
    av = require("av", "data", "decoding videos")
    try:
        container = av.open(str(path))
    except Exception as exc:  # av raises many FFmpeg error types
        raise VideoError(f"cannot open video {path}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"cannot read video {path}: the file has no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(Fraction(rate)) if rate else None
    fmt = "gray" if grayscale else "rgb24"

    def gen() -> Iterator[np.ndarray]:
        n = 0
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format=fmt)
                n += 1
        except Exception as exc:
            raise VideoError(f"cannot decode video {path} after {n} frames: {exc}") from exc
        finally:
            container.close()

    return gen(), fps


def _opencv_frames(path: Path, grayscale: bool) -> tuple[Iterator[np.ndarray], float | None]:
    cv2 = require("cv2", "data", "decoding videos")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"cannot open video {path}: OpenCV/FFmpeg could not open it")
    fps = cap.get(cv2.CAP_PROP_FPS) or None

    def gen() -> Iterator[np.ndarray]:
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                code = cv2.COLOR_BGR2GRAY if grayscale else cv2.COLOR_BGR2RGB
                yield cv2.cvtColor(img, code)
        finally:
            cap.release()

    return gen(), fps


def iter_video(
    path: str | os.PathLike,
    grayscale: bool = False,
    backend: str = "auto",
) -> tuple[Iterator[np.ndarray], float | None]:
    """Stream the frames of a video file: ``(frame iterator, fps or None)``.

    ``backend`` is ``"pyav"``, ``"opencv"`` or ``"auto"`` (PyAV if installed, else OpenCV).
    Use this for long videos that do not fit in memory.
    """
    p = Path(path)
    if not p.exists():
        raise VideoError(f"video {p} does not exist")
    if p.is_dir():
        raise VideoError(f"{p} is a folder; use read_video for frame folders")
    if p.stat().st_size == 0:
        raise VideoError(f"cannot read video {p}: the file is empty")
    if backend == "auto":
        try:
            import av  # noqa: F401

            backend = "pyav"
        except ImportError:
            backend = "opencv"
    if backend == "pyav":
        return _pyav_frames(p, grayscale)
    if backend == "opencv":
        return _opencv_frames(p, grayscale)
    raise ArgumentError(f"backend must be 'auto', 'pyav' or 'opencv', got {backend!r}")


def read_video(
    path: str | os.PathLike,
    grayscale: bool = False,
    fps: float | None = None,
    start: int = 0,
    stop: int | None = None,
    backend: str = "auto",
) -> tuple[np.ndarray, float]:
    """Read a video file or an image-sequence folder: ``(frames, fps)``.

    ``frames`` is uint8 ``[N, H, W, 3]`` (RGB) or ``[N, H, W]`` with ``grayscale=True``;
    ``start``/``stop`` select frames ``start <= i < stop`` by index. ``fps`` overrides the
    container rate; frame folders have none, so they default to
    :data:`DEFAULT_FRAME_FOLDER_FPS`. Raises :class:`VideoError` (file and reason) for
    missing, empty, corrupt or frame-less inputs.
    """
    _check_range(start, stop)
    p = Path(path)
    if fps is not None and not fps > 0:
        raise ArgumentError(f"fps must be positive, got {fps}")
    if p.is_dir():
        files = list_frames(p)[start:stop]
        if not files:
            raise VideoError(f"frame folder {p} has no frames in range [{start}, {stop})")
        return read_frames(files, grayscale), float(fps or DEFAULT_FRAME_FOLDER_FPS)
    frames_it, native_fps = iter_video(p, grayscale, backend)
    frames: list[np.ndarray] = []
    for i, frame in enumerate(frames_it):
        if stop is not None and i >= stop:
            frames_it.close()
            break
        if i >= start:
            frames.append(frame)
    if not frames:
        what = "no decodable frames" if start == 0 else f"no frames in range [{start}, {stop})"
        raise VideoError(f"cannot read video {p}: {what}")
    rate = fps or native_fps
    if not rate:
        raise VideoError(f"video {p} declares no frame rate; pass fps=")
    return np.stack(frames), float(rate)


def write_video(
    path: str | os.PathLike, frames: np.ndarray, fps: float, codec: str = "mpeg4"
) -> None:
    """Encode uint8 ``[N, H, W]`` or ``[N, H, W, 3]`` frames to a video file atomically (PyAV).

    Even frame sizes are required by the yuv420p codecs.
    """
    av = require("av", "data", "writing videos")
    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3):
        raise ArgumentError(f"frames must be uint8 [N, H, W] or [N, H, W, 3], got {arr.dtype} "
                            f"{tuple(arr.shape)}")
    if arr.shape[1] % 2 or arr.shape[2] % 2:
        raise ArgumentError(f"frame size {arr.shape[2]}x{arr.shape[1]} must be even for yuv420p")
    if arr.ndim == 3:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    with atomic_path(path) as tmp:
        container = av.open(str(tmp), "w", format=_container_format(Path(path)))
        try:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = arr.shape[2], arr.shape[1], "yuv420p"
            # high bit rate (about 2 bits per pixel): near-lossless test and converted clips
            stream.bit_rate = int(max(1e6, 2 * arr.shape[1] * arr.shape[2] * fps))
            for img in arr:
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()


def _container_format(path: Path) -> str | None:
    return {".mp4": "mp4", ".m4v": "mp4", ".avi": "avi", ".mkv": "matroska", ".mov": "mov",
            ".mpeg": "mpeg", ".mpg": "mpeg", ".webm": "webm"}.get(path.suffix.lower())
