"""snnfer.data.video: decoding videos and frame folders, and their typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from snnfer.data.video import (
    is_frame_folder,
    list_frames,
    natural_sort_key,
    read_video,
    to_grayscale,
    write_video,
)
from snnfer.errors import ArgumentError, VideoError
from tests.dataset_fixtures import write_frame_folder

cv2 = pytest.importorskip("cv2")


def _ramp_clip(n: int = 8, h: int = 32, w: int = 48) -> np.ndarray:
    """Frames of constant gray levels 10, 30, 50, ... (easy to recognise after lossy coding)."""
    levels = 10 + 20 * np.arange(n)
    return np.broadcast_to(levels[:, None, None, None], (n, h, w, 3)).astype(np.uint8).copy()


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_video_roundtrip_frames_and_rate(tmp_path, backend):
    clip = _ramp_clip()
    path = tmp_path / "clip.mp4"
    write_video(path, clip, fps=25)
    frames, fps = read_video(path, backend=backend)
    assert frames.shape == (8, 32, 48, 3) and frames.dtype == np.uint8
    assert fps == pytest.approx(25.0)
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), clip.mean(axis=(1, 2, 3)), atol=3)
    gray, _ = read_video(path, grayscale=True, backend=backend)
    assert gray.shape == (8, 32, 48)
    np.testing.assert_allclose(gray.mean(axis=(1, 2)), 10 + 20 * np.arange(8), atol=3)


def test_video_frame_range_and_fps_override(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, _ramp_clip(), fps=30)
    frames, fps = read_video(path, grayscale=True, start=2, stop=5, fps=200)
    assert len(frames) == 3 and fps == 200.0
    np.testing.assert_allclose(frames.mean(axis=(1, 2)), [50, 70, 90], atol=3)


def test_frame_folder_is_read_in_natural_order(tmp_path):
    folder = tmp_path / "EP02_01f"
    # img1 .. img12: lexical order would put img10 before img2
    write_frame_folder(folder, _ramp_clip(12)[..., 0], name="img{i}.jpg", start=1)
    names = [p.name for p in list_frames(folder)]
    assert names[:3] == ["img1.jpg", "img2.jpg", "img3.jpg"] and names[-1] == "img12.jpg"
    frames, fps = read_video(folder, grayscale=True)
    assert frames.shape == (12, 32, 48) and fps == 30.0
    np.testing.assert_allclose(frames.mean(axis=(1, 2)), 10 + 20 * np.arange(12), atol=2)
    assert read_video(folder, fps=200)[1] == 200.0
    rgb, _ = read_video(folder)
    assert rgb.shape == (12, 32, 48, 3)
    assert is_frame_folder(folder) and not is_frame_folder(tmp_path)


def test_natural_sort_key_and_grayscale():
    names = ["reg_img10.jpg", "reg_img9.jpg", "reg_img100.jpg", "reg_img1.jpg"]
    assert sorted(names, key=natural_sort_key) == [
        "reg_img1.jpg", "reg_img9.jpg", "reg_img10.jpg", "reg_img100.jpg"]
    rgb = np.zeros((1, 1, 1, 3), np.uint8)
    rgb[..., 1] = 200  # pure green -> 0.587 * 200
    assert to_grayscale(rgb)[0, 0, 0] == round(0.587 * 200)


# -- bad input ----------------------------------------------------------------------------
def test_missing_empty_and_corrupt_videos_raise_video_error(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty.mp4.*empty"):
        read_video(empty)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    for backend in ("pyav", "opencv"):
        with pytest.raises(VideoError, match="garbage.mp4"):
            read_video(garbage, backend=backend)


def test_truncated_video_raises_video_error(tmp_path):
    good = tmp_path / "good.mp4"
    write_video(good, _ramp_clip(30, 64, 64), fps=25)
    data = good.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # mp4 index (moov) is at the end: now missing
    with pytest.raises(VideoError, match="cut.mp4"):
        read_video(cut)


def test_bad_frame_folders_raise_video_error(tmp_path):
    with pytest.raises(VideoError, match="holds no images"):
        read_video(_mkdir(tmp_path / "no_images"))
    folder = _mkdir(tmp_path / "bad_image")
    write_frame_folder(folder, _ramp_clip(2)[..., 0])
    (folder / "frame_00002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(VideoError, match="frame_00002.jpg.*not a readable image"):
        read_video(folder)
    mixed = _mkdir(tmp_path / "mixed")
    cv2.imwrite(str(mixed / "a1.png"), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(mixed / "a2.png"), np.zeros((8, 10), np.uint8))
    with pytest.raises(VideoError, match="a2.png has size 10x8"):
        read_video(mixed)


def test_bad_arguments(tmp_path):
    path = tmp_path / "c.mp4"
    write_video(path, _ramp_clip(2), fps=10)
    with pytest.raises(ArgumentError, match="backend"):
        read_video(path, backend="ffmpeg-cli")
    with pytest.raises(ArgumentError, match="start"):
        read_video(path, start=3, stop=1)
    with pytest.raises(VideoError, match="no frames in range"):
        read_video(path, start=5)
    with pytest.raises(ArgumentError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 7, 8), np.uint8), fps=10)


def _mkdir(p):
    p.mkdir(parents=True)
    return p
