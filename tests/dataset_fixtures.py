"""Builders of tiny dataset trees that reproduce the real on-disk layouts (in tmp dirs).

Each ``make_*`` function writes a miniature copy of one dataset's published layout
(folder names, file names, annotation formats; see /work/shared/REFERENCE.md) with small
synthetic images/events, and returns what a test needs to check the loader against.
No dataset file is ever committed: everything is generated here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_frame_folder(folder: Path, frames: np.ndarray, name: str = "frame_{i:05d}.jpg",
                       start: int = 0) -> list[Path]:
    """Write ``[N, H, W]`` or ``[N, H, W, 3]`` (RGB) uint8 frames as images named ``name``."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(frames):
        p = folder / name.format(i=i + start)
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok = cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 98])
        assert ok, p
        paths.append(p)
    return paths


def moving_blob_clip(n: int, size: int, label: int, seed: int = 0) -> np.ndarray:
    """uint8 ``[n, size, size]`` clip of a bright blob moving in a label-dependent direction.

    The direction differs per label, so events converted from it carry the label.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = 2 * np.pi * label / 7 + rng.uniform(-0.1, 0.1)
    frames = []
    for i in range(n):
        r = 0.25 * size * i / max(1, n - 1)
        cx, cy = size / 2 + r * np.cos(angle), size / 2 + r * np.sin(angle)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (size / 8) ** 2))
        frames.append(40 + 180 * blob)
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)
